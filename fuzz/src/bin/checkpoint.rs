//! AFL target: `lookbook_fuzz::checkpoint`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::checkpoint(data));
}
