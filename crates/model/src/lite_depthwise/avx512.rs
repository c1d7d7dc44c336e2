//! The AVX-512 strips of [`super::depthwise_padded`]: up to 8 neighbouring output pixels × 16
//! channels in registers, with kernels specialised for EfficientNet's 3×3 and 5×5 at stride 1
//! and 2.

use super::{At, DepthwiseFilter, DepthwiseShape, STRIP, portable_tail};

#[target_feature(enable = "avx512f")]
pub(super) unsafe fn depthwise_avx512(
    shape: DepthwiseShape,
    rows: std::ops::Range<usize>,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    // The strip loop is written out here rather than through `each_strip`: a closure does not
    // inherit the target feature, so every strip was a call the compiler could not inline.
    let first = rows.start;
    let out_w = shape.out_width();
    let whole = shape.channels / 16 * 16;
    for oy in rows {
        let mut ox = 0;
        while ox < out_w {
            let pixels = STRIP.min(out_w - ox);
            let at = At { oy, ox, c0: 0 };
            // SAFETY: AVX-512F is enabled here; the strip is inside the output and its taps
            // inside the bordered buffer (checked lengths); `whole` ≤ channels.
            unsafe {
                macro_rules! strips {
                    ($($p:literal)*) => {
                        match (pixels, shape.kernel, shape.stride) {
                            $(
                                ($p, 3, 1) => avx512_fixed::<$p, 3, 1>(shape, at, whole, first, padded, filter, out),
                                ($p, 3, 2) => avx512_fixed::<$p, 3, 2>(shape, at, whole, first, padded, filter, out),
                                ($p, 5, 1) => avx512_fixed::<$p, 5, 1>(shape, at, whole, first, padded, filter, out),
                                ($p, 5, 2) => avx512_fixed::<$p, 5, 2>(shape, at, whole, first, padded, filter, out),
                                ($p, _, _) => avx512_strip::<$p>(shape, at, whole, first, padded, filter, out),
                            )*
                            _ => unreachable!("1 to STRIP pixels"),
                        }
                    };
                }
                strips!(1 2 3 4 5 6 7 8)
            }
            if whole < shape.channels {
                portable_tail(shape, At { c0: whole, ..at }, pixels, first, padded, filter, out);
            }
            ox += pixels;
        }
    }
}

/// Channels `0..whole` (a multiple of 16), 16 at a time, of `P` neighbouring output pixels,
/// one register each.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn avx512_strip<const P: usize>(
    shape: DepthwiseShape,
    at: At,
    whole: usize,
    first_row: usize,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (c, k, s, pw) = (shape.channels, shape.kernel, shape.stride, shape.padded_width());
    // Each pixel's offset from the strip's first, computed once: left in the tap loop as
    // `(p * s + kx) * c`, it cost an integer multiply per FMA, and the multiplier (one
    // port) held the kernel to a third of its speed.
    let offsets: [usize; P] = std::array::from_fn(|p| p * s * c);
    // SAFETY (whole body): rows oy·s .. oy·s + k and columns ox·s .. (ox + P − 1)·s + k of the
    // bordered buffer exist (its size is defined so); the output pixels are in `out`.
    unsafe {
        let corner = padded.as_ptr().add((at.oy * s * pw + at.ox * s) * c);
        let dst = out
            .as_mut_ptr()
            .add(((at.oy - first_row) * shape.out_width() + at.ox) * c);
        for c0 in (0..whole).step_by(16) {
            let mut acc = [_mm512_loadu_ps(filter.bias.as_ptr().add(c0)); P];
            let mut w = filter.weight.as_ptr().add(c0);
            for ky in 0..k {
                let mut x = corner.add(ky * pw * c + c0);
                for _ in 0..k {
                    let weights = _mm512_loadu_ps(w);
                    for (sums, offset) in acc.iter_mut().zip(offsets) {
                        *sums = _mm512_fmadd_ps(weights, _mm512_loadu_ps(x.add(offset)), *sums);
                    }
                    w = w.add(c);
                    x = x.add(c);
                }
            }
            store_strip(&acc, dst.add(c0), c, filter.relu6);
        }
    }
}

/// A strip's sums (ReLU6-clamped when `relu6`) to its `P` output pixels, `channels` apart.
///
/// # Safety
/// AVX-512F; `dst` and the pixels after it (`P` × `channels` floats) are writable.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_strip<const P: usize>(
    acc: &[std::arch::x86_64::__m512; P],
    dst: *mut f32,
    channels: usize,
    relu6: bool,
) {
    use std::arch::x86_64::*;
    let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
    for (p, sums) in acc.iter().enumerate() {
        let value = match relu6 {
            true => _mm512_min_ps(_mm512_max_ps(*sums, zero), six),
            false => *sums,
        };
        // SAFETY: pixel p of the strip is inside the output (the caller's contract).
        unsafe { _mm512_storeu_ps(dst.add(p * channels), value) };
    }
}

/// [`avx512_strip`] for EfficientNet's kernels (3×3 and 5×5, stride 1 and 2): each input
/// pixel of a kernel row is loaded once into a register and feeds every output pixel and tap
/// that reads it (up to K FMAs), instead of one load per FMA.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn avx512_fixed<const P: usize, const K: usize, const S: usize>(
    shape: DepthwiseShape,
    at: At,
    whole: usize,
    first_row: usize,
    padded: &[f32],
    filter: DepthwiseFilter,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    /// Input pixels a kernel row of the strip reads: (P − 1)·S + K ≤ 7·2 + 5.
    const MOST: usize = 19;
    let span = (P - 1) * S + K;
    let (c, pw) = (shape.channels, shape.padded_width());
    // SAFETY (whole body): as for `avx512_strip` — the strip's taps lie in the bordered buffer,
    // its pixels in `out`.
    unsafe {
        let corner = padded.as_ptr().add((at.oy * S * pw + at.ox * S) * c);
        let dst = out
            .as_mut_ptr()
            .add(((at.oy - first_row) * shape.out_width() + at.ox) * c);
        let zero = _mm512_setzero_ps();
        for c0 in (0..whole).step_by(16) {
            let mut acc = [_mm512_loadu_ps(filter.bias.as_ptr().add(c0)); P];
            let mut w = filter.weight.as_ptr().add(c0);
            for ky in 0..K {
                let mut x = corner.add(ky * pw * c + c0);
                let mut row = [zero; MOST];
                for pixel in row.iter_mut().take(span) {
                    *pixel = _mm512_loadu_ps(x);
                    x = x.add(c);
                }
                for kx in 0..K {
                    let weights = _mm512_loadu_ps(w);
                    for (p, sums) in acc.iter_mut().enumerate() {
                        *sums = _mm512_fmadd_ps(weights, row[p * S + kx], *sums);
                    }
                    w = w.add(c);
                }
            }
            store_strip(&acc, dst.add(c0), c, filter.relu6);
        }
    }
}
