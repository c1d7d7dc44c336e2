//! AFL target: `lookbook_fuzz::catalogue`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::catalogue(data));
}
