//! AFL target: `lookbook_fuzz::image`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::image(data));
}
