//! One training step (forward + the three losses + backward + Adam) and inference of the
//! seed model on burn's CPU backend, at 192×128 and 384×256.
//!
//! `cargo bench -p lookbook-model --bench seed -- [--sizes 192x128,384x256] [--repeats 5] [--mode train|infer]`
//! (`--layers`: each convolution layer, burn-flex's conv2d against ours)
//! Thread count: `RAYON_NUM_THREADS` (the backend's pool). `scripts/bench-model.sh` runs this
//! beside `benches/reference/seed_model.py` (the same architecture in PyTorch) and prints ratios.

#[path = "../../../benches/support/allocator.rs"]
mod allocator;
#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use lookbook_model::{InferBackend, LossWeights, SeedConfig, SeedModel, TrainBackend, losses::seed_loss};

const LABELS: usize = 196;
const TRAIN_BATCH: usize = 8;
const INFER_BATCH: usize = 32;

fn main() {
    allocator::keep_freed_pages();
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let sizes = value("--sizes").unwrap_or_else(|| "192x128,384x256".into());
    let mode = value("--mode").unwrap_or_else(|| "both".into());
    let repeats: usize = value("--repeats").and_then(|r| r.parse().ok()).unwrap_or(5);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    if args.has("--layers") {
        compare_conv_layers(&threads);
        return;
    }
    for size in sizes.split(',') {
        let (h, w) = size.split_once('x').expect("sizes look like 192x128");
        let (h, w): (usize, usize) = (h.parse().expect("height"), w.parse().expect("width"));
        let config = SeedConfig::new(LABELS)
            .with_input_height(h)
            .with_input_width(w)
            .with_region_height(h / 32)
            .with_region_width(w / 32);
        if mode != "infer" {
            let seconds = train_step_seconds(&config, repeats);
            println!("seed-model size={size} threads={threads} mode=train batch={TRAIN_BATCH} s_per_step={seconds:.3}");
        }
        if mode != "train" {
            let rate = inference_rate(&config, repeats.div_ceil(2).max(2));
            println!("seed-model size={size} threads={threads} mode=infer batch={INFER_BATCH} img_per_s={rate:.1}");
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn train_step_seconds(config: &SeedConfig, repeats: usize) -> f64 {
    type B = TrainBackend;
    let device = Default::default();
    B::seed(&device, 0);
    let mut model = SeedModel::<B>::new(config, &device);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init::<B, SeedModel<B>>();
    let images = Tensor::<B, 4>::random(
        [TRAIN_BATCH, 3, config.input_height, config.input_width],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let targets = Tensor::<B, 2>::random([TRAIN_BATCH, LABELS], Distribution::Bernoulli(0.05), &device);
    let weights = LossWeights::new();
    let mut times = Vec::new();
    // The first step allocates and warms up, as in the PyTorch script.
    for step in 0..=repeats {
        let start = Instant::now();
        let output = model.forward(images.clone());
        let loss = seed_loss(&output, targets.clone(), &weights).total;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-5, model, grads);
        if step > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    median(times)
}

fn inference_rate(config: &SeedConfig, repeats: usize) -> f64 {
    type B = InferBackend;
    let device = Default::default();
    let model = SeedModel::<B>::new(config, &device);
    let images = Tensor::<B, 4>::random(
        [INFER_BATCH, 3, config.input_height, config.input_width],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut rates = Vec::new();
    for step in 0..=repeats {
        let start = Instant::now();
        let output = model.forward(images.clone());
        let _: f32 = output.embedding().sum().into_scalar();
        if step > 0 {
            rates.push(INFER_BATCH as f64 / start.elapsed().as_secs_f64());
        }
    }
    median(rates)
}

/// Each 3×3 layer of the global branch at 192×128, batch 8: burn-flex's conv2d (forward and
/// its two backward ops) against `lookbook_model::conv3x3` on the same data.
fn compare_conv_layers(threads: &str) {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::{ConvOptions, ModuleOps};
    use lookbook_model::conv3x3::{self, Conv3x3Shape};
    type B = InferBackend;
    let device = Default::default();
    let layers = [
        (3, 64, 192, 128),
        (64, 64, 192, 128),
        (64, 128, 48, 32),
        (128, 128, 48, 32),
        (128, 256, 12, 8),
        (256, 256, 12, 8),
    ];
    let time = |f: &mut dyn FnMut()| {
        f();
        let start = Instant::now();
        for _ in 0..3 {
            f();
        }
        start.elapsed().as_secs_f64() / 3.0
    };
    for (c_in, c_out, h, w) in layers {
        let shape = Conv3x3Shape {
            batch: 8,
            channels_in: c_in,
            channels_out: c_out,
            height: h,
            width: w,
        };
        let x = Tensor::<B, 4>::random([8, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
        let weight = Tensor::<B, 4>::random([c_out, c_in, 3, 3], Distribution::Normal(0.0, 0.1), &device);
        let bias = Tensor::<B, 1>::zeros([c_out], &device);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let flex = time(&mut || {
            let _ = conv2d(x.clone(), weight.clone(), Some(bias.clone()), options.clone()).into_data();
        });
        let xs: Vec<f32> = x.to_data().to_vec().unwrap();
        let ws: Vec<f32> = weight.to_data().to_vec().unwrap();
        let bs = vec![0.0f32; c_out];
        let ours = time(&mut || {
            let _ = conv3x3::forward(&shape, &xs, &ws, Some(&bs), false);
        });
        let grad: Vec<f32> = vec![0.5; shape.output_len()];
        let grad_t = Tensor::<B, 4>::from_data(burn::tensor::TensorData::new(grad.clone(), [8, c_out, h, w]), &device);
        let flex_back = time(&mut || {
            let gx = B::conv2d_x_backward(
                x.clone().into_primitive().tensor(),
                weight.clone().into_primitive().tensor(),
                grad_t.clone().into_primitive().tensor(),
                options.clone(),
            );
            let gw = B::conv2d_weight_backward(
                x.clone().into_primitive().tensor(),
                weight.clone().into_primitive().tensor(),
                grad_t.clone().into_primitive().tensor(),
                options.clone(),
            );
            let gb = B::conv2d_bias_backward(
                x.clone().into_primitive().tensor(),
                bias.clone().into_primitive().tensor(),
                grad_t.clone().into_primitive().tensor(),
            );
            drop((gx, gw, gb));
        });
        let ours_back = time(&mut || {
            let _ = conv3x3::backward_input(&shape, &ws, &grad);
            let _ = conv3x3::backward_weight(&shape, &xs, &grad);
            let _ = conv3x3::backward_bias(&shape, &grad);
        });
        println!(
            "conv3x3 {c_in}->{c_out} at {h}x{w} batch 8 threads={threads}: forward flex {:.1} ms ours {:.1} ms ({:.2}x) | backward flex {:.1} ms ours {:.1} ms ({:.2}x)",
            flex * 1e3,
            ours * 1e3,
            flex / ours,
            flex_back * 1e3,
            ours_back * 1e3,
            flex_back / ours_back
        );
    }
}
