//! The 1×1 convolution of [`crate::lite_cpu`] with its weights packed once, when the network is
//! compiled, into the panels an AVX-512 micro-kernel reads — with bias, residual and ReLU6
//! applied while the output tile is still in registers.
//!
//! Why not `gemm` alone: it packs the weights again on every call, which costs about a third of
//! the arithmetic on the 7×7 and 14×14 layers (49–196 rows against up to 1152 × 1280 weights),
//! and it runs its bias/ReLU6 passes over memory afterwards. Without AVX-512 the packed layout
//! is unused and the call goes to [`crate::lite_kernels::pointwise`] (`gemm`).

use crate::lite_kernels::{PointwiseShape, pointwise};

/// Output columns per panel: two 16-float registers (one for a last panel of ≤ 16 columns).
const PANEL: usize = 32;
/// Most rows per micro-kernel call: 12 rows × 2 registers = 24 accumulators, so each weight
/// load feeds 12 FMAs (measured on a Xeon: 62–73 GMAC/s against 56–62 with 6 rows once K ≥ 40).
pub const ROWS: usize = 12;
/// Below this many inputs the tile's bias/clamp/store work outweighs the loop: 6-row tiles
/// (53 GMAC/s against 44 with 12 rows at K = 16).
const SHORT_K: usize = 32;

/// A 1×1 convolution's weights `[inputs, outputs]`, its bias, and both packed in panels of
/// [`PANEL`] columns (`[panel][input][32]`, zero past the last output).
pub struct PackedPointwise {
    pub inputs: usize,
    pub outputs: usize,
    pub relu6: bool,
    weight: Vec<f32>,
    bias: Vec<f32>,
    packed: Vec<f32>,
    packed_bias: Vec<f32>,
}

impl PackedPointwise {
    /// `weight` is `[inputs, outputs]` row-major.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, outputs: usize, relu6: bool) -> Self {
        assert_eq!(weight.len(), inputs * outputs);
        assert_eq!(bias.len(), outputs);
        let panels = outputs.div_ceil(PANEL);
        let mut packed = vec![0.0f32; panels * inputs * PANEL];
        let mut packed_bias = vec![0.0f32; panels * PANEL];
        for p in 0..panels {
            let cols = PANEL.min(outputs - p * PANEL);
            for k in 0..inputs {
                packed[(p * inputs + k) * PANEL..][..cols].copy_from_slice(&weight[k * outputs + p * PANEL..][..cols]);
            }
            packed_bias[p * PANEL..][..cols].copy_from_slice(&bias[p * PANEL..][..cols]);
        }
        PackedPointwise {
            inputs,
            outputs,
            relu6,
            weight,
            bias,
            packed,
            packed_bias,
        }
    }

    /// `out[rows, outputs] = input[rows, inputs] · weight + bias (+ residual)`, clamped to
    /// [0, 6] when `relu6`.
    ///
    /// # Panics
    /// When a slice is shorter than `rows` says.
    pub fn run(&self, rows: usize, input: &[f32], residual: Option<&[f32]>, out: &mut [f32]) {
        assert!(input.len() >= rows * self.inputs && out.len() >= rows * self.outputs);
        if let Some(residual) = residual {
            assert!(residual.len() >= rows * self.outputs);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the slices were checked against `rows` above.
            unsafe { avx512::run(self, rows, input, residual, out) };
            return;
        }
        self.run_portable(rows, input, residual, out);
    }

    /// The same through `gemm` (any CPU; what the tests compare the AVX-512 kernel with).
    pub fn run_portable(&self, rows: usize, input: &[f32], residual: Option<&[f32]>, out: &mut [f32]) {
        let shape = PointwiseShape {
            rows,
            inputs: self.inputs,
            outputs: self.outputs,
        };
        pointwise(shape, input, &self.weight, &self.bias, residual, self.relu6, out);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{PANEL, PackedPointwise, ROWS, SHORT_K};

    /// # Safety
    /// The CPU must have AVX-512F, and the slices hold `rows` rows (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run(
        conv: &PackedPointwise,
        rows: usize,
        input: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let panels = conv.outputs.div_ceil(PANEL);
        let tile_rows = if conv.inputs < SHORT_K { ROWS / 2 } else { ROWS };
        let row_tiles = rows.div_ceil(tile_rows);
        // Whichever operand is larger stays put while the smaller one streams past it: on the
        // 7×7 layers (49 rows against up to 1152 × 1280 weights) a whole weight matrix read
        // once per row tile did not fit in L2 beside the rest (46–51 GMAC/s against 73 for the
        // shapes whose weights did), so there each panel meets every row tile in turn.
        let weights_stay = rows < conv.outputs;
        let (outer, inner) = match weights_stay {
            true => (panels, row_tiles),
            false => (row_tiles, panels),
        };
        for o in 0..outer {
            for i in 0..inner {
                let (t, p) = if weights_stay { (i, o) } else { (o, i) };
                let r0 = t * tile_rows;
                let count = tile_rows.min(rows - r0);
                let cols = PANEL.min(conv.outputs - p * PANEL);
                // SAFETY: rows r0..r0 + count exist in input/out/residual, panel p in packed.
                unsafe {
                    macro_rules! tiles {
                        ($($rows:literal)*) => {
                            match (count, cols > 16) {
                                $(
                                    ($rows, true) => tile::<$rows, 2>(conv, r0, p, cols, input, residual, out),
                                    ($rows, false) => tile::<$rows, 1>(conv, r0, p, cols, input, residual, out),
                                )*
                                _ => unreachable!("1 to ROWS rows"),
                            }
                        };
                    }
                    tiles!(1 2 3 4 5 6 7 8 9 10 11 12)
                }
            }
        }
    }

    /// Rows `r0..r0 + R` × panel `p` (its first `cols` columns, `V` registers wide).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const V: usize>(
        conv: &PackedPointwise,
        r0: usize,
        p: usize,
        cols: usize,
        input: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let (k_len, outputs) = (conv.inputs, conv.outputs);
        let col0 = p * PANEL;
        // Lane masks of the two registers: all of the first, the rest of the panel's columns.
        let masks: [__mmask16; 2] = [
            if cols >= 16 {
                0xffff
            } else {
                ((1u32 << cols) - 1) as u16
            },
            if cols >= 32 {
                0xffff
            } else if cols > 16 {
                ((1u32 << (cols - 16)) - 1) as u16
            } else {
                0
            },
        ];
        // SAFETY (whole body): every pointer below stays inside its slice — rows r0..r0 + R
        // (the caller's count), columns col0..col0 + cols of `outputs`, panel p of `packed`.
        unsafe {
            let bias = conv.packed_bias.as_ptr().add(col0);
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            for (r, row) in acc.iter_mut().enumerate() {
                for (v, reg) in row.iter_mut().enumerate() {
                    *reg = _mm512_loadu_ps(bias.add(v * 16));
                    if let Some(residual) = residual {
                        let at = residual.as_ptr().add((r0 + r) * outputs + col0 + v * 16);
                        *reg = _mm512_add_ps(*reg, _mm512_maskz_loadu_ps(masks[v], at));
                    }
                }
            }
            let mut w = conv.packed.as_ptr().add(p * k_len * PANEL);
            let x = input.as_ptr().add(r0 * k_len);
            for k in 0..k_len {
                let weights: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(w.add(v * 16)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let xv = _mm512_set1_ps(*x.add(r * k_len + k));
                    for (reg, wv) in row.iter_mut().zip(&weights) {
                        *reg = _mm512_fmadd_ps(xv, *wv, *reg);
                    }
                }
                w = w.add(PANEL);
            }
            let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
            for (r, row) in acc.iter().enumerate() {
                for (v, reg) in row.iter().enumerate() {
                    let value = if conv.relu6 {
                        _mm512_min_ps(_mm512_max_ps(*reg, zero), six)
                    } else {
                        *reg
                    };
                    let at = out.as_mut_ptr().add((r0 + r) * outputs + col0 + v * 16);
                    _mm512_mask_storeu_ps(at, masks[v], value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lite_kernels::test_values as values;

    #[test]
    fn the_packed_kernel_matches_the_definition_for_every_tile_shape() {
        // Row counts off the 6- and 12-row tiles (inputs below and above SHORT_K); output widths of 1, a part-register, exactly one and
        // two registers, a part second register and several panels with a short last one.
        for rows in [1, 2, 5, 6, 7, 11, 13, 23, 49] {
            for outputs in [1, 8, 16, 24, 32, 40, 112, 1280] {
                for inputs in [1, 27, 96] {
                    let weight = values(inputs * outputs, (rows * 31 + outputs * 7 + inputs) as u64);
                    let bias = values(outputs, outputs as u64);
                    let input = values(rows * inputs, rows as u64 + 5);
                    let residual = values(rows * outputs, 99);
                    for (relu6, with_residual) in [(false, false), (true, false), (false, true)] {
                        let conv = PackedPointwise::new(weight.clone(), bias.clone(), inputs, outputs, relu6);
                        let add = with_residual.then_some(&residual[..]);
                        let mut fast = vec![f32::NAN; rows * outputs];
                        conv.run(rows, &input, add, &mut fast);
                        let mut portable = vec![f32::NAN; rows * outputs];
                        conv.run_portable(rows, &input, add, &mut portable);
                        for (i, (a, b)) in fast.iter().zip(&portable).enumerate() {
                            let (r, o) = (i / outputs, i % outputs);
                            let mut sum = bias[o] as f64;
                            for k in 0..inputs {
                                sum += input[r * inputs + k] as f64 * weight[k * outputs + o] as f64;
                            }
                            if with_residual {
                                sum += residual[i] as f64;
                            }
                            let expected = if relu6 { sum.clamp(0.0, 6.0) } else { sum };
                            let tolerance = 1e-4 * (1.0 + expected.abs());
                            assert!(
                                (*a as f64 - expected).abs() < tolerance && (*b as f64 - expected).abs() < tolerance,
                                "rows {rows} outputs {outputs} inputs {inputs}: [{r}, {o}] {a} / {b} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }
}
