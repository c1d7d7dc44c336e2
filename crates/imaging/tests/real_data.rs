//! Every image of every catalogue under `../shared/data` decodes through the pipeline.
//!
//! Skipped with a printed reason when the data is absent on a developer machine; in CI
//! (`CI` set) missing data is a failure, since CI is given `../shared/data`.

use std::path::{Path, PathBuf};

use lookbook_catalog::{Catalog, OpenOptions};
use lookbook_imaging::{BatchLoader, ImageSpec, LoaderOptions, Preprocessor};

// As in the `lookbook` binary: glibc's malloc would fault large buffers in per image.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn data_root() -> Option<PathBuf> {
    let root = std::env::var_os("LOOKBOOK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if root.is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide the shared data at {}",
        root.display()
    );
    eprintln!("skipped: no shared data at {}", root.display());
    None
}

/// Image counts the data README states per catalogue: `## hm/ — 7,175 H&M product photos`.
fn readme_counts(root: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("## ")?;
            let (name, after) = rest.split_once('/')?;
            let count = after
                .split_whitespace()
                .find(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))?
                .replace(',', "")
                .parse()
                .ok()?;
            Some((name.trim().to_string(), count))
        })
        .collect()
}

#[test]
fn every_shared_catalogue_decodes() {
    let Some(root) = data_root() else { return };
    let counts = readme_counts(&root);
    let mut catalogues = 0;
    for dir in std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
    {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let catalog = Catalog::open(&dir, &OpenOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some((_, n)) = counts.iter().find(|(c, _)| *c == name) {
            assert_eq!(
                catalog.entries.len(),
                *n,
                "{name}: image count stated in the data README"
            );
        }
        let paths: Vec<PathBuf> = catalog.entries.iter().map(|e| catalog.image_path(e)).collect();
        let pre = Preprocessor::new(ImageSpec::default()).unwrap();
        let options = LoaderOptions {
            batch_size: 64,
            prefetch: 2,
            threads: 0,
        };
        let mut loader = BatchLoader::from_paths(paths.clone(), pre, options).unwrap();
        let mut decoded = 0;
        let mut bad = Vec::new();
        while let Some(mut batch) = loader.next() {
            decoded += batch.len();
            bad.extend(
                std::mem::take(&mut batch.failures)
                    .into_iter()
                    .map(|(_, b)| b.to_string()),
            );
            loader.recycle(batch);
        }
        assert!(
            bad.is_empty(),
            "{name}: {} bad images, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
        assert_eq!(decoded, paths.len(), "{name}");
        eprintln!("{name}: {decoded} images decoded at 384x256");
        catalogues += 1;
    }
    assert!(catalogues >= 1, "no catalogue found under {}", root.display());
}
