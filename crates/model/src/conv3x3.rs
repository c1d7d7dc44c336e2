//! The global branch's 3×3 / stride 1 / padding 1 convolution on the CPU, forward and both
//! backward passes, as nine accumulated matrix products over a zero-padded copy of the input.
//!
//! Why our own: profiling `flex` showed more time in its NHWC conversion, tiled im2col and
//! page-faulting of per-call buffers than in the matrix products themselves. With the input
//! laid out on a grid one cell wider on each side, every kernel tap (dy, dx) is a constant
//! offset `dy·(W+2) + dx` into the flattened grid, so tap k is one GEMM
//! `out[O, H·(W+2)] += W_k[O, C] · X_pad[C, off_k ..]` with no im2col at all; the two extra
//! columns per output row are garbage and dropped (or zeroed, going backward).
//! The GEMMs are `gemm`'s (the crate `flex` itself uses), single-threaded per task, with rayon
//! splitting images and column chunks.

use rayon::prelude::*;

/// Shapes of one 3×3 convolution: `x [N, C, H, W]`, `weight [O, C, 3, 3]`, `out [N, O, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3x3Shape {
    pub batch: usize,
    pub channels_in: usize,
    pub channels_out: usize,
    pub height: usize,
    pub width: usize,
}

/// Columns of the output grid each task computes: small enough that a task's output
/// block (O × CHUNK floats) stays in L2 across the nine accumulating products.
const CHUNK: usize = 512;

impl Conv3x3Shape {
    fn padded_width(&self) -> usize {
        self.width + 2
    }
    /// One channel of the zero-padded input, plus two cells so the last taps stay in bounds.
    fn padded_len(&self) -> usize {
        (self.height + 2) * self.padded_width() + 2
    }
    /// One channel of the output on the padded-width grid.
    fn grid_len(&self) -> usize {
        self.height * self.padded_width()
    }
    fn tap_offset(&self, tap: usize) -> usize {
        (tap / 3) * self.padded_width() + tap % 3
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.channels_in * self.height * self.width
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.channels_out * self.height * self.width
    }
    pub fn weight_len(&self) -> usize {
        self.channels_out * self.channels_in * 9
    }
}

/// `[C, H, W]` → `[C, (H+2)·(W+2) + 2]` with a zero border (`dst` is overwritten).
fn pad_into(shape: &Conv3x3Shape, channels: usize, src: &[f32], dst: &mut [f32]) {
    let (h, w, pw, plen) = (shape.height, shape.width, shape.padded_width(), shape.padded_len());
    dst.fill(0.0);
    for c in 0..channels {
        for y in 0..h {
            let from = &src[(c * h + y) * w..][..w];
            dst[c * plen + (y + 1) * pw + 1..][..w].copy_from_slice(from);
        }
    }
}

/// `dst[m × n] (+)= lhs[m × k] · rhs[k × n]` with explicit (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn gemm_strided(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_strides: (isize, isize),
    accumulate: bool,
    lhs: *const f32,
    lhs_strides: (isize, isize),
    rhs: *const f32,
    rhs_strides: (isize, isize),
) {
    // SAFETY: every caller derives the pointers and strides from slices whose lengths
    // cover `m × k`, `k × n` and `m × n` elements at those strides (see the shape methods).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_strides.1,
            dst_strides.0,
            accumulate,
            lhs,
            lhs_strides.1,
            lhs_strides.0,
            rhs,
            rhs_strides.1,
            rhs_strides.0,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// A raw pointer that may cross into rayon tasks; each task writes a disjoint range.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer `offset` elements on. A method (not `.0`) so closures capture the whole
    /// `SendPtr`, which is `Send`, rather than its raw-pointer field, which is not.
    ///
    /// # Safety
    /// `offset` must stay inside the allocation the pointer came from.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

/// One image's convolution (no bias) on the padded-width grid: `[O, H·(W+2)]`.
fn image_grid(shape: &Conv3x3Shape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (c_in, c_out) = (shape.channels_in, shape.channels_out);
    let (plen, glen) = (shape.padded_len(), shape.grid_len());
    let mut padded = vec![0.0f32; c_in * plen];
    pad_into(shape, c_in, x, &mut padded);
    let mut grid = vec![0.0f32; c_out * glen];
    let grid_ptr = SendPtr(grid.as_mut_ptr());
    let chunks: Vec<usize> = (0..glen).step_by(CHUNK).collect();
    chunks.into_par_iter().for_each(|start| {
        let cols = CHUNK.min(glen - start);
        for tap in 0..9 {
            gemm_strided(
                (c_out, cols, c_in),
                // SAFETY (offsets): start < glen, rows are glen apart.
                unsafe { grid_ptr.at(start) },
                (glen as isize, 1),
                tap > 0,
                weight[tap..].as_ptr(),
                ((c_in * 9) as isize, 9),
                padded[shape.tap_offset(tap) + start..].as_ptr(),
                (plen as isize, 1),
            );
        }
    });
    grid
}

fn check_lengths(shape: &Conv3x3Shape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) {
    assert_eq!(x.len(), shape.input_len(), "conv3x3 input length");
    assert_eq!(weight.len(), shape.weight_len(), "conv3x3 weight length");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), shape.channels_out, "conv3x3 bias length");
    }
}

/// `out = conv3x3(x, weight) + bias`, then ReLU when `relu`; all NCHW and contiguous.
pub fn forward(shape: &Conv3x3Shape, x: &[f32], weight: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    check_lengths(shape, x, weight, bias);
    let (c_in, c_out, h, w) = (shape.channels_in, shape.channels_out, shape.height, shape.width);
    let (pw, glen) = (shape.padded_width(), shape.grid_len());
    let mut out = vec![0.0f32; shape.output_len()];
    out.par_chunks_mut(c_out * h * w)
        .zip(x.par_chunks(c_in * h * w))
        .for_each(|(out, x)| {
            let grid = image_grid(shape, x, weight);
            for o in 0..c_out {
                let b = bias.map_or(0.0, |b| b[o]);
                for y in 0..h {
                    let from = &grid[o * glen + y * pw..][..w];
                    for (d, s) in out[(o * h + y) * w..][..w].iter_mut().zip(from) {
                        let v = s + b;
                        *d = if relu { v.max(0.0) } else { v };
                    }
                }
            }
        });
    out
}

/// Inference only: `maxpool4x4(relu(conv3x3(x, weight) + bias))` → `[N, O, H/4, W/4]`, pooled
/// straight from each image's grid so the full-resolution activation (805 MB for a batch of
/// 32 at 384×256) is never written. `max(relu(v + b)) = relu(max(v) + b)`: bias and ReLU go
/// after the max.
pub fn forward_relu_pool4(shape: &Conv3x3Shape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    check_lengths(shape, x, weight, Some(bias));
    let (c_in, c_out, h, w) = (shape.channels_in, shape.channels_out, shape.height, shape.width);
    let (pw, glen) = (shape.padded_width(), shape.grid_len());
    let (oh, ow) = (h / 4, w / 4);
    let mut out = vec![0.0f32; shape.batch * c_out * oh * ow];
    if out.is_empty() {
        return out; // a map smaller than one window
    }
    out.par_chunks_mut(c_out * oh * ow)
        .zip(x.par_chunks(c_in * h * w))
        .for_each(|(out, x)| {
            let grid = image_grid(shape, x, weight);
            for o in 0..c_out {
                for oy in 0..oh {
                    let row_out = &mut out[(o * oh + oy) * ow..][..ow];
                    row_out.fill(f32::NEG_INFINITY);
                    for dy in 0..4 {
                        let row = &grid[o * glen + (oy * 4 + dy) * pw..][..ow * 4];
                        for (best, window) in row_out.iter_mut().zip(row.chunks_exact(4)) {
                            *best = window.iter().fold(*best, |m, &v| m.max(v));
                        }
                    }
                    for v in row_out.iter_mut() {
                        *v = (*v + bias[o]).max(0.0);
                    }
                }
            }
        });
    out
}

/// `[O, H, W]` → `[O, len]` on the padded-width grid starting at `offset`, zeros elsewhere.
fn spread_into(shape: &Conv3x3Shape, src: &[f32], offset: usize, len: usize, dst: &mut [f32]) {
    let (h, w, pw) = (shape.height, shape.width, shape.padded_width());
    dst.fill(0.0);
    for o in 0..shape.channels_out {
        for y in 0..h {
            dst[o * len + offset + y * pw..][..w].copy_from_slice(&src[(o * h + y) * w..][..w]);
        }
    }
}

/// Gradient with respect to the input: a full correlation of the output gradient with the
/// flipped kernel, computed on the padded grid and cropped.
pub fn backward_input(shape: &Conv3x3Shape, weight: &[f32], grad_out: &[f32]) -> Vec<f32> {
    let (c_in, c_out, h, w) = (shape.channels_in, shape.channels_out, shape.height, shape.width);
    assert_eq!(grad_out.len(), shape.output_len(), "conv3x3 gradient length");
    let (pw, plen) = (shape.padded_width(), shape.padded_len());
    // dX_pad[c, q] = Σ_tap Σ_o W[o, c, tap] · G[o, q − off_tap]; G is the gradient on the grid,
    // shifted right by the largest offset so every read index stays ≥ 0.
    let shift = shape.tap_offset(8);
    let glen = shift + plen;
    let mut grad_in = vec![0.0f32; shape.input_len()];
    grad_in
        .par_chunks_mut(c_in * h * w)
        .zip(grad_out.par_chunks(c_out * h * w))
        .for_each(|(grad_in, grad_out)| {
            let mut spread = vec![0.0f32; c_out * glen];
            spread_into(shape, grad_out, shift, glen, &mut spread);
            let mut padded = vec![0.0f32; c_in * plen];
            let padded_ptr = SendPtr(padded.as_mut_ptr());
            let chunks: Vec<usize> = (0..plen).step_by(CHUNK).collect();
            chunks.into_par_iter().for_each(|start| {
                let cols = CHUNK.min(plen - start);
                for tap in 0..9 {
                    gemm_strided(
                        (c_in, cols, c_out),
                        unsafe { padded_ptr.at(start) },
                        (plen as isize, 1),
                        tap > 0,
                        // Wᵀ: rows are input channels (stride 9), columns output channels.
                        weight[tap..].as_ptr(),
                        (9, (c_in * 9) as isize),
                        spread[shift - shape.tap_offset(tap) + start..].as_ptr(),
                        (glen as isize, 1),
                    );
                }
            });
            for c in 0..c_in {
                for y in 0..h {
                    grad_in[(c * h + y) * w..][..w].copy_from_slice(&padded[c * plen + (y + 1) * pw + 1..][..w]);
                }
            }
        });
    grad_in
}

/// Gradient of the weight `[O, C, 3, 3]`.
pub fn backward_weight(shape: &Conv3x3Shape, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
    let (c_in, c_out, h, w) = (shape.channels_in, shape.channels_out, shape.height, shape.width);
    assert_eq!(x.len(), shape.input_len(), "conv3x3 input length");
    assert_eq!(grad_out.len(), shape.output_len(), "conv3x3 gradient length");
    let (plen, glen) = (shape.padded_len(), shape.grid_len());
    // Per image: dW_tap[o, c] = Σ_p G[o, p] · X_pad[c, p + off_tap]; images are summed at the end.
    let per_image: Vec<Vec<f32>> = x
        .par_chunks(c_in * h * w)
        .zip(grad_out.par_chunks(c_out * h * w))
        .map(|(x, grad_out)| {
            let mut padded = vec![0.0f32; c_in * plen];
            pad_into(shape, c_in, x, &mut padded);
            let mut spread = vec![0.0f32; c_out * glen];
            spread_into(shape, grad_out, 0, glen, &mut spread);
            let mut grad_weight = vec![0.0f32; shape.weight_len()];
            let dst = SendPtr(grad_weight.as_mut_ptr());
            (0..9usize).into_par_iter().for_each(|tap| {
                gemm_strided(
                    (c_out, c_in, glen),
                    // Tap `tap` of every (o, c): elements tap, tap + 9, … — disjoint per task.
                    unsafe { dst.at(tap) },
                    ((c_in * 9) as isize, 9),
                    false,
                    spread.as_ptr(),
                    (glen as isize, 1),
                    padded[shape.tap_offset(tap)..].as_ptr(),
                    (1, plen as isize),
                );
            });
            grad_weight
        })
        .collect();
    let mut grad_weight = vec![0.0f32; shape.weight_len()];
    for image in &per_image {
        for (d, s) in grad_weight.iter_mut().zip(image) {
            *d += s;
        }
    }
    grad_weight
}

/// Gradient of the bias `[O]`: the output gradient summed over images and positions.
pub fn backward_bias(shape: &Conv3x3Shape, grad_out: &[f32]) -> Vec<f32> {
    let (c_out, h, w) = (shape.channels_out, shape.height, shape.width);
    assert_eq!(grad_out.len(), shape.output_len(), "conv3x3 gradient length");
    let mut grad_bias = vec![0.0f32; c_out];
    for image in grad_out.chunks(c_out * h * w) {
        for (o, plane) in image.chunks(h * w).enumerate() {
            grad_bias[o] += plane.iter().sum::<f32>();
        }
    }
    grad_bias
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small deterministic pseudo-random sequence in [-1, 1).
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The textbook definition, in f64.
    fn naive_forward(s: &Conv3x3Shape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f64> {
        let (c_in, c_out, h, w) = (s.channels_in, s.channels_out, s.height, s.width);
        let mut out = vec![0.0f64; s.output_len()];
        for n in 0..s.batch {
            for o in 0..c_out {
                for y in 0..h {
                    for xx in 0..w {
                        let mut acc = bias[o] as f64;
                        for c in 0..c_in {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * c_in + c) * h + iy as usize) * w + ix as usize];
                                    acc += xv as f64 * weight[((o * c_in + c) * 3 + ky) * 3 + kx] as f64;
                                }
                            }
                        }
                        out[((n * c_out + o) * h + y) * w + xx] = acc;
                    }
                }
            }
        }
        out
    }

    fn assert_close(actual: &[f32], expected: &[f64], tolerance: f64, what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length");
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (*a as f64 - e).abs() <= tolerance * (1.0 + e.abs()),
                "{what}[{i}]: {a} vs {e}"
            );
        }
    }

    const SHAPES: [Conv3x3Shape; 3] = [
        Conv3x3Shape {
            batch: 2,
            channels_in: 3,
            channels_out: 5,
            height: 7,
            width: 4,
        },
        Conv3x3Shape {
            batch: 1,
            channels_in: 8,
            channels_out: 4,
            height: 1,
            width: 1,
        },
        // More columns than one chunk, so chunk edges are crossed.
        Conv3x3Shape {
            batch: 3,
            channels_in: 4,
            channels_out: 6,
            height: 30,
            width: 21,
        },
    ];

    #[test]
    fn forward_matches_the_definition() {
        for s in SHAPES {
            let (x, weight, bias) = (
                values(s.input_len(), 1),
                values(s.weight_len(), 2),
                values(s.channels_out, 3),
            );
            let expected = naive_forward(&s, &x, &weight, &bias);
            assert_close(
                &forward(&s, &x, &weight, Some(&bias), false),
                &expected,
                1e-5,
                "forward",
            );
            let rectified: Vec<f64> = expected.iter().map(|v| v.max(0.0)).collect();
            assert_close(
                &forward(&s, &x, &weight, Some(&bias), true),
                &rectified,
                1e-5,
                "forward + relu",
            );
            let (oh, ow) = (s.height / 4, s.width / 4);
            let pooled: Vec<f64> = (0..s.batch * s.channels_out)
                .flat_map(|plane| (0..oh * ow).map(move |i| (plane, i / ow, i % ow)))
                .map(|(plane, oy, ox)| {
                    let cell =
                        |dy: usize, dx: usize| rectified[(plane * s.height + oy * 4 + dy) * s.width + ox * 4 + dx];
                    (0..16).map(|k| cell(k / 4, k % 4)).fold(f64::NEG_INFINITY, f64::max)
                })
                .collect();
            assert_close(
                &forward_relu_pool4(&s, &x, &weight, &bias),
                &pooled,
                1e-5,
                "forward + relu + pool",
            );
        }
    }

    /// Both gradients of the definition, accumulated the other way round (in f64).
    fn naive_backward(s: &Conv3x3Shape, x: &[f32], weight: &[f32], grad_out: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (c_in, c_out, h, w) = (s.channels_in, s.channels_out, s.height, s.width);
        let mut grad_in = vec![0.0f64; s.input_len()];
        let mut grad_weight = vec![0.0f64; s.weight_len()];
        for n in 0..s.batch {
            for o in 0..c_out {
                for y in 0..h {
                    for xx in 0..w {
                        let g = grad_out[((n * c_out + o) * h + y) * w + xx] as f64;
                        for c in 0..c_in {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xi = ((n * c_in + c) * h + iy as usize) * w + ix as usize;
                                    let wi = ((o * c_in + c) * 3 + ky) * 3 + kx;
                                    grad_in[xi] += weight[wi] as f64 * g;
                                    grad_weight[wi] += x[xi] as f64 * g;
                                }
                            }
                        }
                    }
                }
            }
        }
        (grad_in, grad_weight)
    }

    #[test]
    fn gradients_match_the_definition() {
        for s in SHAPES {
            let (x, weight) = (values(s.input_len(), 4), values(s.weight_len(), 5));
            let grad_out = values(s.output_len(), 6);
            let (expected_in, expected_weight) = naive_backward(&s, &x, &weight, &grad_out);
            assert_close(
                &backward_input(&s, &weight, &grad_out),
                &expected_in,
                1e-5,
                "grad input",
            );
            assert_close(
                &backward_weight(&s, &x, &grad_out),
                &expected_weight,
                1e-4,
                "grad weight",
            );
            let grad_bias = backward_bias(&s, &grad_out);
            let hw = s.height * s.width;
            let expected_bias: Vec<f64> = (0..s.channels_out)
                .map(|o| {
                    (0..s.batch)
                        .flat_map(|n| &grad_out[(n * s.channels_out + o) * hw..][..hw])
                        .map(|v| *v as f64)
                        .sum()
                })
                .collect();
            assert_close(&grad_bias, &expected_bias, 1e-5, "grad bias");
        }
    }
}
