//! The index's records (item id, image, attributes per row), parsed or read on demand.
//!
//! A million records are ~300 MB of JSON lines and take seconds to parse, which would make
//! opening a large index slow even with its vectors mapped. So a mapped index keeps the
//! records file mapped too, with the start of each line (one `memchr` pass) and the keys
//! (from the binary keys file): a row is parsed when it is asked for, and everything is
//! parsed once, the first time the records change.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::IndexError;
use crate::store::Record;

/// The records of an index in row order, with their keys.
pub struct Records {
    keys: Vec<u64>,
    store: Store,
}

enum Store {
    Parsed(Vec<Record>),
    /// A mapped JSON-lines file: line `i` is `text[starts[i]..starts[i + 1] - 1]`.
    Lazy {
        text: memmap2::Mmap,
        starts: Vec<usize>,
        path: PathBuf,
    },
}

impl Default for Records {
    fn default() -> Self {
        Records {
            keys: Vec::new(),
            store: Store::Parsed(Vec::new()),
        }
    }
}

impl Records {
    /// Records already in memory.
    pub fn parsed(records: Vec<Record>) -> Self {
        Records {
            keys: records.iter().map(|r| r.key).collect(),
            store: Store::Parsed(records),
        }
    }

    /// A mapped JSON-lines file whose rows have `keys`; fails when the line count differs.
    pub(crate) fn lazy(text: memmap2::Mmap, keys: Vec<u64>, path: &Path) -> Result<Self, IndexError> {
        let mut starts = Vec::with_capacity(keys.len() + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', &text).map(|newline| newline + 1));
        if starts.last() != Some(&text.len()) || starts.len() != keys.len() + 1 {
            return Err(IndexError::Corrupt {
                path: path.to_path_buf(),
                message: format!("{} lines for {} keys", starts.len() - 1, keys.len()),
            });
        }
        Ok(Records {
            keys,
            store: Store::Lazy {
                text,
                starts,
                path: path.to_path_buf(),
            },
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys in row order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// Whether rows are parsed on demand.
    pub fn is_lazy(&self) -> bool {
        matches!(self.store, Store::Lazy { .. })
    }

    /// Row `row` (parsed now when the records are lazy). Panics past the end, like a slice.
    pub fn get(&self, row: usize) -> Result<Cow<'_, Record>, IndexError> {
        match &self.store {
            Store::Parsed(records) => Ok(Cow::Borrowed(&records[row])),
            Store::Lazy { text, starts, path } => {
                let line = &text[starts[row]..starts[row + 1] - 1];
                let record: Record = serde_json::from_slice(line).map_err(|e| IndexError::Corrupt {
                    path: path.clone(),
                    message: format!("line {}: {e}", row + 1),
                })?;
                if record.key != self.keys[row] {
                    return Err(IndexError::Corrupt {
                        path: path.clone(),
                        message: format!(
                            "line {} has key {}, the keys file {}",
                            row + 1,
                            record.key,
                            self.keys[row]
                        ),
                    });
                }
                Ok(Cow::Owned(record))
            }
        }
    }

    /// Every row in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Cow<'_, Record>, IndexError>> {
        (0..self.len()).map(|row| self.get(row))
    }

    /// The first row of item `item_id`. Lazy records are searched as text (for the item id
    /// as the serialiser writes it) and only candidate lines are parsed.
    pub fn find_item(&self, item_id: &str) -> Result<Option<usize>, IndexError> {
        match &self.store {
            Store::Parsed(records) => Ok(records.iter().position(|r| r.item_id == item_id)),
            Store::Lazy { text, starts, .. } => {
                let needle = format!(
                    "\"item_id\":{}",
                    serde_json::to_string(item_id).expect("strings serialise")
                );
                for at in memchr::memmem::find_iter(text, needle.as_bytes()) {
                    let row = starts.partition_point(|&s| s <= at) - 1;
                    if self.get(row)?.item_id == item_id {
                        return Ok(Some(row));
                    }
                }
                Ok(None)
            }
        }
    }

    /// The records as a vector to change (lazy ones are parsed, all of them, once).
    fn materialise(&mut self) -> Result<&mut Vec<Record>, IndexError> {
        if self.is_lazy() {
            let records = self
                .iter()
                .map(|r| r.map(Cow::into_owned))
                .collect::<Result<Vec<_>, _>>()?;
            self.store = Store::Parsed(records);
        }
        match &mut self.store {
            Store::Parsed(records) => Ok(records),
            Store::Lazy { .. } => unreachable!("parsed above"),
        }
    }

    pub(crate) fn push(&mut self, record: Record) -> Result<(), IndexError> {
        let key = record.key;
        self.materialise()?.push(record);
        self.keys.push(key);
        Ok(())
    }

    /// Replaces row `row` (the key must stay the same).
    pub(crate) fn set(&mut self, row: usize, record: Record) -> Result<(), IndexError> {
        debug_assert_eq!(record.key, self.keys[row]);
        self.materialise()?[row] = record;
        Ok(())
    }

    /// Keeps the rows whose `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) -> Result<(), IndexError> {
        let records = self.materialise()?;
        let mut row = 0;
        records.retain(|_| {
            row += 1;
            keep[row - 1]
        });
        let mut row = 0;
        self.keys.retain(|_| {
            row += 1;
            keep[row - 1]
        });
        Ok(())
    }

    /// Every record as JSON lines into `out` (lazy ones as they are on disk), one at a time.
    pub(crate) fn write_jsonl(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match &self.store {
            Store::Lazy { text, .. } => out.write_all(text),
            Store::Parsed(records) => {
                for record in records {
                    serde_json::to_writer(&mut *out, record)?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
        }
    }
}

impl PartialEq for Records {
    /// Same keys and the same records (lazy rows that cannot be parsed compare unequal).
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| matches!((a, b), (Ok(a), Ok(b)) if a == b))
    }
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Records({} rows{})",
            self.len(),
            if self.is_lazy() { ", lazy" } else { "" }
        )
    }
}
