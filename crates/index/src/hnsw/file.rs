//! The structure of a usearch graph file, checked in Rust before usearch's C++ reads it.
//!
//! Why: usearch trusts a file's graph. Its readers check the lengths of the headers and the
//! node area but not what searches follow — node levels, neighbour counts, neighbour slots,
//! the vectors' row width — so a damaged file opened fine and then crashed the process (SIGSEGV
//! in a search or an insert: `scripts/fuzz.sh graph`, 29 crashes in 5 minutes; then, with the
//! first checks, 4 aborts: a link to a node without that level). Every such field
//! is checked here against the bounds usearch indexes with; the vectors' values are not read
//! (any float is a vector), so a mapped open stays cheap: about 150 bytes per node.
//!
//! The layout (usearch 2.x, `index_dense_gt<u64, u32>::save_to_stream`, all little-endian):
//! `[rows u32][row bytes u32]`, the vectors (rows × row bytes), a 64-byte head (magic
//! "usearch", version, metric, scalar, key and slot kinds, counts, dimensions, multi), then the
//! graph: `[size, connectivity, connectivity_base, max_level, entry_slot: u64]`, `size` levels
//! (i16), and `size` nodes of `[key u64][level i16]` and, per level 0..=level, `[count u32]`
//! and `connectivity_base` (level 0) or `connectivity` slots (u32).

use super::Quantization;
use crate::Metric;

const MAGIC: &[u8; 7] = b"usearch";
const HEAD: usize = 64;
/// usearch's `scalar_kind_t` and `metric_kind_t` codes.
const KIND_F32: u8 = 11;
const KIND_F16: u8 = 12;
const KIND_I8: u8 = 23;
const KIND_U64: u8 = 14;
const KIND_U32: u8 = 15;
const METRIC_L2SQ: u8 = b'e';
const METRIC_COS: u8 = b'c';
/// Far above what usearch builds (levels grow as log(n)/log(connectivity)), far below what
/// would make a node's size overflow.
const MAX_LEVEL: u64 = 64;
const MAX_CONNECTIVITY: u64 = 4096;

/// What the head and graph header say, once the whole structure checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GraphFile {
    pub dim: usize,
    pub metric: Metric,
    pub quantization: Quantization,
    /// Nodes in the graph (removed ones included: usearch keeps their slots).
    pub nodes: usize,
}

/// Little-endian reads that fail with the field's name instead of running off the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("the file ends inside {what} (at byte {})", self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    fn i16(&mut self, what: &str) -> Result<i16, String> {
        Ok(i16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
}

/// Checks `bytes` (a whole graph file as [`super::HnswIndex::save`] writes it) and says what
/// it holds; the error names the first field that is out of bounds.
pub(super) fn check(bytes: &[u8]) -> Result<GraphFile, String> {
    let mut file = Cursor { bytes, at: 0 };
    let rows = file.u32("the vectors' row count")? as usize;
    let row_bytes = file.u32("the vectors' row width")? as usize;
    let vector_bytes = rows.checked_mul(row_bytes).ok_or("the vectors' size overflows")?;
    file.take(vector_bytes, "the vectors")?;

    let head = file.take(HEAD, "the head")?;
    if &head[..7] != MAGIC {
        return Err("no usearch magic: not a graph file".into());
    }
    let version = |i: usize| u16::from_le_bytes([head[7 + 2 * i], head[8 + 2 * i]]);
    if version(0) != 2 || version(1) < 10 {
        return Err(format!(
            "usearch format {}.{}, not 2.10 or later",
            version(0),
            version(1)
        ));
    }
    let (metric, scalar, key, slot) = (head[13], head[14], head[15], head[16]);
    let count = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let (present, deleted, dimensions, multi) = (count(17), count(25), count(33), head[41]);
    let metric = match metric {
        METRIC_L2SQ => Metric::Euclidean,
        METRIC_COS => Metric::Cosine,
        other => return Err(format!("metric kind {other}, not Euclidean or cosine")),
    };
    let (quantization, scalar_bytes) = match scalar {
        KIND_F32 => (Quantization::F32, 4),
        KIND_F16 => (Quantization::F16, 2),
        KIND_I8 => (Quantization::I8, 1),
        other => return Err(format!("scalar kind {other}, not f32, f16 or i8")),
    };
    if key != KIND_U64 || slot != KIND_U32 || multi != 0 {
        return Err(format!(
            "key kind {key}, slot kind {slot}, multi {multi}: not lookbook's graph"
        ));
    }
    let dim = usize::try_from(dimensions)
        .ok()
        .filter(|&d| (1..=1 << 20).contains(&d))
        .ok_or_else(|| format!("{dimensions} dimensions"))?;
    if dim * scalar_bytes != row_bytes {
        return Err(format!(
            "{dim}-d vectors of {scalar_bytes} bytes in rows of {row_bytes} bytes"
        ));
    }
    if present.checked_add(deleted) != Some(rows as u64) {
        return Err(format!(
            "{present} present and {deleted} removed vectors in {rows} rows"
        ));
    }

    let size = file.u64("the graph header")?;
    let connectivity = file.u64("the graph header")?;
    let connectivity_base = file.u64("the graph header")?;
    let max_level = file.u64("the graph header")?;
    let entry_slot = file.u64("the graph header")?;
    if size != rows as u64 {
        return Err(format!("a graph of {size} nodes over {rows} vectors"));
    }
    if !(2..=MAX_CONNECTIVITY).contains(&connectivity)
        || !(connectivity..=MAX_CONNECTIVITY).contains(&connectivity_base)
    {
        return Err(format!("connectivity {connectivity}, base {connectivity_base}"));
    }
    if size == 0 {
        return match file.at == bytes.len() {
            true => Ok(GraphFile {
                dim,
                metric,
                quantization,
                nodes: 0,
            }),
            false => Err("bytes after an empty graph".into()),
        };
    }
    if max_level > MAX_LEVEL || entry_slot >= size {
        return Err(format!(
            "max level {max_level}, entry slot {entry_slot} of {size} nodes"
        ));
    }
    let levels_bytes = file.take(rows * 2, "the node levels")?;
    let level_of = |i: usize| i16::from_le_bytes([levels_bytes[2 * i], levels_bytes[2 * i + 1]]);
    // Every search starts at the entry and descends from the max level through each node's own.
    if level_of(entry_slot as usize) as i64 != max_level as i64 {
        return Err(format!(
            "the entry node has level {}, the graph {max_level}",
            level_of(entry_slot as usize)
        ));
    }
    let capacity = |level: i16| if level == 0 { connectivity_base } else { connectivity } as usize;
    for node in 0..rows {
        let level = level_of(node);
        if level < 0 || level as u64 > max_level {
            return Err(format!("node {node} has level {level} (max {max_level})"));
        }
        file.u64("a node's key")?;
        if file.i16("a node's level")? != level {
            return Err(format!("node {node}'s level differs from the level table"));
        }
        for l in 0..=level {
            let neighbours = file.u32("a neighbour count")? as usize;
            if neighbours > capacity(l) {
                return Err(format!(
                    "node {node} has {neighbours} neighbours on level {l} (at most {})",
                    capacity(l)
                ));
            }
            let slots = file.take(capacity(l) * 4, "a neighbour list")?;
            for slot in slots.chunks_exact(4).take(neighbours) {
                let slot = u32::from_le_bytes(slot.try_into().expect("4 bytes"));
                // A link on level l goes to a node that has level l (usearch throws across
                // the FFI boundary, an abort, when it follows one that does not).
                if slot as u64 >= size || slot as usize == node || level_of(slot as usize) < l {
                    return Err(format!("node {node} links to slot {slot} of {size} on level {l}"));
                }
            }
        }
    }
    if file.at != bytes.len() {
        return Err(format!("{} bytes after the last node", bytes.len() - file.at));
    }
    Ok(GraphFile {
        dim,
        metric,
        quantization,
        nodes: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HnswConfig, HnswIndex, VectorIndex};

    fn saved(metric: Metric, quantization: Quantization, removed: usize) -> Vec<u8> {
        let dim = 12;
        let keys: Vec<u64> = (0..300).collect();
        let vectors: Vec<f32> = (0..300 * dim)
            .map(|i| ((i * 7919) % 101) as f32 / 101.0 - 0.5)
            .collect();
        let config = HnswConfig {
            quantization,
            connectivity: 4,
            ..Default::default()
        };
        let mut graph = HnswIndex::build(dim, metric, config, &keys, &vectors).unwrap();
        for key in 0..removed as u64 {
            assert!(graph.remove(key * 3).unwrap());
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        graph.save(file.path()).unwrap();
        std::fs::read(file.path()).unwrap()
    }

    #[test]
    fn graphs_of_every_kind_pass_and_say_what_they_hold() {
        for metric in [Metric::Euclidean, Metric::Cosine] {
            for quantization in [Quantization::F32, Quantization::F16, Quantization::I8] {
                for removed in [0, 7] {
                    let checked = check(&saved(metric, quantization, removed)).unwrap();
                    let expected = GraphFile {
                        dim: 12,
                        metric,
                        quantization,
                        nodes: 300,
                    };
                    assert_eq!(checked, expected, "{metric} {quantization:?}, {removed} removed");
                }
            }
        }
    }

    #[test]
    fn truncated_and_lengthened_files_are_refused() {
        let bytes = saved(Metric::Euclidean, Quantization::F32, 0);
        for len in [0, 7, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(check(&bytes[..len]).is_err(), "{len} of {} bytes", bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(check(&longer).unwrap_err().contains("after the last node"));
    }

    /// Damage anywhere but in the vectors' values: either the check refuses the file, or usearch
    /// opens it (loaded and mapped) and searches and inserts without crashing the process —
    /// which is what this test would do otherwise (usearch's own readers let all 29 of the
    /// fuzzer's first crashes through).
    #[test]
    fn damaged_graph_structure_is_refused_or_harmless() {
        let bytes = saved(Metric::Euclidean, Quantization::I8, 5);
        let vectors_end = 8 + 300 * 12;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut refused, mut opened) = (0, 0);
        for round in 0..400 {
            let mut damaged = bytes.clone();
            let at = match round % 4 {
                // The lengths and head, or anywhere in the graph.
                0 => (next() % (vectors_end.min(8) as u64)) as usize,
                1 => vectors_end + (next() % 64) as usize,
                _ => vectors_end + (next() as usize % (damaged.len() - vectors_end)),
            };
            damaged[at] ^= (next() % 255 + 1) as u8;
            if check(&damaged).is_err() {
                refused += 1;
                continue;
            }
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &damaged).unwrap();
            let config = HnswConfig {
                quantization: Quantization::I8,
                ..Default::default()
            };
            for mapped in [false, true] {
                let open = HnswIndex::open(file.path(), Metric::Euclidean, config, Default::default(), mapped);
                if let Ok(mut index) = open {
                    opened += 1;
                    let _ = index.search(&[0.1; 12], 10, None);
                    let _ = index.add(1 << 40, &[0.2; 12]);
                }
            }
        }
        assert!(refused > 100, "most damage is caught ({refused} of 400)");
        assert!(
            opened > 0,
            "some damage is harmless (a key, a neighbour's order): {opened}"
        );
    }
}
