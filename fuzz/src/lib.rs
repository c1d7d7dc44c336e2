//! One function per fuzz target: what a target feeds its bytes to. The AFL binaries in
//! `src/bin/` call these; `crates/lookbook/tests/fuzz_corpus.rs` replays the corpora through
//! the same parsers. None may panic, whatever the bytes.

use std::path::Path;

/// The image front end: sniffing, the truncation check, limits, decoding (with the JPEG
/// DCT-scaled path on) — what every upload and catalogue photo goes through.
pub fn image(bytes: &[u8]) {
    let limits = lookbook_imaging::DecodeLimits::default();
    let _ = lookbook_imaging::decode(bytes, &limits, Some((384, 256)), [255, 255, 255]);
}

/// The legacy PyTorch `.pth` reader (zip, pickle subset, tensor storages).
pub fn pth(bytes: &[u8]) {
    let _ = lookbook_pretrained::parse_legacy(bytes);
}

/// The catalogue readers: the first byte picks the layout (H&M `articles.csv`, Myntra
/// `styles.csv`, a labelled `list.csv`), the rest is that file; the folder has no photos, so
/// every row is a problem to report, never a panic.
pub fn catalogue(bytes: &[u8]) {
    let Some((&layout, text)) = bytes.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let name = match layout % 3 {
        0 => "articles.csv",
        1 => "styles.csv",
        _ => "list.csv",
    };
    if std::fs::create_dir_all(dir.path().join("images")).is_err()
        || std::fs::write(dir.path().join(name), text).is_err()
    {
        return;
    }
    let _ = lookbook_catalog::Catalog::open(Path::new(dir.path()), &Default::default());
}

/// The files of an index folder, in the order the `index` target packs them: each but the last
/// after a 4-byte little-endian length, the last taking the rest.
pub const INDEX_FILES: [&str; 5] = [
    "manifest.json",
    "records-000001.jsonl",
    "keys-000001.u64",
    "vectors-000001.f32",
    "parts-000001.f32",
];

/// `bytes` unpacked into an index folder's files (see [`INDEX_FILES`]) in `dir`.
pub fn unpack_index(bytes: &[u8], dir: &Path) -> std::io::Result<()> {
    let mut rest = bytes;
    for (i, name) in INDEX_FILES.iter().enumerate() {
        let file = match i + 1 == INDEX_FILES.len() {
            true => std::mem::take(&mut rest),
            false => {
                let Some((length, tail)) = rest.split_first_chunk::<4>() else {
                    return Ok(());
                };
                let length = (u32::from_le_bytes(*length) as usize).min(tail.len());
                let (file, tail) = tail.split_at(length);
                rest = tail;
                file
            }
        };
        std::fs::write(dir.join(name), file)?;
    }
    Ok(())
}

/// The index folder readers: the manifest, the records (parsed lazily when mapped), the keys
/// and the float files, opened both ways and every row asked for, one search run.
pub fn index(bytes: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    if unpack_index(bytes, dir.path()).is_err() {
        return;
    }
    let _ = lookbook_index::IndexReader::open(dir.path());
    let Ok(contents) = lookbook_index::IndexReader::open_mapped(dir.path()) else {
        return;
    };
    for row in 0..contents.records.len() {
        let _ = contents.records.get(row);
    }
    // A query of the index's own dimension (as a model would give), when that is a plausible one.
    if contents.info.dim <= 4096 {
        let query = vec![0.5f32; contents.info.dim];
        let _ = contents.search(&query, 3, None, lookbook_index::SearchMode::Auto);
    }
}

/// The IVF list file reader (`lists-*.ivf`): opened, then searched, added to and removed from
/// as a served index would be, with a query of its own dimension when that is a plausible one.
pub fn ivf(bytes: &[u8]) {
    use lookbook_index::VectorIndex;
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::fs::write(file.path(), bytes).is_err() {
        return;
    }
    let Ok(mut index) = lookbook_index::IvfIndex::open(file.path(), Default::default()) else {
        return;
    };
    if index.dim() > 4096 {
        return;
    }
    let query = vec![0.25f32; index.dim()];
    let _ = index.search(&query, 5, None);
    let _ = index.search(&query, 5, Some(&|key| key % 2 == 0));
    let _ = index.add(u64::MAX, &query);
    let _ = index.remove(u64::MAX);
    let _ = index.search(&query, index.len() + 1, None);
}

/// The HNSW graph file (usearch's own format, read by its C++ code). The first byte picks how
/// it is opened — bit 0: mapped (`view`, as `serve` does) or loaded; bit 1: the metric; bits
/// 2–3: the storage — the rest is the file. Opened, searched, and (loaded) added to and removed
/// from. [`lookbook_index::IndexReader`] checks the file's checksum before usearch reads it;
/// this target goes past that check, to find what a damaged file that reached usearch does.
pub fn graph(bytes: &[u8]) {
    use lookbook_index::{HnswIndex, Quantiser, VectorIndex};
    let Some((&mode, file_bytes)) = bytes.split_first() else {
        return;
    };
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::fs::write(file.path(), file_bytes).is_err() {
        return;
    }
    let (metric, config, mapped) = graph_mode(mode);
    let Ok(mut index) = HnswIndex::open(file.path(), metric, config, Quantiser::default(), mapped) else {
        return;
    };
    if index.dim() == 0 || index.dim() > 4096 {
        return;
    }
    let query = vec![0.25f32; index.dim()];
    let _ = index.search(&query, 5, None);
    let _ = index.search(&query, 5, Some(&|key| key % 2 == 0));
    if !index.is_mapped() {
        let _ = index.add(u64::MAX, &query);
        let _ = index.remove(u64::MAX);
        let _ = index.search(&query, index.len() + 1, None);
    }
}

/// How the [`graph`] target opens its file: metric, storage and mapped, from the first byte.
pub fn graph_mode(mode: u8) -> (lookbook_index::Metric, lookbook_index::HnswConfig, bool) {
    use lookbook_index::{Metric, Quantization};
    let metric = [Metric::Euclidean, Metric::Cosine][usize::from(mode >> 1 & 1)];
    let quantization = [
        Quantization::F32,
        Quantization::F16,
        Quantization::I8,
        Quantization::F32,
    ];
    let config = lookbook_index::HnswConfig {
        quantization: quantization[usize::from(mode >> 2 & 3)],
        ..Default::default()
    };
    (metric, config, mode & 1 == 1)
}

/// `bytes` unpacked into a checkpoint folder in `dir`: `meta.json` after a 4-byte
/// little-endian length, then `model.safetensors` (the rest).
pub fn unpack_checkpoint(bytes: &[u8], dir: &Path) -> std::io::Result<()> {
    let Some((length, rest)) = bytes.split_first_chunk::<4>() else {
        return Ok(());
    };
    let (meta, weights) = rest.split_at((u32::from_le_bytes(*length) as usize).min(rest.len()));
    std::fs::write(dir.join("meta.json"), meta)?;
    std::fs::write(dir.join("model.safetensors"), weights)
}

/// The checkpoint reader every `--model RUN` goes through: `meta.json` (the architecture,
/// labels, identities) and the weights, loaded into the network they describe.
pub fn checkpoint(bytes: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    if unpack_checkpoint(bytes, dir.path()).is_err() {
        return;
    }
    let Ok(saved) = lookbook_model::SavedModel::open(dir.path()) else {
        return;
    };
    let _ = saved.load::<lookbook_model::InferBackend>(&Default::default());
}

/// A tiny served index (the `index` corpus's two-photo histogram index) and its router, built
/// once per process: AFL runs the target many times in one process.
pub fn served() -> Option<&'static (tokio::runtime::Runtime, axum::Router)> {
    static SERVED: std::sync::OnceLock<Option<(tokio::runtime::Runtime, axum::Router)>> = std::sync::OnceLock::new();
    SERVED
        .get_or_init(|| {
            let dir = tempfile::tempdir().ok()?.keep();
            unpack_index(include_bytes!("../corpus/index/histogram-2.bin"), &dir).ok()?;
            let contents = lookbook_index::IndexReader::open(&dir).ok()?;
            let embedder: std::sync::Arc<dyn lookbook_embed::Embedder> =
                std::sync::Arc::new(lookbook_embed::HistogramEmbedder::new());
            let engine = std::sync::Arc::new(lookbook_query::Engine::new(Box::new(contents), Some(embedder), None));
            let config = lookbook_server::ServerConfig {
                inference_slots: 1,
                ..Default::default()
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let router = runtime.block_on(async { lookbook_server::router(engine, config) });
            Some((runtime, router))
        })
        .as_ref()
}

/// The HTTP routes fed a raw request (request line, headers, body) as a client could send
/// it: every answer is a response, and none is a server error (5xx) but 503 (overloaded).
/// Returns the status (`None`: the bytes are not a request).
pub fn router(bytes: &[u8]) -> Option<http::StatusCode> {
    use tower::ServiceExt;
    let (runtime, router) = served()?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = parsed.parse(bytes) else {
        return None;
    };
    let (method, path) = (parsed.method?, parsed.path?);
    let mut request = http::Request::builder().method(method).uri(path);
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    let request = request.body(axum::body::Body::from(bytes[head..].to_vec())).ok()?;
    runtime.block_on(async {
        let Ok(response) = router.clone().oneshot(request).await;
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body()).await;
        assert!(
            !status.is_server_error() || status == http::StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {status} {:?}",
            body.map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        );
        Some(status)
    })
}
