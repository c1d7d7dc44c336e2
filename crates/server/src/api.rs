//! The routes: request parsing, the JSON shapes of answers (their OpenAPI schemas derive
//! from the same types), and the OpenAPI document that lists every handler.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::request::{DEFAULT_TEXT_WEIGHT, QueryBody, UploadForm, default_k};
use crate::state::AppState;
use lookbook_query::{Answer, AttributeValues, ItemDetail, ItemPage, QuerySource, QuerySpec};

/// Bytes of multipart framing allowed on top of the upload cap.
pub(crate) const MULTIPART_SLACK: usize = 64 << 10;

/// The server is up.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    pub images: usize,
    pub items: usize,
    /// The model the index was built with.
    pub model: String,
    /// Whether photos can be uploaded as queries.
    pub embeds_photos: bool,
    /// Whether answers carry attention boxes.
    pub explains: bool,
    /// Whether words can be searched for (a text model is loaded).
    pub searches_text: bool,
    pub uptime_seconds: f64,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lookbook",
        description = "Find clothing by picture and recommend visually related, diverse items."
    ),
    paths(
        health,
        attributes,
        list_items,
        item,
        image,
        search,
        recommend,
        openapi_json,
        metrics
    )
)]
pub struct ApiDoc;

/// The web page.
pub(crate) async fn page() -> Html<&'static str> {
    Html(crate::page::INDEX_HTML)
}

/// Whether the server is up, and what it serves.
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    let engine = state.engine.get();
    Json(Health {
        status: "ok".into(),
        images: engine.images(),
        items: engine.items(),
        model: engine.model().to_string(),
        embeds_photos: engine.embeds_photos(),
        explains: engine.explains(),
        searches_text: engine.searches_text(),
        uptime_seconds: state.started.elapsed().as_secs_f64(),
    })
}

/// Each attribute's most common values, for filters.
#[utoipa::path(get, path = "/api/attributes", responses((status = 200, body = Vec<AttributeValues>)))]
pub(crate) async fn attributes(State(state): State<AppState>) -> Json<Vec<AttributeValues>> {
    Json(state.engine.get().attributes().to_vec())
}

/// A page of the catalogue's items; any other query parameter filters by attribute
/// (`?product_group_name=Trousers`).
#[utoipa::path(
    get,
    path = "/api/items",
    params(
        ("offset" = Option<usize>, Query, description = "Items skipped (default 0)"),
        ("limit" = Option<usize>, Query, description = "Items returned (default 48, at most 500)"),
    ),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody))
)]
pub(crate) async fn list_items(
    State(state): State<AppState>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Json<ItemPage>, ApiError> {
    // Any whole number is an offset or a limit (the document says so): one past the end is an
    // empty page, however many digits it has (issue 21: a 31-digit offset was a 400).
    let number = |params: &mut HashMap<String, String>, name: &str, default: usize| match params.remove(name) {
        None => Ok(default),
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(text.parse::<usize>().unwrap_or(usize::MAX))
        }
        Some(text) => Err(ApiError::bad_request(format!(
            "`{name}` must be a whole number, not `{text}`"
        ))),
    };
    let offset = number(&mut params, "offset", 0)?;
    let limit = number(&mut params, "limit", 48)?.min(500);
    let filter: BTreeMap<String, String> = params.into_iter().collect();
    let engine = state.engine.get();
    blocking(move || Ok(engine.list_items(offset, limit, &filter)?))
        .await
        .map(Json)
}

/// One item and its images.
#[utoipa::path(
    get,
    path = "/api/items/{id}",
    params(("id" = String, Path, description = "Item id")),
    responses((status = 200, body = ItemDetail), (status = 404, body = ErrorBody))
)]
pub(crate) async fn item(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ItemDetail>, ApiError> {
    // On a table the lookup is SQL over a blocking connection: never on the runtime's threads.
    let engine = state.engine.get();
    Ok(Json(blocking(move || Ok(engine.item(&id)?)).await?))
}

/// A photo of the index, by its image id (never by a path).
#[utoipa::path(
    get,
    path = "/images/{id}",
    params(("id" = String, Path, description = "Image id (`image.id` in answers)")),
    responses(
        (status = 200, description = "The photo's bytes as stored; its type in Content-Type", content(
            (String = "image/*"),
            (String = "application/octet-stream"),
        )),
        (status = 404, body = ErrorBody)
    )
)]
pub(crate) async fn image(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no image `{id}` in the index"));
    let key: u64 = id.parse().map_err(|_| not_found())?;
    let engine = state.engine.get();
    let path = blocking(move || Ok(engine.image_path(key)))
        .await?
        .ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path).await.map_err(|error| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("image `{id}` is in the index but its file cannot be read: {error}"),
        )
    })?;
    let mime = image::guess_format(&bytes)
        .map(|format| format.to_mime_type())
        .unwrap_or("application/octet-stream");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        bytes,
    )
        .into_response())
}

/// The nearest images to an item or an uploaded photo.
#[utoipa::path(
    post,
    path = "/api/search",
    request_body(content(
        (QueryBody = "application/json"),
        (UploadForm = "multipart/form-data")
    )),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody, description = "Malformed request, or not a usable image"),
        (status = 404, body = ErrorBody, description = "Unknown item id"),
        (status = 413, body = ErrorBody, description = "Upload over the size cap, or a photo over the pixel cap"),
        (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "Too many requests waiting, or timed out")
    )
)]
pub(crate) async fn search(State(state): State<AppState>, request: Request) -> Result<Json<Answer>, ApiError> {
    let spec = parse_query(&state, request, false).await?;
    run_query(&state, spec).await.map(Json)
}

/// Varied recommendations for an item or an uploaded photo (maximal marginal relevance over
/// the whole picture and each attention part).
#[utoipa::path(
    post,
    path = "/api/recommend",
    request_body(content(
        (QueryBody = "application/json"),
        (UploadForm = "multipart/form-data")
    )),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody, description = "Malformed request, or not a usable image"),
        (status = 404, body = ErrorBody, description = "Unknown item id"),
        (status = 413, body = ErrorBody, description = "Upload over the size cap, or a photo over the pixel cap"),
        (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "Too many requests waiting, or timed out")
    )
)]
pub(crate) async fn recommend(State(state): State<AppState>, request: Request) -> Result<Json<Answer>, ApiError> {
    let spec = parse_query(&state, request, true).await?;
    run_query(&state, spec).await.map(Json)
}

/// This document (with the write routes when the server has them).
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub(crate) async fn openapi_json(State(state): State<AppState>) -> Response {
    let document = match state.writes {
        Some(_) => crate::openapi_with_writes(),
        None => crate::openapi(),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi_text(&document),
    )
        .into_response()
}

/// Requests, latency and errors, in the Prometheus (OpenMetrics) text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/openapi.json")
}

/// A route called with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method; see /api/openapi.json",
    )
}

/// The request as a query: JSON by item id, or a multipart photo upload.
async fn parse_query(state: &AppState, request: Request, recommending: bool) -> Result<QuerySpec, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let request = refuse_oversize(request, state.config.max_upload_bytes).await?;
    let default_diversity = recommending.then_some(0.5);
    if content_type.starts_with("application/json") {
        // axum says 422 for JSON of the wrong shape; to a client both are a malformed request.
        let Json(body) = Json::<QueryBody>::from_request(request, &())
            .await
            .map_err(|rejection| {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    status => status,
                };
                ApiError::new(status, rejection.body_text())
            })?;
        // Out of range is an error wherever the document gives a range, even where the
        // request has no use for the value (a weight without words, diversity on a search).
        let weight = unit_interval("text_weight", body.text_weight.unwrap_or(DEFAULT_TEXT_WEIGHT))?;
        let diversity = body
            .diversity
            .map(|diversity| unit_interval("diversity", diversity))
            .transpose()?;
        let (source, text) = match (body.item_id, body.text) {
            (Some(item_id), text) => (QuerySource::Item(item_id), text.map(|text| (text, weight))),
            (None, Some(text)) => (QuerySource::Text(text), None),
            (None, None) => return Err(ApiError::bad_request("give `item_id`, `text`, or both")),
        };
        return Ok(QuerySpec {
            filter: body.filter,
            diversity: if recommending {
                diversity.or(default_diversity)
            } else {
                None
            },
            boxes: body.boxes,
            text,
            ..QuerySpec::search(source, body.k)
        });
    }
    if content_type.starts_with("multipart/form-data") {
        let mut form = multipart(request).await?;
        let mut spec = QuerySpec {
            diversity: default_diversity,
            ..QuerySpec::search(QuerySource::Photo(Vec::new()), default_k())
        };
        let mut photo = None;
        let (mut words, mut weight) = (None, DEFAULT_TEXT_WEIGHT as f32);
        let mut seen = std::collections::HashSet::new();
        while let Some((name, bytes)) = next_field(&mut form).await? {
            let text = || String::from_utf8_lossy(&bytes).trim().to_string();
            // Only `filter` is a list; any other field twice is refused, not silently the last
            // one (what a client that sends a list where the document says a number gets).
            if name != "filter" && !seen.insert(name.clone()) {
                return Err(ApiError::bad_request(format!("`{name}` is given more than once")));
            }
            match name.as_str() {
                "image" => photo = Some(bytes.to_vec()),
                "text" => words = Some(text()),
                "text_weight" => {
                    let given = text().parse().map_err(|_| {
                        ApiError::bad_request(format!("`text_weight` must be a number, not `{}`", text()))
                    })?;
                    weight = unit_interval("text_weight", given)?;
                }
                "k" => {
                    spec.k = text()
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("`k` must be a whole number, not `{}`", text())))?
                }
                "diversity" => {
                    let diversity: f64 = text().parse().map_err(|_| {
                        ApiError::bad_request(format!("`diversity` must be a number, not `{}`", text()))
                    })?;
                    // Out of range is an error on either route, as the document says, though
                    // a search has no use for it.
                    let diversity = unit_interval("diversity", diversity)?;
                    if recommending {
                        spec.diversity = Some(diversity);
                    }
                }
                "boxes" => {
                    spec.boxes = text()
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("`boxes` is true or false, not `{}`", text())))?
                }
                // An empty field is no filter: refused like any other without `=` (the
                // document's `filter` is a list of `attribute=value`).
                "filter" => {
                    let text = text();
                    let (column, value) = text
                        .split_once('=')
                        .ok_or_else(|| ApiError::bad_request(format!("`filter` is attribute=value, not `{text}`")))?;
                    spec.filter.insert(column.trim().to_string(), value.trim().to_string());
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown form field `{other}`: expected image, text, text_weight, k, diversity, filter, boxes"
                    )));
                }
            }
        }
        let photo = photo.ok_or_else(|| ApiError::bad_request("the form has no `image` field"))?;
        check_pixels(&photo, state.config.max_pixels)?;
        spec.source = QuerySource::Photo(photo);
        spec.text = words.map(|words| (words, weight));
        return Ok(spec);
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "send application/json ({{\"item_id\": ...}} or {{\"text\": ...}}) or multipart/form-data (an `image` field), not `{content_type}`"
        ),
    ))
}

/// `value` (rounded to the query's f32) if it is in 0..=1 (NaN is not), else the request's
/// error naming `field`.
fn unit_interval(field: &str, value: f64) -> Result<f32, ApiError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value as f32)
    } else {
        Err(ApiError::bad_request(format!("`{field}` is in 0..1, not {value}")))
    }
}

/// A multipart form's reader (its framing errors as statuses).
pub(crate) async fn multipart(request: Request) -> Result<Multipart, ApiError> {
    Multipart::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

/// The form's next field: its name and bytes (read whole, within the body limit).
pub(crate) async fn next_field(form: &mut Multipart) -> Result<Option<(String, axum::body::Bytes)>, ApiError> {
    let failed = |error: axum::extract::multipart::MultipartError| ApiError::new(error.status(), error.body_text());
    let Some(field) = form.next_field().await.map_err(failed)? else {
        return Ok(None);
    };
    let name = field.name().unwrap_or("").to_string();
    Ok(Some((name, field.bytes().await.map_err(failed)?)))
}

/// Refuses a body whose Content-Length is over the cap with 413 — after reading and
/// dropping it (up to 8× the cap, for 10 s), because a client still sending when the server
/// answers and closes sees a reset connection instead of the answer. (A chunked body over the
/// cap is stopped by the body limit while it is read.)
pub(crate) async fn refuse_oversize(request: Request, max_bytes: usize) -> Result<Request, ApiError> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = length.filter(|&n| n > max_bytes as u64 + MULTIPART_SLACK as u64) else {
        return Ok(request);
    };
    if length <= 8 * max_bytes as u64 {
        drain(request, 8 * max_bytes).await;
    }
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request is {length} bytes, over the upload cap of {max_bytes}"),
    ))
}

/// Reads and drops a request's body (at most `max_bytes`, for at most 10 s) before it is
/// refused: a client still sending when the server answers and closes sees a reset
/// connection instead of the answer.
pub(crate) async fn drain(request: Request, max_bytes: usize) {
    let mut body = request.into_body();
    let mut read = 0;
    let reading = async {
        while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
            read += frame.data_ref().map_or(0, |data| data.len());
            if read > max_bytes {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), reading).await;
}

/// Refuses a photo whose header says it has more pixels than `max_pixels` before decoding it.
pub(crate) fn check_pixels(bytes: &[u8], max_pixels: u64) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the uploaded image is empty (0 bytes)"));
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| ApiError::bad_request(format!("the uploaded image: {error}")))?;
    if reader.format().is_none() {
        return Err(ApiError::bad_request(
            "the upload is not an image lookbook reads (JPEG, PNG, WebP, BMP, GIF, TIFF)",
        ));
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|error| ApiError::bad_request(format!("the uploaded image is corrupt: {error}")))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the uploaded image is {width}×{height} = {pixels} pixels, over the cap of {max_pixels}"),
        ));
    }
    Ok(())
}

/// Runs a query on the blocking pool once an inference permit is free, within the timeout.
async fn run_query(state: &AppState, spec: QuerySpec) -> Result<Answer, ApiError> {
    if spec.k == 0 || spec.k > state.config.max_k {
        return Err(ApiError::bad_request(format!(
            "k must be 1..={}, not {}",
            state.config.max_k, spec.k
        )));
    }
    if state.waiting.load(Ordering::Relaxed) >= state.config.max_queue {
        return Err(ApiError::unavailable(format!(
            "{} requests are already waiting; try again shortly",
            state.config.max_queue
        )));
    }
    let work = async {
        let in_line = InLine::join(&state.waiting);
        let permit = Arc::clone(&state.inference).acquire_owned().await;
        drop(in_line);
        let permit = permit.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let engine = state.engine.get();
        let metrics = Arc::clone(&state.metrics);
        on_inference_threads(&state.inference_threads, move || {
            let _permit = permit;
            let _running = metrics.inference_running();
            Ok(engine.query(&spec)?)
        })
        .await
    };
    tokio::time::timeout(state.config.timeout, work).await.map_err(|_| {
        ApiError::unavailable(format!(
            "no answer within {:.0} s; the server is busy",
            state.config.timeout.as_secs_f64()
        ))
    })?
}

/// `work` on the inference threads (what runs the model: see `AppState::inference_threads`).
pub(crate) async fn on_inference_threads<T: Send + 'static>(
    threads: &crate::state::InferenceThreads,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    // A panic must not take the thread down with it: caught, as tokio's pool would.
    threads.spawn(move || {
        let _ = answer.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    });
    match answered.await {
        Ok(Ok(result)) => result,
        _ => Err(ApiError::internal("the request's worker failed")),
    }
}

/// `work` on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("the request's worker failed: {error}")))?
}

/// Counts a request while it waits for a permit, also when a timeout drops it in line.
struct InLine<'a>(&'a AtomicUsize);

impl<'a> InLine<'a> {
    fn join(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::Relaxed);
        InLine(waiting)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
