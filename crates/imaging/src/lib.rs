//! From an image file to a normalised float tensor, and from a list of files to a
//! stream of batches.
//!
//! * [`decode`]: bytes → upright RGB, with limits against decompression bombs,
//!   EXIF orientation, alpha composited onto a background, 16-bit and CMYK handled,
//!   and JPEG DCT-domain downscaling when the target is much smaller than the photo.
//! * [`Preprocessor`]: decode + letterbox (resize keeping the aspect ratio, pad) to
//!   the model's H×W + normalise to CHW `f32`.
//! * [`BatchLoader`]: decodes batches in parallel (rayon) on a background thread,
//!   a bounded number of batches ahead, so the consumer never waits on I/O. A bad
//!   file becomes a [`BadImage`] in its batch's report; the batch goes on without it.
//! * [`draw`]: pictures out — line charts and contact sheets as PNG.

mod decode;
pub mod draw;
mod error;
mod loader;
mod preprocess;
mod spec;

pub use decode::{DecodeLimits, decode, decode_file};
pub use error::{BadImage, ImageError};
pub use loader::{Batch, BatchLoader, LoaderOptions};
pub use preprocess::{Preprocessor, letterbox, letterbox_geometry, normalise_into, unletterbox_box};
pub use spec::{Fit, ImageSpec, ResizeFilter};
