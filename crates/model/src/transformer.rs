//! The spatial transformer: a differentiable scale-and-translate crop of the feature
//! map (bilinear sampling), and the attention map each crop leaves on it.
//!
//! Coordinates are normalised to [−1, 1] over the map with PyTorch's
//! `align_corners=False` convention (−1 and 1 are the outer edges of the edge cells).
//! burn's own affine grid follows only `align_corners=True`, so the grid is built here.

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// One region's transform θ = [[sx, 0, tx], [0, sy, ty]] as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Theta {
    pub sx: f32,
    pub sy: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Theta {
    pub const IDENTITY: Theta = Theta {
        sx: 1.0,
        sy: 1.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// A garment frame (`lookbook_imaging::letterboxed_frame`: sx, sy, tx, ty) as θ.
    pub fn from_frame(frame: &[f32]) -> Theta {
        Theta {
            sx: frame[0],
            sy: frame[1],
            tx: frame[2],
            ty: frame[3],
        }
    }

    /// Rows of a `[N, 4]` θ tensor (sx, sy, tx, ty).
    pub fn from_tensor<B: Backend>(theta: Tensor<B, 2>) -> Vec<Theta> {
        let values: Vec<f32> = theta.into_data().convert::<f32>().to_vec().expect("f32 data");
        values.chunks_exact(4).map(Theta::from_frame).collect()
    }

    /// The region as a box `[x0, y0, x1, y1]` in pixels of a `width`×`height` input
    /// (the letterboxed image the model saw): the crop spans tx ± |sx|, ty ± |sy|.
    pub fn to_box(&self, width: f32, height: f32) -> [f32; 4] {
        let to_px = |v: f32, size: f32| (v + 1.0) / 2.0 * size;
        [
            to_px(self.tx - self.sx.abs(), width),
            to_px(self.ty - self.sy.abs(), height),
            to_px(self.tx + self.sx.abs(), width),
            to_px(self.ty + self.sy.abs(), height),
        ]
    }
}

/// Centres of `n` output cells in normalised coordinates: (2j + 1)/n − 1.
fn cell_centres<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 1> {
    let values: Vec<f32> = (0..n).map(|j| (2 * j + 1) as f32 / n as f32 - 1.0).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// 0, 1, …, n−1 as floats.
fn cell_indices<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 1> {
    let values: Vec<f32> = (0..n).map(|j| j as f32).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Sampling grid `[N, out_h, out_w, 2]` (x, y) for transforms `theta` `[N, 4]`.
pub fn affine_grid<B: Backend>(theta: Tensor<B, 2>, out_h: usize, out_w: usize) -> Tensor<B, 4> {
    let [n, _] = theta.dims();
    let device = theta.device();
    let column = |i: usize| theta.clone().narrow(1, i, 1).reshape([n, 1, 1]);
    let (sx, sy, tx, ty) = (column(0), column(1), column(2), column(3));
    let base_x = cell_centres::<B>(out_w, &device).reshape([1, 1, out_w]);
    let base_y = cell_centres::<B>(out_h, &device).reshape([1, out_h, 1]);
    let xs = (sx * base_x + tx).expand([n, out_h, out_w]);
    let ys = (sy * base_y + ty).expand([n, out_h, out_w]);
    Tensor::stack::<4>(vec![xs, ys], 3)
}

/// Bilinear crop of `features` `[N, C, H, W]` by `theta` → `[N, C, out_h, out_w]`;
/// differentiable with respect to both. Outside the map reads as zero.
pub fn sample_region<B: Backend>(
    features: Tensor<B, 4>,
    theta: Tensor<B, 2>,
    out_h: usize,
    out_w: usize,
) -> Tensor<B, 4> {
    let grid = affine_grid(theta, out_h, out_w);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(false);
    features.grid_sample_2d(grid, options)
}

/// Where a crop reads from: for each cell of an `h`×`w` map, the sum of the bilinear
/// weights all grid points of `theta`'s `out_h`×`out_w` grid put on it → `[N, h, w]`.
/// Differentiable in θ (the weights are tents `max(0, 1 − |p − j|)`).
pub fn footprint<B: Backend>(theta: Tensor<B, 2>, out_h: usize, out_w: usize, h: usize, w: usize) -> Tensor<B, 3> {
    let [n, _] = theta.dims();
    let device = theta.device();
    let grid = affine_grid(theta, out_h, out_w);
    let points = out_h * out_w;
    let gx = grid.clone().narrow(3, 0, 1).reshape([n, points, 1]);
    let gy = grid.narrow(3, 1, 1).reshape([n, points, 1]);
    // align_corners=False: pixel = ((g + 1)·size − 1)/2.
    let px = gx.add_scalar(1.0).mul_scalar(w as f64 / 2.0).sub_scalar(0.5);
    let py = gy.add_scalar(1.0).mul_scalar(h as f64 / 2.0).sub_scalar(0.5);
    let cols = cell_indices::<B>(w, &device).reshape([1, 1, w]);
    let rows = cell_indices::<B>(h, &device).reshape([1, 1, h]);
    let tent = |p: Tensor<B, 3>, cells: Tensor<B, 3>| relu((p - cells).abs().neg().add_scalar(1.0));
    let wx = tent(px, cols); // [N, P, w]
    let wy = tent(py, rows); // [N, P, h]
    wy.swap_dims(1, 2).matmul(wx)
}

/// The attention map of a step: its footprint normalised to sum 1 over the h×w cells →
/// `[N, h, w]`. (The study softmaxes it; on a 6×4 or 12×8 map the footprint's values lie in
/// about [0, 1.5], so a softmax leaves every cell within a factor e^1.5 of the others and two
/// disjoint boxes still "overlap" by most of their mass, which gives the diversity loss
/// nothing to push on. Normalised, disjoint boxes overlap by zero.)
pub fn attention_map<B: Backend>(theta: Tensor<B, 2>, out_h: usize, out_w: usize, h: usize, w: usize) -> Tensor<B, 3> {
    let [n, _] = theta.dims();
    let flat = footprint(theta, out_h, out_w, h, w).reshape([n, h * w]);
    let total = flat.clone().sum_dim(1).add_scalar(1e-6);
    (flat / total).reshape([n, h, w])
}
