//! The study's losses: L = Lcls + γ₁·Ldiv + γ₂·Lloc.
//!
//! Every loss is summed over its natural terms (labels, cells, steps) and averaged over
//! the batch, so its size does not depend on the batch size.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;

use crate::output::SeedOutput;

/// Weights and constants of the losses; defaults are the study's.
#[derive(Config, Debug, PartialEq)]
pub struct LossWeights {
    /// γ₁, weight of the diversity loss.
    #[config(default = 0.01)]
    pub diversity: f64,
    /// γ₂, weight of the localisation loss.
    #[config(default = 0.1)]
    pub localisation: f64,
    /// λ₁, weight of the anchor constraint inside Lloc. The study's 0.01 (inside γ₂ = 0.1)
    /// left it a thousandth of the classification loss's weight: the steps drifted onto one
    /// box. At 1 it holds each step near its own anchor.
    #[config(default = 1.0)]
    pub anchor: f64,
    /// λ₂, weight of the positive constraint inside Lloc (the study: 0.1). At 1 it keeps a
    /// part from shrinking below β, which the classification loss otherwise pulls it to.
    #[config(default = 1.0)]
    pub positive: f64,
    /// α: scales above it are penalised.
    #[config(default = 0.5)]
    pub max_scale: f64,
    /// β: scales below it are penalised (the study: 0.1, against collapsed regions). In the
    /// garment's frame a part is then at least 40% of the garment's width and height: measured
    /// on H&M, parts shrank from 0.5 to ~0.3 of it without this, covering 46% of the garment.
    #[config(default = 0.4)]
    pub min_scale: f64,
    /// Anchor (cx, cy) of step k is `anchors[(k − 1) mod len]`: the four quadrants' centres
    /// pulled a fifth of the way in (garments are denser towards their middle), in the
    /// garment's box for a garment-framed model, where the steps also start.
    #[config(default = "vec![[-0.4, -0.4], [0.4, -0.4], [-0.4, 0.4], [0.4, 0.4]]")]
    pub anchors: Vec<[f32; 2]>,
}

/// Each loss of one batch, as 1-element tensors (the total carries the gradient).
#[derive(Debug, Clone)]
pub struct LossBreakdown<B: Backend> {
    pub total: Tensor<B, 1>,
    pub classification: Tensor<B, 1>,
    pub diversity: Tensor<B, 1>,
    pub localisation: Tensor<B, 1>,
    pub scale: Tensor<B, 1>,
    pub anchor: Tensor<B, 1>,
    pub positive: Tensor<B, 1>,
}

/// Lcls = (1/N) Σᵢ Σ_c (p_ic − p̂_ic)², p = sigmoid(scores), p̂ ∈ {0, 1}.
pub fn classification_loss<B: Backend>(scores: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    classification_loss_of_known(scores, targets, None)
}

/// Lcls over the known targets only: (1/N) Σᵢ Σ_c k_ic·(p_ic − p̂_ic)², k ∈ {0, 1}. A photo
/// of one catalogue says nothing about another catalogue's columns (an H&M photo has no
/// Myntra `articleType`), so those labels are unknown (k = 0), not absent; `None` = all known.
pub fn classification_loss_of_known<B: Backend>(
    scores: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    known: Option<Tensor<B, 2>>,
) -> Tensor<B, 1> {
    let [n, _] = scores.dims();
    let squared = (sigmoid(scores) - targets).powf_scalar(2.0);
    let squared = match known {
        Some(known) => squared * known,
        None => squared,
    };
    squared.sum().div_scalar(n as f64)
}

/// Ldiv = 1/(K−1) Σ_{k=2..K} Σᵢ l_{k−1,i}·l_{k,i} over the attention maps of steps 1..K
/// (batch mean): consecutive steps are pushed to look at different cells.
pub fn diversity_loss<B: Backend>(attention: &[Tensor<B, 3>]) -> Tensor<B, 1> {
    let Some(first) = attention.first() else {
        panic!("diversity loss needs at least one attention map");
    };
    let [n, _, _] = first.dims();
    if attention.len() < 2 {
        return first.clone().sum().mul_scalar(0.0);
    }
    let overlaps: Vec<Tensor<B, 1>> = attention
        .windows(2)
        .map(|pair| (pair[0].clone() * pair[1].clone()).sum())
        .collect();
    let pairs = overlaps.len();
    Tensor::cat(overlaps, 0).sum().div_scalar((pairs * n) as f64)
}

/// Ls, La and Lp of the transforms of steps 1..K, relative to their frame (each summed over
/// steps, batch mean).
pub fn localisation_terms<B: Backend>(
    thetas: &[Tensor<B, 2>],
    weights: &LossWeights,
) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
    let [n, _] = thetas.first().expect("at least one step").dims();
    let mut scale = Vec::new();
    let mut anchor = Vec::new();
    let mut positive = Vec::new();
    for (k, theta) in thetas.iter().enumerate() {
        let s = theta.clone().narrow(1, 0, 2); // [N, 2] = (sx, sy)
        let t = theta.clone().narrow(1, 2, 2); // [N, 2] = (tx, ty)
        // Ls = Σ max(|s| − α, 0)²: regions no larger than half the map.
        scale.push(
            s.clone()
                .abs()
                .sub_scalar(weights.max_scale)
                .clamp_min(0.0)
                .powf_scalar(2.0)
                .sum(),
        );
        // La = ½[(tx − cx)² + (ty − cy)²]: each step near its own anchor.
        let [cx, cy] = weights.anchors[k % weights.anchors.len()];
        let centre = Tensor::<B, 1>::from_floats([cx, cy], &theta.device()).reshape([1, 2]);
        anchor.push((t - centre).powf_scalar(2.0).sum().mul_scalar(0.5));
        // Lp = max(0, β − sx) + max(0, β − sy): no collapsed or mirrored regions.
        positive.push(s.neg().add_scalar(weights.min_scale).clamp_min(0.0).sum());
    }
    let reduce = |terms: Vec<Tensor<B, 1>>| Tensor::cat(terms, 0).sum().div_scalar(n as f64);
    (reduce(scale), reduce(anchor), reduce(positive))
}

/// L = Lcls + γ₁·Ldiv + γ₂·(Ls + λ₁·La + λ₂·Lp), with every component kept for logging.
pub fn seed_loss<B: Backend>(output: &SeedOutput<B>, targets: Tensor<B, 2>, weights: &LossWeights) -> LossBreakdown<B> {
    seed_loss_of_known(output, targets, None, weights)
}

/// [`seed_loss`] with Lcls over the `known` targets only ([`classification_loss_of_known`]).
pub fn seed_loss_of_known<B: Backend>(
    output: &SeedOutput<B>,
    targets: Tensor<B, 2>,
    known: Option<Tensor<B, 2>>,
    weights: &LossWeights,
) -> LossBreakdown<B> {
    let classification = classification_loss_of_known(output.scores.clone(), targets, known);
    if output.thetas.is_empty() {
        let zero = classification.clone().mul_scalar(0.0);
        return LossBreakdown {
            total: classification.clone(),
            classification,
            diversity: zero.clone(),
            localisation: zero.clone(),
            scale: zero.clone(),
            anchor: zero.clone(),
            positive: zero,
        };
    }
    let diversity = diversity_loss(&output.attention);
    let (scale, anchor, positive) = localisation_terms(&output.relative_thetas, weights);
    let localisation =
        scale.clone() + anchor.clone().mul_scalar(weights.anchor) + positive.clone().mul_scalar(weights.positive);
    let total = classification.clone()
        + diversity.clone().mul_scalar(weights.diversity)
        + localisation.clone().mul_scalar(weights.localisation);
    LossBreakdown {
        total,
        classification,
        diversity,
        localisation,
        scale,
        anchor,
        positive,
    }
}

/// The identity loss: a normalised softmax over one proxy per training item,
/// −log softmax(s · cos(e, proxyⱼ))[item], batch mean. It pulls photos of one item (a
/// product code: the same garment in other colours) together, which the label loss alone
/// does not ask for.
pub fn identity_loss<B: Backend>(
    embedding: Tensor<B, 2>,
    proxies: Tensor<B, 2>,
    items: Tensor<B, 1, burn::tensor::Int>,
    scale: f64,
) -> Tensor<B, 1> {
    let [n, _] = embedding.dims();
    let logits = crate::encoding::l2_normalise(embedding)
        .matmul(crate::encoding::l2_normalise(proxies).transpose())
        .mul_scalar(scale);
    let log_probabilities = burn::tensor::activation::log_softmax(logits, 1);
    log_probabilities
        .gather(1, items.reshape([n, 1]))
        .sum()
        .neg()
        .div_scalar(n as f64)
}

/// The identity losses a run may use (`loss.identity_kind`).
pub const IDENTITY_KINDS: [&str; 4] = [
    "softmax",
    "proxy-anchor",
    "multi-similarity",
    "multi-similarity+softmax",
];

/// Whether an identity loss learns from pairs within a batch (and so wants batches grouped by item).
pub fn identity_kind_uses_pairs(kind: &str) -> bool {
    kind.starts_with("multi-similarity")
}

/// The identity loss named `kind` (one of [`IDENTITY_KINDS`]; anything else is the softmax):
/// `scale` is the softmax's s and Proxy-Anchor's α, `margin` Proxy-Anchor's δ; multi-similarity
/// uses its paper's constants and no proxies; `multi-similarity+softmax` is the sum of the two
/// (the pairs a batch holds, and every item's proxy for the photos without a pair).
pub fn identity_loss_of_kind<B: Backend>(
    kind: &str,
    embedding: Tensor<B, 2>,
    proxies: Tensor<B, 2>,
    items: Tensor<B, 1, burn::tensor::Int>,
    scale: f64,
    margin: f64,
) -> Tensor<B, 1> {
    match kind {
        "proxy-anchor" => proxy_anchor_loss(embedding, proxies, items, scale, margin),
        "multi-similarity" => multi_similarity_loss(embedding, items, MultiSimilarity::default()),
        "multi-similarity+softmax" => {
            multi_similarity_loss(embedding.clone(), items.clone(), MultiSimilarity::default())
                + identity_loss(embedding, proxies, items, scale)
        }
        _ => identity_loss(embedding, proxies, items, scale),
    }
}

/// Multi-similarity's constants (Wang et al., CVPR 2019; the defaults of
/// pytorch-metric-learning's `MultiSimilarityLoss` and `MultiSimilarityMiner`).
#[derive(Debug, Clone, Copy)]
pub struct MultiSimilarity {
    /// α: how sharply positives are weighed.
    pub alpha: f64,
    /// β: how sharply negatives are weighed.
    pub beta: f64,
    /// λ: the similarity positives are pulled above and negatives pushed below.
    pub base: f64,
    /// ε: the mining margin (a negative is kept when it is within ε of the hardest positive).
    pub epsilon: f64,
}

impl Default for MultiSimilarity {
    fn default() -> Self {
        MultiSimilarity {
            alpha: 2.0,
            beta: 50.0,
            base: 0.5,
            epsilon: 0.1,
        }
    }
}

/// Multi-similarity loss over the pairs of one batch, S = cosine similarity: for each anchor i
/// with another photo of its item in the batch, its pairs are mined — a negative k is kept when
/// S_ik + ε > min over positives S_ij, a positive j when S_ij − ε < max over negatives S_ik (on
/// the similarities without their gradient) — and it adds
/// 1/α · log(1 + Σ_kept positives e^(−α(S − λ))) + 1/β · log(1 + Σ_kept negatives e^(β(S − λ))).
/// The mean over those anchors (0 when the batch holds no two photos of one item: batches need
/// an identity-grouped order, `data.photos_per_identity`).
pub fn multi_similarity_loss<B: Backend>(
    embedding: Tensor<B, 2>,
    items: Tensor<B, 1, burn::tensor::Int>,
    ms: MultiSimilarity,
) -> Tensor<B, 1> {
    let [n, _] = embedding.dims();
    let device = embedding.device();
    let unit = crate::encoding::l2_normalise(embedding);
    let similarity = unit.clone().matmul(unit.transpose());
    let ids = items.float();
    let same = ids
        .clone()
        .reshape([n, 1])
        .sub(ids.reshape([1, n]))
        .abs()
        .lower_elem(0.5)
        .float();
    let positive = same.clone() - Tensor::<B, 2>::eye(n, &device);
    let negative = same.clone().neg().add_scalar(1.0);
    // Mining on values: outside the mask, ±2 (cosines lie in [−1, 1]) never wins the min/max.
    let fixed = similarity.clone().detach();
    let not_positive = positive.clone().neg().add_scalar(1.0);
    let hardest_positive = (fixed.clone() + not_positive.mul_scalar(2.0)).min_dim(1);
    let hardest_negative = (fixed.clone() - same.mul_scalar(2.0)).max_dim(1);
    let kept_negative = fixed
        .clone()
        .add_scalar(ms.epsilon)
        .sub(hardest_positive)
        .greater_elem(0.0)
        .float()
        * negative;
    let kept_positive = fixed
        .sub_scalar(ms.epsilon)
        .sub(hardest_negative)
        .lower_elem(0.0)
        .float()
        * positive.clone();
    let pulls = (similarity.clone().sub_scalar(ms.base).mul_scalar(-ms.alpha).exp() * kept_positive).sum_dim(1);
    let pushes = (similarity.sub_scalar(ms.base).mul_scalar(ms.beta).exp() * kept_negative).sum_dim(1);
    let per_anchor = pulls.log1p().div_scalar(ms.alpha) + pushes.log1p().div_scalar(ms.beta);
    let anchors = positive.sum_dim(1).clamp_max(1.0);
    let count = anchors.clone().sum().clamp_min(1.0);
    ((per_anchor * anchors).sum() / count).reshape([1])
}

/// Proxy-Anchor (Kim et al., CVPR 2020) over one proxy per training item, with
/// s = cos(e, proxy), α = `scale`, δ = `margin`: the mean over proxies with a photo in the
/// batch of log(1 + Σ_positives e^(−α(s − δ))), plus the mean over all proxies of
/// log(1 + Σ_negatives e^(α(s + δ))).
///
/// Each proxy weighs its photos by how hard they are (the softmax's gradient on an easy
/// photo vanishes more slowly), and every proxy is pushed from the batch's other photos.
pub fn proxy_anchor_loss<B: Backend>(
    embedding: Tensor<B, 2>,
    proxies: Tensor<B, 2>,
    items: Tensor<B, 1, burn::tensor::Int>,
    scale: f64,
    margin: f64,
) -> Tensor<B, 1> {
    let [proxy_count, _] = proxies.dims();
    let similarity =
        crate::encoding::l2_normalise(embedding).matmul(crate::encoding::l2_normalise(proxies).transpose());
    let positive: Tensor<B, 2> = items.one_hot::<2>(proxy_count).float();
    let negative = positive.clone().neg().add_scalar(1.0);
    let pulls = (similarity.clone().sub_scalar(margin).mul_scalar(-scale).exp() * positive.clone()).sum_dim(0);
    let pushes = (similarity.add_scalar(margin).mul_scalar(scale).exp() * negative).sum_dim(0);
    // Proxies with a photo in the batch: 1, else 0 (their pull term is log 1 = 0 anyway).
    let present = positive.sum_dim(0).clamp_max(1.0);
    let present_count = present.clone().sum().clamp_min(1.0);
    let pull = (pulls.log1p() * present).sum() / present_count;
    let push = pushes.log1p().sum().div_scalar(proxy_count as f64);
    (pull + push).reshape([1])
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{Int, Tensor, TensorData};

    use super::{MultiSimilarity, identity_loss, identity_loss_of_kind, multi_similarity_loss, proxy_anchor_loss};

    /// Two photos, e₀ = (1, 0) of item 0 and e₁ = (0, 1) of item 1; proxies (1, 0), (0, 1),
    /// (−1, 0): cosines [[1, 0, −1], [0, 1, 0]].
    fn case() -> (Tensor<Flex, 2>, Tensor<Flex, 2>, Tensor<Flex, 1, Int>) {
        let device = Default::default();
        let embedding = Tensor::from_data(TensorData::new(vec![2.0f32, 0.0, 0.0, 0.5], [2, 2]), &device);
        let proxies = Tensor::from_data(TensorData::new(vec![0.1f32, 0.0, 0.0, 3.0, -1.0, 0.0], [3, 2]), &device);
        let items = Tensor::from_data(TensorData::new(vec![0i64, 1], [2]), &device);
        (embedding, proxies, items)
    }

    fn scalar(t: Tensor<Flex, 1>) -> f64 {
        t.into_data().convert::<f64>().into_vec::<f64>().unwrap()[0]
    }

    #[test]
    fn the_softmax_identity_loss_on_a_hand_computed_case() {
        let (embedding, proxies, items) = case();
        // Scale 1: −log softmax([1, 0, −1])[0] = ln(e + 1 + e⁻¹) − 1 and
        // −log softmax([0, 1, 0])[1] = ln(2 + e) − 1; their mean.
        let e = std::f64::consts::E;
        let want = ((e + 1.0 + 1.0 / e).ln() - 1.0 + (2.0 + e).ln() - 1.0) / 2.0;
        let got = scalar(identity_loss(embedding, proxies, items, 1.0));
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn proxy_anchor_on_a_hand_computed_case() {
        let e = std::f64::consts::E;
        // α = 1, δ = 0. Pull: proxies 0 and 1 each have one photo at cosine 1: ln(1 + e⁻¹)
        // each, mean ln(1 + e⁻¹). Push: proxy 0's negative is e₁ (cos 0): ln 2; proxy 1's is
        // e₀ (cos 0): ln 2; proxy 2 has both (cos −1 and 0): ln(1 + e⁻¹ + 1); mean of three.
        let (embedding, proxies, items) = case();
        let want = (1.0 + 1.0 / e).ln() + (2.0 * 2f64.ln() + (2.0 + 1.0 / e).ln()) / 3.0;
        let got = scalar(proxy_anchor_loss(embedding, proxies, items, 1.0, 0.0));
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // δ = 0.1, α = 2: the margin shifts every cosine against the photo.
        let (embedding, proxies, items) = case();
        let pull = (1.0 + (-2.0f64 * 0.9).exp()).ln();
        let push =
            (2.0 * (1.0 + (2.0f64 * 0.1).exp()).ln() + (1.0 + (2.0f64 * -0.9).exp() + (2.0f64 * 0.1).exp()).ln()) / 3.0;
        let got = scalar(proxy_anchor_loss(embedding, proxies, items, 2.0, 0.1));
        assert!((got - (pull + push)).abs() < 1e-5, "{got} vs {}", pull + push);
    }

    fn batch(points: &[[f32; 2]], ids: &[i64]) -> (Tensor<Flex, 2>, Tensor<Flex, 1, Int>) {
        let device = Default::default();
        let values: Vec<f32> = points.iter().flatten().copied().collect();
        (
            Tensor::from_data(TensorData::new(values, [points.len(), 2]), &device),
            Tensor::from_data(TensorData::new(ids.to_vec(), [ids.len()]), &device),
        )
    }

    /// e₀ = (1, 0), e₁ = (0.6, 0.8) of item 0; e₂ = (0.8, 0.6), e₃ = (−1, 0) of item 1 (e₂ given
    /// at twice its length: cosines count). Cosines: S₀₁ 0.6, S₀₂ 0.8, S₀₃ −1, S₁₂ 0.96,
    /// S₁₃ −0.6, S₂₃ −0.8. Mining with ε 0.1 drops e₃ as a negative of anchors 0 and 1
    /// (−1 + 0.1 and −0.6 + 0.1 are not above their positives' 0.6) and e₀ as one of anchor 3
    /// (−0.9 is not above −0.8); every positive is kept (each below its anchor's hardest
    /// negative + ε).
    #[test]
    fn the_multi_similarity_loss_on_a_hand_computed_case() {
        let (embedding, ids) = batch(&[[1.0, 0.0], [0.6, 0.8], [1.6, 1.2], [-1.0, 0.0]], &[0, 0, 1, 1]);
        let ms = MultiSimilarity::default();
        let (a, b, l) = (ms.alpha, ms.beta, ms.base);
        let pos = |s: f64| (1.0 + (-a * (s - l)).exp()).ln() / a;
        let neg = |s: &[f64]| (1.0 + s.iter().map(|s| (b * (s - l)).exp()).sum::<f64>()).ln() / b;
        let want = [
            pos(0.6) + neg(&[0.8]),
            pos(0.6) + neg(&[0.96]),
            pos(-0.8) + neg(&[0.8, 0.96]),
            pos(-0.8) + neg(&[-0.6]),
        ]
        .iter()
        .sum::<f64>()
            / 4.0;
        let got = scalar(multi_similarity_loss(embedding, ids, ms));
        assert!((got - want).abs() < 1e-4 * want, "{got} against {want}");
    }

    /// `multi-similarity+softmax` is the two losses summed: on the pairless two-photo case the
    /// softmax alone (multi-similarity is 0 without pairs), and on a batch with pairs the sum.
    #[test]
    fn multi_similarity_plus_softmax_is_their_sum() {
        let kind = "multi-similarity+softmax";
        let (embedding, proxies, items) = case();
        let softmax = scalar(identity_loss(embedding.clone(), proxies.clone(), items.clone(), 1.0));
        let got = scalar(identity_loss_of_kind(kind, embedding, proxies, items, 1.0, 0.0));
        assert!((got - softmax).abs() < 1e-6, "{got} against {softmax}");

        let (embedding, ids) = batch(&[[1.0, 0.0], [0.6, 0.8], [1.6, 1.2], [-1.0, 0.0]], &[0, 0, 1, 1]);
        let (_, proxies, _) = case();
        let ms = scalar(multi_similarity_loss(
            embedding.clone(),
            ids.clone(),
            MultiSimilarity::default(),
        ));
        let softmax = scalar(identity_loss(embedding.clone(), proxies.clone(), ids.clone(), 16.0));
        let got = scalar(identity_loss_of_kind(kind, embedding, proxies, ids, 16.0, 0.0));
        assert!(ms > 0.0 && softmax > 0.0);
        assert!((got - (ms + softmax)).abs() < 1e-5, "{got} against {ms} + {softmax}");
    }

    /// Two identical photos of one item and one opposite photo of another: no pair survives
    /// mining (the positive is easy, the negative far), and an anchor without a positive in the
    /// batch does not count — the loss is 0, and 0 for a batch without pairs.
    #[test]
    fn the_multi_similarity_loss_of_an_easy_batch_or_one_without_pairs_is_zero() {
        let (embedding, ids) = batch(&[[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], &[0, 0, 1]);
        assert_eq!(
            scalar(multi_similarity_loss(embedding, ids, MultiSimilarity::default())),
            0.0
        );
        let (embedding, ids) = batch(&[[1.0, 0.0], [0.0, 1.0]], &[0, 1]);
        assert_eq!(
            scalar(multi_similarity_loss(embedding, ids, MultiSimilarity::default())),
            0.0
        );
    }
}
