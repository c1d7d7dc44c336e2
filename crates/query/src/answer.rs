//! The answers, as the API sends them and the CLI reads them; their OpenAPI schemas derive
//! from these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A photo of the index, served by `GET /images/{id}`.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ImageRef {
    /// The image's key in the index (a decimal string: 64-bit keys do not fit a JSON number).
    pub id: String,
    pub url: String,
}

impl ImageRef {
    pub fn new(key: u64) -> Self {
        ImageRef {
            id: key.to_string(),
            url: format!("/images/{key}"),
        }
    }

    /// The image's key in the index.
    pub fn key(&self) -> Option<u64> {
        self.id.parse().ok()
    }
}

/// An attention region as fractions of the photo: `[x0, y0, x1, y1]` in 0..1.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct RegionBox {
    /// The attention step (1..=K).
    pub step: usize,
    /// Where the part sits on the garment: `upper left`, `centre`, `lower right`, ... (the
    /// photo's left and right), or `whole garment`.
    pub name: String,
    #[serde(rename = "box")]
    #[schema(rename = "box", min_items = 4, max_items = 4)]
    pub part_box: Vec<f32>,
}

/// What the answer was a query for.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct QueryInfo {
    /// The item asked about (absent for an uploaded photo).
    pub item_id: Option<String>,
    /// Its image (absent for an uploaded photo).
    pub image: Option<ImageRef>,
    /// Where the model looked in the query photo, one box per attention step (empty
    /// when the index's model has no attention steps).
    pub regions: Vec<RegionBox>,
    /// The words searched for (alone, or mixed into the photo's vector).
    #[serde(default)]
    pub text: Option<String>,
    /// Words of `text` the text model never saw in the catalogue's text (normalised: lower
    /// case, no accents): it knows at most their pieces, so they weigh little.
    #[serde(default)]
    pub unknown_words: Vec<String>,
}

/// One result.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ResultItem {
    pub rank: usize,
    pub item_id: String,
    /// The product's name (H&M `prod_name`, Myntra `productDisplayName`; else the photo's file stem).
    pub name: String,
    pub image: ImageRef,
    /// Distance of the whole picture's vectors (the index's metric).
    pub distance: f32,
    /// `whole`: matched as a whole garment; `part`: an attention part brought it in.
    pub matched: String,
    /// The matched attention step (present when `matched` is `part`; 0 is the texture of the whole map).
    pub part: Option<usize>,
    /// The matched part's name in the result's photo (`upper left`, ...; with its box).
    pub part_name: Option<String>,
    /// The matched part's box in the result's photo, fractions `[x0, y0, x1, y1]`.
    #[serde(rename = "box")]
    #[schema(rename = "box")]
    pub part_box: Option<Vec<f32>>,
    /// Recommend only: the rank and distance in the list it was picked from.
    pub matched_rank: Option<usize>,
    pub matched_distance: Option<f32>,
    pub attributes: BTreeMap<String, String>,
}

/// The answer to a search or recommend request.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Answer {
    /// `search` or `recommend`.
    pub mode: String,
    /// λ of a recommendation.
    pub diversity: Option<f32>,
    pub query: QueryInfo,
    pub results: Vec<ResultItem>,
    /// Time spent answering (embedding, search, boxes), without waiting in line.
    pub took_ms: f64,
}

/// An item and its images.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ItemDetail {
    pub item_id: String,
    /// The product's name (its first image's name column, else that photo's file stem).
    pub name: String,
    /// Its first image's attributes.
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<ImageRef>,
}

/// A page of items.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ItemPage {
    /// Items that pass the filter.
    pub total: usize,
    pub offset: usize,
    pub items: Vec<ItemDetail>,
}

/// The values of one attribute, most common first (for filters).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct AttributeValues {
    pub attribute: String,
    /// Distinct values in the index (the list holds the most common 60).
    pub distinct: usize,
    pub values: Vec<ValueCount>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ValueCount {
    pub value: String,
    /// Images with that value.
    pub images: usize,
}

impl From<(String, usize)> for ValueCount {
    fn from((value, images): (String, usize)) -> Self {
        ValueCount { value, images }
    }
}

/// A photo's likely values of one attribute, from its nearest catalogue images.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Tagged {
    pub attribute: String,
    /// Most probable first: (value, P(value | the K nearest)).
    pub values: Vec<(String, f64)>,
}
