//! The legacy `.pth` reader on small files written here the way `torch.save` (pre-1.6)
//! lays them out: a contiguous tensor, a transposed view, a view at an offset into a
//! shared storage, an int64 scalar; then truncations and files that are not PyTorch's.

use std::collections::HashMap;

use lookbook_pretrained::{DType, NamedTensor, parse_legacy, read_legacy, read_safetensors, write_safetensors};

/// One tensor of the state dict: a view of storage `key`.
struct View {
    name: &'static str,
    key: &'static str,
    offset: i32,
    size: Vec<i32>,
    stride: Vec<i32>,
}

/// A storage: its torch class and raw little-endian elements.
struct Storage {
    key: &'static str,
    class: &'static str,
    numel: i32,
    bytes: Vec<u8>,
}

fn unicode(out: &mut Vec<u8>, text: &str) {
    out.push(b'X');
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(text.as_bytes());
}

fn int(out: &mut Vec<u8>, value: i32) {
    out.push(b'J');
    out.extend(value.to_le_bytes());
}

fn tuple(out: &mut Vec<u8>, values: &[i32]) {
    out.push(b'(');
    values.iter().for_each(|&v| int(out, v));
    out.push(b't');
}

/// The bytes `torch.save(state_dict, f, _use_new_zipfile_serialization=False)` writes,
/// protocol 2, with memo PUT/GET for a storage's persistent id as pickle does.
fn legacy_file(views: &[View], storages: &[Storage]) -> Vec<u8> {
    let mut out = Vec::new();
    // Magic number, a 10-byte LONG1.
    out.extend([0x80, 2, 0x8a, 10]);
    out.extend(&0x1950a86a20f9469cfc6cu128.to_le_bytes()[..10]);
    out.push(b'.');
    // Protocol version 1001.
    out.extend([0x80, 2, b'M']);
    out.extend(1001u16.to_le_bytes());
    out.push(b'.');
    // System info.
    out.extend([0x80, 2, b'}', b'(']);
    unicode(&mut out, "protocol_version");
    int(&mut out, 1001);
    unicode(&mut out, "little_endian");
    out.push(0x88);
    out.extend([b'u', b'.']);
    // The state dict: OrderedDict() filled by SETITEMS.
    out.extend([0x80, 2]);
    out.extend(b"ccollections\nOrderedDict\nq\x00)Rq\x01(");
    let mut memo: HashMap<&str, u8> = HashMap::new();
    let mut next_memo = 2u8;
    for view in views {
        unicode(&mut out, view.name);
        out.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        if let Some(&slot) = memo.get(view.key) {
            out.extend([b'h', slot]);
        } else {
            let storage = storages.iter().find(|s| s.key == view.key).unwrap();
            out.push(b'(');
            unicode(&mut out, "storage");
            out.extend(format!("ctorch\n{}\n", storage.class).as_bytes());
            unicode(&mut out, storage.key);
            unicode(&mut out, "cpu");
            int(&mut out, storage.numel);
            out.extend([b'N', b't', b'q', next_memo]);
            memo.insert(view.key, next_memo);
            next_memo += 1;
        }
        out.push(b'Q');
        int(&mut out, view.offset);
        tuple(&mut out, &view.size);
        tuple(&mut out, &view.stride);
        out.push(0x89);
        out.extend(b"ccollections\nOrderedDict\n)R");
        out.extend([b't', b'R']);
    }
    out.extend([b'u', b'.']);
    // Storage keys, then each storage: element count and bytes.
    out.extend([0x80, 2, b']', b'(']);
    storages.iter().for_each(|s| unicode(&mut out, s.key));
    out.extend([b'e', b'.']);
    for storage in storages {
        out.extend((storage.numel as u64).to_le_bytes());
        out.extend(&storage.bytes);
    }
    out
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn sample() -> Vec<u8> {
    let storages = [
        // 0..6 then 100, 101 (the view at an offset reads those two).
        Storage {
            key: "0",
            class: "FloatStorage",
            numel: 8,
            bytes: f32_bytes([0., 1., 2., 3., 4., 5., 100., 101.]),
        },
        // A 3×2 matrix stored row-major; the tensor is its 2×3 transpose.
        Storage {
            key: "1",
            class: "FloatStorage",
            numel: 6,
            bytes: f32_bytes([10., 11., 12., 13., 14., 15.]),
        },
        Storage {
            key: "2",
            class: "LongStorage",
            numel: 1,
            bytes: 7i64.to_le_bytes().to_vec(),
        },
    ];
    let views = [
        View {
            name: "conv.weight",
            key: "0",
            offset: 0,
            size: vec![2, 3],
            stride: vec![3, 1],
        },
        View {
            name: "fc.weight",
            key: "1",
            offset: 0,
            size: vec![2, 3],
            stride: vec![1, 2],
        },
        View {
            name: "tail",
            key: "0",
            offset: 6,
            size: vec![2],
            stride: vec![1],
        },
        View {
            name: "bn.num_batches_tracked",
            key: "2",
            offset: 0,
            size: vec![],
            stride: vec![],
        },
    ];
    legacy_file(&views, &storages)
}

#[test]
fn reads_contiguous_transposed_offset_and_integer_tensors() {
    let tensors = parse_legacy(&sample()).unwrap();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["conv.weight", "fc.weight", "tail", "bn.num_batches_tracked"]);
    assert_eq!(tensors[0].shape, [2, 3]);
    assert_eq!(tensors[0].to_f32().unwrap(), [0., 1., 2., 3., 4., 5.]);
    // The transpose of [[10, 11], [12, 13], [14, 15]].
    assert_eq!(tensors[1].shape, [2, 3]);
    assert_eq!(tensors[1].to_f32().unwrap(), [10., 12., 14., 11., 13., 15.]);
    assert_eq!(tensors[2].to_f32().unwrap(), [100., 101.]);
    assert_eq!(tensors[3].dtype, DType::I64);
    assert_eq!(tensors[3].shape, Vec::<usize>::new());
    assert_eq!(tensors[3].data, 7i64.to_le_bytes());
}

#[test]
fn converts_to_safetensors_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let pth = dir.path().join("tiny.pth");
    std::fs::write(&pth, sample()).unwrap();
    let tensors = read_legacy(&pth).unwrap();
    let out = dir.path().join("weights/tiny.safetensors");
    write_safetensors(&out, &tensors, HashMap::new()).unwrap();
    let mut back = read_safetensors(&out).unwrap();
    back.sort_by(|a, b| a.name.cmp(&b.name));
    let mut expected: Vec<NamedTensor> = tensors.clone();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(back, expected);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("weights"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the renamed file remains: {leftovers:?}");
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = sample();
    for length in 0..bytes.len() {
        let result = parse_legacy(&bytes[..length]);
        assert!(
            result.is_err(),
            "a file cut at {length} of {} bytes was accepted",
            bytes.len()
        );
    }
    let message = parse_legacy(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn files_that_are_not_legacy_pytorch_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("photo.pth");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n....").unwrap();
    let error = read_legacy(&png).unwrap_err().to_string();
    assert!(
        error.contains("photo.pth") && error.contains("not a PyTorch file"),
        "{error}"
    );

    let zip = parse_legacy(b"PK\x03\x04rest of a zip").unwrap_err();
    assert!(zip.contains("zip-format"), "{zip}");

    // A pickle, but of something else (an int, not the magic number).
    let other = parse_legacy(&[0x80, 2, b'K', 5, b'.']).unwrap_err();
    assert!(other.contains("magic"), "{other}");

    // A view reaching past its storage.
    let storages = [Storage {
        key: "0",
        class: "FloatStorage",
        numel: 2,
        bytes: f32_bytes([1., 2.]),
    }];
    let views = [View {
        name: "w",
        key: "0",
        offset: 1,
        size: vec![2],
        stride: vec![1],
    }];
    let beyond = parse_legacy(&legacy_file(&views, &storages)).unwrap_err();
    assert!(beyond.contains("tensor w"), "{beyond}");

    let missing = read_legacy(&dir.path().join("absent.pth")).unwrap_err().to_string();
    assert!(missing.contains("absent.pth"), "{missing}");
}

/// `n` lists, each appended into the one before: a pickle nesting `n` deep in 2n + 3 bytes.
fn nested_lists(n: usize) -> Vec<u8> {
    let mut bytes = vec![0x80, 0x02];
    bytes.extend(std::iter::repeat_n(b']', n));
    bytes.extend(std::iter::repeat_n(b'a', n - 1));
    bytes.push(b'.');
    bytes
}

#[test]
fn deep_nesting_is_an_error_or_parsed_never_a_stack_overflow() {
    // Within the cap: parsed (it is no weights file) and dropped on the parser's deep stack.
    let within = parse_legacy(&nested_lists(150_000)).unwrap_err();
    assert!(within.contains("magic"), "{within}");
    // Beyond it: refused before it is built (it once overflowed the stack at 300,000).
    let beyond = parse_legacy(&nested_lists(300_000)).unwrap_err();
    assert!(beyond.contains("nested values"), "{beyond}");
}
