//! DeepFashion In-shop Clothes Retrieval Benchmark.
//!
//! `Eval/list_eval_partition.txt`: line 1 the number of images, line 2 the header
//! `image_name item_id evaluation_status`, then one whitespace-separated row per image,
//! e.g. `img/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 train`, with status
//! `train`, `query` or `gallery`. Image paths are relative to the dataset's `Img/`
//! folder in the official download, or to the root in flattened copies; both work.

use std::fs;
use std::path::{Path, PathBuf};

use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;

pub const PARTITION_FILE: &str = "list_eval_partition.txt";

/// Attributes read from the image path: `img/<gender>/<category>/<item>/<file>`.
pub const COLUMNS: &[&str] = &["gender", "category"];

/// Where the partition file is: `Eval/` (official layout) or the root.
pub fn partition_file(root: &Path) -> Option<PathBuf> {
    [root.join("Eval").join(PARTITION_FILE), root.join(PARTITION_FILE)]
        .into_iter()
        .find(|p| p.is_file())
}

pub(crate) fn read(root: &Path) -> Result<Catalog, CatalogError> {
    let path = partition_file(root).ok_or_else(|| CatalogError::BadFile {
        path: root.join("Eval").join(PARTITION_FILE),
        reason: "DeepFashion In-shop partition file not found".into(),
    })?;
    let bytes = fs::read(&path).map_err(|e| CatalogError::io(&path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let bad = |reason: String| CatalogError::BadFile {
        path: path.clone(),
        reason,
    };
    let mut lines = text.lines().enumerate();
    let declared: usize = match lines.next() {
        Some((_, l)) => l
            .trim()
            .parse()
            .map_err(|_| bad(format!("line 1 should be the image count, found `{}`", l.trim())))?,
        None => return Err(bad("empty file".into())),
    };
    match lines.next() {
        Some((_, l)) if l.split_whitespace().collect::<Vec<_>>() == ["image_name", "item_id", "evaluation_status"] => {}
        Some((_, l)) => {
            return Err(bad(format!(
                "line 2 should be `image_name item_id evaluation_status`, found `{}`",
                l.trim()
            )));
        }
        None => return Err(bad("no header line".into())),
    }

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in lines {
        let location = format!("{PARTITION_FILE}:{}", i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [image, item, status] => match parse_status(status) {
                Some(split) => rows.push((location, PathBuf::from(image), item.to_string(), split)),
                None => problems.push(Problem {
                    kind: ProblemKind::MalformedRow,
                    location,
                    detail: format!("evaluation_status `{status}` is not train, query or gallery; row skipped"),
                }),
            },
            _ => problems.push(Problem {
                kind: ProblemKind::MalformedRow,
                location,
                detail: format!("{} fields where 3 are expected; row skipped", fields.len()),
            }),
        }
    }
    if rows.len() + problems.len() != declared {
        problems.push(Problem {
            kind: ProblemKind::CountMismatch,
            location: format!("{PARTITION_FILE}:1"),
            detail: format!("declares {declared} images, lists {}", rows.len() + problems.len()),
        });
    }

    let base = image_base(root, rows.iter().map(|r| r.1.as_path()));
    let prefix = base.strip_prefix(root).unwrap_or(Path::new("")).to_path_buf();
    let mut entries = Vec::with_capacity(rows.len());
    for (location, image, item_id, split) in rows {
        let rel = prefix.join(&image);
        if !root.join(&rel).is_file() {
            super::missing_image(&mut problems, location, &rel);
            continue;
        }
        entries.push(Entry {
            values: path_attributes(&image),
            image: rel,
            item_id,
            labels: Vec::new(),
            split,
        });
    }
    if entries.is_empty() {
        return Err(CatalogError::Empty { path });
    }
    Ok(Catalog {
        root: root.to_path_buf(),
        format: CatalogFormat::InShop,
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        entries,
        problems,
        splits_from_source: true,
    })
}

fn parse_status(status: &str) -> Option<Split> {
    match status {
        "train" => Some(Split::Train),
        "query" => Some(Split::Query),
        "gallery" => Some(Split::Gallery),
        _ => None,
    }
}

/// The folder the listed paths are relative to: the first candidate under which
/// one of the first listed images exists.
fn image_base<'a>(root: &Path, images: impl Iterator<Item = &'a Path>) -> PathBuf {
    let candidates = [root.to_path_buf(), root.join("Img"), root.join("img")];
    let probes: Vec<&Path> = images.take(50).collect();
    candidates
        .iter()
        .find(|base| probes.iter().any(|p| base.join(p).is_file()))
        .unwrap_or(&candidates[0])
        .clone()
}

/// `img/WOMEN/Dresses/id_1/x.jpg` → gender `WOMEN`, category `Dresses`.
fn path_attributes(image: &Path) -> Vec<String> {
    let parts: Vec<String> = image
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let start = usize::from(parts.first().is_some_and(|p| p.eq_ignore_ascii_case("img")));
    (0..COLUMNS.len())
        .map(|i| {
            // Only directory components count; the last two are item folder and file.
            let idx = start + i;
            if idx + 2 < parts.len() {
                parts[idx].clone()
            } else {
                String::new()
            }
        })
        .collect()
}
