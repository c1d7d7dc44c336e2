//! What every bench's `main` shares: its flags, `--name value` after `cargo bench … --`.
//! Included by path (`#[path = "../../../benches/support/args.rs"] mod args;`): benches are
//! single files, and a crate for twenty lines would be heavier than the lines.

/// The bench's command line.
pub struct BenchArgs(Vec<String>);

#[allow(dead_code)] // each bench uses what it needs
impl BenchArgs {
    pub fn from_env() -> Self {
        BenchArgs(std::env::args().skip(1).collect())
    }

    /// The value after `flag`, if given.
    pub fn value(&self, flag: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// Whether `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    /// The number after `flag`, or `default` when it is absent or not a number.
    pub fn number<T: std::str::FromStr>(&self, flag: &str, default: T) -> T {
        self.value(flag).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}
