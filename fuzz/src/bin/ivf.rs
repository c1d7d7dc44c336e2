//! AFL target: `lookbook_fuzz::ivf`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::ivf(data));
}
