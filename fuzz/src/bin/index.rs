//! AFL target: `lookbook_fuzz::index`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::index(data));
}
