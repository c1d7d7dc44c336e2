//! The packed 1×1 kernel on EfficientNet-Lite0's shapes at 224² (expand, project, head):
//! GMAC/s per shape, one thread. `cargo bench -p lookbook-model --bench lite_pointwise`
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
        let reps = (2e9 / macs).ceil() as usize;
        conv.run(rows, &input, None, &mut out);
        let start = Instant::now();
        for _ in 0..reps {
            conv.run(rows, &input, None, &mut out);
            std::hint::black_box(&mut out);
        }
        let seconds = start.elapsed().as_secs_f64();
        total.0 += macs * reps as f64;
        total.1 += seconds;
        println!(
            "{rows}x{inputs}x{outputs}: {:.1} GMAC/s",
            macs * reps as f64 / seconds / 1e9
        );
    }
    println!("all: {:.1} GMAC/s", total.0 / total.1 / 1e9);
}
