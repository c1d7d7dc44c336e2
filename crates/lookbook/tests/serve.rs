//! `lookbook serve` against a real server on 127.0.0.1: every route, the limits, the errors,
//! responses validated against the server's own OpenAPI document; and the web page driven in
//! headless Chromium on real H&M photos.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Server, labelled_catalogue, shared_data, train_and_index};
use image::{Rgb, RgbImage};
use reqwest::blocking::{Client, Response, multipart};
use serde_json::{Value, json};

/// The OpenAPI document, and a check of a response against the schema it gives for
/// `method path` and the response's status.
struct Contract {
    doc: Value,
}

impl Contract {
    /// `route` is the documented pattern (`/api/items/{id}`); fails when the status is not
    /// documented for it, or the JSON body does not match its schema.
    fn check(&self, method: &str, route: &str, status: u16, body: &Value) {
        let operation = &self.doc["paths"][route][method];
        assert!(operation.is_object(), "{method} {route} is not in the OpenAPI document");
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {route} answered {status}, which the document does not list: {body}"
        );
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {route} {status} has no JSON schema");
        // The schema with the document's components beside it, so its `$ref`s resolve.
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {route} {status} does not match the document: {errors:?}\n{body}"
        );
    }
}

fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({content_type}): {text}"));
    assert!(content_type.starts_with("application/json"), "{content_type}");
    (status, body)
}

fn raw_get(url: &str, path: &str) -> String {
    common::raw_request(url, &format!("GET {path}"))
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn upload(client: &Client, url: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Response {
    let mut form = multipart::Form::new().part("image", multipart::Part::bytes(bytes).file_name("photo.png"));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    client.post(url).multipart(form).send().unwrap()
}

#[test]
fn every_route_answers_as_its_openapi_document_says_and_bad_requests_get_json_errors() {
    let (dir, catalogue, index) = common::tiny_index();
    // Small caps so the limits are cheap to hit; one inference slot so requests queue.
    let server = Server::start(
        &index,
        &[
            "--max-upload-mib",
            "1",
            "--max-megapixels",
            "0.5",
            "--inference-slots",
            "1",
        ],
    );
    let url = &server.url;
    let client = Client::new();

    // The document, and that it names exactly the routes the server has.
    let (status, doc) = json_of(client.get(format!("{url}/api/openapi.json")).send().unwrap());
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| format!("{m} {path}")))
        .collect();
    let routes: BTreeSet<String> = [
        "get /api/health",
        "get /api/attributes",
        "get /api/items",
        "get /api/items/{id}",
        "get /images/{id}",
        "post /api/search",
        "post /api/recommend",
        "get /api/openapi.json",
        "get /metrics",
    ]
    .map(String::from)
    .into();
    assert_eq!(documented, routes);
    let contract = Contract { doc };

    // Health.
    let (status, health) = json_of(client.get(format!("{url}/api/health")).send().unwrap());
    contract.check("get", "/api/health", status, &health);
    assert_eq!(
        (health["images"].as_u64(), health["items"].as_u64()),
        (Some(16), Some(8))
    );
    assert_eq!(health["embeds_photos"], true);
    assert_eq!(health["explains"], true, "the tiny seed model has 2 attention steps");

    // Attributes and items.
    let (status, attributes) = json_of(client.get(format!("{url}/api/attributes")).send().unwrap());
    contract.check("get", "/api/attributes", status, &attributes);
    let pattern = attributes
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attribute"] == "pattern")
        .expect("the pattern column");
    assert_eq!(pattern["distinct"], 2);
    assert_eq!(pattern["values"][0]["images"], 8);
    let (status, page) = json_of(client.get(format!("{url}/api/items?limit=5")).send().unwrap());
    contract.check("get", "/api/items", status, &page);
    assert_eq!(
        (page["total"].as_u64(), page["items"].as_array().unwrap().len()),
        (Some(8), 5)
    );
    let (_, striped) = json_of(
        client
            .get(format!("{url}/api/items?pattern=striped&offset=1"))
            .send()
            .unwrap(),
    );
    assert_eq!(striped["total"], 4);
    assert_eq!(striped["items"].as_array().unwrap().len(), 3);
    assert!(
        striped["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["attributes"]["pattern"] == "striped")
    );
    // Any whole number is an offset, as the document says: past the end is an empty page.
    let (status, beyond) = json_of(
        client
            .get(format!("{url}/api/items?offset=2791199884502063129231095758848"))
            .send()
            .unwrap(),
    );
    contract.check("get", "/api/items", status, &beyond);
    assert_eq!(
        (status, beyond["items"].as_array().unwrap().len()),
        (200, 0),
        "{beyond}"
    );
    for bad in ["colour=Teal", "limit=many", "offset=-1"] {
        let (status, body) = json_of(client.get(format!("{url}/api/items?{bad}")).send().unwrap());
        assert_eq!(status, 400, "{bad}: {body}");
        contract.check("get", "/api/items", status, &body);
    }
    let (status, item) = json_of(client.get(format!("{url}/api/items/item2")).send().unwrap());
    contract.check("get", "/api/items/{id}", status, &item);
    assert_eq!(item["images"].as_array().unwrap().len(), 2);
    assert_eq!(item["attributes"]["pattern"], "striped");
    let (status, body) = json_of(client.get(format!("{url}/api/items/no-such-item")).send().unwrap());
    assert_eq!(status, 404);
    contract.check("get", "/api/items/{id}", status, &body);
    assert!(body["error"].as_str().unwrap().contains("no-such-item"));

    // Images: by id only; the bytes are the catalogue file's.
    let image_url = item["images"][0]["url"].as_str().unwrap();
    let served = client.get(format!("{url}{image_url}")).send().unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    let image_types = &contract.doc["paths"]["/images/{id}"]["get"]["responses"]["200"]["content"];
    assert!(
        image_types.get("image/*").is_some(),
        "the document says photos are image/*: {image_types}"
    );
    let bytes = served.bytes().unwrap();
    let on_disk = ["4.png", "5.png"].map(|f| fs::read(catalogue.join(f)).unwrap());
    assert!(on_disk.iter().any(|f| f[..] == bytes[..]), "an image of item2");
    let (status, body) = json_of(client.get(format!("{url}/images/12345")).send().unwrap());
    assert_eq!(status, 404);
    contract.check("get", "/images/{id}", status, &body);
    // Path traversal, raw and encoded: 404, and nothing from outside the index.
    fs::write(dir.path().join("secret.txt"), "not for the web").unwrap();
    for path in [
        "/images/../secret.txt",
        "/images/..%2Fsecret.txt",
        "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/images/..%2F..%2F..%2Fetc%2Fpasswd",
        "/images/4.png",
        "/images/%2Fetc%2Fpasswd",
    ] {
        let answer = raw_get(url, path);
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(
            !answer.contains("not for the web") && !answer.contains("root:"),
            "{path}: {answer}"
        );
    }

    // Search by item id: the item's own images are left out; boxes are fractions of the photo.
    let (status, answer) = json_of(
        client
            .post(format!("{url}/api/search"))
            .json(&json!({"item_id": "item2", "k": 5}))
            .send()
            .unwrap(),
    );
    contract.check("post", "/api/search", status, &answer);
    assert_eq!(status, 200);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r["item_id"] != "item2"));
    let distances: Vec<f64> = results.iter().map(|r| r["distance"].as_f64().unwrap()).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    assert_eq!(answer["query"]["item_id"], "item2");
    assert_eq!(
        answer["query"]["regions"].as_array().unwrap().len(),
        2,
        "one box per attention step"
    );
    for b in answer["query"]["regions"].as_array().unwrap() {
        let b: Vec<f64> = b["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            b.iter().all(|v| (0.0..=1.0).contains(v)) && b[0] < b[2] && b[1] < b[3],
            "{b:?}"
        );
    }
    for r in results {
        assert_eq!(r["matched"], "part", "a search result is matched by its nearest part");
        assert!(r["box"].as_array().is_some_and(|b| b.len() == 4), "{r}");
        assert!(r["image"]["url"].as_str().unwrap().starts_with("/images/"));
    }
    // Without boxes: the same list, no boxes.
    let (status, plain) = json_of(
        client
            .post(format!("{url}/api/search"))
            .json(&json!({"item_id": "item2", "k": 5, "boxes": false}))
            .send()
            .unwrap(),
    );
    contract.check("post", "/api/search", status, &plain);
    let ids = |a: &Value| -> Vec<Value> {
        a["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["image"]["id"].clone())
            .collect()
    };
    assert_eq!(ids(&plain), ids(&answer));
    assert!(plain["results"].as_array().unwrap().iter().all(|r| r["box"].is_null()));
    assert!(plain["query"]["regions"].as_array().unwrap().is_empty());
    // With a filter every result has the value.
    let (status, answer) = json_of(
        client
            .post(format!("{url}/api/search"))
            .json(&json!({"item_id": "item2", "k": 10, "filter": {"pattern": "checked"}}))
            .send()
            .unwrap(),
    );
    contract.check("post", "/api/search", status, &answer);
    assert_eq!(answer["results"].as_array().unwrap().len(), 8, "every checked image");
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["attributes"]["pattern"] == "checked")
    );

    // Search by upload: the same photo comes back first.
    let photo = fs::read(catalogue.join("5.png")).unwrap();
    let (status, answer) = json_of(upload(
        &client,
        &format!("{url}/api/search"),
        photo.clone(),
        &[("k", "3")],
    ));
    contract.check("post", "/api/search", status, &answer);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["item_id"], "item2");
    assert!(answer["results"][0]["distance"].as_f64().unwrap() < 1e-3);
    assert_eq!(answer["query"]["item_id"], Value::Null);
    assert_eq!(answer["query"]["regions"].as_array().unwrap().len(), 2);
    // The form's fields may be left out but are never null (a form has no null), as the
    // document says: `null` is a 400 naming the field, and so is a field it does not list.
    let form = &contract.doc["components"]["schemas"]["UploadForm"];
    assert_eq!(form["additionalProperties"], false, "{form}");
    assert_eq!(form["required"], json!(["image"]), "{form}");
    for field in ["k", "boxes"] {
        assert_eq!(
            form["properties"][field]["type"].as_str(),
            Some(if field == "k" { "integer" } else { "boolean" }),
            "{form}"
        );
        let (status, body) = json_of(upload(
            &client,
            &format!("{url}/api/search"),
            photo.clone(),
            &[(field, "null")],
        ));
        contract.check("post", "/api/search", status, &body);
        assert_eq!(status, 400, "{field}=null: {body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{body}");
    }
    let (status, body) = json_of(upload(
        &client,
        &format!("{url}/api/search"),
        photo.clone(),
        &[("dversity", "1")],
    ));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("dversity"), "{body}");

    // Recommend: one image per item, λ echoed; by id and by upload with a filter.
    for lambda in [0.0, 1.0] {
        let (status, answer) = json_of(
            client
                .post(format!("{url}/api/recommend"))
                .json(&json!({"item_id": "item3", "k": 4, "diversity": lambda}))
                .send()
                .unwrap(),
        );
        contract.check("post", "/api/recommend", status, &answer);
        assert_eq!(answer["mode"], "recommend");
        assert_eq!(answer["diversity"], lambda);
        let items: BTreeSet<&str> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item_id"].as_str().unwrap())
            .collect();
        assert_eq!(items.len(), 4, "four different items");
        assert!(!items.contains("item3"));
    }
    let (status, answer) = json_of(upload(
        &client,
        &format!("{url}/api/recommend"),
        photo.clone(),
        &[("k", "3"), ("diversity", "0.7"), ("filter", "pattern=checked")],
    ));
    contract.check("post", "/api/recommend", status, &answer);
    assert_eq!(answer["results"].as_array().unwrap().len(), 3);
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["attributes"]["pattern"] == "checked")
    );

    // A real catalogue photo cut at 90% of its bytes (a generated JPEG without the data).
    let jpeg = match common::shared_data("hm") {
        Some(hm) => fs::read(hm.join("images/011/0111565001.jpg")).unwrap(),
        None => {
            let mut bytes = Vec::new();
            RgbImage::from_fn(90, 135, |x, y| Rgb([(x * 2) as u8, (y * 3 % 256) as u8, 100]))
                .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
                .unwrap();
            bytes
        }
    };
    // Malformed requests: a JSON error with the right 4xx, as documented.
    let requests: Vec<(u16, &str, Response)> = vec![
        (
            400,
            "truncated JPEG",
            upload(
                &client,
                &format!("{url}/api/search"),
                jpeg[..jpeg.len() * 9 / 10].to_vec(),
                &[],
            ),
        ),
        (
            404,
            "unknown item",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": "nope"}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "k = 0",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": "item2", "k": 0}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "λ > 1",
            client
                .post(format!("{url}/api/recommend"))
                .json(&json!({"item_id": "item2", "diversity": 1.5}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "λ > 1 on a search (the document's range holds on both routes)",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": "item2", "diversity": 1.5}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "text weight > 1 without words",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": "item2", "text_weight": 1.5}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "text weight past f32 in a form (schemathesis' case)",
            upload(
                &client,
                &format!("{url}/api/recommend"),
                photo.clone(),
                &[("text_weight", "1.743169108894947e+307")],
            ),
        ),
        (
            400,
            "a number given twice in a form",
            upload(
                &client,
                &format!("{url}/api/search"),
                photo.clone(),
                &[("k", "3"), ("k", "4")],
            ),
        ),
        (
            400,
            "unknown attribute",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": "item2", "filter": {"colour": "Teal"}}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "no item_id",
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"k": 3}))
                .send()
                .unwrap(),
        ),
        (
            400,
            "broken JSON",
            client
                .post(format!("{url}/api/search"))
                .header("content-type", "application/json")
                .body("{\"item_id\": ")
                .send()
                .unwrap(),
        ),
        (
            415,
            "plain text",
            client.post(format!("{url}/api/search")).body("item2").send().unwrap(),
        ),
        (
            400,
            "not an image",
            upload(&client, &format!("{url}/api/search"), b"GIF89a".to_vec(), &[]),
        ),
        (
            400,
            "text as image",
            upload(&client, &format!("{url}/api/search"), b"hello, I am text".to_vec(), &[]),
        ),
        (
            400,
            "truncated PNG",
            upload(
                &client,
                &format!("{url}/api/search"),
                photo[..photo.len() / 2].to_vec(),
                &[],
            ),
        ),
        (
            400,
            "no image field",
            client
                .post(format!("{url}/api/search"))
                .multipart(multipart::Form::new().text("k", "3"))
                .send()
                .unwrap(),
        ),
        (
            413,
            "over the pixel cap",
            upload(&client, &format!("{url}/api/search"), png_bytes(1000, 1000), &[]),
        ),
        (
            413,
            "over the upload cap",
            upload(&client, &format!("{url}/api/recommend"), vec![7u8; 2 << 20], &[]),
        ),
    ];
    for (expected, what, response) in requests {
        let route = response.url().path().to_string();
        let (status, body) = json_of(response);
        assert_eq!(status, expected, "{what}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty(), "{what}: a reason");
        contract.check("post", &route, status, &body);
        if what.starts_with("truncated") {
            assert!(body["error"].as_str().unwrap().contains(what), "{what}: {body}");
        }
        if what == "truncated PNG" || what == "not an image" {
            println!("{what}: {}", body["error"]);
        }
    }
    // Unknown routes and methods: JSON too.
    let (status, _) = json_of(client.get(format!("{url}/api/nothing")).send().unwrap());
    assert_eq!(status, 404);
    let (status, _) = json_of(client.get(format!("{url}/api/search")).send().unwrap());
    assert_eq!(status, 405);

    // More uploads than inference slots at once: they wait in line, none fails.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (client, photo) = (&client, photo.clone());
                scope.spawn(move || {
                    upload(client, &format!("{url}/api/search"), photo, &[])
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses, vec![200; 8]);

    // The page, and the metrics of everything above.
    let page = client.get(format!("{url}/")).send().unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().unwrap();
    assert!(page.contains("id=\"file\"") && page.contains("id=\"diversity\""));
    let metrics = client.get(format!("{url}/metrics")).send().unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = metrics.text().unwrap();
    for line in [
        "lookbook_http_requests_total{method=\"POST\",route=\"/api/search\",status=\"200\"}",
        "lookbook_http_errors_total{method=\"POST\",route=\"/api/recommend\",status=\"413\"}",
        "lookbook_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/search\"}",
        "lookbook_index_images 16",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    let searches: u64 = metrics
        .lines()
        .find(|l| l.starts_with("lookbook_http_requests_total{method=\"POST\",route=\"/api/search\",status=\"200\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(searches, 4 + 8, "every successful search counted: 4 above, 8 at once");
}

/// The web page in Debian's headless Chromium, driven by playwright-core
/// (`tests/browser/page.mjs`): upload a real H&M photo, see ≥ 10 results, move the slider,
/// see the list change; the screenshot lands in `target/browser/`.
/// What a list says, by either front end: item, distance, and the part that matched
/// (`None` = the whole picture).
type Listed = Vec<(String, f64, Option<u64>)>;

/// The CLI's `search --json` / `recommend --json` list.
fn cli_list(args: &[&str]) -> Listed {
    let out = common::lookbook_ok(args);
    let list: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let part = r.get("matched").and_then(|m| m["part"].as_u64());
            (
                r["item_id"].as_str().unwrap().to_string(),
                r["distance"].as_f64().unwrap(),
                part,
            )
        })
        .collect()
}

/// The API's answer as the same list (a search's results say which part was nearest, which
/// the CLI's search does not print: compared for recommendations only).
fn api_list(answer: &Value, with_parts: bool) -> Listed {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["item_id"].as_str().unwrap().to_string(),
                r["distance"].as_f64().unwrap(),
                r["part"].as_u64().filter(|_| with_parts),
            )
        })
        .collect()
}

#[test]
fn the_cli_and_the_api_answer_the_same_query_with_the_same_list() {
    let (_dir, catalogue, index) = common::tiny_index();
    let server = Server::start(&index, &[]);
    let client = Client::new();
    let index_arg = index.to_str().unwrap();
    let photo = catalogue.join("5.png");
    let photo_arg = photo.to_str().unwrap();

    for (query, body) in [("item2", Some("item2")), (photo_arg, None)] {
        // search: k = 5, a filter, through the same engine.
        let cli = cli_list(&[
            "search",
            "--index",
            index_arg,
            query,
            "-k",
            "5",
            "--filter",
            "pattern=striped",
            "--json",
        ]);
        let api = match body {
            Some(item) => client
                .post(format!("{}/api/search", server.url))
                .json(&json!({"item_id": item, "k": 5, "filter": {"pattern": "striped"}, "boxes": false}))
                .send()
                .unwrap(),
            None => upload(
                &client,
                &format!("{}/api/search", server.url),
                fs::read(&photo).unwrap(),
                &[("k", "5"), ("filter", "pattern=striped"), ("boxes", "false")],
            ),
        };
        let (status, answer) = json_of(api);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(cli.len(), 5, "{cli:?}");
        assert_eq!(cli, api_list(&answer, false), "search for {query}");

        // recommend at λ = 0.5 and 1: the same items, distances and matched parts.
        for lambda in ["0.5", "1"] {
            let cli = cli_list(&[
                "recommend",
                "--index",
                index_arg,
                query,
                "-k",
                "5",
                "--diversity",
                lambda,
                "--json",
            ]);
            let api = match body {
                Some(item) => client
                    .post(format!("{}/api/recommend", server.url))
                    .json(&json!({"item_id": item, "k": 5, "diversity": lambda.parse::<f32>().unwrap()}))
                    .send()
                    .unwrap(),
                None => upload(
                    &client,
                    &format!("{}/api/recommend", server.url),
                    fs::read(&photo).unwrap(),
                    &[("k", "5"), ("diversity", lambda)],
                ),
            };
            let (status, answer) = json_of(api);
            assert_eq!(status, 200, "{answer}");
            assert_eq!(cli.len(), 5, "{cli:?}");
            assert_eq!(cli, api_list(&answer, true), "recommend λ = {lambda} for {query}");
        }
    }
}

#[test]
fn the_web_page_uploads_a_real_photo_and_the_slider_changes_the_list() {
    let Some(hm) = shared_data("hm") else { return };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script_dir = repo.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).is_file()
        && script_dir.join("node_modules/playwright-core").is_dir()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium, node and tests/browser's packages (.ci/run does)"
        );
        eprintln!("skipped: needs {chromium}, node and `npm ci` in tests/browser");
        return;
    }
    // A small H&M catalogue: the first 150 articles' rows, the photos where they are.
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("hm");
    fs::create_dir_all(&catalogue).unwrap();
    let articles = fs::read_to_string(hm.join("articles.csv")).unwrap();
    let head: Vec<&str> = articles.lines().take(151).collect();
    fs::write(catalogue.join("articles.csv"), head.join("\n") + "\n").unwrap();
    std::os::unix::fs::symlink(hm.join("images").canonicalize().unwrap(), catalogue.join("images")).unwrap();
    let (run, index) = (dir.path().join("run"), dir.path().join("index"));
    train_and_index(&catalogue, dir.path(), &run, &index);
    // A text model in the run folder, where the server finds it: the page's word search.
    common::lookbook_ok(&[
        "-q",
        "text",
        "train",
        "--index",
        index.to_str().unwrap(),
        "--catalog",
        catalogue.to_str().unwrap(),
        "--epochs",
        "5",
    ]);
    // Beside the checkpoints (the index names `run/epoch-0001`, which a later checkpoint replaces).
    assert!(run.join("text/latest.json").is_file());
    let server = Server::start(&index, &[]);

    // The query: the first of these articles photographed whole on a plain background (a
    // garment mask), so its attention boxes can be checked against the garment.
    let (photo, mask) = head[1..]
        .iter()
        .filter_map(|row| {
            let id = row.split(',').next()?;
            let path = hm.join("images").join(id.get(..3)?).join(format!("{id}.jpg"));
            let rgb = lookbook_imaging::decode_file(&path, &Default::default(), None, [255; 3]).ok()?;
            let mask = lookbook_imaging::GarmentMask::of(&rgb)?;
            let [x0, y0, x1, y1] = mask.bounds();
            // Whole in the frame, filling a fair part of it, and solid (mostly garment inside
            // its box, as a top or a dress; not a pack of tights on a grey card).
            let (w, h) = mask.dimensions();
            let solid = mask.share_in([x0 * w as f32, y0 * h as f32, x1 * w as f32, y1 * h as f32]);
            (x0 > 0.02 && y0 > 0.02 && x1 < 0.98 && y1 < 0.98 && (x1 - x0) * (y1 - y0) > 0.25 && solid > 0.7)
                .then_some((path, mask))
        })
        .next()
        .expect("a packshot among the first 150 articles");
    let shots = repo.join("target/browser");
    fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("search-and-slider.png");
    let words_shot = shots.join("search-by-words.png");
    let _ = fs::remove_file(&screenshot);
    let _ = fs::remove_file(&words_shot);
    let out = Command::new("node")
        .arg(script_dir.join("page.mjs"))
        .args([
            format!("{}/", server.url).as_str(),
            photo.to_str().unwrap(),
            screenshot.to_str().unwrap(),
            words_shot.to_str().unwrap(),
        ])
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("{seen}");
    let similar = seen["similar"].as_array().unwrap();
    let diverse = seen["diverse"].as_array().unwrap();
    assert!(similar.len() >= 10, "{seen}");
    assert!(diverse.len() >= 10, "{seen}");
    assert_ne!(similar, diverse, "the slider changed the list");
    // Words typed into the search box: results, and the word the catalogue never used named.
    assert!(
        seen["words_title"].as_str().unwrap().contains("black jersey top"),
        "{seen}"
    );
    assert!(seen["words_results"].as_array().unwrap().len() >= 5, "{seen}");
    assert!(seen["words_status"].as_str().unwrap().contains("zqxj"), "{seen}");
    assert!(words_shot.is_file());
    assert_eq!(seen["lambda"], "1");
    assert_eq!(seen["alt_missing"], 0, "every picture has an alt text");
    // Each card is named by the product (H&M prod_name: words), not by its numeric id.
    let card_names = seen["card_names"].as_array().unwrap();
    assert_eq!(card_names.len(), similar.len(), "{seen}");
    assert!(
        card_names
            .iter()
            .all(|n| n.as_str().unwrap().chars().any(char::is_alphabetic)),
        "{seen}"
    );
    assert!(
        seen["query_boxes"].as_u64().unwrap() >= 1,
        "the query's attention boxes are drawn"
    );
    // Named by where they sit on the garment, not "part N" …
    let names = lookbook_imaging::PART_NAMES;
    let labels = seen["query_box_labels"].as_array().unwrap();
    assert!(!labels.is_empty(), "{seen}");
    assert!(labels.iter().all(|l| names.contains(&l.as_str().unwrap())), "{seen}");
    // … and on the garment: the same upload through the API gives the boxes the page drew.
    let answer: Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/search", server.url))
        .multipart(multipart::Form::new().part(
            "image",
            multipart::Part::bytes(fs::read(&photo).unwrap()).file_name("query.jpg"),
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (w, h) = mask.dimensions();
    for region in answer["query"]["regions"].as_array().unwrap() {
        let b: Vec<f32> = region["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let share = mask.share_in([b[0] * w as f32, b[1] * h as f32, b[2] * w as f32, b[3] * h as f32]);
        assert!(share > 0.5, "{region}: {share:.2} of the box is garment");
        assert!(names.contains(&region["name"].as_str().unwrap()), "{region}");
    }
    assert!(!seen["by_item"].as_array().unwrap().is_empty());
    assert!(fs::metadata(&screenshot).unwrap().len() > 10_000, "a screenshot");
}

/// `lookbook demo` runs every step (inspect, train, index, eval, search and recommend sheets)
/// and, with `--no-serve`, stops instead of serving; a second run reuses the trained model.
#[test]
fn demo_runs_the_whole_job_and_reuses_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    fs::create_dir_all(&catalogue).unwrap();
    labelled_catalogue(&catalogue);
    let config = dir.path().join("tiny.toml");
    fs::write(&config, common::TINY_CONFIG).unwrap();
    let run = dir.path().join("run");
    let args = [
        "demo",
        "--catalog",
        catalogue.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--no-serve",
    ];
    let first = common::lookbook_ok(&args);
    let printed = common::stdout(&first);
    for step in [
        "$ lookbook catalog inspect",
        "$ lookbook train",
        "$ lookbook index",
        "$ lookbook eval",
        "top-k accuracy",
        "$ lookbook search",
        "$ lookbook recommend",
        "serve it with: lookbook serve",
    ] {
        assert!(printed.contains(step), "`{step}` missing from\n{printed}");
    }
    for sheet in ["search.png", "recommend.png"] {
        assert!(fs::metadata(run.join(sheet)).unwrap().len() > 1000, "{sheet}");
    }
    let second = common::stdout(&common::lookbook_ok(&args));
    assert!(second.contains("reusing the trained model"), "{second}");
    assert!(!second.contains("$ lookbook train"));
}

/// Issue 21: on SIGTERM `serve` stops accepting connections, finishes the request in flight
/// (here one whose body is still arriving) and exits 0.
#[test]
fn serve_on_sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let (_dir, _, index) = common::tiny_index();
    let mut server = Server::start(&index, &[]);
    let addr = server.url.trim_start_matches("http://").to_string();

    let body = r#"{"item_id": "item2", "k": 3}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /api/search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    // SIGTERM while the body is half sent: the server must not exit yet …
    server.terminate();
    assert!(
        server.exit_within(std::time::Duration::from_millis(500)).is_none(),
        "serve exited with a request in flight"
    );
    // … nor take new connections.
    assert!(TcpStream::connect(&addr).is_err(), "serve still accepts after SIGTERM");
    // The rest of the body arrives: the answer is whole, then the process exits 0.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"results\""), "{answer}");
    let status = server
        .exit_within(std::time::Duration::from_secs(10))
        .expect("serve exits once the request is answered");
    assert!(status.success(), "{status}");
}
