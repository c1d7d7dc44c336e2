//! A frozen pretrained trunk's output for every training and validation photo, computed
//! once per run, so that an epoch on the CPU runs only the head and the attention branch
//! (seconds instead of a forward pass of the whole network per photo).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use lookbook_catalog::Catalog;
use lookbook_imaging::{BadImage, Batch, BatchLoader, FRAME_LEN, ImageSpec, LoaderOptions, Preprocessor, split_frames};
use lookbook_model::{EfficientNetLite, LiteCpu, SeedBackend, SeedModel, SeedOutput};

use crate::error::TrainError;

/// The pretrained network a config names, from the converted weights (the model crate's
/// one loader, kept here under its old name).
pub fn load_backbone<Bk: Backend>(name: &str, device: &Bk::Device) -> Result<EfficientNetLite<Bk>, TrainError> {
    Ok(EfficientNetLite::pretrained(name, None, device)?)
}

/// How a cached grey row shows its photo: grey, with a gamma drawn once per photo (from the
/// run's seed) when `max_gamma` > 1 — a cache has one grey row per photo, not one per epoch.
#[derive(Debug, Clone, Copy)]
pub struct CachedGrey {
    pub max_gamma: f32,
    pub seed: u64,
}

impl CachedGrey {
    /// `photo` (catalogue entry `item`) as its grey row sees it.
    pub fn view(&self, photo: &image::RgbImage, item: usize) -> image::RgbImage {
        // Its own stream: the epochs' draws use (seed, epoch, item).
        let mut rng = crate::augment::rng_for(self.seed ^ 0x6772_6579, usize::MAX, item);
        crate::augment::grey_view(photo, self.max_gamma, &mut rng)
    }
}

/// Trunk outputs `[h, w, C]` (channels-last) by catalogue entry, with each photo's garment
/// frame (θ of its garment box, `lookbook_imaging::letterboxed_frame`): the output of the
/// frozen blocks, those before the model's fine-tuned ones. Some entries also have the output
/// for their photo in grey (colour augmentation a cached trunk cannot do afterwards).
pub struct TrunkCache {
    /// (height, width, channels) of one entry.
    pub shape: [usize; 3],
    rows: HashMap<usize, usize>,
    /// Rows of the grey photos, by entry.
    grey_rows: HashMap<usize, usize>,
    data: Vec<f32>,
    /// Four floats per row.
    frames: Vec<f32>,
}

impl TrunkCache {
    /// Runs `network`'s stem and first `frozen_blocks` blocks over `items`, and over the
    /// grey photos of `grey_items` (`grey.view`: one gamma per photo, unaugmented otherwise);
    /// photos that fail to load are returned beside the cache, left out of it.
    #[allow(clippy::too_many_arguments)]
    pub fn build<Bk: Backend>(
        network: &EfficientNetLite<Bk>,
        frozen_blocks: usize,
        device: &Bk::Device,
        catalog: &Catalog,
        items: Vec<usize>,
        grey_items: Vec<usize>,
        grey: CachedGrey,
        spec: ImageSpec,
        options: LoaderOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(Self, Vec<BadImage>), TrainError> {
        // One job per photo to run: jobs past `items` are the grey ones.
        let colour_jobs = items.len();
        let entries: Arc<Vec<usize>> = Arc::new(items.into_iter().chain(grey_items).collect());
        let total = entries.len();
        let preprocessor = Preprocessor::new(spec)?;
        let paths: Arc<Vec<PathBuf>> = Arc::new(catalog.entries.iter().map(|e| catalog.image_path(e)).collect());
        let job_entries = Arc::clone(&entries);
        let loader = BatchLoader::spawn(
            (0..total).collect(),
            spec.tensor_len() + FRAME_LEN,
            options,
            move |job, out| {
                let path = &paths[job_entries[job]];
                if job < colour_jobs {
                    return preprocessor.load_framed_into(path, out);
                }
                let photo = preprocessor.decode(path)?;
                preprocessor.framed_into(&grey.view(&photo, job_entries[job]), out);
                Ok(())
            },
        )?;
        let [h, w] = [spec.height as usize, spec.width as usize];
        // On the CPU the frozen blocks run through our inference kernels (several times
        // burn's convolutions); on a GPU through burn.
        let fast = LiteCpu::serves::<Bk>().then(|| LiteCpu::new(network, frozen_blocks, &[], false));
        let mut cache = TrunkCache {
            shape: [0; 3],
            rows: HashMap::new(),
            grey_rows: HashMap::new(),
            data: Vec::new(),
            frames: Vec::new(),
        };
        let mut done = 0;
        let mut bad = Vec::new();
        for mut batch in loader {
            bad.extend(batch.failures.drain(..).map(|(_, failure)| failure));
            done += batch.len() + batch.failures.len();
            let n = batch.len();
            if n > 0 {
                let (pixels, frames) = split_frames(batch.pixels, n);
                cache.frames.extend(frames);
                // Channels-last: what the model's head multiplies by.
                let (values, [_, fh, fw, c]) = match &fast {
                    Some(fast) => fast.trunk_nhwc(&pixels, n, h, w),
                    None => {
                        let images = Tensor::<Bk, 4>::from_data(TensorData::new(pixels, [n, 3, h, w]), device);
                        let trunk = network.trunk_until(images, frozen_blocks).permute([0, 2, 3, 1]);
                        let dims = trunk.dims();
                        let values = trunk
                            .into_data()
                            .convert::<f32>()
                            .into_vec::<f32>()
                            .expect("f32 tensor");
                        (values, dims)
                    }
                };
                cache.shape = [fh, fw, c];
                for &job in &batch.items {
                    let row = cache.rows.len() + cache.grey_rows.len();
                    let rows = if job < colour_jobs {
                        &mut cache.rows
                    } else {
                        &mut cache.grey_rows
                    };
                    rows.insert(entries[job], row);
                }
                cache.data.extend(values);
            }
            progress(done, total);
        }
        Ok((cache, bad))
    }

    /// Writes the cache as `path` (through a temporary name): a header line of JSON
    /// (`key`, shape, items in row order) then the rows as little-endian f32.
    pub fn save(&self, path: &Path, key: &str) -> Result<(), TrainError> {
        let mut items = vec![0usize; self.rows.len() + self.grey_rows.len()];
        let mut grey = vec![false; items.len()];
        for (&item, &row) in &self.rows {
            items[row] = item;
        }
        for (&item, &row) in &self.grey_rows {
            items[row] = item;
            grey[row] = true;
        }
        let header = serde_json::json!({
            "key": key, "shape": self.shape, "items": items, "grey": grey, "frames": self.frames
        });
        let tmp = path.with_extension("bin.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            writeln!(file, "{header}")?;
            for value in &self.data {
                file.write_all(&value.to_le_bytes())?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| TrainError::io(path, e))
    }

    /// The cache [`TrunkCache::save`] wrote with the same `key`, or `None` (absent,
    /// another key, damaged: the caller computes it again).
    pub fn load(path: &Path, key: &str) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        let end = bytes.iter().position(|&b| b == b'\n')?;
        let header: serde_json::Value = serde_json::from_slice(&bytes[..end]).ok()?;
        if header["key"].as_str()? != key {
            return None;
        }
        let shape: [usize; 3] = serde_json::from_value(header["shape"].clone()).ok()?;
        let items: Vec<usize> = serde_json::from_value(header["items"].clone()).ok()?;
        let grey: Vec<bool> = serde_json::from_value(header["grey"].clone()).ok()?;
        let frames: Vec<f32> = serde_json::from_value(header["frames"].clone()).ok()?;
        if frames.len() != items.len() * FRAME_LEN || grey.len() != items.len() {
            return None;
        }
        let (mut rows, mut grey_rows) = (HashMap::new(), HashMap::new());
        for (row, (&item, &grey)) in items.iter().zip(&grey).enumerate() {
            if grey { &mut grey_rows } else { &mut rows }.insert(item, row);
        }
        let body = &bytes[end + 1..];
        if body.len() != items.len() * shape.iter().product::<usize>() * 4 {
            return None;
        }
        Some(TrunkCache {
            shape,
            rows,
            grey_rows,
            data: body
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            frames,
        })
    }

    pub fn contains(&self, item: usize) -> bool {
        self.rows.contains_key(&item)
    }

    /// Floats per item of [`TrunkCache::gather`]: the trunk's output, then the frame.
    pub fn item_len(&self) -> usize {
        self.shape.iter().product::<usize>() + FRAME_LEN
    }

    /// Whether `item`'s grey photo is cached too.
    pub fn has_grey(&self, item: usize) -> bool {
        self.grey_rows.contains_key(&item)
    }

    /// The cached rows of `items` (all must be cached), each followed by its frame; `view(item)`
    /// says whether to mirror it left-right (flipping the trunk's output stands in for
    /// flipping the photo, and the frame's centre flips with it) and whether to take its grey
    /// photo's row (when cached).
    pub fn gather(&self, items: &[usize], view: impl Fn(usize) -> View) -> Vec<f32> {
        let len = self.item_len() - FRAME_LEN;
        let [_, w, c] = self.shape;
        let mut out = Vec::with_capacity(items.len() * (len + FRAME_LEN));
        for &item in items {
            let View { flip, grey } = view(item);
            let row = match self.grey_rows.get(&item) {
                Some(&row) if grey => row,
                _ => self.rows[&item],
            };
            let source = &self.data[row * len..(row + 1) * len];
            let mut frame: [f32; FRAME_LEN] = self.frames[row * FRAME_LEN..(row + 1) * FRAME_LEN]
                .try_into()
                .expect("four floats");
            if flip {
                for line in source.chunks_exact(w * c) {
                    for position in line.chunks_exact(c).rev() {
                        out.extend_from_slice(position);
                    }
                }
                frame[2] = -frame[2];
            } else {
                out.extend_from_slice(source);
            }
            out.extend_from_slice(&frame);
        }
        out
    }
}

/// How [`TrunkCache::gather`] shows one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    pub flip: bool,
    pub grey: bool,
}

/// `n` photos (`[n, 3, h, w]`) through the model, or `n` cached trunk outputs through its
/// head; each item's values end with its garment frame.
pub(crate) fn forward_batch<Bk: SeedBackend>(
    model: &SeedModel<Bk>,
    cache: Option<&TrunkCache>,
    values: Vec<f32>,
    n: usize,
    [h, w]: [usize; 2],
    device: &Bk::Device,
) -> SeedOutput<Bk> {
    let (values, frames) = split_frames(values, n);
    let frames = Some(Tensor::from_data(TensorData::new(frames, [n, FRAME_LEN]), device));
    match cache {
        Some(cache) => {
            let [fh, fw, c] = cache.shape;
            model.forward_trunk_nhwc(
                Tensor::from_data(TensorData::new(values, [n, fh, fw, c]), device),
                frames,
            )
        }
        None => model.forward_in(Tensor::from_data(TensorData::new(values, [n, 3, h, w]), device), frames),
    }
}

/// Batches of cached trunk outputs in `order` (entries whose photo failed are left out).
pub(crate) fn cached_batches(
    cache: &TrunkCache,
    order: Vec<usize>,
    batch_size: usize,
    view: impl Fn(usize) -> View,
) -> impl Iterator<Item = Batch> {
    let order: Vec<usize> = order.into_iter().filter(|&i| cache.contains(i)).collect();
    let chunks: Vec<Vec<usize>> = order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect();
    chunks.into_iter().map(move |items| Batch {
        pixels: cache.gather(&items, &view),
        item_len: cache.item_len(),
        items,
        failures: Vec::new(),
    })
}
