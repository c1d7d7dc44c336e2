//! The packed 1×1 kernel on EfficientNet-Lite0's shapes at 224² (expand, project, head):
//! GMAC/s per shape (the best of 7 timings), one thread, beside one core's FMA peak (a register-only loop: what the
//! kernel could reach). `cargo bench -p lookbook-model --bench lite_pointwise`
use std::time::Instant;

use lookbook_model::lite_pointwise::PackedPointwise;

fn main() {
    // (rows, inputs, outputs): a few of each kind, small to large K and N.
    let shapes = [
        (12544, 16, 96),
        (3136, 24, 144),
        (784, 40, 240),
        (196, 80, 480),
        (196, 112, 672),
        (49, 192, 1152),
        (12544, 32, 16),
        (3136, 144, 24),
        (784, 240, 40),
        (196, 480, 80),
        (196, 672, 112),
        (49, 1152, 192),
        (49, 1152, 320),
        (49, 320, 1280),
    ];
    let mut total = (0.0, 0.0);
    for (rows, inputs, outputs) in shapes {
        let weight: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let bias = vec![0.1f32; outputs];
        let conv = PackedPointwise::new(weight, bias, inputs, outputs, true);
        let input: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3)
            .collect();
        let mut out = vec![0.0f32; rows * outputs];
        let macs = (rows * inputs * outputs) as f64;
        let reps = (4e8 / macs).ceil() as usize;
        conv.run(rows, &input, None, &mut out);
        // The best of 7 timings: the machine is shared, and a neighbour's burst only slows one.
        let seconds = (0..7)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..reps {
                    conv.run(rows, &input, None, &mut out);
                    std::hint::black_box(&mut out);
                }
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        total.0 += macs * reps as f64;
        total.1 += seconds;
        println!(
            "{rows}x{inputs}x{outputs}: {:.1} GMAC/s",
            macs * reps as f64 / seconds / 1e9
        );
    }
    println!("all: {:.1} GMAC/s", total.0 / total.1 / 1e9);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let iterations = 50_000_000;
        let start = Instant::now();
        // SAFETY: the CPU has AVX-512F.
        std::hint::black_box(unsafe { fma_peak(iterations) });
        let macs = (iterations * 24 * 16) as f64;
        println!(
            "one core's FMA peak: {:.1} GMAC/s",
            macs / start.elapsed().as_secs_f64() / 1e9
        );
    }
}

/// 24 independent chains of 16-lane FMAs: enough in flight to keep both FMA units busy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_peak(iterations: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 24];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..iterations {
        for reg in acc.iter_mut() {
            *reg = _mm512_fmadd_ps(*reg, a, b);
        }
    }
    let sum = acc.into_iter().fold(_mm512_setzero_ps(), |s, r| _mm512_add_ps(s, r));
    _mm512_reduce_add_ps(sum)
}
