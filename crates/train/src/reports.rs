//! What a step and an epoch report (the progress display, `metrics.csv`, a checkpoint's
//! history), and how they read in a log line.

use std::fmt;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

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

/// `metrics.csv`, rewritten whole (temp file + rename) after every epoch.
pub(crate) fn write_metrics_csv(run_dir: &Path, history: &[EpochReport]) -> Result<(), TrainError> {
    let mut text = String::from(
        "epoch,train_images,bad_images,loss,classification,diversity,localisation,scale,anchor,positive,\
         identity,val_images,val_map,val_prior_map,val_queries,val_top1,val_top5,val_top10,seconds,val_by,\
         val_precision10\n",
    );
    for r in history {
        text.push_str(&format!(
            "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{:.4},{:.4},{},{:.4},{:.4},{:.4},{:.1},{},{}\n",
            r.epoch,
            r.train_images,
            r.bad_images,
            r.loss,
            r.classification,
            r.diversity,
            r.localisation,
            r.scale,
            r.anchor,
            r.positive,
            r.identity,
            r.val_images,
            r.val_map,
            r.val_prior_map,
            r.val_queries,
            r.val_top1,
            r.val_top5,
            r.val_top10,
            r.seconds,
            // "item" (another photo of the product is a hit) or the category column.
            r.val_by.as_deref().unwrap_or("item"),
            r.val_precision10.map_or(String::new(), |p| format!("{p:.4}")),
        ));
    }
    let path = run_dir.join("metrics.csv");
    let tmp = run_dir.join("metrics.csv.tmp");
    fs::write(&tmp, text).map_err(|e| TrainError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))
}
