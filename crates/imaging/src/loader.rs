//! Parallel, bounded-prefetch batch loading.
//!
//! A producer thread owns a rayon pool and decodes batch after batch into a channel
//! that holds at most `prefetch` finished batches; it blocks when the consumer is that
//! far behind and stops when the consumer goes away. Training therefore overlaps
//! decoding of the next batches with compute on the current one, with bounded memory.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use rayon::prelude::*;

use crate::error::{BadImage, ImageError};
use crate::preprocess::Preprocessor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderOptions {
    pub batch_size: usize,
    /// Finished batches waiting for the consumer, at most. With 0 the producer hands each
    /// batch over when the consumer asks for it and only then decodes the next: two batches
    /// in memory (the one the consumer holds and the one decoding), still overlapped.
    pub prefetch: usize,
    /// Decoding threads; 0 = one per core.
    pub threads: usize,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            batch_size: 32,
            prefetch: 2,
            threads: 0,
        }
    }
}

/// Images of one batch that loaded, packed back to back, and those that did not.
#[derive(Debug)]
pub struct Batch {
    /// The item of each loaded image, in order (values from the loader's `order`).
    pub items: Vec<usize>,
    /// `items.len() × item_len` floats.
    pub pixels: Vec<f32>,
    /// Floats per image.
    pub item_len: usize,
    /// Items of this batch that failed, with the reason.
    pub failures: Vec<(usize, BadImage)>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Floats of the `i`-th loaded image.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.item_len..(i + 1) * self.item_len]
    }
}

/// An iterator of [`Batch`]es decoded ahead of time on background threads.
pub struct BatchLoader {
    receiver: Option<Receiver<Batch>>,
    /// Spent pixel buffers going back to the producer (see [`BatchLoader::recycle`]).
    spent: Sender<Vec<f32>>,
    producer: Option<JoinHandle<()>>,
    batches: usize,
}

impl BatchLoader {
    /// Load the items of `order`, `batch_size` at a time, with `load(item, out)` writing
    /// `item_len` floats into `out`. The closure is where augmentation or a different
    /// preprocessing plugs in; [`BatchLoader::from_paths`] covers the plain case.
    pub fn spawn<F>(order: Vec<usize>, item_len: usize, options: LoaderOptions, load: F) -> Result<Self, ImageError>
    where
        F: Fn(usize, &mut [f32]) -> Result<(), BadImage> + Send + Sync + 'static,
    {
        let batch_size = options.batch_size.max(1);
        let batches = order.len().div_ceil(batch_size);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .thread_name(|i| format!("lookbook-decode-{i}"))
            .build()
            .map_err(|e| ImageError::Threads(e.to_string()))?;
        let (sender, receiver) = sync_channel(options.prefetch);
        let (spent, recycled) = channel();
        let producer = std::thread::Builder::new()
            .name("lookbook-loader".into())
            .spawn(move || produce(order, item_len, batch_size, &pool, &load, &sender, &recycled))
            .map_err(|e| ImageError::Threads(e.to_string()))?;
        Ok(BatchLoader {
            receiver: Some(receiver),
            spent,
            producer: Some(producer),
            batches,
        })
    }

    /// Load image files with `preprocessor`; items are indices into `paths`.
    pub fn from_paths(
        paths: Vec<PathBuf>,
        preprocessor: Preprocessor,
        options: LoaderOptions,
    ) -> Result<Self, ImageError> {
        let order = (0..paths.len()).collect();
        Self::spawn(order, preprocessor.spec.tensor_len(), options, move |i, out| {
            preprocessor.load_into(&paths[i], out)
        })
    }

    /// Hand a consumed batch's buffer back for reuse. Optional, but a batch of 64 images
    /// at 384×256 is 75 MB: fresh buffers cost a page fault per 4 KiB, which showed up
    /// as more system time than decoding in `lookbook catalog check`.
    pub fn recycle(&self, batch: Batch) {
        let _ = self.spent.send(batch.pixels);
    }

    /// Number of batches the loader will yield in all.
    pub fn batches(&self) -> usize {
        self.batches
    }

    fn join_producer(&mut self) {
        if let Some(handle) = self.producer.take()
            && let Err(panic) = handle.join()
        {
            // A panic in a load closure is a bug, not bad input: surface it.
            std::panic::resume_unwind(panic);
        }
    }
}

fn produce<F>(
    order: Vec<usize>,
    item_len: usize,
    batch_size: usize,
    pool: &rayon::ThreadPool,
    load: &F,
    sender: &SyncSender<Batch>,
    recycled: &Receiver<Vec<f32>>,
) where
    F: Fn(usize, &mut [f32]) -> Result<(), BadImage> + Send + Sync,
{
    for chunk in order.chunks(batch_size) {
        let mut pixels = recycled.try_recv().unwrap_or_default();
        pixels.clear();
        pixels.resize(chunk.len() * item_len, 0.0);
        let results: Vec<Result<(), BadImage>> = pool.install(|| {
            pixels
                .par_chunks_mut(item_len)
                .zip(chunk.par_iter())
                .map(|(out, &item)| load(item, out))
                .collect()
        });
        let mut items = Vec::with_capacity(chunk.len());
        let mut failures = Vec::new();
        // Pack the good images to the front so the batch is contiguous.
        for (slot, (&item, result)) in chunk.iter().zip(results).enumerate() {
            match result {
                Ok(()) => {
                    let dst = items.len();
                    if dst != slot {
                        pixels.copy_within(slot * item_len..(slot + 1) * item_len, dst * item_len);
                    }
                    items.push(item);
                }
                Err(bad) => failures.push((item, bad)),
            }
        }
        pixels.truncate(items.len() * item_len);
        let batch = Batch {
            items,
            pixels,
            item_len,
            failures,
        };
        if sender.send(batch).is_err() {
            return; // the consumer stopped listening
        }
    }
}

impl Iterator for BatchLoader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let batch = self.receiver.as_ref()?.recv().ok();
        if batch.is_none() {
            self.receiver = None;
            self.join_producer();
        }
        batch
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Closing the channel first unblocks a producer waiting to send.
        self.receiver = None;
        if let Some(handle) = self.producer.take() {
            let _ = handle.join();
        }
    }
}
