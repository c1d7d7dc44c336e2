//! Reads from a streaming standby (issue 22): a primary and a hot standby made by
//! `pg_basebackup -R`, both private servers from the same PostgreSQL install on loopback. A
//! server whose `--index` lists both hosts with `target_session_attrs=read-only` connects to the
//! standby only, answers from it, and after an `index add` on the primary (once the standby has
//! replayed it) answers with the new photo; a server reading the standby commits its write
//! routes to the primary (`--write-index`); a write to the standby is refused with the reason.

mod common;
#[path = "../../pgvector/tests/support/private_server.rs"]
mod private_server;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, labelled_catalogue, lookbook, lookbook_ok, pg_server, stdout};
use image::{Rgb, RgbImage};
use private_server::PrivateServer;

fn get_json(client: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    client.get(url).send().unwrap().json().unwrap()
}

/// Waits until `done` holds, for at most `within`.
fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_on_a_standby_answers_with_the_primarys_rows_after_an_add() {
    if pg_server().is_none() {
        return;
    }
    let Some(primary) = PrivateServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    std::fs::create_dir(&catalogue).unwrap();
    labelled_catalogue(&catalogue);
    let table = "replicated";
    let primary_url = primary.url(table);
    lookbook_ok(&[
        "-q",
        "index",
        "--baseline",
        "histogram",
        "--catalog",
        catalogue.to_str().unwrap(),
        "--ann",
        "hnsw",
        "--out",
        &primary_url,
    ]);
    let standby = primary.standby();
    assert_eq!(standby.sql("SELECT pg_is_in_recovery()"), "t");
    assert_eq!(primary.sql("SELECT pg_is_in_recovery()"), "f");

    // Both hosts, the primary first: the driver skips it for the read-only standby.
    let read_url = format!(
        "postgres://lookbook@127.0.0.1:{},127.0.0.1:{}/lookbook?target_session_attrs=read-only&application_name=lookbook_reader&table={table}",
        primary.port, standby.port
    );
    let server = Server::start(Path::new(&read_url), &["--follow-every", "0.2"]);
    let client = reqwest::blocking::Client::new();
    let health = get_json(&client, &format!("{}/api/health", server.url));
    assert_eq!(health["images"], 16, "{health}");
    let readers = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lookbook_reader'";
    assert_ne!(standby.sql(readers), "0", "the server reads from the standby");
    // The driver's probe of the primary (found writable, so closed) can still be listed for a
    // moment while its backend exits; a reader that stays there is the failure.
    wait_for(Duration::from_secs(5), "no reader left on the primary", || {
        primary.sql(readers) == "0"
    });
    let search = |item: &str| -> serde_json::Value {
        client
            .post(format!("{}/api/search", server.url))
            .json(&serde_json::json!({"item_id": item, "k": 3}))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(search("item0")["results"].as_array().map(Vec::len), Some(3));

    // A photo added to the catalogue, as a new item of its own, then to the index on the primary.
    let photo = catalogue.join("new.png");
    RgbImage::from_fn(64, 96, |x, _| Rgb([(x * 4) as u8, 90, 200]))
        .save(&photo)
        .unwrap();
    let list = catalogue.join("list.csv");
    let csv = std::fs::read_to_string(&list).unwrap() + "new.png,fresh,stripes|top,striped\n";
    std::fs::write(&list, csv).unwrap();
    let out = stdout(&lookbook_ok(&[
        "-q",
        "index",
        "add",
        "--index",
        &primary_url,
        photo.to_str().unwrap(),
    ]));
    assert!(out.contains("1 images embedded (1 new"), "{out}");
    let written = primary.sql("SELECT pg_current_wal_lsn()");
    wait_for(Duration::from_secs(20), "the standby replays the add", || {
        standby.sql(&format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn")) == "t"
    });
    wait_for(Duration::from_secs(10), "the server follows the standby", || {
        get_json(&client, &format!("{}/api/health", server.url))["images"] == 17
    });
    let page = get_json(&client, &format!("{}/api/items?limit=100", server.url));
    let items: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert!(items.contains(&"fresh"), "the added item is listed: {items:?}");
    assert_eq!(search("fresh")["results"].as_array().map(Vec::len), Some(3));

    // A server reading the standby commits its write routes' changes to the primary
    // (`--write-index`), and answers with them once the standby has replayed them.
    let token = dir.path().join("token");
    std::fs::write(&token, "replica-token-0123456789abcdef\n").unwrap();
    let writer = Server::start(
        Path::new(&read_url),
        &[
            "--follow-every",
            "0.2",
            "--write-token-file",
            token.to_str().unwrap(),
            "--write-index",
            &primary_url,
        ],
    );
    let upload = reqwest::blocking::multipart::Form::new()
        .text("item_id", "uploaded")
        .part(
            "image",
            reqwest::blocking::multipart::Part::bytes(std::fs::read(&photo).unwrap()).file_name("photo.png"),
        );
    let response = client
        .post(format!("{}/api/items", writer.url))
        .header("Authorization", "Bearer replica-token-0123456789abcdef")
        .multipart(upload)
        .send()
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().unwrap();
    assert!(status.is_success(), "{status}: {body}");
    assert_eq!(body["added"], 1, "{body}");
    let on_primary = format!("SELECT count(*) FROM {table} WHERE item_id = 'uploaded'");
    assert_eq!(primary.sql(&on_primary), "1");
    wait_for(Duration::from_secs(20), "both servers answer with the upload", || {
        [&server, &writer]
            .iter()
            .all(|s| get_json(&client, &format!("{}/api/health", s.url))["images"] == 18)
    });

    // Writing to the standby says why it cannot.
    let standby_url = standby.url(table);
    let refused = lookbook(&["-q", "index", "remove", "--index", &standby_url, "--item", "item0"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("read-only transaction"), "{stderr}");
}
