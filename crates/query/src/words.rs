//! Word queries (issue 23): the engine's text model turns words into a vector of the index's
//! space — alone, or mixed into a photo's ("like this, but red").

use std::sync::Arc;

use lookbook_text::{TextError, TextModel, TextVector};

use crate::engine::{Engine, Resolved};
use crate::error::QueryError;

impl Engine {
    /// The engine with a text model for word queries; it must map into this index's model's
    /// vectors.
    pub fn with_text(mut self, text: Arc<TextModel>) -> Result<Self, QueryError> {
        let info = self.info();
        text.fits(info.dim, &info.model)
            .map_err(|error| QueryError::Unavailable(error.to_string()))?;
        self.text = Some(text);
        Ok(self)
    }

    /// Whether words can be queried (a text model is loaded).
    pub fn searches_text(&self) -> bool {
        self.text.is_some()
    }

    /// The query's vector moved towards `text`'s: (1 − weight)·query + weight·words.
    pub(crate) fn mix_words(&self, query: &mut Resolved, text: &str, weight: f32) -> Result<(), QueryError> {
        if !(0.0..=1.0).contains(&weight) {
            return Err(QueryError::BadRequest(format!(
                "the text's weight is in 0..1, not {weight}"
            )));
        }
        let words = self.words(text)?;
        query.vector = mix(&query.vector, &words.vector, weight);
        query.info.text = Some(text.to_string());
        query.info.unknown_words = words.unknown_words;
        Ok(())
    }

    /// Words as a vector in the index's space, and the words the text model never saw.
    pub(crate) fn words(&self, text: &str) -> Result<TextVector, QueryError> {
        let model = self.text.as_ref().ok_or_else(|| {
            QueryError::Unavailable(
                "no text model is loaded: train one with `lookbook text train` (or give --text-model)".into(),
            )
        })?;
        model.embed(text).map_err(|error| match error {
            TextError::Data(message) => QueryError::BadRequest(message),
            error => QueryError::Internal(error.to_string()),
        })
    }
}

/// `(1 − weight)·photo + weight·words`, at the photo vector's length (the index's vectors all
/// have one length, and a distance means most at it).
pub(crate) fn mix(photo: &[f32], words: &[f32], weight: f32) -> Vec<f32> {
    let length = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mixed: Vec<f32> = photo
        .iter()
        .zip(words)
        .map(|(p, w)| (1.0 - weight) * p + weight * w)
        .collect();
    let scale = length(photo) / length(&mixed).max(1e-12);
    mixed.into_iter().map(|x| x * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_weighs_the_words_and_keeps_the_photo_vectors_length() {
        let photo = [2.0, 0.0];
        let words = [0.0, 2.0];
        assert_eq!(mix(&photo, &words, 0.0), vec![2.0, 0.0]);
        let half = mix(&photo, &words, 0.5);
        let s = 2.0f32.sqrt();
        assert!((half[0] - s).abs() < 1e-6 && (half[1] - s).abs() < 1e-6, "{half:?}");
        let most = mix(&photo, &words, 0.9);
        assert!(
            most[1] > most[0] && (most[0].hypot(most[1]) - 2.0).abs() < 1e-5,
            "{most:?}"
        );
    }
}
