//! The global branch's 4×4 / stride 4 max-pool on the CPU, with the argmax kept for the
//! backward pass only when training asks for it.
//!
//! burn-flex's generic (3-D, any stride, padding and dilation) pool was 12% of inference at
//! 192×128; this one reads each input row once and keeps four running maxima per output.

use rayon::prelude::*;

/// `[planes, H, W]` → `[planes, H/4, W/4]` (floor, as `ceil_mode = false`). With `indices`,
/// also the argmax of each window as a flat index `y·W + x` within its plane.
pub fn forward(planes: usize, height: usize, width: usize, x: &[f32], with_indices: bool) -> (Vec<f32>, Vec<i32>) {
    assert_eq!(x.len(), planes * height * width, "max-pool input length");
    let (oh, ow) = (height / 4, width / 4);
    let mut out = vec![f32::NEG_INFINITY; planes * oh * ow];
    let mut indices = if with_indices {
        vec![0i32; planes * oh * ow]
    } else {
        Vec::new()
    };
    let plane_out = oh * ow;
    if plane_out == 0 {
        return (out, indices); // a map smaller than one window
    }
    let work = |(p, out): (usize, &mut [f32]), mut indices: Option<&mut [i32]>| {
        let plane = &x[p * height * width..][..height * width];
        for oy in 0..oh {
            let row_out = &mut out[oy * ow..][..ow];
            for dy in 0..4 {
                let y = oy * 4 + dy;
                let row = &plane[y * width..][..ow * 4];
                for (ox, (best, window)) in row_out.iter_mut().zip(row.chunks_exact(4)).enumerate() {
                    for (dx, &v) in window.iter().enumerate() {
                        // `>` keeps the first maximum, and NaN never wins, as in PyTorch.
                        if v > *best {
                            *best = v;
                            if let Some(indices) = indices.as_deref_mut() {
                                indices[oy * ow + ox] = (y * width + ox * 4 + dx) as i32;
                            }
                        }
                    }
                }
            }
        }
    };
    if with_indices {
        out.par_chunks_mut(plane_out)
            .zip(indices.par_chunks_mut(plane_out))
            .enumerate()
            .for_each(|(p, (out, idx))| work((p, out), Some(idx)));
    } else {
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(p, out)| work((p, out), None));
    }
    (out, indices)
}

/// ∂L/∂x: each output gradient goes to its window's argmax; everything else is zero.
pub fn backward(planes: usize, height: usize, width: usize, grad: &[f32], indices: &[i32]) -> Vec<f32> {
    let plane_out = (height / 4) * (width / 4);
    assert_eq!(grad.len(), planes * plane_out, "max-pool gradient length");
    assert_eq!(indices.len(), grad.len(), "max-pool indices length");
    let mut grad_in = vec![0.0f32; planes * height * width];
    if plane_out == 0 {
        return grad_in;
    }
    grad_in
        .par_chunks_mut(height * width)
        .zip(grad.par_chunks(plane_out).zip(indices.par_chunks(plane_out)))
        .for_each(|(grad_in, (grad, indices))| {
            for (g, &i) in grad.iter().zip(indices) {
                // Windows do not overlap (stride = kernel), so each cell gets at most one.
                grad_in[i as usize] += g;
            }
        });
    grad_in
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_windows_and_routes_gradients_to_the_maximum() {
        // 2 planes of 4×9: the last column is dropped (floor).
        let x: Vec<f32> = (0..72).map(|i| ((i * 37) % 71) as f32).collect();
        let (out, idx) = forward(2, 4, 9, &x, true);
        assert_eq!(out.len(), 4);
        for p in 0..2 {
            for ox in 0..2 {
                let window: Vec<(usize, f32)> = (0..4)
                    .flat_map(|y| (0..4).map(move |dx| y * 9 + ox * 4 + dx))
                    .map(|i| (i, x[p * 36 + i]))
                    .collect();
                let (best_i, best) = window
                    .iter()
                    .fold((0, f32::NEG_INFINITY), |a, &(i, v)| if v > a.1 { (i, v) } else { a });
                assert_eq!(out[p * 2 + ox], best);
                assert_eq!(idx[p * 2 + ox], best_i as i32);
            }
        }
        let (plain, none) = forward(2, 4, 9, &x, false);
        assert_eq!(plain, out);
        assert!(none.is_empty());
        let grad_in = backward(2, 4, 9, &[1.0, 2.0, 3.0, 4.0], &idx);
        assert_eq!(grad_in.iter().sum::<f32>(), 10.0);
        assert_eq!(grad_in[idx[3] as usize + 36], 4.0);
    }
}
