//! The symmetric InfoNCE loss (CLIP's): row `i` of the logits is text `i` against every image
//! of the batch, column `j` image `j` against every text; the matching pair is the diagonal.
//! The loss is the mean of the two directions' cross-entropies with the diagonal as targets.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;

/// `logits [n, n]` (text × image) → the scalar loss `[1]`.
pub fn symmetric_info_nce<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let [n, m] = logits.dims();
    assert_eq!(n, m, "InfoNCE needs a square logits matrix, got {n}×{m}");
    let eye = Tensor::<B, 2>::eye(n, &logits.device());
    let texts = (log_softmax(logits.clone(), 1) * eye.clone()).sum();
    let images = (log_softmax(logits, 0) * eye).sum();
    (texts + images).neg() / (2 * n) as f32
}

/// The logits of texts `[n, d]` against images `[n, d]` (both unit length): cosine × scale.
pub fn logits<B: Backend>(texts: Tensor<B, 2>, images: Tensor<B, 2>, scale: Tensor<B, 1>) -> Tensor<B, 2> {
    texts.matmul(images.transpose()) * scale.reshape([1, 1])
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn the_loss_matches_a_hand_computed_case() {
        // logits [[2, 0], [1, 1]]:
        //   text rows:   -ln(e²/(e²+1)) = 0.126928,  -ln(e/(e+e)) = ln 2 = 0.693147
        //   image cols:  -ln(e²/(e²+e)) = ln(1+e⁻¹) = 0.313262,  -ln(e/(1+e)) = 0.313262
        //   mean of the two directions: (0.126928 + 0.693147 + 0.313262 + 0.313262) / 4
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_data(TensorData::new(vec![2.0f32, 0.0, 1.0, 1.0], [2, 2]), &device);
        let loss: f32 = symmetric_info_nce(logits).into_scalar();
        let expected = (0.126_928 + std::f32::consts::LN_2 + 0.313_262 + 0.313_262) / 4.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn matching_pairs_far_apart_from_the_rest_cost_almost_nothing() {
        let device = Default::default();
        let texts = Tensor::<Flex, 2>::eye(3, &device);
        let scale = Tensor::<Flex, 1>::from_floats([50.0], &device);
        let good: f32 = symmetric_info_nce(logits(texts.clone(), texts.clone(), scale.clone())).into_scalar();
        assert!(good < 1e-6, "{good}");
        // Every text matched to the wrong image: at least the scale over the row.
        let shifted = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0], [3, 3]),
            &device,
        );
        let bad: f32 = symmetric_info_nce(logits(texts, shifted, scale)).into_scalar();
        assert!(bad > 49.0, "{bad}");
    }
}
