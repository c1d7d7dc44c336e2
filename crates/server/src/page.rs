//! The web page: one HTML file with its script and styles, embedded in the binary (no
//! front-end build). It talks to the same JSON API as any other client.

pub const INDEX_HTML: &str = include_str!("../web/index.html");
