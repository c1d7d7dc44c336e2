//! Following the index: a server notices what another process committed — `lookbook index
//! add/remove` from the CLI, another server's write routes, a rebuild — and answers from it
//! by its next query after the check (issue 22: several servers on one table). Every
//! `Follow::every` it asks the location for its version (a folder's manifest, a table's row
//! of `lookbook_indexes`: one small read), and when that changed reopens the index and swaps
//! the engine, holding the change lock so it never races a write of its own.

use std::sync::Arc;
use std::time::Duration;

use lookbook_pgvector::{IndexLocation, IndexWatch};

use crate::state::LiveEngine;

/// Where to look, and how often.
#[derive(Debug, Clone)]
pub struct Follow {
    pub location: IndexLocation,
    pub every: Duration,
}

/// Runs until the runtime stops.
pub(crate) async fn follow(live: Arc<LiveEngine>, follow: Follow) {
    let mut watch = IndexWatch::new(follow.location.clone());
    let mut last: Option<String> = None;
    loop {
        let _no_change_meanwhile = live.changing.lock().await;
        let live = Arc::clone(&live);
        let location = follow.location.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let version = watch.version();
            let reloaded = match (&version, &last) {
                (Ok(now), Some(seen)) if now != seen => Some(reload(&live, &location)),
                _ => None,
            };
            (watch, version, last, reloaded)
        })
        .await;
        let Ok((kept, version, seen, reloaded)) = checked else {
            return;
        };
        watch = kept;
        last = seen;
        match (version, reloaded) {
            (Ok(now), None | Some(Ok(()))) => last = Some(now),
            (Ok(_), Some(Err(error))) => tracing::warn!("reloading {}: {error}", follow.location),
            (Err(error), _) => tracing::warn!("checking {} for changes: {error}", follow.location),
        }
        drop(_no_change_meanwhile);
        tokio::time::sleep(follow.every).await;
    }
}

/// Reopens the index and serves it (on a blocking thread).
fn reload(live: &LiveEngine, location: &IndexLocation) -> Result<(), String> {
    let contents = location.open().map_err(|e| e.to_string())?;
    let engine = live.get().reopened(contents).map_err(|e| e.to_string())?;
    tracing::info!(
        "{location} changed: now {} images of {} items",
        engine.images(),
        engine.items()
    );
    live.set(engine);
    Ok(())
}
