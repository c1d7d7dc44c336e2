//! The model of "Clothing Retrieval and Visual Recommendation for Fashion Images" (2018),
//! written once in burn and generic over the backend.
//!
//! ```text
//! image ─► GlobalBranch ─► feature map (256 × H/16 × W/16) ─► avg pool ─► global feature ─► label scores
//!                               │
//!                               └► step 0: whole map ─► TextureEncoding ─► e₀
//!                                  step k: LSTM(e_{k−1}) ─► θ_k ─► SpatialTransformer ─► region ─► TextureEncoding ─► e_k
//! image scores = element-wise max over the global and every step's scores
//! ```
//!
//! [`losses`] holds the study's classification, diversity and localisation losses.

pub mod backend;
pub mod config;
pub mod conv3x3;
pub mod device;
pub mod efficientnet;
pub mod encoding;
mod error;
pub mod global;
pub mod lite_cpu;
pub mod lite_depthwise;
pub mod lite_kernels;
pub mod lite_pointwise;
pub mod losses;
pub mod model;
mod output;
pub mod pool4;
pub mod saved;
mod section;
pub mod transformer;

pub use backend::SeedBackend;
pub use config::{ATTENTION_FRAMES, BACKBONES, PROJECTION_INPUTS, SeedConfig};
pub use device::DeviceChoice;
pub use efficientnet::{EfficientNetLite, LITE_VARIANTS, LiteVariant, lite_variant};
pub use encoding::TextureEncoding;
pub use error::ModelError;
pub use global::GlobalBranch;
pub use lite_cpu::LiteCpu;
pub use losses::{LossBreakdown, LossWeights};
pub use model::{SeedModel, SeedOutput, within_frame};
pub use saved::{ModelMeta, SavedModel};
pub use section::ModelSection;
pub use transformer::{Theta, affine_grid, attention_map, footprint, sample_region};

/// The default CPU backend for training.
pub type TrainBackend = burn::backend::Autodiff<burn::backend::Flex>;
/// The default CPU backend for inference.
pub type InferBackend = burn::backend::Flex;
/// The GPU backend for training (feature `cuda`; the CUDA libraries are loaded at run time).
#[cfg(feature = "cuda")]
pub type CudaTrainBackend = burn::backend::Autodiff<burn::backend::Cuda>;
/// The GPU backend for inference (feature `cuda`).
#[cfg(feature = "cuda")]
pub type CudaInferBackend = burn::backend::Cuda;
/// A CUDA device by ordinal (feature `cuda`).
#[cfg(feature = "cuda")]
pub use burn::backend::cuda::CudaDevice;
