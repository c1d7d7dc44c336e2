//! CPU kernels for EfficientNet-Lite inference on one channels-last image (`[H, W, C]`), batch-norm
//! folded: TF-"same" padding, the 1×1 convolution as one matrix product with bias, ReLU6 and
//! residual (`gemm`'s; [`crate::lite_pointwise`] packs the weights for AVX-512), and the 3×3 /
//! stride 2 stem's patches. The depthwise convolution is [`crate::lite_depthwise`].
//!
//! Why channels-last: a 1×1 convolution is then `[H·W, C] · [C, O]` with no transposes, and a
//! depthwise tap is a contiguous run of channels — one vector multiply-add per 16 channels, the
//! accumulators of a tile of channels held in registers across all k² taps (XNNPACK's
//! arrangement). burn's conv2d goes through NCHW, an im2col per group and a transpose per layer.

/// TensorFlow "same": output ⌈n/s⌉, total padding split with the extra pixel at the end.
pub fn same_padding(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// A 1×1 convolution on `rows` channels-last pixels: `out[rows, outputs] = input[rows, inputs] ·
/// weight[inputs, outputs] + bias (+ residual)`, then ReLU6 when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointwiseShape {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// Rows per matrix product: the output tile (rows × outputs) stays in L2 for the bias, ReLU6
/// and residual passes, and the packed weights are reused over at least 32 rows.
fn row_tile(outputs: usize) -> usize {
    (65_536 / outputs.max(1)).clamp(32, 1024)
}

/// `out = input · weight + bias (+ residual)`, clamped to [0, 6] when `relu6`.
///
/// # Panics
/// When a slice is shorter than `shape` says (a bug in the caller).
pub fn pointwise(
    shape: PointwiseShape,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    relu6: bool,
    out: &mut [f32],
) {
    let PointwiseShape { rows, inputs, outputs } = shape;
    assert!(input.len() >= rows * inputs && weight.len() >= inputs * outputs);
    assert!(bias.len() >= outputs && out.len() >= rows * outputs);
    if let Some(residual) = residual {
        assert!(residual.len() >= rows * outputs);
    }
    let tile = row_tile(outputs);
    let mut start = 0;
    while start < rows {
        let count = tile.min(rows - start);
        let dst = &mut out[start * outputs..(start + count) * outputs];
        for (r, row) in dst.chunks_exact_mut(outputs).enumerate() {
            row.copy_from_slice(&bias[..outputs]);
            if let Some(residual) = residual {
                let add = &residual[(start + r) * outputs..][..outputs];
                row.iter_mut().zip(add).for_each(|(o, a)| *o += a);
            }
        }
        let lhs = &input[start * inputs..(start + count) * inputs];
        // SAFETY: dst is count × outputs, lhs count × inputs, weight inputs × outputs, all
        // row-major and checked above.
        unsafe {
            gemm::gemm(
                count,
                outputs,
                inputs,
                dst.as_mut_ptr(),
                1,
                outputs as isize,
                true,
                lhs.as_ptr(),
                1,
                inputs as isize,
                weight.as_ptr(),
                1,
                outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if relu6 {
            dst.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0));
        }
        start += count;
    }
}

/// The stem's 3×3 / stride 2 convolution on an image stored channels-first (`[3, H, W]`, as
/// the preprocessor writes it): its patches (`[out pixels, 27]`, tap-major then channel) into
/// `patches`, then one [`pointwise`] with `weight [27, outputs]`. Returns the output size.
pub fn stem_patches(image: &[f32], height: usize, width: usize, patches: &mut Vec<f32>) -> (usize, usize) {
    const K: usize = 3;
    const STRIDE: usize = 2;
    let (top, _) = same_padding(height, K, STRIDE);
    let (left, _) = same_padding(width, K, STRIDE);
    let (out_h, out_w) = (height.div_ceil(STRIDE), width.div_ceil(STRIDE));
    patches.clear();
    patches.resize(out_h * out_w * K * K * 3, 0.0);
    let plane = height * width;
    for oy in 0..out_h {
        for ox in 0..out_w {
            let row = &mut patches[(oy * out_w + ox) * 27..][..27];
            for ky in 0..K {
                let Some(iy) = (oy * STRIDE + ky).checked_sub(top).filter(|&y| y < height) else {
                    continue;
                };
                for kx in 0..K {
                    let Some(ix) = (ox * STRIDE + kx).checked_sub(left).filter(|&x| x < width) else {
                        continue;
                    };
                    for c in 0..3 {
                        row[(ky * K + kx) * 3 + c] = image[c * plane + iy * width + ix];
                    }
                }
            }
        }
    }
    (out_h, out_w)
}

/// A deterministic pseudo-random fill in [-1, 1) for the kernels' tests (no rand dependency).
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The largest error of `ours` against an f64 `reference`, relative to 1 + |reference|.
#[cfg(test)]
pub(crate) fn worst_error(ours: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lite_kernels::{test_values as values, worst_error};

    #[test]
    fn pointwise_matches_the_definition_with_bias_residual_and_relu6() {
        for (rows, inputs, outputs) in [(1, 1, 1), (3, 5, 7), (49, 320, 1280), (1500, 24, 144), (97, 192, 40)] {
            let shape = PointwiseShape { rows, inputs, outputs };
            let input = values(rows * inputs, rows as u64);
            let weight = values(inputs * outputs, inputs as u64 + 9);
            let bias = values(outputs, outputs as u64 + 3);
            let residual = values(rows * outputs, 77);
            for (with_residual, relu6) in [(false, false), (true, false), (false, true)] {
                let mut out = vec![f32::NAN; rows * outputs];
                let add = with_residual.then_some(&residual[..]);
                pointwise(shape, &input, &weight, &bias, add, relu6, &mut out);
                let mut reference = vec![0.0f64; rows * outputs];
                for r in 0..rows {
                    for o in 0..outputs {
                        let mut sum = bias[o] as f64;
                        for i in 0..inputs {
                            sum += input[r * inputs + i] as f64 * weight[i * outputs + o] as f64;
                        }
                        if with_residual {
                            sum += residual[r * outputs + o] as f64;
                        }
                        reference[r * outputs + o] = if relu6 { sum.clamp(0.0, 6.0) } else { sum };
                    }
                }
                let error = worst_error(&out, &reference);
                assert!(
                    error < 1e-4,
                    "{shape:?} residual {with_residual} relu6 {relu6}: error {error}"
                );
            }
        }
    }

    #[test]
    fn stem_patches_gather_each_output_pixels_neighbourhood() {
        // A 3 × 5 × 4 image (odd height): output 3×2; total padding (2·2 + 3) − 5 = 2 rows
        // (one each side) and (1·2 + 3) − 4 = 1 column (at the right).
        let (h, w) = (5, 4);
        let image: Vec<f32> = (0..3 * h * w).map(|v| v as f32 + 1.0).collect();
        let mut patches = Vec::new();
        let (out_h, out_w) = stem_patches(&image, h, w, &mut patches);
        assert_eq!((out_h, out_w), (3, 2));
        let (top, left) = (same_padding(h, 3, 2).0, same_padding(w, 3, 2).0);
        assert_eq!((top, left), (1, 0));
        for oy in 0..out_h {
            for ox in 0..out_w {
                for ky in 0..3 {
                    for kx in 0..3 {
                        for c in 0..3 {
                            let (iy, ix) = (
                                (oy * 2 + ky) as isize - top as isize,
                                (ox * 2 + kx) as isize - left as isize,
                            );
                            let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                            let expected = if inside {
                                image[c * h * w + iy as usize * w + ix as usize]
                            } else {
                                0.0
                            };
                            assert_eq!(patches[(oy * out_w + ox) * 27 + (ky * 3 + kx) * 3 + c], expected);
                        }
                    }
                }
            }
        }
    }
}
