//! From an image file to a normalised float tensor, and from a list of files to a
//! stream of batches.
//!
//! * [`decode`]: bytes → upright RGB, with limits against decompression bombs,
//!   EXIF orientation, alpha composited onto a background, 16-bit and CMYK handled,
//!   and JPEG DCT-domain downscaling when the target is much smaller than the photo. A
//!   file cut short (no JPEG end-of-image, no PNG IEND, ...) is refused as truncated
//!   ([`check_complete`]) rather than decoded with grey rows.
//! * [`Preprocessor`]: decode + letterbox (resize keeping the aspect ratio, pad) to
//!   the model's H×W + normalise to CHW `f32`.
//! * [`BatchLoader`]: decodes batches in parallel (rayon) on a background thread,
//!   a bounded number of batches ahead, so the consumer never waits on I/O. A bad
//!   file becomes a [`BadImage`] in its batch's report; the batch goes on without it.
//! * [`GarmentMask`]: the garment's pixels on a plain background, and its frame (the box
//!   the attention steps are placed in).
//! * [`draw`]: pictures out — line charts and contact sheets as PNG.

pub mod check;
mod decode;
pub mod draw;
mod error;
mod garment;
mod integrity;
mod loader;
mod preprocess;
mod spec;

pub use decode::{DecodeLimits, decode, decode_file};
pub use error::{BadImage, ImageError};
pub use garment::{GarmentMask, PART_NAMES, frame_of, garment_frame, letterboxed_frame, part_name};
pub use integrity::check_complete;
pub use loader::{Batch, BatchLoader, LoaderOptions};
pub use preprocess::{
    FRAME_LEN, Preprocessor, letterbox, letterbox_geometry, normalise_into, split_frames, unletterbox_box,
};
pub use spec::{Fit, ImageSpec, ResizeFilter};
