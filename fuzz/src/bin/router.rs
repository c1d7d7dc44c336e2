//! AFL target: `lookbook_fuzz::router`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookbook_fuzz::router(data);
    });
}
