//! One reader per on-disk catalogue format, each producing a [`crate::Catalog`].

pub mod folder;
pub mod hm;
pub mod inshop;
pub mod labelled;
pub mod myntra;

use std::path::Path;

use crate::entry::{Problem, ProblemKind};

/// Record a table row whose image is not on disk.
pub(crate) fn missing_image(problems: &mut Vec<Problem>, location: String, image: &Path) {
    problems.push(Problem {
        kind: ProblemKind::MissingImage,
        location,
        detail: format!("image {} not found; row skipped", image.display()),
    });
}
