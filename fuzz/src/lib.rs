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
