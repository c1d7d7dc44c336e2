//! Shapes, the spatial transformer's exactness and gradients, Deep TEN and the losses.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor, TensorData};
use lookbook_model::losses::{
    classification_loss, classification_loss_of_known, diversity_loss, localisation_terms, seed_loss,
};
use lookbook_model::{
    GlobalBranch, LossWeights, SeedConfig, SeedModel, TextureEncoding, Theta, attention_map, footprint, sample_region,
};

type B = Flex;
type AD = Autodiff<Flex>;

fn dev() -> burn::tensor::Device<B> {
    Default::default()
}

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

fn theta<Bk: burn::tensor::backend::Backend>(rows: &[[f32; 4]]) -> Tensor<Bk, 2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), 4]), &Default::default())
}

fn small_config() -> SeedConfig {
    SeedConfig::new(5)
        .with_input_height(96)
        .with_input_width(64)
        .with_region_height(3)
        .with_region_width(2)
        .with_codewords(4)
        .with_encoding_dim(8)
        .with_lstm_hidden(16)
        .with_steps(3)
}

#[test]
fn global_branch_follows_the_study_table() {
    let config = SeedConfig::new(3);
    let branch = GlobalBranch::<B>::new(&config, &dev());
    let out = branch.forward(Tensor::random([1, 3, 384, 256], Distribution::Normal(0.0, 1.0), &dev()));
    assert_eq!(out.dims(), [1, 256, 24, 16]);
    assert_eq!((config.feature_height(), config.feature_width()), (24, 16));
}

#[test]
fn every_output_has_its_shape() {
    let config = small_config();
    let model = SeedModel::<B>::new(&config, &dev());
    let out = model.forward(Tensor::random([2, 3, 96, 64], Distribution::Normal(0.0, 1.0), &dev()));
    assert_eq!(out.scores.dims(), [2, 5]);
    assert_eq!(out.global_feature.dims(), [2, 256]);
    assert_eq!(out.encodings.len(), 4, "step 0 plus K = 3 steps");
    assert!(out.encodings.iter().all(|e| e.dims() == [2, 8]));
    assert_eq!(out.thetas.len(), 3);
    assert!(out.thetas.iter().all(|t| t.dims() == [2, 4]));
    assert_eq!(out.attention.len(), 3);
    for map in &out.attention {
        assert_eq!(map.dims(), [2, 6, 4]);
        let sums = values(map.clone().sum_dim(2).sum_dim(1).reshape([2]));
        assert_close(&sums, &[1.0, 1.0], 1e-5, "attention sums to 1");
    }
    assert_eq!(out.embedding().dims(), [2, config.embedding_dim()]);
    assert_eq!(out.parts().dims(), [2, 4, 8]);
    // Each step starts on its own anchor (near a quadrant's centre of the frame, here the
    // whole picture), midway between the scale bounds 0.4 and 0.5.
    assert_close(
        &values(out.thetas[0].clone()),
        &[0.45, 0.45, -0.4, -0.4, 0.45, 0.45, -0.4, -0.4],
        1e-6,
        "θ₁",
    );
    assert_close(
        &values(out.thetas[1].clone()),
        &[0.45, 0.45, 0.4, -0.4, 0.45, 0.45, 0.4, -0.4],
        1e-6,
        "θ₂",
    );
}

#[test]
fn steps_are_placed_in_each_photos_garment_frame() {
    let config = small_config();
    let model = SeedModel::<B>::new(&config, &dev());
    let images = Tensor::random([2, 3, 96, 64], Distribution::Normal(0.0, 1.0), &dev());
    // Photo 0: the garment fills the left half; photo 1: the whole picture.
    let frames = Tensor::<B, 2>::from_floats([[0.5, 1.0, -0.5, 0.0], [1.0, 1.0, 0.0, 0.0]], &dev());
    let out = model.forward_in(images, Some(frames));
    // Step 1 (upper left) of the left half: centre (−0.5 + 0.5·−0.4, −0.4), half-size
    // (0.5·0.45, 0.45).
    assert_close(
        &values(out.thetas[0].clone()),
        &[0.225, 0.45, -0.7, -0.4, 0.45, 0.45, -0.4, -0.4],
        1e-6,
        "θ₁ in the frame",
    );
    // The constraints see the step relative to its frame: the same for both photos.
    assert_close(
        &values(out.relative_thetas[0].clone()),
        &[0.45, 0.45, -0.4, -0.4, 0.45, 0.45, -0.4, -0.4],
        1e-6,
        "relative θ₁",
    );
    // A model trained in the picture's frame ignores frames and starts every step centred.
    let image_model = SeedModel::<B>::new(&config.clone().with_attention_frame("image".into()), &dev());
    let out = image_model.forward_in(
        Tensor::random([1, 3, 96, 64], Distribution::Normal(0.0, 1.0), &dev()),
        Some(Tensor::<B, 2>::from_floats([[0.5, 1.0, -0.5, 0.0]], &dev())),
    );
    assert_close(
        &values(out.thetas[0].clone()),
        &[0.5, 0.5, 0.0, 0.0],
        1e-6,
        "θ₁ centred",
    );
}

#[test]
fn identity_theta_reproduces_the_map() {
    let map = Tensor::<B, 4>::random([2, 3, 4, 6], Distribution::Normal(0.0, 1.0), &dev());
    let out = sample_region(map.clone(), theta(&[[1.0, 1.0, 0.0, 0.0]; 2]), 4, 6);
    assert_close(&values(out), &values(map), 1e-5, "identity crop");
    let fp = footprint::<B>(theta(&[[1.0, 1.0, 0.0, 0.0]]), 4, 6, 4, 6);
    assert_close(&values(fp), &[1.0; 24], 1e-5, "identity footprint: one point per cell");
}

#[test]
fn known_crops_match_hand_computed_values() {
    // A 4×4 map holding 0..16 row by row.
    let map = Tensor::<B, 1>::from_data(
        TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [16]),
        &dev(),
    )
    .reshape([1, 1, 4, 4]);
    // θ = (0.5, 0.5, −0.5, −0.5): grid x = 0.5·(∓0.5) − 0.5 = −0.75, −0.25 → pixels 0 and 1.
    let top_left = sample_region(map.clone(), theta(&[[0.5, 0.5, -0.5, -0.5]]), 2, 2);
    assert_close(&values(top_left), &[0.0, 1.0, 4.0, 5.0], 1e-5, "top-left block");
    // tx = −0.375 moves x by 0.125 in normalised units = 0.25 pixel: 0.75·v[x] + 0.25·v[x+1].
    let shifted = sample_region(map.clone(), theta(&[[0.5, 0.5, -0.375, -0.5]]), 2, 2);
    assert_close(&values(shifted), &[0.25, 1.25, 4.25, 5.25], 1e-5, "quarter-pixel shift");
    // On the map's corner (pixel −0.5, −0.5): three of the four bilinear taps fall
    // outside and read zero, so a corner value of 1 samples as 0.25.
    let outside = sample_region(map.add_scalar(1.0), theta(&[[0.25, 0.25, -1.0, -1.0]]), 1, 1);
    assert_close(&values(outside), &[0.25], 1e-6, "corner sample");
    let fp = footprint::<B>(theta(&[[0.5, 0.5, -0.5, -0.5]]), 2, 2, 4, 4);
    let want = [
        1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_close(&values(fp), &want, 1e-6, "footprint of the top-left crop");
}

#[test]
fn theta_maps_to_a_box_in_image_pixels() {
    let quarter = Theta {
        sx: 0.5,
        sy: 0.5,
        tx: -0.5,
        ty: -0.5,
    };
    assert_eq!(quarter.to_box(256.0, 384.0), [0.0, 0.0, 128.0, 192.0]);
    assert_eq!(Theta::IDENTITY.to_box(256.0, 384.0), [0.0, 0.0, 256.0, 384.0]);
    let back = Theta::from_tensor(theta::<B>(&[[0.25, 0.5, 0.1, -0.2]]));
    assert_eq!(
        back,
        vec![Theta {
            sx: 0.25,
            sy: 0.5,
            tx: 0.1,
            ty: -0.2
        }]
    );
}

/// Central differences of `f` at `x` against the autodiff gradient, on every coordinate.
fn check_gradient<const D: usize>(x: Tensor<B, D>, f: impl Fn(Tensor<AD, D>) -> Tensor<AD, 1>, what: &str) {
    let shape = x.dims();
    let base = values(x.clone());
    let input = Tensor::<AD, D>::from_data(x.into_data(), &dev()).require_grad();
    let grads = f(input.clone()).backward();
    let analytic = values(input.grad(&grads).expect("gradient"));
    assert!(
        analytic.iter().any(|g| g.abs() > 1e-3),
        "{what}: gradient vanishes, the check would be vacuous"
    );
    let eps = 1e-2;
    for i in 0..base.len() {
        let at = |delta: f32| {
            let mut v = base.clone();
            v[i] += delta;
            let t = Tensor::<AD, D>::from_data(TensorData::new(v, shape), &dev());
            values(f(t))[0]
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        let tol = 2e-3 + 1e-2 * numeric.abs();
        assert!(
            (numeric - analytic[i]).abs() <= tol,
            "{what}[{i}]: autodiff {} vs numeric {numeric}",
            analytic[i]
        );
    }
}

#[test]
fn sampling_gradients_match_finite_differences() {
    let map = Tensor::<B, 4>::random([1, 2, 4, 5], Distribution::Normal(0.0, 1.0), &dev());
    let weights = Tensor::<B, 4>::random([1, 2, 3, 2], Distribution::Normal(0.0, 1.0), &dev());
    // Sample points well inside cells, so ±eps never crosses a kink of the bilinear tents.
    let th = [0.43, 0.61, 0.07, -0.11];
    let w = weights.clone();
    check_gradient(
        map.clone(),
        |m| {
            let region = sample_region(m, theta::<AD>(&[th]), 3, 2);
            (region * Tensor::from_data(w.clone().into_data(), &dev())).sum()
        },
        "d/d map",
    );
    check_gradient(
        theta::<B>(&[th]),
        |t| {
            let region = sample_region(Tensor::<AD, 4>::from_data(map.clone().into_data(), &dev()), t, 3, 2);
            (region * Tensor::from_data(weights.clone().into_data(), &dev())).sum()
        },
        "d/d θ",
    );
    let cells = Tensor::<B, 3>::random([1, 4, 5], Distribution::Normal(0.0, 1.0), &dev());
    check_gradient(
        theta::<B>(&[th]),
        |t| (attention_map(t, 3, 2, 4, 5) * Tensor::from_data(cells.clone().into_data(), &dev())).sum(),
        "attention d/d θ",
    );
}

#[test]
fn texture_encoding_matches_a_direct_computation() {
    let mut layer = TextureEncoding::<B>::new(2, 2, 3, &dev());
    let codewords = [[0.0f32, 1.0], [1.0, 0.0]];
    let smoothing = [1.0f32, 0.5];
    layer.codewords = burn::module::Param::from_tensor(Tensor::from_data(
        TensorData::new(codewords.iter().flatten().copied().collect::<Vec<_>>(), [2, 2]),
        &dev(),
    ));
    layer.smoothing =
        burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(smoothing.to_vec(), [2]), &dev()));
    // Two positions (h = 1, w = 2) of a 2-channel map: x₀ = (1, 2), x₁ = (3, −1).
    let xs = [[1.0f32, 2.0], [3.0, -1.0]];
    let map = Tensor::<B, 4>::from_data(TensorData::new(vec![1.0f32, 3.0, 2.0, -1.0], [1, 2, 1, 2]), &dev());
    let got = values(layer.encode(map));
    let mut e = [[0.0f64; 2]; 2];
    for x in xs {
        let d: Vec<f64> = codewords
            .iter()
            .map(|c| (x[0] as f64 - c[0] as f64).powi(2) + (x[1] as f64 - c[1] as f64).powi(2))
            .collect();
        let logits: Vec<f64> = d.iter().zip(smoothing).map(|(d, s)| -(s as f64) * d).collect();
        let z: f64 = logits.iter().map(|l| l.exp()).sum();
        for k in 0..2 {
            let a = logits[k].exp() / z;
            for j in 0..2 {
                e[k][j] += a * (x[j] as f64 - codewords[k][j] as f64);
            }
        }
    }
    let flat: Vec<f64> = e.iter().flatten().copied().collect();
    let norm = flat.iter().map(|v| v * v).sum::<f64>().sqrt();
    let want: Vec<f32> = flat.iter().map(|v| (v / norm) as f32).collect();
    assert_close(&got, &want, 1e-5, "encoding");
}

#[test]
fn losses_on_hand_computed_cases() {
    // Lcls: sigmoid(0) = 0.5 → (0.5 − y)² = 0.25 per label; sigmoid(ln 3) = 0.75.
    let scores = Tensor::<B, 2>::from_floats([[0.0, 0.0], [3f32.ln(), 0.0]], &dev());
    let targets = Tensor::<B, 2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &dev());
    let cls = values(classification_loss(scores, targets))[0];
    assert!((cls - (0.25 + 0.25 + 0.0625 + 0.25) / 2.0).abs() < 1e-6, "{cls}");
    // Unknown targets (another catalogue's column) count nothing; the mean stays over photos.
    let known = Tensor::<B, 2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &dev());
    let scores = Tensor::<B, 2>::from_floats([[0.0, 0.0], [3f32.ln(), 0.0]], &dev());
    let targets = Tensor::<B, 2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &dev());
    let partial = values(classification_loss_of_known(scores, targets, Some(known)))[0];
    assert!((partial - (0.25 + 0.25) / 2.0).abs() < 1e-6, "{partial}");

    // Ldiv over three 1×2 maps: overlaps (0.5·0.25 + 0.5·0.75) and (0.25·1 + 0.75·0), mean of 2 pairs.
    let map = |a: f32, b: f32| Tensor::<B, 3>::from_floats([[[a, b]]], &dev());
    let div = values(diversity_loss(&[map(0.5, 0.5), map(0.25, 0.75), map(1.0, 0.0)]))[0];
    assert!((div - (0.5 + 0.25) / 2.0).abs() < 1e-6, "{div}");

    // One step, anchor (−0.5, −0.5): θ = (0.75, 0.05, 0, −0.5); the study's constants.
    let weights =
        LossWeights::new()
            .with_min_scale(0.1)
            .with_anchors(vec![[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]);
    let (ls, la, lp) = localisation_terms(&[theta::<B>(&[[0.75, 0.05, 0.0, -0.5]])], &weights);
    assert!((values(ls)[0] - 0.0625).abs() < 1e-6, "Ls = (0.75 − 0.5)²");
    assert!((values(la)[0] - 0.125).abs() < 1e-6, "La = ½(0.5² + 0²)");
    assert!((values(lp)[0] - 0.05).abs() < 1e-6, "Lp = max(0, 0.1 − 0.05)");
    // Negative scale: |s| for Ls, and the positive constraint fires.
    let (ls, _, lp) = localisation_terms(&[theta::<B>(&[[-0.6, 0.5, -0.5, -0.5]])], &weights);
    assert!((values(ls)[0] - 0.01).abs() < 1e-6);
    assert!((values(lp)[0] - 0.7).abs() < 1e-6);
}

#[test]
fn total_loss_weighs_its_components() {
    let config = small_config();
    let model = SeedModel::<B>::new(&config, &dev());
    let out = model.forward(Tensor::random([2, 3, 96, 64], Distribution::Normal(0.0, 1.0), &dev()));
    let targets = Tensor::<B, 2>::from_floats([[1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]], &dev());
    let weights = LossWeights::new();
    let loss = seed_loss(&out, targets, &weights);
    let v = |t: &Tensor<B, 1>| values(t.clone())[0];
    let w = |x: f64| x as f32;
    let loc = v(&loss.scale) + w(weights.anchor) * v(&loss.anchor) + w(weights.positive) * v(&loss.positive);
    assert!((v(&loss.localisation) - loc).abs() < 1e-6);
    let total = v(&loss.classification) + w(weights.diversity) * v(&loss.diversity) + w(weights.localisation) * loc;
    assert!((v(&loss.total) - total).abs() < 1e-5);
    assert!(v(&loss.total).is_finite() && v(&loss.total) > 0.0);
}

/// The seed model's fused convolution + ReLU and its 4×4 max-pool (our kernels on flex,
/// wired into autodiff by `SeedBackend`) against burn's own conv2d, relu and max_pool2d:
/// same outputs, same gradients for input, weight and bias.
#[test]
fn our_convolution_and_pool_match_burns_forward_and_backward() {
    use burn::tensor::TensorPrimitive;
    use burn::tensor::activation::relu;
    use burn::tensor::module::{conv2d, max_pool2d};
    use burn::tensor::ops::ConvOptions;
    use lookbook_model::SeedBackend;

    let x = Tensor::<B, 4>::random([2, 5, 12, 9], Distribution::Normal(0.0, 1.0), &dev());
    let weight = Tensor::<B, 4>::random([6, 5, 3, 3], Distribution::Normal(0.0, 0.3), &dev());
    let bias = Tensor::<B, 1>::random([6], Distribution::Normal(0.0, 0.3), &dev());
    let probe = Tensor::<B, 4>::random([2, 6, 3, 2], Distribution::Normal(0.0, 1.0), &dev());
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);

    let run = |ours: bool| {
        let x = Tensor::<AD, 4>::from_inner(x.clone()).require_grad();
        let w = Tensor::<AD, 4>::from_inner(weight.clone()).require_grad();
        let b = Tensor::<AD, 1>::from_inner(bias.clone()).require_grad();
        let pooled = if ours {
            let activated = AD::conv3x3_relu(
                x.clone().into_primitive().tensor(),
                w.clone().into_primitive().tensor(),
                b.clone().into_primitive().tensor(),
            );
            Tensor::<AD, 4>::from_primitive(TensorPrimitive::Float(AD::max_pool4(activated)))
        } else {
            let activated = relu(conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone()));
            max_pool2d(activated, [4, 4], [4, 4], [0, 0], [1, 1], false)
        };
        let grads = (pooled.clone() * Tensor::from_inner(probe.clone())).sum().backward();
        let grad = |t: &Tensor<AD, 4>| values(t.grad(&grads).unwrap());
        (
            values(pooled.inner()),
            grad(&x),
            grad(&w),
            values(b.grad(&grads).unwrap()),
        )
    };
    let (ours, theirs) = (run(true), run(false));
    assert_close(&ours.0, &theirs.0, 1e-5, "output");
    assert_close(&ours.1, &theirs.1, 1e-5, "grad x");
    assert_close(&ours.2, &theirs.2, 1e-4, "grad weight");
    assert_close(&ours.3, &theirs.3, 1e-4, "grad bias");
    // And inference (no autodiff) takes the index-free pool, or pools inside the convolution.
    let (xp, wp, bp) = (
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
        bias.into_primitive().tensor(),
    );
    let plain = B::max_pool4(B::conv3x3_relu(xp.clone(), wp.clone(), bp.clone()));
    assert_close(
        &values(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(plain))),
        &ours.0,
        1e-6,
        "inference",
    );
    let fused = B::conv3x3_relu_pool4(xp, wp, bp);
    assert_close(
        &values(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(fused))),
        &ours.0,
        1e-5,
        "fused inference",
    );
}

/// Inference batch-norm folded into one per-channel multiply-add gives burn's `BatchNorm`.
#[test]
fn folded_batch_norm_matches_burns() {
    use burn::module::{Param, RunningState};
    use burn::nn::BatchNormConfig;
    use lookbook_model::global::batch_norm_inference;

    let mut norm = BatchNormConfig::new(3).init::<B>(&dev());
    let vector = |v: [f32; 3]| Tensor::<B, 1>::from_floats(v, &dev());
    norm.gamma = Param::from_tensor(vector([0.5, 2.0, -1.0]));
    norm.beta = Param::from_tensor(vector([0.1, -0.2, 0.3]));
    norm.running_mean = RunningState::new(vector([1.0, -1.0, 0.5]));
    norm.running_var = RunningState::new(vector([4.0, 0.25, 1.0]));
    let x = Tensor::<B, 4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 2.0), &dev());
    let want = values(norm.forward(x.clone()));
    assert_close(&values(batch_norm_inference(&norm, x)), &want, 1e-5, "batch norm");
}
