//! `LiteCpu` (our channels-last kernels) against burn's ops on the same EfficientNet-Lite: the
//! whole trunk, a frozen prefix followed by separately held (fine-tuned) blocks, and the pooled
//! head features, on odd and tiny inputs, for Lite0's and Lite2's shapes. Random weights, so
//! no download is needed; `lookbook-embed`'s ImageNet tests cover the published weights.

use burn::module::Param;
use burn::tensor::{Distribution, Tensor, TensorData};
use lookbook_model::efficientnet::{EfficientNetLite, FoldedConv, LITE0, LITE2, LiteVariant, MbConv};
use lookbook_model::{InferBackend, LiteCpu};

type B = InferBackend;

/// A convolution with weights uniform in ±1/√fan-in and a small bias.
fn conv(out: usize, per_group: usize, kernel: usize, stride: usize, groups: usize, relu6: bool) -> FoldedConv<B> {
    let device = Default::default();
    let bound = 1.5 / ((per_group * kernel * kernel) as f64).sqrt();
    FoldedConv {
        weight: Param::from_tensor(Tensor::random(
            [out, per_group, kernel, kernel],
            Distribution::Uniform(-bound, bound),
            &device,
        )),
        bias: Param::from_tensor(Tensor::random([out], Distribution::Uniform(-0.2, 0.5), &device)),
        stride,
        groups,
        relu6,
    }
}

fn random_network(variant: &LiteVariant) -> EfficientNetLite<B> {
    let blocks = variant
        .block_shapes()
        .into_iter()
        .map(|shape| {
            let hidden = shape.hidden();
            MbConv {
                expand: (shape.expansion != 1).then(|| conv(hidden, shape.input, 1, 1, 1, true)),
                depthwise: conv(hidden, 1, shape.kernel, shape.stride, hidden, true),
                project: conv(shape.output, hidden, 1, 1, 1, false),
                residual: shape.residual(),
            }
        })
        .collect();
    let device = Default::default();
    EfficientNetLite {
        stem: conv(32, 3, 3, 2, 1, true),
        blocks,
        head: conv(1280, variant.trunk_channels(), 1, 1, 1, true),
        fc_weight: Param::from_tensor(Tensor::zeros([1280, 10], &device)),
        fc_bias: Param::from_tensor(Tensor::zeros([10], &device)),
    }
}

fn images(n: usize, h: usize, w: usize) -> (Vec<f32>, Tensor<B, 4>) {
    let tensor = Tensor::<B, 4>::random([n, 3, h, w], Distribution::Uniform(-1.0, 1.0), &Default::default());
    let values = tensor.to_data().into_vec::<f32>().unwrap();
    (values, tensor)
}

fn values<const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().into_vec::<f32>().unwrap()
}

/// The worst cosine between matching rows of length `row`, and the worst absolute difference
/// relative to the largest magnitude.
fn compare(ours: &[f32], theirs: &[f32], row: usize) -> (f64, f64) {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
    let mut worst_cosine = 1.0f64;
    let mut worst_diff = 0.0f64;
    for (a, b) in ours.chunks(row).zip(theirs.chunks(row)) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        if na > 0.0 || nb > 0.0 {
            worst_cosine = worst_cosine.min(dot / (na * nb).max(1e-30));
        }
        for (x, y) in a.iter().zip(b) {
            worst_diff = worst_diff.max((*x as f64 - *y as f64).abs() / scale);
        }
    }
    (worst_cosine, worst_diff)
}

#[test]
fn the_whole_trunk_and_pooled_features_match_burn_on_odd_sizes_and_bands() {
    for (variant, sizes) in [(&LITE0, [(64, 64), (70, 45)]), (&LITE2, [(33, 47), (96, 64)])] {
        let network = random_network(variant);
        // The default bands (one or two a block at these sizes), one output row a band, and
        // bands of a few rows whose map rows overlap the previous band's at stride 2.
        let runs = [None, Some(1), Some(40_000)].map(|band| match band {
            None => LiteCpu::whole(&network),
            Some(bytes) => LiteCpu::whole(&network).with_band_bytes(bytes),
        });
        for (fast, (h, w)) in runs.iter().flat_map(|fast| sizes.map(|size| (fast, size))) {
            let n = 3;
            let (pixels, tensor) = images(n, h, w);
            let (trunk, shape) = fast.trunk_nhwc(&pixels, n, h, w);
            let reference = network.trunk(tensor.clone());
            assert_eq!(shape, {
                let [n, c, rh, rw] = reference.dims();
                [n, rh, rw, c]
            });
            let reference_nhwc = values(reference.permute([0, 2, 3, 1]));
            let (cosine, diff) = compare(&trunk, &reference_nhwc, shape[1] * shape[2] * shape[3]);
            assert!(
                cosine >= 0.9999 && diff < 1e-3,
                "{h}×{w} trunk: cosine {cosine}, diff {diff}"
            );

            let pooled = fast.pooled(&pixels, n, h, w);
            let reference = values(network.pooled(tensor));
            let (cosine, diff) = compare(&pooled, &reference, 1280);
            assert!(
                cosine >= 0.9999 && diff < 1e-3,
                "{h}×{w} pooled: cosine {cosine}, diff {diff}"
            );
        }
    }
}

#[test]
fn a_frozen_prefix_with_separately_held_blocks_matches_burn() {
    let network = random_network(&LITE0);
    // The "fine-tuned" copies of the last two blocks: different weights of the same shapes.
    let tuned: Vec<MbConv<B>> = random_network(&LITE0).blocks[14..].to_vec();
    let fast = LiteCpu::new(&network, 14, &tuned, false);
    let (h, w) = (96, 64);
    let (pixels, tensor) = images(2, h, w);
    let (ours, shape) = fast.trunk_nhwc(&pixels, 2, h, w);
    assert_eq!(shape, [2, 3, 2, 320]);
    let frozen = network.trunk_until(tensor, 14);
    let reference = tuned.iter().fold(frozen, |x, block| block.forward(x));
    let (cosine, diff) = compare(&ours, &values(reference.permute([0, 2, 3, 1])), 3 * 2 * 320);
    assert!(cosine >= 0.9999 && diff < 1e-3, "cosine {cosine}, diff {diff}");

    // A prefix alone (what training caches) and an empty batch.
    let prefix = LiteCpu::new(&network, 9, &[], false);
    let (ours, shape) = prefix.trunk_nhwc(&pixels, 2, h, w);
    let reference = network.trunk_until(
        Tensor::from_data(TensorData::new(pixels.clone(), [2, 3, h, w]), &Default::default()),
        9,
    );
    assert_eq!(shape[3], 112);
    let (cosine, _) = compare(
        &ours,
        &values(reference.permute([0, 2, 3, 1])),
        shape[1] * shape[2] * shape[3],
    );
    assert!(cosine >= 0.9999, "prefix cosine {cosine}");
    assert_eq!(prefix.trunk_nhwc(&[], 0, h, w).0.len(), 0);

    // A loader's items as they come (each image followed by its frame and size): the same
    // output, bit for bit, as the images packed alone.
    let extra = [7.0f32, -1.0, 0.5, 3.0, 360.0, 540.0];
    let items: Vec<f32> = pixels
        .chunks_exact(3 * h * w)
        .flat_map(|image| image.iter().chain(&extra))
        .copied()
        .collect();
    let (from_items, item_shape) = prefix.trunk_nhwc_items(&items, 3 * h * w + extra.len(), 2, h, w);
    let (packed, _) = prefix.trunk_nhwc(&pixels, 2, h, w);
    assert_eq!((from_items, item_shape), (packed, shape));
}

#[test]
fn images_fewer_than_threads_split_each_layer_and_give_the_same_features() {
    // Four threads: one image and three images both take the split-layer path; two threads
    // with four images the image-per-core one. Every answer equals burn's.
    let network = random_network(&LITE0);
    let fast = LiteCpu::whole(&network);
    let (h, w) = (96, 72);
    for (threads, n) in [(4, 1), (4, 3), (2, 4)] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (pixels, tensor) = images(n, h, w);
        let pooled = pool.install(|| fast.pooled(&pixels, n, h, w));
        let (cosine, diff) = compare(&pooled, &values(network.pooled(tensor.clone())), 1280);
        assert!(
            cosine >= 0.9999 && diff < 1e-3,
            "{threads} threads, {n} images: cosine {cosine}, diff {diff}"
        );
        let (trunk, shape) = pool.install(|| fast.trunk_nhwc(&pixels, n, h, w));
        let reference = values(network.trunk(tensor).permute([0, 2, 3, 1]));
        let (cosine, _) = compare(&trunk, &reference, shape[1] * shape[2] * shape[3]);
        assert!(cosine >= 0.9999, "{threads} threads, {n} images: trunk cosine {cosine}");
    }
}
