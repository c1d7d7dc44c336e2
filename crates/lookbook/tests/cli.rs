//! The `lookbook` binary end to end on generated folders.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

fn lookbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookbook"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Two items with two photos each, plus one text file pretending to be a JPEG.
fn folder_catalogue(root: &Path) {
    for (item, n) in [("dress-1", 2), ("coat-7", 2)] {
        fs::create_dir_all(root.join(item)).unwrap();
        for i in 0..n {
            RgbImage::from_fn(36, 54, |x, y| Rgb([x as u8 * 7, y as u8 * 4, i * 90]))
                .save(root.join(item).join(format!("{i}.png")))
                .unwrap();
        }
    }
    fs::write(root.join("coat-7/broken.jpg"), "not an image").unwrap();
}

#[test]
fn inspect_reports_format_items_and_splits_as_json() {
    let dir = tempfile::tempdir().unwrap();
    folder_catalogue(dir.path());
    let out = lookbook(&["catalog", "inspect", dir.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["format"], "folder");
    assert_eq!(report["images"], 5);
    assert_eq!(report["items"], 2);
    let splits: u64 = report["splits"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(splits, 5);
    let text = lookbook(&["catalog", "inspect", dir.path().to_str().unwrap()]);
    assert!(stdout(&text).contains("images       5"), "{}", stdout(&text));
}

#[test]
fn check_lists_bad_files_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    folder_catalogue(dir.path());
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap(), "--size", "48x32"]);
    assert_eq!(out.status.code(), Some(1), "a bad image makes check fail");
    let text = stdout(&out);
    assert!(text.contains("4 decoded, 1 bad"), "{text}");
    assert!(text.contains("broken.jpg: not a supported image"), "{text}");

    let out = lookbook(&["-q", "catalog", "check", dir.path().to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["decoded"], 4);
    assert_eq!(report["bad"].as_array().unwrap().len(), 1);

    fs::remove_file(dir.path().join("coat-7/broken.jpg")).unwrap();
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn clear_errors_for_bad_arguments() {
    let out = lookbook(&["catalog", "inspect", "/nonexistent/catalogue"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/catalogue is not a folder"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = lookbook(&[
        "catalog",
        "inspect",
        dir.path().to_str().unwrap(),
        "--format",
        "parquet",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown catalogue format"));
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap(), "--size", "384"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HxW"));
    for sub in [
        &["--help"][..],
        &["catalog", "--help"],
        &["catalog", "inspect", "--help"],
        &["catalog", "check", "--help"],
    ] {
        let out = lookbook(sub);
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{sub:?}");
    }
}
