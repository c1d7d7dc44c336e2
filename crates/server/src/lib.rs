//! lookbook's HTTP API and web page (axum on tokio).
//!
//! [`Engine`] (`lookbook-query`, shared with the CLI) holds what answers come from — the index,
//! the model that embeds uploads, the attention boxes — and does the blocking work; [`router`] maps routes to it (`api`),
//! with request limits, metrics (`/metrics`) and the OpenAPI document (`/api/openapi.json`,
//! derived from the handlers and their types); [`serve`] runs it until Ctrl-C or SIGTERM.
//! Model inference runs on tokio's blocking pool behind a semaphore, so a slow forward pass
//! never stalls the runtime and bursts wait in line instead of overcommitting the CPU.

mod api;
mod error;
mod follow;
mod metrics;
mod page;
mod request;
mod state;
mod writes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use utoipa::OpenApi;

pub use api::Health;
pub use error::{ApiError, ErrorBody, ServerError};
pub use follow::Follow;
pub use lookbook_query::{
    Answer, AttributeValues, Engine, ImageRef, ItemDetail, ItemPage, QueryInfo, QuerySource, QuerySpec, RegionBox,
    ResultItem,
};
pub use state::{WriteAccess, WriteToken};
pub use writes::{ItemChange, UPLOADS};

/// Limits and sizes of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (an upload), in bytes.
    pub max_upload_bytes: usize,
    /// Largest photo accepted, in pixels (checked from its header, before decoding).
    pub max_pixels: u64,
    /// Longest a search or recommend request may take, waiting in line included.
    pub timeout: Duration,
    /// Model inferences (queries) run at once.
    pub inference_slots: usize,
    /// Queries allowed to wait for a slot; more are answered 503 at once.
    pub max_queue: usize,
    /// The largest k a search or recommend request may ask for.
    pub max_k: usize,
    /// `POST /api/items` and `DELETE /api/items/{id}`, behind a token (`None`: the routes do
    /// not exist).
    pub writes: Option<WriteAccess>,
    /// Notice what other processes commit to the index, and answer from it (`None`: the index
    /// as opened).
    pub follow: Option<Follow>,
}

impl ServerConfig {
    /// The defaults with these limits: uploads of `upload_mib` MiB and `megapixels` at most,
    /// `timeout` (at least a second) per query, `inference_slots` at once (default: cores).
    pub fn with_limits(upload_mib: usize, megapixels: f64, timeout: Duration, inference_slots: Option<usize>) -> Self {
        let defaults = ServerConfig::default();
        ServerConfig {
            max_upload_bytes: upload_mib << 20,
            max_pixels: (megapixels * 1e6) as u64,
            timeout: timeout.max(Duration::from_secs(1)),
            inference_slots: inference_slots.unwrap_or(defaults.inference_slots).max(1),
            ..defaults
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerConfig {
            max_upload_bytes: 10 << 20,
            max_pixels: 40_000_000,
            timeout: Duration::from_secs(30),
            inference_slots: cores,
            max_queue: 256,
            max_k: 200,
            writes: None,
            follow: None,
        }
    }
}

/// The OpenAPI 3 document of every read route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = api::ApiDoc::openapi();
    link(
        &mut document,
        ("/api/items", "get", "200"),
        "item",
        "item",
        "$response.body#/items/0/item_id",
    );
    document
}

/// [`openapi`] with the write routes (a server given a write token).
pub fn openapi_with_writes() -> utoipa::openapi::OpenApi {
    let mut document = openapi();
    document.merge(writes::WriteDoc::openapi());
    let added = ("/api/items", "post", "201");
    link(&mut document, added, "item", "item", "$response.body#/item_id");
    link(&mut document, added, "remove", "remove_item", "$response.body#/item_id");
    document
}

/// `document` as JSON text. utoipa 5.5 serialises a link's fields in snake case
/// (`operation_id`), which OpenAPI readers ignore; they are renamed to the specification's
/// `operationId`, `operationRef` and `requestBody` here.
pub fn openapi_text(document: &utoipa::openapi::OpenApi) -> String {
    let mut json = serde_json::to_value(document).unwrap_or_default();
    let responses = json["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(|l| l.as_object_mut());
        for link in links
            .into_iter()
            .flat_map(|l| l.values_mut())
            .filter_map(|l| l.as_object_mut())
        {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_string(), value);
                }
            }
        }
    }
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// An OpenAPI link from a response to the operation that takes one of its item ids as `id`:
/// clients (and the API fuzzer's stateful phase) learn which ids exist instead of guessing.
fn link(
    document: &mut utoipa::openapi::OpenApi,
    (path, method, status): (&str, &str, &str),
    name: &str,
    to: &str,
    id: &str,
) {
    use utoipa::openapi::{RefOr, link::Link};
    let Some(item) = document.paths.paths.get_mut(path) else {
        return;
    };
    let operation = match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        _ => None,
    };
    let Some(RefOr::T(response)) = operation.and_then(|o| o.responses.responses.get_mut(status)) else {
        return;
    };
    let link = Link::builder().operation_id(to).parameter("id", id).build();
    response.links.insert(name.to_string(), RefOr::T(link));
}

/// Every route over `engine`.
pub fn router(engine: Arc<Engine>, config: ServerConfig) -> Router {
    let waiting = Arc::new(AtomicUsize::new(0));
    let metrics = Arc::new(metrics::Metrics::new(engine.images(), Arc::clone(&waiting)));
    let state = state::AppState {
        inference: Arc::new(Semaphore::new(config.inference_slots.max(1))),
        inference_threads: Arc::new(state::InferenceThreads::start(config.inference_slots)),
        waiting,
        metrics: Arc::clone(&metrics),
        started: Instant::now(),
        engine: Arc::new(state::LiveEngine::new(engine)),
        writes: config.writes.clone(),
        config: config.clone(),
    };
    if let Some(follow) = config.follow.clone() {
        follow::spawn(&state.engine, follow);
    }
    // The write routes exist only with a token (issue 21); without one, 405 as for any method.
    let (items, item) = match config.writes {
        Some(_) => (
            get(api::list_items).post(writes::add_item),
            get(api::item).delete(writes::remove_item),
        ),
        None => (get(api::list_items), get(api::item)),
    };
    Router::new()
        .route("/", get(api::page))
        .route("/api/health", get(api::health))
        .route("/api/attributes", get(api::attributes))
        .route("/api/items", items)
        .route("/api/items/{id}", item)
        .route("/images/{id}", get(api::image))
        .route("/api/search", post(api::search))
        .route("/api/recommend", post(api::recommend))
        .route("/api/openapi.json", get(api::openapi_json))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        // Room for the multipart framing around an upload of the full size.
        .layer(DefaultBodyLimit::max(config.max_upload_bytes + api::MULTIPART_SLACK))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        .with_state(state)
}

/// Listens on `addr` (port 0: any free port).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

/// Runs the server over `engine` on `addr` until Ctrl-C or SIGTERM, on a runtime of its own:
/// `on_listening` hears the bound address first (port 0 becomes a real one). The engine is
/// dropped after the runtime: an index in PostgreSQL closes its connections with blocking
/// calls, which must not run on the runtime's threads.
pub fn run_until_stopped(
    engine: Engine,
    config: ServerConfig,
    addr: &str,
    on_listening: impl FnOnce(SocketAddr, &Engine),
) -> Result<(), ServerError> {
    let engine = Arc::new(engine);
    let keep = Arc::clone(&engine);
    let runtime = tokio::runtime::Runtime::new().map_err(ServerError::Runtime)?;
    let served = runtime.block_on(async move {
        let listener = bind(addr).await?;
        let bound = listener.local_addr().map_err(ServerError::Serve)?;
        on_listening(bound, &engine);
        serve(listener, router(engine, config), shutdown_signal()).await
    });
    drop(runtime);
    drop(keep);
    served
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
