//! Which backend a run uses (`--device cpu|cuda[:N]`), and whether a CUDA device can be
//! used here at all.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// Where tensors live: the CPU (burn's `flex` backend) or a CUDA GPU by ordinal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => match text.strip_prefix("cuda:") {
                Some(ordinal) => ordinal
                    .parse()
                    .map(Self::Cuda)
                    .map_err(|_| format!("`{text}`: the CUDA ordinal must be a number, as in cuda:1")),
                None => Err(format!("`{text}`: expected cpu, cuda or cuda:N")),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// The error for `--device cuda` in a build without the `cuda` feature.
pub fn cuda_not_built(choice: DeviceChoice) -> ModelError {
    ModelError::Device(format!(
        "--device {choice}: this lookbook was built without CUDA; rebuild with `cargo build --release --features cuda`"
    ))
}

/// Fails with a clear message when the CUDA driver library cannot be loaded: burn's CUDA
/// backend would otherwise panic on a background thread (cudarc's "Unable to dynamically
/// load the \"cuda\" shared library"). Built without the feature too, so it is tested everywhere.
pub fn probe_cuda(choice: DeviceChoice) -> Result<(), ModelError> {
    for name in ["libcuda.so.1", "libcuda.so"] {
        // SAFETY: loading the driver runs its initialisers, exactly as cudarc does next;
        // the handle is dropped (unloaded) right away.
        if unsafe { libloading::Library::new(name) }.is_ok() {
            return Ok(());
        }
    }
    Err(ModelError::Device(format!(
        "--device {choice}: the CUDA driver library (libcuda.so.1) was not found: this machine has no NVIDIA \
         driver, or LD_LIBRARY_PATH does not reach it"
    )))
}

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn parses_cpu_and_cuda_ordinals() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:2".parse(), Ok(DeviceChoice::Cuda(2)));
        assert!("cuda:x".parse::<DeviceChoice>().unwrap_err().contains("ordinal"));
        assert!("tpu".parse::<DeviceChoice>().unwrap_err().contains("expected cpu"));
        assert_eq!(DeviceChoice::Cuda(1).to_string(), "cuda:1");
    }

    #[test]
    fn a_machine_without_the_cuda_driver_gets_a_clear_error() {
        match super::probe_cuda(DeviceChoice::Cuda(0)) {
            // A machine with an NVIDIA driver: the library loaded.
            Ok(()) => {}
            Err(err) => {
                let message = err.to_string();
                assert!(message.contains("--device cuda:0"), "{message}");
                assert!(message.contains("libcuda.so.1"), "{message}");
            }
        }
    }
}
