//! The depthwise kernel on EfficientNet-Lite0's shapes at 224² (input map size, channels,
//! kernel, stride), from a bordered map as `LiteCpu` gives it: GMAC/s per shape (the best of 9
//! timings), one thread.
//! `cargo bench -p lookbook-model --bench lite_depthwise`
use std::time::Instant;

use lookbook_model::lite_depthwise::{DepthwiseFilter, DepthwiseShape, depthwise_padded};

fn main() {
    // (map side, channels, kernel, stride): every distinct depthwise layer of Lite0.
    let shapes = [
        (112, 32, 3, 1),
        (112, 96, 3, 2),
        (56, 144, 3, 1),
        (56, 144, 5, 2),
        (28, 240, 5, 1),
        (28, 240, 3, 2),
        (14, 480, 3, 1),
        (14, 480, 5, 1),
        (14, 672, 5, 1),
        (14, 672, 5, 2),
        (7, 1152, 5, 1),
        (7, 1152, 3, 1),
    ];
    let mut total = (0.0, 0.0);
    for (side, channels, kernel, stride) in shapes {
        let shape = DepthwiseShape {
            height: side,
            width: side,
            channels,
            kernel,
            stride,
        };
        let padded: Vec<f32> = (0..shape.padded_len())
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3)
            .collect();
        let weight: Vec<f32> = (0..shape.weight_len())
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let bias = vec![0.1f32; channels];
        let filter = DepthwiseFilter {
            weight: &weight,
            bias: &bias,
            relu6: true,
        };
        let mut out = vec![0.0f32; shape.output_len()];
        let macs = (shape.output_len() * kernel * kernel) as f64;
        let reps = (1e8 / macs).ceil() as usize;
        depthwise_padded(shape, 0..shape.out_height(), &padded, filter, &mut out);
        // The best of 9 timings: the machine is shared, and a neighbour's burst only slows one.
        let seconds = (0..9)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..reps {
                    depthwise_padded(shape, 0..shape.out_height(), &padded, filter, &mut out);
                    std::hint::black_box(&mut out);
                }
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        total.0 += macs * reps as f64;
        total.1 += seconds;
        println!(
            "{side}²×{channels} {kernel}×{kernel}/{stride}: {:.1} GMAC/s",
            macs * reps as f64 / seconds / 1e9
        );
    }
    println!("all: {:.1} GMAC/s", total.0 / total.1 / 1e9);
}
