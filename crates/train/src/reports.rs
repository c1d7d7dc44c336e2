//! How a step and an epoch read in a log line.

use std::fmt;

use crate::trainer::{EpochReport, StepReport};

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
        write!(
            f,
            "epoch {}: loss {:.4} | val mAP {:.4} (prior {:.4}) | top-1/5/10 {:.3}/{:.3}/{:.3} ({} queries) | {:.0} s",
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
