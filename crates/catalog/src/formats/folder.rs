//! A plain folder of images, searched recursively. The item id is the image's parent
//! folder relative to the root (`shirts/123/a.jpg` → `shirts/123`), or its file stem
//! with `item_from_stem`; images directly in the root use their stem.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;
use crate::has_image_extension;

pub(crate) fn read(root: &Path, item_from_stem: bool) -> Result<Catalog, CatalogError> {
    let mut problems = Vec::new();
    let mut images = list_images(root, &mut problems);
    // Sorted so that entry order, and every split and index built from it, is repeatable.
    images.sort();
    let entries: Vec<Entry> = images
        .into_iter()
        .map(|image| {
            let stem = image
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = image
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.to_string_lossy().replace('\\', "/"));
            let item_id = match parent {
                Some(parent) if !item_from_stem => parent,
                _ => stem,
            };
            Entry {
                image,
                item_id,
                values: Vec::new(),
                labels: Vec::new(),
                split: Split::Train,
            }
        })
        .collect();
    if entries.is_empty() {
        return Err(CatalogError::Empty {
            path: root.to_path_buf(),
        });
    }
    Ok(Catalog {
        root: root.to_path_buf(),
        format: CatalogFormat::Folder,
        columns: Vec::new(),
        entries,
        problems,
        splits_from_source: false,
    })
}

/// Relative paths of every image file under `root`; unreadable folders become problems.
fn list_images(root: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut images = Vec::new();
    for item in WalkDir::new(root).follow_links(true) {
        match item {
            Ok(e) if e.file_type().is_file() && has_image_extension(e.path()) => {
                if let Ok(rel) = e.path().strip_prefix(root) {
                    images.push(rel.to_path_buf());
                }
            }
            Ok(_) => {}
            Err(err) => problems.push(Problem {
                kind: ProblemKind::MissingImage,
                location: err
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string()),
                detail: format!("cannot list: {err}"),
            }),
        }
    }
    images
}

pub(crate) fn has_any_image(root: &Path) -> bool {
    WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .any(|e| e.file_type().is_file() && has_image_extension(e.path()))
}
