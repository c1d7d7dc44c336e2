//! What every handler shares ([`AppState`]): the engine queries read — swapped whole after a
//! change through the write routes ([`LiveEngine`]) — the limits, the inference slots, and who
//! may change the catalogue ([`WriteAccess`]: where changes are committed, and the token).

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::http::{HeaderMap, header};
use lookbook_pgvector::IndexLocation;
use lookbook_query::Engine;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::{ServerConfig, ServerError};

/// Shortest token accepted: a guessable one would make the routes open.
const MIN_TOKEN: usize = 16;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The engine queries read (swapped after each change through the write routes).
    pub engine: Arc<LiveEngine>,
    pub config: ServerConfig,
    /// Where changes are committed and the token they need (`None`: read-only).
    pub writes: Option<WriteAccess>,
    /// One permit per model inference allowed at once; requests beyond wait in line.
    pub inference: Arc<Semaphore>,
    /// Where the model runs: as many threads as permits, always the same ones. On tokio's
    /// blocking pool (up to 512 threads, each kept 10 s idle) every thread that ever ran an
    /// inference kept its own kernel scratch and gemm packing buffers: under 200 clients the
    /// heap held 25 copies of each (~170 MB of scratch alone) and RSS grew 2× in 10 minutes.
    pub inference_threads: Arc<InferenceThreads>,
    /// Requests waiting for a permit (beyond `config.max_queue` they are turned away).
    pub waiting: Arc<AtomicUsize>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
}

/// The secret that write requests must carry.
pub struct WriteToken(String);

impl WriteToken {
    /// The token in the file `path` (surrounding white space ignored; at least 16 characters).
    pub fn read(path: &Path) -> Result<Self, ServerError> {
        let refused = |reason: String| ServerError::Token {
            path: path.to_path_buf(),
            reason,
        };
        let text = fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
        let token = text.trim();
        if token.len() < MIN_TOKEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refused(format!(
                "the token is {} characters; use at least {MIN_TOKEN}, no spaces (e.g. `openssl rand -hex 32`)",
                token.chars().count()
            )));
        }
        Ok(WriteToken(token.to_string()))
    }

    /// Whether `headers` carry `Authorization: Bearer` this token.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Equal lengths first (the length is no secret), then every byte, whatever differs.
        given.len() == self.0.len() && bool::from(given.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for WriteToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteToken(…)")
    }
}

/// Where changes are committed, and who may make them.
#[derive(Debug, Clone)]
pub struct WriteAccess {
    pub token: Arc<WriteToken>,
    /// Where changes are committed (a primary, when the server reads from a standby).
    pub location: IndexLocation,
    /// Where the server reads from: the engine is reopened there after a change.
    pub read: IndexLocation,
}

/// The engine queries read, replaced whole after each committed change; changes one at a time.
///
/// An engine over PostgreSQL closes its connections with blocking calls, which must never run
/// on the runtime's threads; so a replaced engine is not dropped by whichever request happens
/// to hold it last, but kept here until only this holds it, and dropped by the next change (on
/// a blocking thread) or, at the end, on a thread of its own.
pub(crate) struct LiveEngine {
    /// Always `Some` until dropped (then taken, to be dropped on a thread of its own).
    current: RwLock<Option<Arc<Engine>>>,
    /// Replaced engines a request may still be answering from.
    retired: Mutex<Vec<Arc<Engine>>>,
    /// Held by the change being committed; the next waits for it without a thread.
    pub(crate) changing: tokio::sync::Mutex<()>,
}

impl LiveEngine {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        LiveEngine {
            current: RwLock::new(Some(engine)),
            retired: Mutex::new(Vec::new()),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// The engine as of now (a query keeps it to its end, whatever changes meanwhile).
    pub(crate) fn get(&self) -> Arc<Engine> {
        let current = self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(current.as_ref().expect("an engine until dropped"))
    }

    /// Serves `engine` from now on. Call it on a blocking thread: retired engines no request
    /// holds any more are dropped here.
    pub(crate) fn set(&self, engine: Engine) {
        let old = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(Arc::new(engine));
        let mut retired = self.retired.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        retired.extend(old);
        retired.retain(|engine| Arc::strong_count(engine) > 1);
    }
}

impl Drop for LiveEngine {
    fn drop(&mut self) {
        let retired = std::mem::take(self.retired.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let current = self
            .current
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        // Dropped where blocking is allowed, whatever thread drops the router.
        let _ = std::thread::spawn(move || drop((retired, current))).join();
    }
}

/// A job for the inference threads.
type InferenceJob = Box<dyn FnOnce() + Send>;

/// A fixed set of plain threads taking jobs in turn. Not a rayon pool: a rayon thread waiting
/// inside a split layer steals queued jobs, so a second inference would start on a thread in
/// the middle of the first; these threads block there instead (the layers' split work runs on
/// rayon's global pool, as from any caller).
pub(crate) struct InferenceThreads {
    jobs: std::sync::mpsc::Sender<InferenceJob>,
}

impl InferenceThreads {
    pub(crate) fn start(count: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<InferenceJob>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("lookbook-infer-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is released before the job runs (the guard is a temporary).
                        let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the server is gone
                        }
                    }
                })
                .expect("an inference thread starts");
        }
        InferenceThreads { jobs }
    }

    /// Runs `job` on the next free thread.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        // Sending fails only once every thread has exited, which they do only when this is gone.
        let _ = self.jobs.send(Box::new(job));
    }
}
