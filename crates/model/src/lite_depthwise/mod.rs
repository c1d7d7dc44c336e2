//! The depthwise k×k convolution of EfficientNet-Lite (TF-"same" padding, stride 1 or 2, bias,
//! ReLU6) on a channels-last map held with its zero border: every tap of every output pixel is
//! then inside the buffer, so all pixels go through one loop — strips of up to 8 neighbouring
//! output pixels × 16 channels in registers, each tap's weights loaded once for the strip.
//!
//! Why the border is stored: without it, 7×7 and 14×14 maps (a third of the network's depthwise
//! work) had most pixels near an edge, each computed alone with its own list of valid taps — at
//! a third of the strips' speed. [`crate::lite_cpu`] has the expand convolution write its rows
//! straight into the bordered buffer; [`depthwise`] pads a copy for other callers.

use crate::lite_kernels::same_padding;

/// One k×k depthwise convolution over a `[height, width, channels]` map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl DepthwiseShape {
    pub fn out_height(&self) -> usize {
        self.height.div_ceil(self.stride)
    }
    pub fn out_width(&self) -> usize {
        self.width.div_ceil(self.stride)
    }
    pub fn input_len(&self) -> usize {
        self.height * self.width * self.channels
    }
    pub fn output_len(&self) -> usize {
        self.out_height() * self.out_width() * self.channels
    }
    /// `[kernel², channels]`: tap-major, so a tap's weights for a tile of channels are contiguous.
    pub fn weight_len(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }
    /// Rows above and columns left of the map in its bordered buffer.
    fn top_left(&self) -> (usize, usize) {
        let (top, _) = same_padding(self.height, self.kernel, self.stride);
        let (left, _) = same_padding(self.width, self.kernel, self.stride);
        (top, left)
    }
    /// The bordered buffer's size: every tap of every output pixel falls inside it, and so
    /// does the whole map (a 1×1 kernel at stride 2 never reads an even map's last row).
    pub fn padded_height(&self) -> usize {
        ((self.out_height() - 1) * self.stride + self.kernel).max(self.top_left().0 + self.height)
    }
    pub fn padded_width(&self) -> usize {
        ((self.out_width() - 1) * self.stride + self.kernel).max(self.top_left().1 + self.width)
    }
    pub fn padded_len(&self) -> usize {
        self.padded_height() * self.padded_width() * self.channels
    }
    /// How many of the map's rows (from the top) output rows `..end` read: what must be in the
    /// bordered buffer before [`depthwise_padded`] computes them.
    pub fn map_rows_for(&self, end: usize) -> usize {
        if end == 0 {
            return 0;
        }
        ((end - 1) * self.stride + self.kernel)
            .saturating_sub(self.top_left().0)
            .min(self.height)
    }
}

/// A depthwise convolution's weights `[kernel², channels]`, bias and activation.
#[derive(Clone, Copy)]
pub struct DepthwiseFilter<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub relu6: bool,
}

/// Zeroes the border of a bordered buffer (`shape.padded_len()` floats); the map's own cells are
/// left for the caller to write ([`padded_row`]).
pub fn zero_border(shape: DepthwiseShape, padded: &mut [f32]) {
    let (top, left) = shape.top_left();
    let (ph, pw, c) = (shape.padded_height(), shape.padded_width(), shape.channels);
    let row_len = pw * c;
    padded[..top * row_len].fill(0.0);
    padded[(top + shape.height) * row_len..ph * row_len].fill(0.0);
    for y in top..top + shape.height {
        let row = &mut padded[y * row_len..(y + 1) * row_len];
        row[..left * c].fill(0.0);
        row[(left + shape.width) * c..].fill(0.0);
    }
}

/// Map row `y`'s cells (`width × channels`) in a bordered buffer.
pub fn padded_row(shape: DepthwiseShape, y: usize, padded: &mut [f32]) -> &mut [f32] {
    let (top, left) = shape.top_left();
    let start = ((top + y) * shape.padded_width() + left) * shape.channels;
    &mut padded[start..start + shape.width * shape.channels]
}

/// `out = relu6(depthwise(input, weight) + bias)`, or without the ReLU6 when `relu6` is false,
/// from a map without its border (a bordered copy is made).
///
/// # Panics
/// When a slice is shorter than `shape` says (a bug in the caller: shapes come from the
/// network's weights).
pub fn depthwise(shape: DepthwiseShape, input: &[f32], weight: &[f32], bias: &[f32], relu6: bool, out: &mut [f32]) {
    let mut padded = vec![0.0f32; shape.padded_len()];
    let row_len = shape.width * shape.channels;
    for y in 0..shape.height {
        padded_row(shape, y, &mut padded).copy_from_slice(&input[y * row_len..(y + 1) * row_len]);
    }
    let filter = DepthwiseFilter { weight, bias, relu6 };
    depthwise_padded(shape, 0..shape.out_height(), &padded, filter, out);
}

/// Output rows `rows` of the convolution of a bordered map (`padded`: its border zero) into
/// `out`, which holds just those rows — how one image's layer is split between threads.
///
/// # Panics
/// When a slice is shorter than `shape` says or `rows` ends past the output.
pub fn depthwise_padded(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    let row_len = shape.out_width() * shape.channels;
    assert!(shape.stride >= 1 && shape.kernel >= 1 && rows.end <= shape.out_height());
    assert!(padded.len() >= shape.padded_len() && filter.weight.len() >= shape.weight_len());
    assert!(filter.bias.len() >= shape.channels && out.len() >= rows.len() * row_len);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has the feature the function is compiled for; the slices were checked.
        return unsafe { depthwise_avx512(shape, rows, padded, filter, out) };
    }
    depthwise_portable(shape, rows, padded, filter, out)
}

/// Where a strip starts: output row, first output column, first channel.
#[derive(Clone, Copy)]
struct At {
    oy: usize,
    ox: usize,
    c0: usize,
}

/// Output pixels per strip.
const STRIP: usize = 8;

/// Calls `visit(at, pixels, true)` for strips of up to [`STRIP`] pixels × 16 channels covering
/// the output rows, and `visit(at, pixels, false)` for the channels past the last multiple of 16.
#[inline(always)]
fn each_strip(shape: DepthwiseShape, rows: std::ops::Range<usize>, mut visit: impl FnMut(At, usize, bool)) {
    let out_w = shape.out_width();
    let whole = shape.channels / 16 * 16;
    for oy in rows {
        let mut ox = 0;
        while ox < out_w {
            let pixels = STRIP.min(out_w - ox);
            for c0 in (0..whole).step_by(16) {
                visit(At { oy, ox, c0 }, pixels, true);
            }
            if whole < shape.channels {
                visit(At { oy, ox, c0: whole }, pixels, false);
            }
            ox += pixels;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
use avx512::depthwise_avx512;

/// Without AVX-512: 16-channel tiles of each pixel (LLVM vectorises the fixed-size loop).
fn depthwise_portable(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    let first = rows.start;
    each_strip(shape, rows, |at, pixels, tile| {
        if !tile {
            return portable_tail(shape, at, pixels, first, padded, filter, out);
        }
        for p in 0..pixels {
            pixel_tile::<16>(shape, At { ox: at.ox + p, ..at }, first, padded, filter, out);
        }
    });
}

/// Channels from `at.c0` to the end, one at a time (channel counts off a multiple of 16).
fn portable_tail(
    shape: DepthwiseShape,
    at: At,
    pixels: usize,
    first: usize,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    for p in 0..pixels {
        for c0 in at.c0..shape.channels {
            pixel_tile::<1>(
                shape,
                At {
                    ox: at.ox + p,
                    c0,
                    ..at
                },
                first,
                padded,
                filter,
                out,
            );
        }
    }
}

/// Channels `c0..c0 + T` of one output pixel.
#[inline(always)]
fn pixel_tile<const T: usize>(
    shape: DepthwiseShape,
    at: At,
    first_row: usize,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    let (c, k, s, pw) = (shape.channels, shape.kernel, shape.stride, shape.padded_width());
    let mut acc: [f32; T] = filter.bias[at.c0..at.c0 + T].try_into().expect("a tile");
    for ky in 0..k {
        for kx in 0..k {
            let w: &[f32; T] = filter.weight[(ky * k + kx) * c + at.c0..][..T]
                .try_into()
                .expect("a tile");
            let x: &[f32; T] = padded[((at.oy * s + ky) * pw + at.ox * s + kx) * c + at.c0..][..T]
                .try_into()
                .expect("a tile");
            for j in 0..T {
                acc[j] += w[j] * x[j];
            }
        }
    }
    let start = ((at.oy - first_row) * shape.out_width() + at.ox) * c + at.c0;
    let dst: &mut [f32; T] = (&mut out[start..start + T]).try_into().expect("a tile");
    for j in 0..T {
        dst[j] = if filter.relu6 { acc[j].clamp(0.0, 6.0) } else { acc[j] };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lite_kernels::{test_values as values, worst_error};

    /// The depthwise convolution in f64, straight from the definition (TF "same" padding).
    fn depthwise_f64(shape: DepthwiseShape, input: &[f32], weight: &[f32], bias: &[f32], relu6: bool) -> Vec<f64> {
        let DepthwiseShape {
            height: h,
            width: w,
            channels: c,
            kernel: k,
            stride: s,
        } = shape;
        let out_h = h.div_ceil(s);
        let out_w = w.div_ceil(s);
        let pad_total_y = ((out_h - 1) * s + k).saturating_sub(h);
        let pad_total_x = ((out_w - 1) * s + k).saturating_sub(w);
        let (top, left) = ((pad_total_y / 2) as isize, (pad_total_x / 2) as isize);
        let mut out = vec![0.0f64; out_h * out_w * c];
        for oy in 0..out_h {
            for ox in 0..out_w {
                for ch in 0..c {
                    let mut sum = bias[ch] as f64;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - top;
                            let ix = (ox * s + kx) as isize - left;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let x = input[(iy as usize * w + ix as usize) * c + ch] as f64;
                            sum += x * weight[(ky * k + kx) * c + ch] as f64;
                        }
                    }
                    out[(oy * out_w + ox) * c + ch] = if relu6 { sum.clamp(0.0, 6.0) } else { sum };
                }
            }
        }
        out
    }

    type DepthwiseFn = fn(DepthwiseShape, std::ops::Range<usize>, &[f32], DepthwiseFilter, &mut [f32]);

    /// Every compiled variant this CPU can run (the dispatcher picks one; the others must be
    /// right too, for other machines).
    fn variants() -> Vec<(&'static str, DepthwiseFn)> {
        let mut variants: Vec<(&'static str, DepthwiseFn)> = vec![("portable", depthwise_portable)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            variants.push(("avx512", |s, r, i, f, o| unsafe { depthwise_avx512(s, r, i, f, o) }));
        }
        variants
    }

    /// A bordered copy of `input`, its border filled with NaN first and then zeroed by
    /// `zero_border` (so a cell it missed would show).
    fn bordered(shape: DepthwiseShape, input: &[f32]) -> Vec<f32> {
        let mut padded = vec![f32::NAN; shape.padded_len()];
        zero_border(shape, &mut padded);
        let row_len = shape.width * shape.channels;
        for y in 0..shape.height {
            padded_row(shape, y, &mut padded).copy_from_slice(&input[y * row_len..(y + 1) * row_len]);
        }
        assert!(
            padded.iter().all(|v| v.is_finite()),
            "{shape:?}: a border cell was not zeroed"
        );
        padded
    }

    #[test]
    fn every_variant_matches_the_definition_for_every_kernel_stride_and_odd_map() {
        let mut cases = 0;
        for kernel in [1, 3, 5, 7] {
            for stride in [1, 2] {
                // Odd and tiny maps; channel counts off the 16-channel tiles, and a wide map
                // for several strips a row with a short last one. The widths give every strip
                // length (1 to 8 pixels) at both strides: each is its own compiled kernel.
                let maps = [
                    (1, 1),
                    (2, 3),
                    (5, 4),
                    (7, 9),
                    (12, 8),
                    (6, 23),
                    (3, 14),
                    (4, 11),
                    (2, 10),
                    (3, 6),
                    (3, 13),
                ];
                for (height, width) in maps {
                    for channels in [1, 5, 16, 67, 144] {
                        let shape = DepthwiseShape {
                            height,
                            width,
                            channels,
                            kernel,
                            stride,
                        };
                        let seed = (kernel * 1000 + stride * 100 + height * 10 + width + channels * 7) as u64;
                        let input = values(shape.input_len(), seed);
                        let weight = values(shape.weight_len(), seed + 1);
                        let bias = values(channels, seed + 2);
                        let padded = bordered(shape, &input);
                        for relu6 in [false, true] {
                            let reference = depthwise_f64(shape, &input, &weight, &bias, relu6);
                            let filter = DepthwiseFilter {
                                weight: &weight,
                                bias: &bias,
                                relu6,
                            };
                            for (variant, run) in variants() {
                                let mut out = vec![f32::NAN; shape.output_len()];
                                run(shape, 0..shape.out_height(), &padded, filter, &mut out);
                                let error = worst_error(&out, &reference);
                                assert!(error < 1e-5, "{variant} {shape:?} relu6 {relu6}: error {error}");
                            }
                            let mut out = vec![f32::NAN; shape.output_len()];
                            depthwise(shape, &input, &weight, &bias, relu6, &mut out);
                            assert!(worst_error(&out, &reference) < 1e-5, "{shape:?}: unbordered input");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 2 * 11 * 5 * 2);
    }

    #[test]
    fn rows_computed_piecewise_equal_the_whole_map() {
        for (kernel, stride) in [(3, 1), (5, 2)] {
            let shape = DepthwiseShape {
                height: 11,
                width: 13,
                channels: 48,
                kernel,
                stride,
            };
            let input = values(shape.input_len(), 5);
            let weight = values(shape.weight_len(), 6);
            let bias = values(48, 7);
            let mut whole = vec![0.0; shape.output_len()];
            depthwise(shape, &input, &weight, &bias, true, &mut whole);
            let filter = DepthwiseFilter {
                weight: &weight,
                bias: &bias,
                relu6: true,
            };
            let padded = bordered(shape, &input);
            let row_len = shape.out_width() * 48;
            let mut pieces = vec![f32::NAN; shape.output_len()];
            let splits = [0, 1, 4, shape.out_height()];
            for pair in splits.windows(2) {
                let out = &mut pieces[pair[0] * row_len..pair[1] * row_len];
                depthwise_padded(shape, pair[0]..pair[1], &padded, filter, out);
            }
            assert_eq!(pieces, whole, "kernel {kernel} stride {stride}");
        }
    }

    #[test]
    fn pads_like_tensorflow_same() {
        // 4×4 map, 3×3 kernel, stride 2: output 2×2, total padding 1 — none at the top/left,
        // one row/column at the bottom/right (PyTorch's symmetric padding would put it on
        // both sides). With all-ones weights, output (0, 0) sums input rows 0–2 × columns 0–2
        // and (1, 1) rows 2–3 × columns 2–3 (its third row/column is padding).
        let shape = DepthwiseShape {
            height: 4,
            width: 4,
            channels: 1,
            kernel: 3,
            stride: 2,
        };
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = vec![0.0; 4];
        depthwise(shape, &input, &[1.0; 9], &[0.0], false, &mut out);
        let sum = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| -> f32 {
            rows.flat_map(|y| cols.clone().map(move |x| (y * 4 + x) as f32)).sum()
        };
        assert_eq!(
            out,
            vec![sum(0..3, 0..3), sum(0..3, 2..4), sum(2..4, 0..3), sum(2..4, 2..4)]
        );
        assert_eq!(out, vec![45.0, 39.0, 66.0, 50.0]);
        assert_eq!((shape.padded_height(), shape.padded_width()), (5, 5));
    }
}
