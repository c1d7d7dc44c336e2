//! What the server benches share (`serve_load`, `soak`): a `lookbook serve` process on a free
//! port and its resident memory, and C clients sending requests back to back. Included by path,
//! like `args.rs`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Served {
    /// `lookbook serve` on `index` at a free port, with `extra` options. `LOOKBOOK_BIN` names
    /// another build of lookbook to serve (an older commit's, for a before/after in one run).
    pub fn start(index: &Path, extra: &[&str]) -> Served {
        let binary = std::env::var_os("LOOKBOOK_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_lookbook").into());
        let mut child = Command::new(binary)
            .args([
                "-q",
                "serve",
                "--index",
                index.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("lookbook serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in `{line}`"))
            .trim_end_matches('/')
            .to_string();
        Served { child, url }
    }

    /// Resident memory of the server process, MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one phase measured.
pub struct Phase {
    pub requests: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub latencies_ms: Vec<f64>,
    pub seconds: f64,
}

/// `clients` threads, each sending `request(client, i)` back to back for `seconds`.
pub fn load(clients: usize, seconds: f64, request: impl Fn(&Client, usize) -> Result<(), String> + Sync) -> Phase {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let per_client: Vec<(Vec<f64>, usize, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let request = &request;
                scope.spawn(move || {
                    let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
                    let mut i = c * 7919;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match request(&client, i) {
                            Ok(()) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                            Err(e) => {
                                errors += 1;
                                first_error.get_or_insert(e);
                            }
                        }
                        i += 1;
                    }
                    (latencies, errors, first_error)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut phase = Phase {
        requests: 0,
        errors: 0,
        first_error: None,
        latencies_ms: Vec::new(),
        seconds,
    };
    for (latencies, errors, first_error) in per_client {
        phase.requests += latencies.len() + errors;
        phase.errors += errors;
        phase.latencies_ms.extend(latencies);
        if phase.first_error.is_none() {
            phase.first_error = first_error;
        }
    }
    phase.latencies_ms.sort_by(f64::total_cmp);
    phase
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
