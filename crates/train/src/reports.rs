//! What a step and an epoch report (the progress display, `metrics.csv`, a checkpoint's
//! history), and how they read in a log line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One optimisation step, as the progress display sees it.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    pub loss: f64,
    pub classification: f64,
    pub diversity: f64,
    pub localisation: f64,
    pub identity: f64,
    pub images_per_second: f64,
}

/// One epoch: mean training losses and validation metrics (a row of `metrics.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_images: usize,
    pub bad_images: usize,
    pub loss: f64,
    pub classification: f64,
    pub diversity: f64,
    pub localisation: f64,
    pub scale: f64,
    pub anchor: f64,
    pub positive: f64,
    /// Mean identity loss (0 when the config has none).
    #[serde(default)]
    pub identity: f64,
    pub val_images: usize,
    pub val_map: f64,
    pub val_prior_map: f64,
    pub val_queries: usize,
    pub val_top1: f64,
    pub val_top5: f64,
    pub val_top10: f64,
    /// The category column val top-k counts by, when no validation product has two photos
    /// (absent: the item id, another photo of the same product).
    #[serde(default)]
    pub val_by: Option<String>,
    /// By a category: precision@10 beside top-k.
    #[serde(default)]
    pub val_precision10: Option<f64>,
    pub seconds: f64,
}

impl StepReport {
    /// The losses and speed, for a progress bar's message.
    pub fn losses(&self) -> String {
        format!(
            "loss {:.4} (cls {:.4} div {:.4} loc {:.4}) {:.1} img/s",
            self.loss, self.classification, self.diversity, self.localisation, self.images_per_second
        )
    }
}

impl fmt::Display for StepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epoch {} step {}/{}: loss {:.4} (cls {:.4} div {:.4} loc {:.4} id {:.4}) {:.1} img/s",
            self.epoch + 1,
            self.step,
            self.steps,
            self.loss,
            self.classification,
            self.diversity,
            self.localisation,
            self.identity,
            self.images_per_second
        )
    }
}

impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match (&self.val_by, self.val_precision10) {
            (Some(column), Some(precision)) => format!(" by {column}, P@10 {precision:.3}"),
            (Some(column), None) => format!(" by {column}"),
            (None, _) => String::new(),
        };
        write!(
            f,
            "epoch {}: loss {:.4} | val mAP {:.4} (prior {:.4}) | top-1/5/10 {:.3}/{:.3}/{:.3}{by} ({} queries) | {:.0} s",
            self.epoch,
            self.loss,
            self.val_map,
            self.val_prior_map,
            self.val_top1,
            self.val_top5,
            self.val_top10,
            self.val_queries,
            self.seconds
        )
    }
}
