//! Decoding every photo of a catalogue once, in parallel, to find the bad ones before a
//! long job does (`lookbook catalog check`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::{BadImage, BatchLoader, ImageError, ImageSpec, LoaderOptions, Preprocessor};

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub catalogue: PathBuf,
    pub checked: usize,
    pub decoded: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    pub bad: Vec<BadFile>,
}

/// A photo that did not decode, and why.
#[derive(Debug, Clone, Serialize)]
pub struct BadFile {
    pub path: PathBuf,
    pub reason: String,
}

/// Decodes (and resizes to `spec`) every photo of `paths` (the catalogue at `catalogue`) on
/// `options.threads` threads; `on_bad` hears of each bad photo as it is found, `on_progress`
/// of photos done (and bad) so far.
pub fn check_photos(
    catalogue: &Path,
    paths: Vec<PathBuf>,
    spec: ImageSpec,
    options: LoaderOptions,
    mut on_bad: impl FnMut(&BadImage),
    mut on_progress: impl FnMut(usize, usize),
) -> Result<CheckReport, ImageError> {
    let preprocessor = Preprocessor::new(spec)?;
    let total = paths.len();
    let start = Instant::now();
    let mut decoded = 0;
    let mut bad = Vec::new();
    let mut loader = BatchLoader::from_paths(paths, preprocessor, options)?;
    while let Some(mut batch) = loader.next() {
        decoded += batch.len();
        for (_, failure) in std::mem::take(&mut batch.failures) {
            on_bad(&failure);
            bad.push(BadFile {
                path: failure.path,
                reason: failure.error.to_string(),
            });
        }
        on_progress(decoded + bad.len(), bad.len());
        loader.recycle(batch);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(CheckReport {
        catalogue: catalogue.to_path_buf(),
        checked: total,
        decoded,
        seconds,
        images_per_second: total as f64 / seconds.max(1e-9),
        bad,
    })
}

impl std::fmt::Display for CheckReport {
    /// The summary line, then each bad photo and why.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checked {} images of {} in {:.1} s ({:.0} img/s): {} decoded, {} bad",
            self.checked,
            self.catalogue.display(),
            self.seconds,
            self.images_per_second,
            self.decoded,
            self.bad.len()
        )?;
        for b in &self.bad {
            write!(f, "\n  {}: {}", b.path.display(), b.reason)?;
        }
        Ok(())
    }
}
