//! A private PostgreSQL in a temporary folder (initdb, pg_ctl from `LOOKBOOK_PG_BIN`), which a
//! test may stop, restart, or give a streaming standby. Shared by the pgvector crate's tests
//! and the binary's (`#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private PostgreSQL in a temporary folder, which this test may stop and start.
pub struct PrivateServer {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL binary, run as `nobody` when we are root (PostgreSQL refuses root).
fn pg_command(bin: &Path, program: &str) -> Command {
    if as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
        c.arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn pg(bin: &Path, program: &str, args: &[&str]) {
    let output = pg_command(bin, program)
        .args(args)
        .output()
        .expect("run a PostgreSQL binary");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivateServer {
    pub fn start() -> Option<PrivateServer> {
        let bin = match std::env::var("LOOKBOOK_PG_BIN") {
            Ok(bin) if !bin.is_empty() => PathBuf::from(bin),
            _ if std::env::var_os("CI").is_some() => {
                panic!("LOOKBOOK_PG_BIN is not set in CI (scripts/postgres.sh start)")
            }
            _ => {
                eprintln!("skipped: LOOKBOOK_PG_BIN is not set (scripts/postgres.sh start prints it)");
                return None;
            }
        };
        let (dir, data) = data_folder();
        pg(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "lookbook",
                "--auth=trust",
                "--locale=C",
            ],
        );
        let port = free_port();
        let server = PrivateServer {
            bin,
            data,
            port,
            _dir: dir,
        };
        server.run();
        pg(
            &server.bin,
            "createdb",
            &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "lookbook", "lookbook"],
        );
        Some(server)
    }

    /// A hot standby of this server, streaming its WAL (`pg_basebackup -R`: a base backup that
    /// starts as a standby of this one), started on a port of its own.
    pub fn standby(&self) -> PrivateServer {
        let (dir, data) = data_folder();
        let mut args = self.client_args();
        args.extend(["-D", data.to_str().unwrap(), "-R", "-X", "stream", "-c", "fast"].map(String::from));
        pg(
            &self.bin,
            "pg_basebackup",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let standby = PrivateServer {
            bin: self.bin.clone(),
            data,
            port: free_port(),
            _dir: dir,
        };
        standby.run();
        standby
    }

    /// The result of one SQL statement's first column, as text (`psql -Atc`).
    pub fn sql(&self, statement: &str) -> String {
        let output = pg_command(&self.bin, "psql")
            .args(self.client_args())
            .args(["-Atc", statement, "lookbook"])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{statement}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// How a client program reaches this server: `-h 127.0.0.1 -p PORT -U lookbook`.
    fn client_args(&self) -> Vec<String> {
        ["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "lookbook"]
            .map(String::from)
            .to_vec()
    }

    pub fn run(&self) {
        let options = format!("-h 127.0.0.1 -p {} -k ''", self.port);
        let log = format!("{}/server.log", self.data.display());
        pg(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// As a crash or a power cut would: no shutdown checkpoint, recovery on the next start.
    pub fn stop_now(&self) {
        pg(
            &self.bin,
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }

    pub fn url(&self, table: &str) -> String {
        format!("postgres://lookbook@127.0.0.1:{}/lookbook?table={table}", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A temporary folder with an empty data folder PostgreSQL may own (as `nobody` when we are root).
fn data_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let chmod = |path: &Path, mode: &str| Command::new("chmod").arg(mode).arg(path).status().unwrap();
    chmod(dir.path(), "755");
    chmod(&data, "700");
    if as_root() {
        assert!(
            Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&data)
                .status()
                .unwrap()
                .success()
        );
    }
    (dir, data)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
