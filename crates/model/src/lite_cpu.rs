//! [`LiteCpu`]: an EfficientNet-Lite trunk compiled for CPU inference with [`crate::lite_kernels`]
//! — the path `lookbook index`, `search` and `serve` embed photos through (burn's ops remain the
//! training path, the CUDA path and the reference this one is tested against).
//!
//! Each image runs whole on one core, channels-last, in buffers that belong to the thread and
//! are reused from image to image and layer to layer (no allocation per layer once warm); rayon
//! spreads a batch's images over the cores. On the wide maps each MBConv block runs in bands of
//! output rows — expand the input rows the band reads, filter them, project the band — so the
//! expanded map (up to 4.8 MB an image in the first blocks) is read back from cache, not memory.

use std::cell::RefCell;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rayon::prelude::*;

use crate::efficientnet::{EfficientNetLite, FoldedConv, MbConv};
use crate::lite_depthwise::{DepthwiseFilter, DepthwiseShape, depthwise_padded, padded_row, zero_border};
use crate::lite_kernels::stem_patches;
use crate::lite_pointwise::{PackedPointwise, ROWS};

/// A 1×1 convolution (or the stem's patches × weights), packed for its kernel.
type Pointwise = PackedPointwise;

/// A depthwise convolution's folded weights as `[kernel², channels]`.
struct Depthwise {
    weight: Vec<f32>,
    bias: Vec<f32>,
    channels: usize,
    kernel: usize,
    stride: usize,
}

struct Block {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

/// The stem, a run of MBConv blocks and optionally the 1×1 head of an EfficientNet-Lite, with
/// their weights rearranged for [`crate::lite_kernels`].
pub struct LiteCpu {
    stem: Pointwise,
    blocks: Vec<Block>,
    head: Option<Pointwise>,
    /// About how many bytes of a block's expanded map one band of output rows reads.
    band_bytes: usize,
}

/// The default band: a few hundred KB, well inside a core's L2 (1–2 MB on the CPUs measured)
/// with the band's filtered rows and output beside it.
const BAND_BYTES: usize = 512 << 10;

fn floats<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("an f32 tensor")
}

/// `[O, C, 1, 1]` → `[C, O]`.
fn pointwise_of<B: Backend>(conv: &FoldedConv<B>) -> Pointwise {
    let [outputs, inputs, kh, kw] = conv.weight.dims();
    assert!(kh == 1 && kw == 1 && conv.groups == 1, "not a 1×1 convolution");
    let weight = floats(conv.weight.val().reshape([outputs, inputs]).transpose());
    PackedPointwise::new(weight, floats(conv.bias.val()), inputs, outputs, conv.relu6)
}

/// The stem's `[O, 3, 3, 3]` → `[27, O]`, rows in [`stem_patches`]'s order (ky, kx, c).
fn stem_of<B: Backend>(conv: &FoldedConv<B>) -> Pointwise {
    let [outputs, channels, kh, kw] = conv.weight.dims();
    assert!(
        channels == 3 && kh == 3 && kw == 3 && conv.stride == 2 && conv.groups == 1,
        "not EfficientNet-Lite's 3×3 / stride 2 stem"
    );
    let weight = floats(conv.weight.val().permute([2, 3, 1, 0]));
    PackedPointwise::new(weight, floats(conv.bias.val()), 27, outputs, conv.relu6)
}

impl Depthwise {
    /// `[C, 1, k, k]` → `[k², C]`.
    fn of<B: Backend>(conv: &FoldedConv<B>) -> Self {
        let [channels, per_group, kernel, kw] = conv.weight.dims();
        assert!(
            per_group == 1 && kernel == kw && conv.groups == channels,
            "not a depthwise convolution"
        );
        assert!(conv.relu6, "every Lite depthwise convolution ends in ReLU6");
        let weight = floats(conv.weight.val().reshape([channels, kernel * kernel]).transpose());
        Depthwise {
            weight,
            bias: floats(conv.bias.val()),
            channels,
            kernel,
            stride: conv.stride,
        }
    }
}

impl Block {
    fn of<B: Backend>(block: &MbConv<B>) -> Self {
        Block {
            expand: block.expand.as_ref().map(pointwise_of),
            depthwise: Depthwise::of(&block.depthwise),
            project: pointwise_of(&block.project),
            residual: block.residual,
        }
    }
}

/// `n` items of `item_len` floats, each starting with a `[3, height, width]` image.
#[derive(Clone, Copy)]
struct Items<'a> {
    values: &'a [f32],
    item_len: usize,
    n: usize,
    height: usize,
    width: usize,
}

impl<'a> Items<'a> {
    fn new(values: &'a [f32], item_len: usize, n: usize, height: usize, width: usize) -> Self {
        assert!(
            item_len >= 3 * height * width,
            "an item holds a 3 × height × width image"
        );
        assert_eq!(values.len(), n * item_len, "n items of item_len floats");
        Items {
            values,
            item_len,
            n,
            height,
            width,
        }
    }
}

/// One thread's buffers, grown to the largest layer they have held.
#[derive(Default)]
struct Scratch {
    patches: Vec<f32>,
    current: Vec<f32>,
    next: Vec<f32>,
    expanded: Vec<f32>,
    filtered: Vec<f32>,
    /// The head's output (pooled features only).
    features: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The first `len` values of `buffer`, grown if it is shorter (old values are left: every
/// kernel overwrites its whole output).
fn room(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

impl LiteCpu {
    /// Whether `B` computes on this CPU (burn's `flex`, with or without autodiff): where a
    /// network on `B` should run its frozen inference through [`LiteCpu`] instead.
    pub fn serves<B: Backend>() -> bool {
        use std::any::TypeId;
        let b = TypeId::of::<B>();
        b == TypeId::of::<burn::backend::Flex>() || b == TypeId::of::<burn::backend::Autodiff<burn::backend::Flex>>()
    }

    /// `network`'s stem and its first `end` blocks, followed by `tuned` (a model's fine-tuned
    /// copies of the blocks after them; empty for the pretrained network's own), and its head
    /// when `with_head`.
    pub fn new<B: Backend>(network: &EfficientNetLite<B>, end: usize, tuned: &[MbConv<B>], with_head: bool) -> Self {
        LiteCpu {
            stem: stem_of(&network.stem),
            blocks: network.blocks[..end].iter().chain(tuned).map(Block::of).collect(),
            head: with_head.then(|| pointwise_of(&network.head)),
            band_bytes: BAND_BYTES,
        }
    }

    /// The same network run in bands of about `bytes` of expanded map (at least one output row
    /// each): tests take tiny bands to run every block in many.
    pub fn with_band_bytes(mut self, bytes: usize) -> Self {
        self.band_bytes = bytes;
        self
    }

    /// The whole network to its head (the ImageNet features' path).
    pub fn whole<B: Backend>(network: &EfficientNetLite<B>) -> Self {
        Self::new(network, network.blocks.len(), &[], true)
    }

    /// Channels of the last block's output.
    pub fn trunk_channels(&self) -> usize {
        self.blocks.last().map_or(self.stem.outputs, |b| b.project.outputs)
    }

    /// The size of the blocks' output for an `height × width` input.
    pub fn trunk_size(&self, height: usize, width: usize) -> (usize, usize) {
        let mut size = (height.div_ceil(2), width.div_ceil(2));
        for block in &self.blocks {
            let s = block.depthwise.stride;
            size = (size.0.div_ceil(s), size.1.div_ceil(s));
        }
        size
    }

    /// `n` images `[n, 3, height, width]` → the last block's output channels-last, `[n, h, w, C]`
    /// (its shape second).
    pub fn trunk_nhwc(&self, images: &[f32], n: usize, height: usize, width: usize) -> (Vec<f32>, [usize; 4]) {
        self.trunk_nhwc_items(images, 3 * height * width, n, height, width)
    }

    /// [`LiteCpu::trunk_nhwc`] of `n` items of `item_len` floats each, every one starting with
    /// its `[3, height, width]` image (a loader's batch as it is: no copy of the pixels to
    /// strip what follows them).
    pub fn trunk_nhwc_items(
        &self,
        items: &[f32],
        item_len: usize,
        n: usize,
        height: usize,
        width: usize,
    ) -> (Vec<f32>, [usize; 4]) {
        let (h, w) = self.trunk_size(height, width);
        let c = self.trunk_channels();
        let mut out = vec![0.0f32; n * h * w * c];
        let images = Items::new(items, item_len, n, height, width);
        self.each_image(images, &mut out, |result, _, out, _| out.copy_from_slice(result));
        (out, [n, h, w, c])
    }

    /// `n` images → the head's features averaged over positions, `[n, 1280]`.
    ///
    /// # Panics
    /// When built without the head.
    pub fn pooled(&self, images: &[f32], n: usize, height: usize, width: usize) -> Vec<f32> {
        let head = self.head.as_ref().expect("a LiteCpu built with its head");
        let (h, w) = self.trunk_size(height, width);
        let rows = h * w;
        let mut out = vec![0.0f32; n * head.outputs];
        let images = Items::new(images, 3 * height * width, n, height, width);
        self.each_image(images, &mut out, |trunk, features, pooled, tasks| {
            let features = room(features, rows * head.outputs);
            run_pointwise(head, rows, trunk, None, features, tasks);
            pooled.fill(0.0);
            for row in features.chunks_exact(head.outputs) {
                pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
            }
            pooled.iter_mut().for_each(|p| *p /= rows as f32);
        });
        out
    }

    /// Runs the trunk on each image (in parallel) and hands its output, a spare buffer, that
    /// image's slot of `out` and the tasks its layers were split in to `finish`.
    fn each_image(
        &self,
        images: Items,
        out: &mut [f32],
        finish: impl Fn(&[f32], &mut Vec<f32>, &mut [f32], usize) + Sync,
    ) {
        let Items {
            values,
            item_len,
            n,
            height,
            width,
        } = images;
        if n == 0 {
            return;
        }
        let per_image = out.len() / n;
        let threads = rayon::current_num_threads();
        let one_image = |slot: &mut [f32], item: &[f32], tasks: usize| {
            SCRATCH.with(|cell| {
                let mut image = |scratch: &mut Scratch| {
                    let len = self.run(&item[..3 * height * width], height, width, tasks, scratch);
                    let Scratch { current, features, .. } = scratch;
                    finish(&current[..len], features, slot, tasks);
                };
                // A rayon thread waiting inside a split layer may steal another image's work
                // and come back here: that one gets buffers of its own (a caller on a custom
                // pool panicked on the second borrow).
                match cell.try_borrow_mut() {
                    Ok(mut scratch) => image(&mut scratch),
                    Err(_) => image(&mut Scratch::default()),
                }
            })
        };
        if n < threads {
            // Too few images to give each core one (a photo uploaded to the server): the
            // images go one after another, each layer split between the cores.
            for (slot, image) in out.chunks_mut(per_image).zip(values.chunks(item_len)) {
                one_image(slot, image, threads);
            }
            return;
        }
        out.par_chunks_mut(per_image)
            .zip(values.par_chunks(item_len))
            .for_each(|(slot, image)| one_image(slot, image, 1));
    }

    /// One image through the stem and blocks, each layer split in `tasks` parts (rayon); the
    /// output is `scratch.current[..returned len]`.
    fn run(&self, image: &[f32], height: usize, width: usize, tasks: usize, scratch: &mut Scratch) -> usize {
        let Scratch {
            patches,
            current,
            next,
            expanded,
            filtered,
            ..
        } = scratch;
        let (mut h, mut w) = stem_patches(image, height, width, patches);
        let mut channels = self.stem.outputs;
        let rows = h * w;
        run_pointwise(&self.stem, rows, patches, None, room(current, rows * channels), tasks);
        for block in &self.blocks {
            let rows = h * w;
            let hidden = block.depthwise.channels;
            let dw = &block.depthwise;
            let shape = DepthwiseShape {
                height: h,
                width: w,
                channels: hidden,
                kernel: dw.kernel,
                stride: dw.stride,
            };
            // The depthwise input goes into a buffer with its zero border, row by row.
            let bordered = room(expanded, shape.padded_len());
            zero_border(shape, bordered);
            let row_len = w * channels;
            if w >= 16 && tasks <= 1 {
                // Wide maps, one core: the block in bands of output rows. Narrow ones (≤ 14
                // pixels a row: short row tiles; the whole map fits in cache) and maps split
                // between cores go layer by layer below.
                let outputs = block.project.outputs;
                let out_pixels = shape.out_width();
                let out_len = shape.out_height() * out_pixels * outputs;
                let out = room(next, out_len);
                self.block_in_bands(block, shape, &current[..rows * channels], bordered, filtered, out);
                (h, w) = (shape.out_height(), shape.out_width());
                std::mem::swap(current, next);
                channels = outputs;
                continue;
            }
            match &block.expand {
                Some(expand) => {
                    let out = room(filtered, rows * hidden);
                    run_pointwise(expand, rows, &current[..rows * channels], None, out, tasks);
                    for y in 0..h {
                        padded_row(shape, y, bordered).copy_from_slice(&out[y * w * hidden..(y + 1) * w * hidden]);
                    }
                }
                None => {
                    for y in 0..h {
                        padded_row(shape, y, bordered).copy_from_slice(&current[y * row_len..(y + 1) * row_len]);
                    }
                }
            }
            let bordered: &[f32] = bordered;
            let out = room(filtered, shape.output_len());
            let filter = DepthwiseFilter {
                weight: &dw.weight,
                bias: &dw.bias,
                relu6: true,
            };
            let out_row = shape.out_width() * hidden;
            let per_task = shape.out_height().div_ceil(tasks).max(1);
            if tasks <= 1 {
                depthwise_padded(shape, 0..shape.out_height(), bordered, filter, out);
            } else {
                out.par_chunks_mut(per_task * out_row)
                    .enumerate()
                    .for_each(|(task, piece)| {
                        let first = task * per_task;
                        depthwise_padded(shape, first..first + piece.len() / out_row, bordered, filter, piece);
                    });
            }
            (h, w) = (shape.out_height(), shape.out_width());
            let rows = h * w;
            let outputs = block.project.outputs;
            let residual = block.residual.then_some(&current[..rows * outputs]);
            run_pointwise(&block.project, rows, out, residual, room(next, rows * outputs), tasks);
            std::mem::swap(current, next);
            channels = outputs;
        }
        h * w * channels
    }

    /// One block on one core: for each band of output rows, the expand convolution writes the
    /// map rows the band reads (those not written yet) straight into the bordered buffer, the
    /// depthwise filter turns them into the band's rows in `filtered`, and the projection (with
    /// the residual) writes the band's rows of `out`.
    fn block_in_bands(
        &self,
        block: &Block,
        shape: DepthwiseShape,
        input: &[f32],
        bordered: &mut [f32],
        filtered: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let (width, channels, hidden) = (shape.width, input.len() / (shape.height * shape.width), shape.channels);
        let (out_height, out_width) = (shape.out_height(), shape.out_width());
        let outputs = block.project.outputs;
        let filter = DepthwiseFilter {
            weight: &block.depthwise.weight,
            bias: &block.depthwise.bias,
            relu6: true,
        };
        // Output rows per band: the band's map rows (stride × rows + the kernel's reach) fill
        // about `band_bytes`.
        let row_bytes = shape.padded_width() * hidden * size_of::<f32>();
        let band = ((self.band_bytes / row_bytes).saturating_sub(shape.kernel) / shape.stride).max(1);
        let mut written = 0;
        for first in (0..out_height).step_by(band) {
            let end = (first + band).min(out_height);
            let needed = shape.map_rows_for(end);
            for y in written..needed {
                let row = &input[y * width * channels..(y + 1) * width * channels];
                match &block.expand {
                    Some(expand) => expand.run(width, row, None, padded_row(shape, y, bordered)),
                    None => padded_row(shape, y, bordered).copy_from_slice(row),
                }
            }
            written = written.max(needed);
            let pixels = (end - first) * out_width;
            let piece = room(filtered, pixels * hidden);
            depthwise_padded(shape, first..end, bordered, filter, piece);
            let span = first * out_width * outputs..end * out_width * outputs;
            let residual = block.residual.then(|| &input[span.clone()]);
            block.project.run(pixels, piece, residual, &mut out[span]);
        }
    }
}

/// `conv` over `rows` pixels, the rows split in `tasks` parts.
fn run_pointwise(
    conv: &Pointwise,
    rows: usize,
    input: &[f32],
    residual: Option<&[f32]>,
    out: &mut [f32],
    tasks: usize,
) {
    // Whole micro-kernel tiles of rows per task.
    let per_task = rows.div_ceil(tasks.max(1)).div_ceil(ROWS) * ROWS;
    if tasks <= 1 || per_task >= rows {
        return conv.run(rows, input, residual, out);
    }
    let (inputs, outputs) = (conv.inputs, conv.outputs);
    out[..rows * outputs]
        .par_chunks_mut(per_task * outputs)
        .enumerate()
        .for_each(|(task, piece)| {
            let (first, count) = (task * per_task, piece.len() / outputs);
            let residual = residual.map(|r| &r[first * outputs..(first + count) * outputs]);
            conv.run(count, &input[first * inputs..(first + count) * inputs], residual, piece);
        });
}
