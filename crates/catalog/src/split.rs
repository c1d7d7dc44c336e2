//! Deterministic train/val/test splits by item id, for catalogues without their own.
//!
//! The split is a function of the item id alone, so every photo of an item lands in
//! the same split (no item is trained on and tested on), and adding or removing
//! other items never moves an item to another split.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::entry::Split;
use crate::error::CatalogError;

/// Fractions of items in each split; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitFractions {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        SplitFractions {
            train: 0.7,
            val: 0.1,
            test: 0.2,
        }
    }
}

/// `train,val,test`, e.g. `0.7,0.1,0.2`, each in 0..1 and summing to 1.
impl std::str::FromStr for SplitFractions {
    type Err = CatalogError;

    fn from_str(text: &str) -> Result<Self, CatalogError> {
        let parts: Vec<f64> = text.split(',').filter_map(|p| p.trim().parse::<f64>().ok()).collect();
        let [train, val, test] = parts[..] else {
            return Err(CatalogError::FractionsText(text.to_string()));
        };
        let fractions = SplitFractions { train, val, test };
        fractions.validate()?;
        Ok(fractions)
    }
}

impl SplitFractions {
    pub fn validate(&self) -> Result<(), CatalogError> {
        let parts = [self.train, self.val, self.test];
        let ok = parts.iter().all(|f| (0.0..=1.0).contains(f)) && (parts.iter().sum::<f64>() - 1.0).abs() < 1e-6;
        if ok {
            Ok(())
        } else {
            Err(CatalogError::BadFractions {
                train: self.train,
                val: self.val,
                test: self.test,
            })
        }
    }
}

/// Resolution of the hash → [0, 1) mapping; fine enough for any fraction written by hand.
const BUCKETS: u64 = 1_000_000;

/// The split of `item_id`: XXH3-64 of its UTF-8 bytes (a fixed, documented algorithm,
/// so splits are the same on every machine and release) mapped onto [0, 1).
pub fn split_for_item(item_id: &str, fractions: &SplitFractions) -> Split {
    let u = (xxh3_64(item_id.as_bytes()) % BUCKETS) as f64 / BUCKETS as f64;
    if u < fractions.train {
        Split::Train
    } else if u < fractions.train + fractions.val {
        Split::Val
    } else {
        Split::Test
    }
}
