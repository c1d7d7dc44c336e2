//! Following the index: a server notices what another process committed — `lookbook index
//! add/remove` from the CLI, another server's write routes, a rebuild — and answers from it
//! by its next query after the check (issue 22: several servers on one table). Every
//! `Follow::every` it asks the location for its version (a folder's manifest, a table's row
//! of `lookbook_indexes`: one small read), and when that changed reopens the index and swaps
//! the engine, holding the change lock so it never races a write of its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use lookbook_pgvector::{IndexLocation, IndexWatch};

use crate::state::LiveEngine;

/// Where to look, how often, and from which version.
#[derive(Debug, Clone)]
pub struct Follow {
    pub location: IndexLocation,
    pub every: Duration,
    /// The version read *before* the served index was opened (`IndexWatch::version`), when it
    /// could be: without it, a change committed between the open and the thread's first look
    /// would be taken for the version served, and never loaded.
    pub opened_at: Option<String>,
}

/// Follows on a thread of its own (a PostgreSQL watch keeps a blocking connection, which must
/// never be dropped on the runtime's threads), until the server has stopped.
pub(crate) fn spawn(live: &Arc<LiveEngine>, follow: Follow) {
    let live = Arc::downgrade(live);
    let started = std::thread::Builder::new()
        .name("lookbook-follow".into())
        .spawn(move || run(live, follow));
    if let Err(error) = started {
        tracing::warn!("not following the index: {error}");
    }
}

fn run(live: Weak<LiveEngine>, follow: Follow) {
    let mut watch = IndexWatch::new(follow.location.clone());
    let mut last = follow.opened_at.clone();
    loop {
        let Some(engine) = live.upgrade() else { return };
        {
            let _no_change_meanwhile = engine.changing.blocking_lock();
            match watch.version() {
                Ok(now) if last.as_ref().is_some_and(|seen| *seen != now) => match reload(&engine, &follow.location) {
                    Ok(()) => last = Some(now),
                    Err(error) => tracing::warn!("reloading {}: {error}", follow.location),
                },
                Ok(now) => last = Some(now),
                Err(error) => tracing::warn!("checking {} for changes: {error}", follow.location),
            }
        }
        drop(engine);
        std::thread::sleep(follow.every);
    }
}

/// Reopens the index and serves it.
fn reload(live: &LiveEngine, location: &IndexLocation) -> Result<(), String> {
    let gallery = location.open_gallery().map_err(|e| e.to_string())?;
    let engine = live.get().reopened(gallery).map_err(|e| e.to_string())?;
    tracing::info!(
        "{location} changed: now {} images of {} items",
        engine.images(),
        engine.items()
    );
    live.set(engine);
    Ok(())
}
