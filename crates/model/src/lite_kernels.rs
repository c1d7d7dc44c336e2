//! CPU kernels for EfficientNet-Lite inference on one channels-last image (`[H, W, C]`), batch-norm
//! folded: the depthwise k×k convolution (TF-"same" padding, stride 1 or 2) with bias and ReLU6,
//! the 1×1 convolution as one matrix product with bias, ReLU6 and residual, and the 3×3 / stride 2
//! stem.
//!
//! Why channels-last: a 1×1 convolution is then `[H·W, C] · [C, O]` with no transposes, and a
//! depthwise tap is a contiguous run of channels — one vector multiply-add per 16 channels, the
//! accumulators of a tile of channels held in registers across all k² taps (XNNPACK's
//! arrangement). burn's conv2d goes through NCHW, an im2col per group and a transpose per layer.
//! The depthwise loop is compiled three times (AVX-512, AVX2 + FMA, baseline) and picked at run
//! time; the matrix products are `gemm`'s, which dispatches the same way.

/// TensorFlow "same": output ⌈n/s⌉, total padding split with the extra pixel at the end.
pub fn same_padding(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

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
}

/// Channels accumulated together: four AVX-512 registers (eight AVX2 ones).
const TILE: usize = 64;
/// The largest kernel the stack-held tap list allows (Lite models use 3 and 5).
pub const MAX_KERNEL: usize = 7;

/// `out = relu6(depthwise(input, weight) + bias)`, or without the ReLU6 when `relu6` is false.
///
/// # Panics
/// When a slice is shorter than `shape` says or the kernel is over [`MAX_KERNEL`] (a bug in the
/// caller: shapes come from the network's weights).
pub fn depthwise(shape: DepthwiseShape, input: &[f32], weight: &[f32], bias: &[f32], relu6: bool, out: &mut [f32]) {
    let filter = DepthwiseFilter { weight, bias, relu6 };
    depthwise_rows(shape, 0..shape.out_height(), input, filter, out);
}

/// A depthwise convolution's weights `[kernel², channels]`, bias and activation.
#[derive(Clone, Copy)]
pub struct DepthwiseFilter<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub relu6: bool,
}

/// Output rows `rows` of [`depthwise`] into `out` (which holds just those rows): how one image's
/// layer is split between threads.
///
/// # Panics
/// As [`depthwise`], or when `rows` ends past the output.
pub fn depthwise_rows(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    input: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    let row_len = shape.out_width() * shape.channels;
    assert!(shape.kernel <= MAX_KERNEL && shape.stride >= 1 && rows.end <= shape.out_height());
    assert!(input.len() >= shape.input_len() && filter.weight.len() >= shape.weight_len());
    assert!(filter.bias.len() >= shape.channels && out.len() >= rows.len() * row_len);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function is compiled for.
            return unsafe { depthwise_avx512(shape, rows, input, filter, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { depthwise_avx2(shape, rows, input, filter, out) };
        }
    }
    depthwise_any::<false>(shape, rows, input, filter, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn depthwise_avx512(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    input: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    depthwise_any::<true>(shape, rows, input, filter, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_avx2(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    input: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    depthwise_any::<false>(shape, rows, input, filter, out)
}

/// `AVX512`: called from a function compiled for AVX-512F, so the strips may use its
/// intrinsics (LLVM left the portable strip loop scalar).
#[inline(always)]
fn depthwise_any<const AVX512: bool>(
    shape: DepthwiseShape,
    out_rows: std::ops::Range<usize>,
    input: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    let DepthwiseFilter { weight, bias, relu6 } = filter;
    let first_row = out_rows.start;
    let DepthwiseShape {
        height,
        width,
        channels,
        kernel,
        stride,
    } = shape;
    let (top, _) = same_padding(height, kernel, stride);
    let (left, _) = same_padding(width, kernel, stride);
    let out_w = shape.out_width();
    // Output columns whose every tap column lies inside the map: there, STRIP neighbouring
    // pixels share each tap's weight loads (fewer loads per multiply-add than pixel by pixel).
    let first_inner = left.div_ceil(stride);
    let end_inner = if width + left >= kernel {
        (width + left - kernel) / stride + 1
    } else {
        0
    }
    .min(out_w);
    let strips = channels % 16 == 0;
    // (tap, input pixel) pairs of the taps that fall inside the map.
    let mut taps = [(0usize, 0usize); MAX_KERNEL * MAX_KERNEL];
    for oy in out_rows {
        let rows = (0..kernel).filter(|&ky| (oy * stride + ky).checked_sub(top).is_some_and(|y| y < height));
        let (ky_first, ky_end) = (
            rows.clone().next().unwrap_or(0),
            rows.clone().next_back().map_or(0, |k| k + 1),
        );
        let mut ox = 0;
        while ox < out_w {
            if strips && ox >= first_inner && ox + STRIP <= end_inner {
                let at = Strip {
                    oy,
                    ox,
                    rows: ky_first..ky_end,
                    top,
                    left,
                    shape,
                };
                let pixels = &mut out[((oy - first_row) * out_w + ox) * channels..][..STRIP * channels];
                let mut c0 = 0;
                while c0 + 16 <= channels {
                    #[cfg(target_arch = "x86_64")]
                    if AVX512 {
                        // SAFETY: AVX512 is only true inside `depthwise_avx512`, on a CPU with
                        // AVX-512F; the strip's pixels and taps are inside the slices (asserted
                        // by `depthwise_rows`, interior columns only).
                        unsafe { avx512_strip(&at, c0, input, weight, bias, relu6, pixels) };
                        c0 += 16;
                        continue;
                    }
                    strip_tile::<16>(&at, c0, input, weight, bias, relu6, pixels);
                    c0 += 16;
                }
                ox += STRIP;
                continue;
            }
            let mut count = 0;
            for ky in ky_first..ky_end {
                let iy = oy * stride + ky - top;
                for kx in 0..kernel {
                    let Some(ix) = (ox * stride + kx).checked_sub(left).filter(|&x| x < width) else {
                        continue;
                    };
                    taps[count] = (ky * kernel + kx, iy * width + ix);
                    count += 1;
                }
            }
            let taps = &taps[..count];
            let pixel = &mut out[((oy - first_row) * out_w + ox) * channels..][..channels];
            let mut c0 = 0;
            while c0 + TILE <= channels {
                channel_tile::<TILE>(c0, channels, taps, input, weight, bias, relu6, pixel);
                c0 += TILE;
            }
            while c0 + 8 <= channels {
                channel_tile::<8>(c0, channels, taps, input, weight, bias, relu6, pixel);
                c0 += 8;
            }
            while c0 < channels {
                channel_tile::<1>(c0, channels, taps, input, weight, bias, relu6, pixel);
                c0 += 1;
            }
            ox += 1;
        }
    }
}

/// Output pixels computed together where all their taps are inside the map.
const STRIP: usize = 8;

/// Where a strip of [`STRIP`] output pixels sits: its row, first column, the kernel rows that
/// fall inside the map, and the map's padding.
struct Strip {
    oy: usize,
    ox: usize,
    rows: std::ops::Range<usize>,
    top: usize,
    left: usize,
    shape: DepthwiseShape,
}

/// Channels `c0..c0 + 16` of a strip's pixels in AVX-512 registers: one weight load per tap,
/// [`STRIP`] input loads and multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_strip(
    at: &Strip,
    c0: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu6: bool,
    pixels: &mut [f32],
) {
    use std::arch::x86_64::*;
    let DepthwiseShape {
        width,
        channels,
        kernel,
        stride,
        ..
    } = at.shape;
    // SAFETY (whole body): the caller's strip lies inside the map, so every tap's input pixel
    // and every weight row is in bounds, and c0 + 16 ≤ channels.
    unsafe {
        let b = _mm512_loadu_ps(bias.as_ptr().add(c0));
        let mut acc = [b; STRIP];
        for ky in at.rows.clone() {
            let iy = at.oy * stride + ky - at.top;
            for kx in 0..kernel {
                let w = _mm512_loadu_ps(weight.as_ptr().add((ky * kernel + kx) * channels + c0));
                let first = iy * width + at.ox * stride + kx - at.left;
                for (p, sums) in acc.iter_mut().enumerate() {
                    let x = _mm512_loadu_ps(input.as_ptr().add((first + p * stride) * channels + c0));
                    *sums = _mm512_fmadd_ps(w, x, *sums);
                }
            }
        }
        let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
        for (p, sums) in acc.iter().enumerate() {
            let value = if relu6 {
                _mm512_min_ps(_mm512_max_ps(*sums, zero), six)
            } else {
                *sums
            };
            _mm512_storeu_ps(pixels.as_mut_ptr().add(p * channels + c0), value);
        }
    }
}

/// Channels `c0..c0 + T` of a strip's pixels: each tap's weights loaded once for all of them.
#[inline(always)]
fn strip_tile<const T: usize>(
    at: &Strip,
    c0: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu6: bool,
    pixels: &mut [f32],
) {
    let DepthwiseShape {
        width,
        channels,
        kernel,
        stride,
        ..
    } = at.shape;
    let b: &[f32; T] = bias[c0..c0 + T].try_into().expect("a tile");
    let mut acc = [*b; STRIP];
    for ky in at.rows.clone() {
        let iy = at.oy * stride + ky - at.top;
        for kx in 0..kernel {
            let w: &[f32; T] = weight[(ky * kernel + kx) * channels + c0..][..T]
                .try_into()
                .expect("a tile");
            let first = iy * width + at.ox * stride + kx - at.left;
            for (p, sums) in acc.iter_mut().enumerate() {
                let x: &[f32; T] = input[(first + p * stride) * channels + c0..][..T]
                    .try_into()
                    .expect("a tile");
                for j in 0..T {
                    sums[j] += w[j] * x[j];
                }
            }
        }
    }
    for (p, sums) in acc.iter().enumerate() {
        let out: &mut [f32; T] = (&mut pixels[p * channels + c0..][..T]).try_into().expect("a tile");
        for j in 0..T {
            out[j] = if relu6 { sums[j].clamp(0.0, 6.0) } else { sums[j] };
        }
    }
}

/// Channels `c0..c0 + T` of one output pixel, accumulated over its taps in a register tile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn channel_tile<const T: usize>(
    c0: usize,
    channels: usize,
    taps: &[(usize, usize)],
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu6: bool,
    pixel: &mut [f32],
) {
    let mut acc = [0.0f32; T];
    acc.copy_from_slice(&bias[c0..c0 + T]);
    for &(tap, at) in taps {
        let w: &[f32; T] = weight[tap * channels + c0..][..T].try_into().expect("a tile");
        let x: &[f32; T] = input[at * channels + c0..][..T].try_into().expect("a tile");
        for j in 0..T {
            acc[j] += w[j] * x[j];
        }
    }
    let out: &mut [f32; T] = (&mut pixel[c0..c0 + T]).try_into().expect("a tile");
    for j in 0..T {
        out[j] = if relu6 { acc[j].clamp(0.0, 6.0) } else { acc[j] };
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random fill in [-1, 1) (no rand dependency in the kernel tests).
    fn values(len: usize, seed: u64) -> Vec<f32> {
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

    /// Every compiled variant of the depthwise loop this CPU can run (the dispatcher picks one;
    /// the others must be right too, for other machines).
    fn variants() -> Vec<(&'static str, DepthwiseFn)> {
        let mut variants: Vec<(&'static str, DepthwiseFn)> = vec![("portable", depthwise_any::<false>)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA.
                variants.push(("avx2", |s, r, i, f, o| unsafe { depthwise_avx2(s, r, i, f, o) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                variants.push(("avx512", |s, r, i, f, o| unsafe { depthwise_avx512(s, r, i, f, o) }));
            }
        }
        variants
    }

    fn worst_error(ours: &[f32], reference: &[f64]) -> f64 {
        assert_eq!(ours.len(), reference.len());
        ours.iter()
            .zip(reference)
            .map(|(&a, &b)| (a as f64 - b).abs() / (1.0 + b.abs()))
            .fold(0.0, f64::max)
    }

    #[test]
    fn depthwise_matches_the_definition_for_every_kernel_stride_and_odd_map() {
        let mut cases = 0;
        for kernel in [1, 3, 5, 7] {
            for stride in [1, 2] {
                // Odd and tiny maps, channel counts off the tiles (tails of 8 and of 1), one
                // bigger than a tile; a wide map for several four-pixel strips a row.
                for (height, width) in [(1, 1), (2, 3), (5, 4), (7, 9), (12, 8), (6, 23)] {
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
                        for relu6 in [false, true] {
                            let reference = depthwise_f64(shape, &input, &weight, &bias, relu6);
                            let filter = DepthwiseFilter {
                                weight: &weight,
                                bias: &bias,
                                relu6,
                            };
                            for (variant, run) in variants() {
                                let mut out = vec![f32::NAN; shape.output_len()];
                                run(shape, 0..shape.out_height(), &input, filter, &mut out);
                                let error = worst_error(&out, &reference);
                                assert!(error < 1e-5, "{variant} {shape:?} relu6 {relu6}: error {error}");
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 2 * 6 * 5 * 2);
    }

    #[test]
    fn depthwise_rows_computed_piecewise_equal_the_whole_map() {
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
            let row_len = shape.out_width() * 48;
            let mut pieces = vec![f32::NAN; shape.output_len()];
            let splits = [0, 1, 4, shape.out_height()];
            for pair in splits.windows(2) {
                let out = &mut pieces[pair[0] * row_len..pair[1] * row_len];
                depthwise_rows(shape, pair[0]..pair[1], &input, filter, out);
            }
            assert_eq!(pieces, whole, "kernel {kernel} stride {stride}");
        }
    }

    #[test]
    fn depthwise_pads_like_tensorflow_same() {
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
        assert_eq!(same_padding(4, 3, 2), (0, 1));
        assert_eq!(same_padding(5, 5, 1), (2, 2));
        assert_eq!(same_padding(224, 3, 2), (0, 1));
    }

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
