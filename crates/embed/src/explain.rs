//! What the model looked at: each attention step's region as a box in the photo's own
//! pixels, the attention maps, and the labels it predicts — for `lookbook explain` and for
//! the "why" of a recommendation.

use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use image::RgbImage;
use lookbook_imaging::draw::{Annotation, annotate};
use lookbook_imaging::{
    BadImage, DecodeLimits, ImageError, ImageSpec, decode_file, letterbox_geometry, part_name, unletterbox_box,
};
use lookbook_model::Theta;
use serde::Serialize;

use crate::{EmbedError, SeedEmbedder};

/// One attention step's region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// 0 is the whole picture (θ = identity); 1..=K are the steps the LSTM proposed.
    pub step: usize,
    pub theta: Theta,
    /// `[x0, y0, x1, y1]` in pixels of the upright photo (letterbox bars cut off).
    pub bbox: [f32; 4],
    /// Where it sits on the garment ("upper left", "lower centre", ...; `lookbook_imaging::part_name`),
    /// or "whole picture" for step 0.
    pub name: &'static str,
}

/// One photo as the model sees it.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The upright photo's size in pixels: the boxes' coordinate frame.
    pub width: u32,
    pub height: u32,
    /// The garment's bounding box in the photo's pixels, when its background is plain
    /// (`lookbook_imaging::GarmentMask`); parts are named against it (else the whole photo).
    pub garment: Option<[f32; 4]>,
    /// Step 0 (the whole picture), then each attention step.
    pub regions: Vec<Region>,
    /// Steps 1..=K: each step's attention on the feature grid (`map_size`, rows first),
    /// which covers the letterboxed model input.
    pub attention: Vec<Vec<f32>>,
    /// (rows, columns) of the feature grid.
    pub map_size: (usize, usize),
    /// Every label with its score, highest first.
    pub labels: Vec<(String, f32)>,
    /// The photo's retrieval vector and part vectors (what [`crate::Embedder::embed_batch`]
    /// gives), from the same forward pass: a server explaining an upload embeds it too.
    pub vector: Vec<f32>,
    pub part_vectors: Vec<f32>,
}

impl Explanation {
    /// The attention of every step together (the max), normalised to a peak of 1, at a pixel
    /// of the photo — as seen through the letterbox of a `spec` input: photo pixel →
    /// model-input pixel → feature cell. 0 everywhere without attention maps.
    pub fn heat(&self, spec: &ImageSpec) -> impl Fn(u32, u32) -> f32 + '_ {
        let (map_h, map_w) = self.map_size;
        let combined: Vec<f32> = (0..map_h * map_w)
            .map(|i| self.attention.iter().map(|a| a[i]).fold(0.0f32, f32::max))
            .collect();
        let peak = combined.iter().copied().fold(0.0f32, f32::max);
        let (w, h, left, top) = letterbox_geometry(self.width, self.height, spec.width, spec.height);
        let (input_w, input_h) = (spec.width as f32, spec.height as f32);
        move |x: u32, y: u32| -> f32 {
            if map_h == 0 || peak <= 0.0 {
                return 0.0;
            }
            let lx = left as f32 + (x as f32 + 0.5) * w as f32 / self.width as f32;
            let ly = top as f32 + (y as f32 + 0.5) * h as f32 / self.height as f32;
            let col = ((lx / input_w * map_w as f32) as usize).min(map_w - 1);
            let row = ((ly / input_h * map_h as f32) as usize).min(map_h - 1);
            combined[row * map_w + col] / peak
        }
    }
}

impl Explanation {
    /// The photo at `path` at its own size (the boxes' frame, decoded without the model's
    /// downscaling), with each step's named box, the attention as heat (through a `spec`
    /// input's letterbox) and the `top` predicted labels beside it.
    pub fn picture(&self, path: &Path, spec: &ImageSpec, top: usize) -> Result<RgbImage, EmbedError> {
        let photo = decode_file(path, &DecodeLimits::default(), None, [255, 255, 255])?;
        let photo = match photo.dimensions() == (self.width, self.height) {
            true => photo,
            false => image::imageops::resize(&photo, self.width, self.height, image::imageops::FilterType::Triangle),
        };
        let annotations: Vec<Annotation> = self
            .regions
            .iter()
            .skip(1)
            .map(|r| Annotation {
                bbox: r.bbox,
                label: format!("{} {}", r.step, r.name),
            })
            .collect();
        let mut notes = vec!["predicted labels (score):".to_string()];
        notes.extend(
            self.labels
                .iter()
                .take(top)
                .map(|(label, score)| format!("{score:.2}  {label}")),
        );
        Ok(annotate(&photo, &annotations, Some(&self.heat(spec)), &notes)?)
    }
}

/// One photo's explanation as `lookbook explain` reports it (JSON, or lines with `Display`).
#[derive(Debug, Clone, Serialize)]
pub struct ExplanationReport {
    pub image: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Step 0 (the whole picture), then each attention step: θ and its box in the photo.
    pub regions: Vec<RegionReport>,
    /// The garment's bounding box in the photo's pixels (absent when its background is not plain).
    pub garment: Option<[f32; 4]>,
    pub labels: Vec<(String, f32)>,
}

/// One step of an [`ExplanationReport`].
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub step: usize,
    /// Where it sits on the garment ("upper left", ...; "whole picture" for step 0).
    pub name: &'static str,
    pub theta: [f32; 4],
    pub region: [f32; 4],
}

impl Explanation {
    /// The report of this explanation of the photo at `image`, with its `top` labels.
    pub fn report(&self, image: &Path, top: usize) -> ExplanationReport {
        ExplanationReport {
            image: image.to_path_buf(),
            width: self.width,
            height: self.height,
            regions: self
                .regions
                .iter()
                .map(|r| RegionReport {
                    step: r.step,
                    name: r.name,
                    theta: [r.theta.sx, r.theta.sy, r.theta.tx, r.theta.ty],
                    region: r.bbox,
                })
                .collect(),
            garment: self.garment,
            labels: self.labels.iter().take(top).cloned().collect(),
        }
    }
}

impl std::fmt::Display for ExplanationReport {
    /// The photo and its size, a line per step's box, a line per label.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}×{}):", self.image.display(), self.width, self.height)?;
        for r in &self.regions {
            let [x0, y0, x1, y1] = r.region;
            write!(
                f,
                "\n  step {}: [{x0:.0}, {y0:.0}, {x1:.0}, {y1:.0}] {}",
                r.step, r.name
            )?;
        }
        for (label, score) in &self.labels {
            write!(f, "\n  {score:.3}  {label}")?;
        }
        Ok(())
    }
}

/// Where θ's crop of a model input of `spec`'s size lies in a `width`×`height` photo.
pub fn region_box(theta: &Theta, spec: &ImageSpec, width: u32, height: u32) -> [f32; 4] {
    let in_input = theta.to_box(spec.width as f32, spec.height as f32);
    unletterbox_box(in_input, width, height, spec.width, spec.height)
}

/// The upright size of a photo decoded (perhaps shrunk, by JPEG DCT scaling) to `decoded`,
/// whose stored size is `header` when known: boxes are given in the photo's own pixels, upright
/// (the header's size, swapped when EXIF rotated it).
pub(crate) fn upright_size(decoded: (u32, u32), header: Option<(u32, u32)>) -> (u32, u32) {
    match header {
        Some((w, h)) if (w > h) == (decoded.0 > decoded.1) || w == h => (w, h),
        Some((w, h)) => (h, w),
        None => decoded,
    }
}

/// The stored size of an image in memory, from its header.
pub(crate) fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|reader| reader.into_dimensions().ok())
}

/// Step 0 (the whole picture), then a region per step's θ, in a `width`×`height` photo seen
/// through a `spec` input, each named by where it sits on the garment of `frame` (the garment
/// frame the model was given, [`lookbook_imaging::letterboxed_frame`]; the whole photo without one).
fn step_regions(thetas: &[Theta], frame: &[f32], spec: &ImageSpec, width: u32, height: u32) -> Vec<Region> {
    let named_against = region_box(&Theta::from_frame(frame), spec, width, height);
    let mut regions = vec![Region {
        step: 0,
        theta: Theta::IDENTITY,
        bbox: region_box(&Theta::IDENTITY, spec, width, height),
        name: "whole picture",
    }];
    for (i, theta) in thetas.iter().enumerate() {
        let bbox = region_box(theta, spec, width, height);
        regions.push(Region {
            step: i + 1,
            theta: *theta,
            bbox,
            name: part_name(bbox, named_against),
        });
    }
    regions
}

/// Each step's box in one photo (step 0 is the whole photo), in its pixels, with the photo's
/// size and where each box sits on the garment: what an answer draws. Computed by the forward
/// pass that embeds a photo ([`crate::Embedder::embed_batch_boxed`]), so an index can store it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoBoxes {
    pub width: u32,
    pub height: u32,
    /// `([x0, y0, x1, y1]` in pixels, part name) per step.
    pub steps: Vec<([f32; 4], String)>,
}

impl PhotoBoxes {
    pub fn of(explanation: &Explanation) -> Self {
        PhotoBoxes {
            width: explanation.width,
            height: explanation.height,
            steps: explanation
                .regions
                .iter()
                .map(|r| (r.bbox, r.name.to_string()))
                .collect(),
        }
    }

    /// The boxes of the steps `thetas` (see [`step_regions`]).
    pub(crate) fn of_steps(thetas: &[Theta], frame: &[f32], spec: &ImageSpec, width: u32, height: u32) -> Self {
        PhotoBoxes {
            width,
            height,
            steps: step_regions(thetas, frame, spec, width, height)
                .into_iter()
                .map(|r| (r.bbox, r.name.to_string()))
                .collect(),
        }
    }

    /// Step `step`'s box as fractions of the photo's width and height.
    pub fn fraction(&self, step: usize) -> Option<[f32; 4]> {
        let (w, h) = (self.width.max(1) as f32, self.height.max(1) as f32);
        self.steps
            .get(step)
            .map(|(b, _)| [b[0] / w, b[1] / h, b[2] / w, b[3] / h])
    }
}

impl SeedEmbedder {
    /// Runs the model on one photo and keeps what it looked at.
    pub fn explain(&self, path: &Path) -> Result<Explanation, BadImage> {
        let photo = self.preprocessor.decode(path)?;
        Ok(self.explain_decoded(&photo, image::image_dimensions(path).ok()))
    }

    /// [`SeedEmbedder::explain`] for a photo in memory (an upload to the server).
    pub fn explain_bytes(&self, bytes: &[u8]) -> Result<Explanation, ImageError> {
        let photo = self.preprocessor.decode_bytes(bytes)?;
        Ok(self.explain_decoded(&photo, header_size(bytes)))
    }

    /// `photo` decoded (perhaps shrunk), `header` its stored size when known.
    fn explain_decoded(&self, photo: &RgbImage, header: Option<(u32, u32)>) -> Explanation {
        let spec = self.spec;
        let mut input = vec![0.0f32; crate::Embedder::item_len(self)];
        self.item_of(photo, header, &mut input);
        let (output, frame, sizes) = self.forward(&input, 1);
        let (width, height) = sizes[0];
        let floats = |data: TensorData| data.convert::<f32>().into_vec::<f32>().expect("f32 tensor");
        let thetas: Vec<Theta> = output.thetas.iter().map(|t| Theta::from_tensor(t.clone())[0]).collect();
        // The garment's box is the frame the model was given (the whole picture: no mask).
        let garment = (Theta::from_frame(&frame) != Theta::IDENTITY)
            .then(|| region_box(&Theta::from_frame(&frame), &spec, width, height));
        let regions = step_regions(&thetas, &frame, &spec, width, height);
        let map_size = output.attention.first().map_or((0, 0), |a| (a.dims()[1], a.dims()[2]));
        let attention = output.attention.iter().map(|a| floats(a.clone().into_data())).collect();
        let scores = floats(output.scores.clone().into_data());
        let (vector, part_vectors) = self.vectors_of(&output, 1);
        let mut labels: Vec<(String, f32)> = self.checkpoint.meta.labels.iter().cloned().zip(scores).collect();
        labels.sort_by(|a, b| b.1.total_cmp(&a.1));
        Explanation {
            width,
            height,
            garment,
            regions,
            attention,
            map_size,
            labels,
            vector,
            part_vectors,
        }
    }
}
