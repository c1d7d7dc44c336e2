//! PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, read without Python.
//!
//! ```text
//! pickle(magic 0x1950a86a20f9469cfc6c) pickle(protocol 1001) pickle(sys_info)
//! pickle(state dict: tensors = _rebuild_tensor_v2(persistent id of a storage, offset, size, stride, ...))
//! pickle([storage keys]) then, per key in that order: u64 element count + the raw elements
//! ```
//! A tensor is a view of its storage: size, stride and offset in elements. Weights converted
//! from TensorFlow are often transposed views, so every tensor is gathered through its
//! stride into a contiguous row-major copy.

use std::collections::HashMap;
use std::path::Path;

use crate::WeightsError;
use crate::pickle::{self, Value};
use crate::tensor::{DType, NamedTensor};

/// The first pickle of every legacy file.
const MAGIC: u128 = 0x1950a86a20f9469cfc6c;
const PROTOCOL: i64 = 1001;

/// Reads every tensor of a legacy `.pth` state dict, in the file's order.
pub fn read_legacy(path: &Path) -> Result<Vec<NamedTensor>, WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::io(path, e))?;
    parse_legacy(&bytes).map_err(|message| WeightsError::Format {
        path: path.to_path_buf(),
        message,
    })
}

/// The parser's stack: values from a file drop and clone recursively, as deep as they nest
/// (at most [`pickle::MAX_CONTAINERS`] levels), so they live on a thread with room for that.
const PARSER_STACK: usize = 256 << 20;

/// [`read_legacy`] on bytes already in memory.
pub fn parse_legacy(bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("pth-parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || parse_legacy_here(bytes))
            .map_err(|e| format!("cannot start the .pth parser thread: {e}"))?
            .join()
            .map_err(|_| "the .pth parser panicked".to_string())?
    })
}

fn parse_legacy_here(bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err("a zip-format PyTorch file (torch >= 1.6); only the legacy format is read here".into());
    }
    if bytes.first() != Some(&0x80) {
        return Err("not a PyTorch file (it does not start with a pickle)".into());
    }
    let mut position = 0;
    let magic = pickle::load(bytes, &mut position)?;
    if long_value(&magic) != Some(MAGIC) {
        return Err("not a legacy PyTorch file (wrong magic number)".into());
    }
    let protocol = pickle::load(bytes, &mut position)?;
    if protocol.as_int() != Some(PROTOCOL) {
        // Never `{:?}` a value from the file: a pickle can make a list that holds itself, and
        // printing it would recurse for ever (found by fuzzing, issue 21).
        return Err(match protocol.as_int() {
            Some(number) => format!("unsupported legacy protocol {number}"),
            None => "the legacy protocol number is not an integer".to_string(),
        });
    }
    let sys_info = pickle::load(bytes, &mut position)?;
    if let Some(Value::Bool(false)) = sys_info.get("little_endian") {
        return Err("written on a big-endian machine; only little-endian files are read".into());
    }
    let root = pickle::load(bytes, &mut position)?;
    let keys = pickle::load(bytes, &mut position)?
        .items()
        .ok_or("the storage key list is not a list")?;

    // Every tensor first, to learn each storage's element type from its persistent id.
    let state = state_dict(&root)?;
    let mut views = Vec::new();
    let mut storage_types: HashMap<String, DType> = HashMap::new();
    for (name, value) in state {
        let view = TensorView::from_value(&name, &value)?;
        if let Some(previous) = storage_types.insert(view.storage.clone(), view.dtype)
            && previous != view.dtype
        {
            return Err(format!("storage {} is read as two element types", view.storage));
        }
        views.push((name, view));
    }

    // Storages follow in the order of the key list.
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in keys {
        let key = key_text(&key).ok_or("a storage key is not a string")?;
        let count_bytes = bytes
            .get(position..position + 8)
            .ok_or_else(|| format!("truncated: storage {key} at byte {position}"))?;
        let count = u64::from_le_bytes(count_bytes.try_into().expect("8 bytes"));
        position += 8;
        // A storage no tensor refers to still has to be stepped over; its type is unknown,
        // so it can only be the last one.
        let element = storage_types.get(&key).map(|d| d.size()).unwrap_or(1);
        let length = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(element))
            .filter(|&l| position.checked_add(l).is_some_and(|end| end <= bytes.len()))
            .ok_or_else(|| {
                format!(
                    "truncated: storage {key} holds {count} elements of {element} bytes at byte {position}, the file ends at {}",
                    bytes.len()
                )
            })?;
        storages.insert(key, &bytes[position..position + length]);
        position += length;
    }

    views
        .into_iter()
        .map(|(name, view)| {
            let storage = storages
                .get(&view.storage)
                .ok_or_else(|| format!("tensor {name}: storage {} is not in the file", view.storage))?;
            view.gather(&name, storage)
        })
        .collect()
}

/// The (name, tensor value) pairs of a state dict, also when it is nested under
/// `state_dict` or `model` as training scripts often save it.
fn state_dict(root: &Value) -> Result<Vec<(String, Value)>, String> {
    let Value::Dict(items) = root else {
        return Err("the saved object is not a dict of tensors".into());
    };
    for nested in ["state_dict", "model"] {
        if let Some(inner @ Value::Dict(_)) = root.get(nested) {
            return state_dict(&inner);
        }
    }
    items
        .borrow()
        .iter()
        .map(|(key, value)| {
            let name = key_text(key).ok_or("a state dict key is not a string")?;
            Ok((name, value.clone()))
        })
        .collect()
}

/// A tensor as the pickle describes it: which storage, where, what shape.
struct TensorView {
    storage: String,
    dtype: DType,
    storage_len: usize,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorView {
    fn from_value(name: &str, value: &Value) -> Result<Self, String> {
        let Value::Call { callable, args, .. } = value else {
            return Err(format!("{name} is not a tensor"));
        };
        let args = args
            .items()
            .ok_or_else(|| format!("{name}: arguments are not a tuple"))?;
        match callable.global_name().as_deref() {
            // A Parameter wraps a tensor: (tensor, requires_grad, hooks).
            Some("torch._utils._rebuild_parameter") => {
                let inner = args.first().ok_or_else(|| format!("{name}: an empty parameter"))?;
                Self::from_value(name, inner)
            }
            Some("torch._utils._rebuild_tensor_v2") | Some("torch._utils._rebuild_tensor") => {
                let bad = |what: &str| format!("{name}: {what}");
                let [pid, offset, size, stride, ..] = args.as_slice() else {
                    return Err(bad("too few arguments to _rebuild_tensor"));
                };
                let Value::Persistent(pid) = pid else {
                    return Err(bad("the storage is not a persistent id"));
                };
                let pid = pid.items().ok_or_else(|| bad("the persistent id is not a tuple"))?;
                // ('storage', torch.FloatStorage, key, location, size, view_metadata)
                let [kind, storage_type, key, _location, storage_len, ..] = pid.as_slice() else {
                    return Err(bad("a short persistent id"));
                };
                if key_text(kind).as_deref() != Some("storage") {
                    return Err(bad("a persistent id that is not a storage"));
                }
                let type_name = storage_type.global_name().ok_or_else(|| bad("no storage type"))?;
                let dtype =
                    DType::from_storage(&type_name).ok_or_else(|| bad(&format!("unsupported storage {type_name}")))?;
                let index = |v: &Value| v.as_int().and_then(|i| usize::try_from(i).ok());
                let list = |v: &Value| -> Option<Vec<usize>> { v.items()?.iter().map(index).collect() };
                let view = TensorView {
                    storage: key_text(key).ok_or_else(|| bad("a storage key that is not a string"))?,
                    dtype,
                    storage_len: index(storage_len).ok_or_else(|| bad("a bad storage size"))?,
                    offset: index(offset).ok_or_else(|| bad("a bad storage offset"))?,
                    size: list(size).ok_or_else(|| bad("a bad size"))?,
                    stride: list(stride).ok_or_else(|| bad("a bad stride"))?,
                };
                if view.size.len() != view.stride.len() {
                    return Err(bad("size and stride differ in length"));
                }
                Ok(view)
            }
            other => Err(format!(
                "{name}: {} is not a tensor constructor",
                other.unwrap_or_default()
            )),
        }
    }

    /// The view's elements in row-major order, bounds-checked against the storage.
    fn gather(self, name: &str, storage: &[u8]) -> Result<NamedTensor, String> {
        let element = self.dtype.size();
        let available = storage.len() / element;
        if available != self.storage_len {
            return Err(format!(
                "tensor {name}: storage {} holds {available} elements, its id says {}",
                self.storage, self.storage_len
            ));
        }
        // A weights file's views never read more elements than their storage holds; a size
        // or stride from a hostile file must not overflow, allocate gigabytes or loop for ever
        // (issue 21: the fuzzer found a view of 25 GB over a storage of a few bytes).
        let too_big = || {
            format!(
                "tensor {name}: its view of {:?} is larger than its storage of {available}",
                self.size
            )
        };
        let count = self
            .size
            .iter()
            .try_fold(1usize, |n, &s| n.checked_mul(s))
            .filter(|&n| n <= available)
            .ok_or_else(too_big)?;
        if count > 0 {
            let reach = self
                .size
                .iter()
                .zip(&self.stride)
                .try_fold(self.offset, |at, (&s, &st)| {
                    (s - 1).checked_mul(st).and_then(|d| at.checked_add(d))
                });
            let last = reach.ok_or_else(too_big)?;
            if last >= available {
                return Err(format!(
                    "tensor {name}: its view reaches element {last} of a storage of {available}"
                ));
            }
        }
        let mut data = Vec::with_capacity(count * element);
        let mut index = vec![0usize; self.size.len()];
        for _ in 0..count {
            let at = self.offset + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            data.extend_from_slice(&storage[at * element..(at + 1) * element]);
            // Odometer over the shape, last dimension fastest.
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.size[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(NamedTensor {
            name: name.to_string(),
            dtype: self.dtype,
            shape: self.size,
            data,
        })
    }
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(text.clone()),
        Value::Bytes(bytes) => String::from_utf8(bytes.clone()).ok(),
        _ => None,
    }
}

fn long_value(value: &Value) -> Option<u128> {
    match value {
        Value::Int(v) => u128::try_from(*v).ok(),
        Value::Long(bytes) if bytes.len() <= 16 && bytes.last().is_some_and(|&b| b & 0x80 == 0) => {
            let mut full = [0u8; 16];
            full[..bytes.len()].copy_from_slice(bytes);
            Some(u128::from_le_bytes(full))
        }
        _ => None,
    }
}
