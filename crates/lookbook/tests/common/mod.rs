//! What the binary's integration tests share: running `lookbook`, a generated labelled
//! catalogue with a model small enough to train in seconds, and a `lookbook serve` process.
#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use image::{Rgb, RgbImage};

pub fn lookbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookbook"))
        .args(args)
        .output()
        .expect("binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `lookbook args` and fails the test with its stderr unless it succeeds.
pub fn lookbook_ok(args: &[&str]) -> Output {
    let out = lookbook(args);
    assert!(
        out.status.success(),
        "lookbook {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// 16 generated photos in a labelled list: 8 items × 2 colourways, striped tops and
/// checked bottoms, each item with its own blue level; `pattern` is an attribute column.
pub fn labelled_catalogue(root: &Path) {
    let mut csv = String::from("image,item_id,labels,pattern\n");
    for i in 0..16u32 {
        let item = i / 2;
        let striped = item % 2 == 0;
        let img = RgbImage::from_fn(64, 96, |x, y| {
            let band = if striped { (y / 8) % 2 == 0 } else { (x / 8) % 2 == 0 };
            let base = if band { 200 } else { 40 };
            Rgb([base, (base as u32 * (i % 2 + 1) / 3) as u8, (item * 30) as u8])
        });
        img.save(root.join(format!("{i}.png"))).unwrap();
        let (labels, pattern) = if striped {
            ("stripes|top", "striped")
        } else {
            ("checks|bottom", "checked")
        };
        csv.push_str(&format!("{i}.png,item{item},{labels},{pattern}\n"));
    }
    fs::write(root.join("list.csv"), csv).unwrap();
}

pub const TINY_CONFIG: &str = r#"
seed = 3
[model]
input_height = 96
input_width = 64
dropout = 0.0
region_height = 3
region_width = 2
codewords = 4
encoding_dim = 16
lstm_hidden = 16
steps = 2
[labels]
min_count = 1
[optimizer]
learning_rate = 1e-3
batch_size = 4
epochs = 1
[data]
threads = 1
"#;

/// Trains the tiny model on `catalogue` into `run` and indexes it into `index`.
pub fn train_and_index(catalogue: &Path, scratch: &Path, run: &Path, index: &Path) {
    let config = scratch.join("tiny.toml");
    fs::write(&config, TINY_CONFIG).unwrap();
    train(catalogue, &config, run);
    let (cat, run, index) = (
        catalogue.to_str().unwrap(),
        run.to_str().unwrap(),
        index.to_str().unwrap(),
    );
    lookbook_ok(&["-q", "index", "--model", run, "--catalog", cat, "--out", index]);
}

/// A temporary folder holding [`labelled_catalogue`] in `catalogue/`, the tiny model trained on
/// it in `run/` and its index in `index/`: what most server tests start from.
pub fn tiny_index() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    fs::create_dir_all(&catalogue).unwrap();
    labelled_catalogue(&catalogue);
    let (run, index) = (dir.path().join("run"), dir.path().join("index"));
    train_and_index(&catalogue, dir.path(), &run, &index);
    (dir, catalogue, index)
}

/// `lookbook train` on `catalogue` with the config file `config` into `run`.
pub fn train(catalogue: &Path, config: &Path, run: &Path) {
    lookbook_ok(&[
        "-q",
        "train",
        "--catalog",
        catalogue.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
}

/// A `lookbook serve` process on a free port of 127.0.0.1, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
}

impl Server {
    pub fn start(index: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookbook"))
            .args(["serve", "--index", index.to_str().unwrap(), "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lookbook serve starts");
        // The first line names the URL: "lookbook: serving N images of M items at http://ADDR/ ...".
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            panic!("lookbook serve printed no URL: `{line}`");
        };
        Server {
            url: url.trim_end_matches('/').to_string(),
            child,
        }
    }
}

impl Server {
    /// Sends SIGTERM (bash's builtin `kill`: no extra tool needed).
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("bash")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
    }

    /// The exit status once the process exits, or `None` if it still runs after `within`.
    pub fn exit_within(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() >= within {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `../shared/data/<name>` (or `$LOOKBOOK_DATA/<name>`); `None` with a printed reason outside
/// CI when it is absent, a failure in CI.
pub fn shared_data(name: &str) -> Option<std::path::PathBuf> {
    let root = std::env::var_os("LOOKBOOK_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = root.join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{} is missing in CI", dir.display());
    eprintln!("skipped: {} is not here", dir.display());
    None
}

/// A raw request (`request` is "METHOD PATH") and the whole answer, so the path reaches the
/// server exactly as written (clients normalise `..`).
pub fn raw_request(url: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{request} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The PostgreSQL server the tests use (`LOOKBOOK_PG_URL`, from scripts/postgres.sh start):
/// none outside CI when unset (the test skips, saying so); a failure in CI.
pub fn pg_server() -> Option<String> {
    match std::env::var("LOOKBOOK_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("LOOKBOOK_PG_URL is not set in CI (scripts/postgres.sh start)"),
        _ => {
            eprintln!("skipped: LOOKBOOK_PG_URL is not set (scripts/postgres.sh start prints it)");
            None
        }
    }
}

/// `base` with a table of this test process's own (tests run in parallel on one server).
pub fn pg_table_url(base: &str, table: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}table={table}_{}", std::process::id())
}
