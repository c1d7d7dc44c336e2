//! Words → sub-word ids: a WordPiece vocabulary trained on the catalogue's own text (the
//! `tokenizers` crate, offline), BERT's normalisation (lower case, accents stripped, control
//! characters dropped) and pre-tokenisation (whitespace and punctuation split off; numbers are
//! words of their own, "20 den" → `20`, `den`). It also remembers every word the catalogue's
//! text used, so a query can say which of its words the encoder never saw.

use std::collections::BTreeSet;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Encoding, Model, PostProcessorWrapper, Tokenizer, TokenizerBuilder};

use crate::TextError;

pub const PAD: &str = "[PAD]";
pub const UNK: &str = "[UNK]";

/// A trained tokenizer and the words of the text it was trained on.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    known_words: BTreeSet<String>,
    max_tokens: usize,
    pad_id: u32,
}

/// A text as ids: at most `max_tokens` of them, and the text's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub ids: Vec<u32>,
    /// Each word as normalised (lower case, no accents), in order.
    pub words: Vec<String>,
}

fn tokenizer_error(error: impl ToString) -> TextError {
    TextError::Tokenizer(error.to_string())
}

impl TextTokenizer {
    /// A WordPiece vocabulary of at most `vocab_size` pieces learned from `corpus` (pieces seen
    /// at least twice); texts are cut to `max_tokens` pieces.
    pub fn train(corpus: &[String], vocab_size: usize, max_tokens: usize) -> Result<Self, TextError> {
        if corpus.iter().all(|t| t.trim().is_empty()) {
            return Err(TextError::Data("no text to train a tokenizer on".into()));
        }
        let mut trainer = WordPieceTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(PAD, true), AddedToken::from(UNK, true)])
            .build();
        let mut builder = TokenizerBuilder::<_, _, _, PostProcessorWrapper, _>::new()
            .with_model(WordPiece::default())
            .with_normalizer(Some(BertNormalizer::new(true, false, Some(true), true)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_decoder(Some(WordPieceDecoder::default()))
            .build()
            .map_err(tokenizer_error)?;
        builder.train(&mut trainer, corpus.iter()).map_err(tokenizer_error)?;
        let tokenizer: Tokenizer = builder
            .to_string(false)
            .map_err(tokenizer_error)?
            .parse()
            .map_err(tokenizer_error)?;
        let mut trained = TextTokenizer::new(tokenizer, BTreeSet::new(), max_tokens)?;
        let mut known = BTreeSet::new();
        for text in corpus {
            known.extend(trained.tokens(text)?.words);
        }
        trained.known_words = known;
        Ok(trained)
    }

    fn new(tokenizer: Tokenizer, known_words: BTreeSet<String>, max_tokens: usize) -> Result<Self, TextError> {
        let pad_id = tokenizer
            .token_to_id(PAD)
            .ok_or_else(|| tokenizer_error(format!("the vocabulary has no {PAD}")))?;
        Ok(TextTokenizer {
            tokenizer,
            known_words,
            max_tokens: max_tokens.max(1),
            pad_id,
        })
    }

    /// A tokenizer as [`TextTokenizer::to_json`] wrote it, with the known words.
    pub fn from_json(json: &str, known_words: BTreeSet<String>, max_tokens: usize) -> Result<Self, TextError> {
        let tokenizer: Tokenizer = json.parse().map_err(tokenizer_error)?;
        TextTokenizer::new(tokenizer, known_words, max_tokens)
    }

    /// The tokenizer as `tokenizer.json` (the format the `tokenizers` libraries read).
    pub fn to_json(&self) -> Result<String, TextError> {
        self.tokenizer.to_string(true).map_err(tokenizer_error)
    }

    pub fn known_words(&self) -> &BTreeSet<String> {
        &self.known_words
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_model().get_vocab_size()
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// `text`'s piece ids (at most `max_tokens`) and its words.
    pub fn tokens(&self, text: &str) -> Result<Tokens, TextError> {
        let encoding = self.tokenizer.encode(text, false).map_err(tokenizer_error)?;
        let mut ids = encoding.get_ids().to_vec();
        ids.truncate(self.max_tokens);
        Ok(Tokens {
            ids,
            words: words(&encoding, text),
        })
    }

    /// The words of `text` the training text never used (normalised, each once, in order): the
    /// encoder knows at most their pieces.
    pub fn unknown_words(&self, text: &str) -> Result<Vec<String>, TextError> {
        let mut unknown: Vec<String> = Vec::new();
        for word in self.tokens(text)?.words {
            if !self.known_words.contains(&word) && !unknown.contains(&word) {
                unknown.push(word);
            }
        }
        Ok(unknown)
    }

    /// The text back from ids (pieces joined), for tests and debugging.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        self.tokenizer.decode(ids, true).map_err(tokenizer_error)
    }
}

/// The normalised words of an encoding: each word's pieces joined, `##` continuations folded
/// in; a word with an unknown piece is read from `text` at its offsets, lower-cased.
fn words(encoding: &Encoding, text: &str) -> Vec<String> {
    let mut words: Vec<(u32, String, usize, usize, bool)> = Vec::new();
    let pieces = encoding
        .get_tokens()
        .iter()
        .zip(encoding.get_word_ids())
        .zip(encoding.get_offsets());
    for ((token, word), &(start, end)) in pieces {
        let Some(word) = *word else { continue };
        let piece = token.strip_prefix("##").unwrap_or(token);
        match words.last_mut() {
            Some(last) if last.0 == word => {
                last.1.push_str(piece);
                last.3 = end;
                last.4 |= token == UNK;
            }
            _ => words.push((word, piece.to_string(), start, end, token == UNK)),
        }
    }
    words
        .into_iter()
        .map(|(_, joined, start, end, unknown)| match unknown {
            true => text.get(start..end).map_or(joined, str::to_lowercase),
            false => joined,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let texts = [
            "Slightly shorter jumper in a soft, fine knit with long sleeves.",
            "Jumper in a soft knit with ribbing around the neckline, cuffs and hem.",
            "Fitted top in ribbed jersey with long sleeves.",
            "Short dress in a crêpe weave with a wrap front. 20 den.",
            "Wrap dress in woven fabric with a floral print.",
        ];
        texts.iter().cycle().take(40).map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_text_round_trips_through_its_pieces_lower_cased_and_split_at_punctuation() {
        let tokenizer = TextTokenizer::train(&corpus(), 400, 64).unwrap();
        let tokens = tokenizer.tokens("Soft JUMPER, ribbed knit.").unwrap();
        assert_eq!(tokens.words, vec!["soft", "jumper", ",", "ribbed", "knit", "."]);
        assert_eq!(tokenizer.decode(&tokens.ids).unwrap(), "soft jumper, ribbed knit.");
        // A character the text never had is an unknown piece; the word is read from the query.
        assert_eq!(tokenizer.tokens("Knit!").unwrap().words, vec!["knit", "!"]);
        // Accents are stripped, numbers are words.
        assert_eq!(
            tokenizer.tokens("Crêpe 20 den").unwrap().words,
            vec!["crepe", "20", "den"]
        );
        // Saved and read back, it encodes alike and keeps its words.
        let json = tokenizer.to_json().unwrap();
        let again = TextTokenizer::from_json(&json, tokenizer.known_words().clone(), 64).unwrap();
        assert_eq!(again.tokens("Soft JUMPER, ribbed knit.").unwrap(), tokens);
        assert_eq!(again.known_words(), tokenizer.known_words());
    }

    #[test]
    fn words_the_catalogue_never_used_are_reported_once_each() {
        let tokenizer = TextTokenizer::train(&corpus(), 400, 64).unwrap();
        assert_eq!(
            tokenizer
                .unknown_words("Floral wrap dress, xyzzy sequins, XYZZY")
                .unwrap(),
            vec!["xyzzy", "sequins"]
        );
        assert!(tokenizer.unknown_words("soft ribbed jumper").unwrap().is_empty());
        // A word made only of unseen letters still gets ids (pieces or [UNK]), never an error.
        let tokens = tokenizer.tokens("ωμέγα").unwrap();
        assert!(!tokens.ids.is_empty());
    }

    #[test]
    fn long_texts_are_cut_to_max_tokens_and_empty_corpora_refused() {
        let tokenizer = TextTokenizer::train(&corpus(), 400, 5).unwrap();
        let long = corpus().join(" ");
        assert_eq!(tokenizer.tokens(&long).unwrap().ids.len(), 5);
        assert!(matches!(
            TextTokenizer::train(&["  ".to_string()], 400, 5),
            Err(TextError::Data(_))
        ));
    }
}
