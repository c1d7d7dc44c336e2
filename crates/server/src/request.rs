//! The bodies of a search or recommend request, as the API reads them and its OpenAPI
//! document describes them.

use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::ToSchema;

/// The words' weight in a photo or item query when the request does not say.
pub(crate) const DEFAULT_TEXT_WEIGHT: f64 = 0.5;

/// A search or recommend request by item id or words (`application/json`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// An item in the index: its first image is the query, its own images are left out.
    /// Give it, `text`, or both.
    #[serde(default)]
    pub item_id: Option<String>,
    /// Words to search for ("black ribbed jumper"), through the server's text model; with
    /// `item_id`, mixed into the item's vector ("like this, but red").
    #[serde(default)]
    pub text: Option<String>,
    /// The words' weight when mixed into an item's vector (0..1, default 0.5).
    #[serde(default)]
    #[schema(schema_with = text_weight_or_null)]
    pub text_weight: Option<f64>,
    /// How many results (1..=200).
    #[serde(default = "default_k")]
    #[schema(default = 10, minimum = 1, maximum = 200)]
    pub k: usize,
    /// Attribute → value every result must have, e.g. `{"product_group_name": "Trousers"}`.
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// Recommend only: λ in 0..1, 0 = the nearest items, 1 = the most varied.
    #[serde(default)]
    #[schema(schema_with = diversity_or_null)]
    pub diversity: Option<f64>,
    /// Attention boxes for the results and the query (stored in the index; for an index built
    /// before they were, the model runs on each photo not seen before); `false` answers with
    /// the list alone.
    #[serde(default = "default_boxes")]
    #[schema(default = true)]
    pub boxes: bool,
}

/// A search or recommend request with a photo (`multipart/form-data`). Every field but the
/// photo may be left out, none may be `null` (a form has no null), and no other field is
/// allowed: a misspelt `dversity` is an error, not a silent default.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the form; the handler reads its fields one by one
pub struct UploadForm {
    /// The photo (JPEG, PNG, WebP, BMP, GIF or TIFF; at most the upload cap, 10 MiB by default).
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
    /// Words mixed into the photo's vector ("like this, but red").
    #[schema(required = false)]
    pub text: String,
    /// The words' weight (0..1, default 0.5).
    #[schema(required = false, schema_with = text_weight)]
    pub text_weight: f64,
    /// How many results (1..=200; default 10).
    #[schema(required = false, minimum = 1, maximum = 200)]
    pub k: usize,
    /// Recommend only: λ in 0..1 (default 0.5).
    #[schema(required = false, schema_with = diversity)]
    pub diversity: f64,
    /// `attribute=value`; repeat the field for several.
    #[schema(required = false)]
    pub filter: Vec<String>,
    /// `true` (default) or `false`: attention boxes of the results.
    #[schema(required = false)]
    pub boxes: bool,
}

pub(crate) fn default_k() -> usize {
    10
}

fn default_boxes() -> bool {
    true
}

// The fractions' schemas are written out rather than derived: utoipa gives an f32 or f64 field
// `format: float`/`double`, which JSON Schema does not define for numbers and which API fuzzers
// take as a constraint — any number then "violates" it and, taken, is reported as accepted
// invalid data. The API takes any JSON number in 0..1 (rounded to the query's f32).
fn fraction(description: &str, nullable: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let kind = if nullable {
        SchemaType::from_iter([Type::Number, Type::Null])
    } else {
        SchemaType::from(Type::Number)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .minimum(Some(0.0))
        .maximum(Some(1.0))
        .description(Some(description))
        .build()
}

fn text_weight() -> utoipa::openapi::Object {
    fraction("The words' weight (0..1, default 0.5).", false)
}

fn text_weight_or_null() -> utoipa::openapi::Object {
    fraction(
        "The words' weight when mixed into an item's vector (0..1, default 0.5).",
        true,
    )
}

fn diversity() -> utoipa::openapi::Object {
    fraction("Recommend only: λ in 0..1 (default 0.5).", false)
}

fn diversity_or_null() -> utoipa::openapi::Object {
    fraction(
        "Recommend only: λ in 0..1, 0 = the nearest items, 1 = the most varied.",
        true,
    )
}
