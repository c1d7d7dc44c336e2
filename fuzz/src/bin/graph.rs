//! AFL target: `lookbook_fuzz::graph`.
fn main() {
    afl::fuzz!(|data: &[u8]| lookbook_fuzz::graph(data));
}
