//! AFL target: `lookbook_fuzz::pth`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::pth(data));
}
