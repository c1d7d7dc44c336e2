//! Catalogue changes over HTTP (issue 21): `POST /api/items` embeds uploaded photos and adds
//! them to an item (new or existing), `DELETE /api/items/{id}` removes an item. Each change
//! is committed to the index where it lives — a new generation of the folder, or the
//! PostgreSQL table replaced in one transaction — and then the engine queries read is swapped
//! whole, so the next search finds it and a crash leaves the old index or the new one.
//!
//! The routes exist only when `serve` is given a token file (`--write-token-file`), and
//! refuse any request without `Authorization: Bearer TOKEN` (compared in constant time). An
//! added photo is stored under the catalogue folder, in `lookbook-uploads/`, named by a hash
//! of its bytes (never by anything the client sent), and removed with its item.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use lookbook_index::Record;
use lookbook_indexer::{image_key, stored_boxes};
use lookbook_query::{EmbeddedPhoto, Engine, ImageRef};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::{
    MULTIPART_SLACK, blocking, check_pixels, drain, multipart, next_field, on_inference_threads, refuse_oversize,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, LiveEngine, WriteAccess};

/// The folder of the catalogue where added photos are stored.
pub const UPLOADS: &str = "lookbook-uploads";
/// Photos one request may add.
const MAX_PHOTOS: usize = 16;
/// Longest item id, attribute value.
const MAX_TEXT: usize = 256;

/// Photos to add to an item (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads its fields one by one
pub struct AddItemForm {
    /// The item the photos belong to (new, or one in the index: its photos are kept).
    pub item_id: String,
    /// A photo; repeat the field for several (at most 16).
    #[schema(value_type = Vec<String>, format = Binary)]
    pub image: Vec<Vec<u8>>,
    /// The photos' attributes as a JSON object of strings, columns of the index only, e.g.
    /// `{"colour_group_name": "Black"}` (default: those of the item's first image, when it is
    /// in the index).
    #[schema(required = false)]
    pub attributes: String,
}

/// What a change did.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ItemChange {
    pub item_id: String,
    /// Photos added (a photo already there under its bytes is replaced, not added twice).
    pub added: usize,
    pub removed: usize,
    /// The item's images after the change.
    pub images: Vec<ImageRef>,
    /// Images in the index after the change.
    pub index_images: usize,
}

#[derive(OpenApi)]
#[openapi(
    paths(add_item, remove_item),
    components(schemas(AddItemForm, ItemChange)),
    modifiers(&WriteToken)
)]
pub(crate) struct WriteDoc;

/// The write routes' `Authorization: Bearer TOKEN`, as the document's `write_token` security
/// scheme: clients and API fuzzers learn from the document which routes need it.
struct WriteToken;

impl utoipa::Modify for WriteToken {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("write_token", SecurityScheme::Http(bearer));
    }
}

/// Adds photos to an item: each is embedded, stored under the catalogue and committed to the
/// index; the next query finds them. Needs `Authorization: Bearer TOKEN` (`serve --write-token-file`).
#[utoipa::path(
    post,
    path = "/api/items",
    security(("write_token" = [])),
    request_body(content((AddItemForm = "multipart/form-data"))),
    responses(
        (status = 201, body = ItemChange),
        (status = 400, body = ErrorBody, description = "Malformed form, unknown attribute, or not a usable image"),
        (status = 401, body = ErrorBody, description = "No token, or the wrong one"),
        (status = 413, body = ErrorBody, description = "Upload over the size cap, or a photo over the pixel cap"),
        (status = 415, body = ErrorBody, description = "The body is not multipart/form-data"),
        (status = 503, body = ErrorBody, description = "The model is not loaded")
    )
)]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<ItemChange>), ApiError> {
    let access = match authorised(&state, &headers) {
        Ok(access) => access,
        // Read what the client sends first, so it reads the 401 rather than a reset.
        Err(refused) => {
            drain(request, state.config.max_upload_bytes + MULTIPART_SLACK).await;
            return Err(refused);
        }
    };
    let request = refuse_oversize(request, state.config.max_upload_bytes).await?;
    let form = read_form(&state, request).await?;
    // The model runs in an inference slot, as for a query; the commit needs none, but waits
    // for the change before it (in line here, holding no slot and no thread).
    let permit = Arc::clone(&state.inference)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    let engine = state.engine.get();
    let (form, embedded) = on_inference_threads(&state.inference_threads, move || {
        let _permit = permit;
        let embedded = embed_photos(&engine, &form)?;
        Ok((form, embedded))
    })
    .await?;
    let live = Arc::clone(&state.engine);
    let _one_change = state.engine.changing.lock().await;
    let change = blocking(move || add_photos(&live, &access, form, embedded)).await?;
    Ok((StatusCode::CREATED, Json(change)))
}

/// Removes an item and its images from the index (photos added over HTTP are deleted too).
/// Needs `Authorization: Bearer TOKEN`.
#[utoipa::path(
    delete,
    path = "/api/items/{id}",
    security(("write_token" = [])),
    params(("id" = String, Path, description = "Item id")),
    responses(
        (status = 200, body = ItemChange),
        (status = 401, body = ErrorBody, description = "No token, or the wrong one"),
        (status = 404, body = ErrorBody, description = "Unknown item id")
    )
)]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ItemChange>, ApiError> {
    let access = authorised(&state, &headers)?;
    let live = Arc::clone(&state.engine);
    let _one_change = state.engine.changing.lock().await;
    blocking(move || remove(&live, &access, &id)).await.map(Json)
}

fn authorised(state: &AppState, headers: &HeaderMap) -> Result<WriteAccess, ApiError> {
    let access = state
        .writes
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "this server is read-only"))?;
    match access.token.admits(headers) {
        true => Ok(access),
        false => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "changing the catalogue needs `Authorization: Bearer TOKEN` with the server's write token",
        )),
    }
}

/// A parsed add request.
struct AddForm {
    item_id: String,
    photos: Vec<Vec<u8>>,
    attributes: BTreeMap<String, String>,
}

async fn read_form(state: &AppState, request: Request) -> Result<AddForm, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("multipart/form-data") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send multipart/form-data: `item_id`, one or more `image`, optional `attributes`",
        ));
    }
    let mut form = multipart(request).await?;
    let (mut item_id, mut photos) = (None, Vec::new());
    let mut attributes: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    while let Some((name, bytes)) = next_field(&mut form).await? {
        match name.as_str() {
            "image" if photos.len() >= MAX_PHOTOS => {
                return Err(ApiError::bad_request(format!(
                    "at most {MAX_PHOTOS} photos per request"
                )));
            }
            "image" => {
                check_pixels(&bytes, state.config.max_pixels)?;
                photos.push(bytes.to_vec());
            }
            // One item per request: a repeated field is refused, not silently the last one
            // (the API fuzzer's case: three `item_id`s, the last added to).
            "item_id" | "attributes" if !seen.insert(name.clone()) => {
                return Err(ApiError::bad_request(format!("`{name}` is given more than once")));
            }
            "item_id" => item_id = Some(text_value("item_id", &bytes)?),
            "attributes" => {
                attributes = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("`attributes` must be a JSON object of strings: {e}")))?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field `{other}`: expected item_id, image, attributes"
                )));
            }
        }
    }
    let item_id = item_id.ok_or_else(|| ApiError::bad_request("the form has no `item_id` field"))?;
    if photos.is_empty() {
        return Err(ApiError::bad_request("the form has no `image` field"));
    }
    for (column, value) in &attributes {
        text_value(column, value.as_bytes())?;
    }
    Ok(AddForm {
        item_id,
        photos,
        attributes,
    })
}

/// A form value as text: UTF-8, trimmed, 1..=256 characters, no control characters.
fn text_value(name: &str, bytes: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(format!("`{name}` is not UTF-8 text")))?
        .trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "`{name}` must be 1..={MAX_TEXT} characters without control characters"
        )));
    }
    Ok(text.to_string())
}

/// The form's photos as index rows (its attributes checked against the index's columns first).
fn embed_photos(engine: &Engine, form: &AddForm) -> Result<Vec<EmbeddedPhoto>, ApiError> {
    let columns = &engine.info().columns;
    if let Some(column) = form.attributes.keys().find(|c| !columns.contains(c)) {
        return Err(ApiError::bad_request(format!(
            "unknown attribute `{column}`: the index's columns are {}",
            columns.join(", ")
        )));
    }
    Ok(form
        .photos
        .iter()
        .map(|photo| engine.embed_for_index(photo))
        .collect::<Result<_, _>>()?)
}

/// Stores the photos, commits their rows and serves the result (the caller holds the change lock).
fn add_photos(
    live: &LiveEngine,
    access: &WriteAccess,
    form: AddForm,
    embedded: Vec<EmbeddedPhoto>,
) -> Result<ItemChange, ApiError> {
    let engine = live.get();
    let root = engine.info().catalog_root.clone();
    let mut stored = StoredPhotos::default();
    // Without attributes, photos added to an item in the index take its attributes.
    let attributes = match form.attributes.is_empty() {
        true => engine
            .item(&form.item_id)
            .map(|item| item.attributes)
            .unwrap_or_default(),
        false => form.attributes.clone(),
    };
    let mut rows = Vec::with_capacity(embedded.len());
    for (photo, row) in form.photos.iter().zip(&embedded) {
        let image = stored.save(&root, photo)?;
        let record = Record {
            key: image_key(&image),
            item_id: form.item_id.clone(),
            image,
            attributes: attributes.clone(),
            boxes: row.boxes.as_ref().map(stored_boxes),
        };
        rows.push((record, row.vector.as_slice(), row.parts.as_slice()));
    }
    // A table takes the new rows alone; a folder is committed as a new generation.
    let (added, _) = access.location.change_items(&rows, &[]).map_err(ApiError::internal)?;
    stored.keep();
    let change = swap(live, &engine, access, &form.item_id, added, 0)?;
    tracing::info!("added {added} photos to item `{}`", form.item_id);
    Ok(change)
}

/// Drops the item's rows, commits, serves the result (the caller holds the change lock).
fn remove(live: &LiveEngine, access: &WriteAccess, item_id: &str) -> Result<ItemChange, ApiError> {
    let engine = live.get();
    let (_, images) = access
        .location
        .change_items(&[], &[item_id.to_string()])
        .map_err(ApiError::internal)?;
    if images.is_empty() {
        return Err(ApiError::not_found(format!("no item `{item_id}` in the index")));
    }
    let removed = images.len();
    // Only photos this server stored go; a catalogue's own files are the retailer's.
    let root = &engine.info().catalog_root;
    for image in images.iter().filter(|i| i.starts_with(UPLOADS)) {
        if let Err(error) = fs::remove_file(root.join(image)) {
            tracing::warn!("removing {}: {error}", root.join(image).display());
        }
    }
    let change = swap(live, &engine, access, item_id, 0, removed)?;
    tracing::info!("removed item `{item_id}` ({removed} images)");
    Ok(change)
}

/// Serves the committed index from now on, and says what the item holds.
fn swap(
    live: &LiveEngine,
    engine: &Engine,
    access: &WriteAccess,
    item_id: &str,
    added: usize,
    removed: usize,
) -> Result<ItemChange, ApiError> {
    let gallery = access.read.open_gallery().map_err(ApiError::internal)?;
    let next = engine.reopened(gallery)?;
    let images = next.item(item_id).map(|item| item.images).unwrap_or_default();
    let index_images = next.images();
    live.set(next);
    Ok(ItemChange {
        item_id: item_id.to_string(),
        added,
        removed,
        images,
        index_images,
    })
}

/// Photos written for a change, deleted again unless the change commits.
#[derive(Default)]
struct StoredPhotos {
    written: Vec<PathBuf>,
}

impl StoredPhotos {
    /// Writes `bytes` to `root/lookbook-uploads/<hash>.<ext>` (a temporary name, then renamed)
    /// unless that file is there; returns its path relative to `root`.
    fn save(&mut self, root: &Path, bytes: &[u8]) -> Result<PathBuf, ApiError> {
        let ext = image::guess_format(bytes)
            .ok()
            .and_then(|f| f.extensions_str().first().copied())
            .unwrap_or("img");
        let relative = Path::new(UPLOADS).join(format!("{:016x}.{ext}", xxhash_rust::xxh3::xxh3_64(bytes)));
        let path = root.join(&relative);
        if path.is_file() {
            return Ok(relative);
        }
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(root.join(UPLOADS))?;
            let temporary = path.with_extension("part");
            let mut file = fs::File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)
        };
        write().map_err(|e| ApiError::internal(format!("storing the photo as {}: {e}", path.display())))?;
        self.written.push(path);
        Ok(relative)
    }

    /// The change committed: the photos stay.
    fn keep(mut self) {
        self.written.clear();
    }
}

impl Drop for StoredPhotos {
    fn drop(&mut self) {
        for path in &self.written {
            let _ = fs::remove_file(path);
        }
    }
}
