//! Is the file whole? A structural walk of the container, before decoding.
//!
//! Decoders are lenient by design: a JPEG cut after its header decodes to a picture whose
//! missing rows are grey, and a PNG without its last chunk often decodes too. A catalogue
//! built from interrupted downloads would then be indexed as grey photos. Each format's
//! own framing says where the data must end (JPEG's end-of-image marker after the last
//! scan, PNG's IEND chunk, GIF's trailer, the RIFF length of WebP, BMP's file size), so a
//! file that stops before that point is reported as truncated, with where it stops.
//! Bytes after the end (trailing garbage, appended metadata) are accepted, as decoders do.

use image::ImageFormat;

/// `Err(reason)` when `bytes` of `format` end before the format says they should; `Ok` for
/// whole files and for formats (or damage) this walk cannot judge, which the decoder then
/// judges itself.
pub fn check_complete(bytes: &[u8], format: ImageFormat) -> Result<(), String> {
    match format {
        ImageFormat::Jpeg => jpeg(bytes),
        ImageFormat::Png => png(bytes),
        ImageFormat::Gif => gif(bytes),
        ImageFormat::WebP => riff(bytes),
        ImageFormat::Bmp => bmp(bytes),
        _ => Ok(()),
    }
}

/// Thousands separated by commas, as the reasons print byte counts.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn jpeg(bytes: &[u8]) -> Result<(), String> {
    let total = bytes.len();
    let mut frame: Option<(u16, u16)> = None;
    let mut scans = 0usize;
    let size = |frame: Option<(u16, u16)>| match frame {
        Some((w, h)) => format!("; the frame is {w}×{h}"),
        None => String::new(),
    };
    let mut pos = 2; // after SOI (guess_format checked FF D8)
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while pos < total && bytes[pos] == 0xFF && pos + 1 < total && bytes[pos + 1] == 0xFF {
            pos += 1;
        }
        if pos + 1 >= total {
            let place = if scans > 0 {
                format!("after scan {scans}")
            } else {
                "in the header".to_string()
            };
            return Err(format!(
                "truncated JPEG: the data stops at byte {} {place}, before the end-of-image marker{}",
                count(total),
                size(frame)
            ));
        }
        if bytes[pos] != 0xFF {
            // Not a marker where one must be: damage the decoder will name.
            return Ok(());
        }
        let marker = bytes[pos + 1];
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD8 => {
                pos += 2;
                continue;
            }
            _ => {}
        }
        if pos + 4 > total {
            return Err(format!(
                "truncated JPEG: the data stops at byte {} inside a segment header",
                count(total)
            ));
        }
        let length = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        let end = pos + 2 + length;
        if length < 2 {
            return Ok(());
        }
        if end > total {
            return Err(format!(
                "truncated JPEG: the data stops at byte {} inside the {} segment that needs {} bytes{}",
                count(total),
                marker_name(marker),
                count(end),
                size(frame)
            ));
        }
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) && length >= 7 {
            let h = u16::from_be_bytes([bytes[pos + 5], bytes[pos + 6]]);
            let w = u16::from_be_bytes([bytes[pos + 7], bytes[pos + 8]]);
            frame = Some((w, h));
        }
        pos = end;
        if marker == 0xDA {
            scans += 1;
            // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), a restart
            // marker or 0xFF (fill); anything else is the next marker.
            let mut i = pos;
            loop {
                match memchr_ff(&bytes[i..]) {
                    Some(offset) => i += offset,
                    None => {
                        return Err(format!(
                            "truncated JPEG: the data stops at byte {} inside scan {scans} ({} of its bytes \
                             read), before the end-of-image marker{}",
                            count(total),
                            count(total - pos),
                            size(frame)
                        ));
                    }
                }
                if i + 1 >= total {
                    return Err(format!(
                        "truncated JPEG: the data stops at byte {} inside scan {scans}, one byte short of a marker{}",
                        count(total),
                        size(frame)
                    ));
                }
                match bytes[i + 1] {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    0xFF => i += 1,
                    _ => break,
                }
            }
            pos = i;
        }
    }
}

fn memchr_ff(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0xFF)
}

fn marker_name(marker: u8) -> String {
    match marker {
        0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => "frame header (SOF)".into(),
        0xC4 => "Huffman table (DHT)".into(),
        0xDA => "scan header (SOS)".into(),
        0xDB => "quantisation table (DQT)".into(),
        0xDD => "restart interval (DRI)".into(),
        0xE0..=0xEF => format!("APP{}", marker - 0xE0),
        0xFE => "comment (COM)".into(),
        other => format!("0xFF{other:02X}"),
    }
}

fn png(bytes: &[u8]) -> Result<(), String> {
    let total = bytes.len();
    let mut pos = 8; // after the signature
    let mut image_bytes = 0usize;
    loop {
        if pos + 8 > total {
            return Err(format!(
                "truncated PNG: the data stops at byte {} before the IEND chunk ({} bytes of image data read)",
                count(total),
                count(image_bytes)
            ));
        }
        let length = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let end = pos.saturating_add(12).saturating_add(length);
        if end > total {
            return Err(format!(
                "truncated PNG: the data stops at byte {} inside the {} chunk that needs {} bytes ({} bytes of \
                 image data read before it)",
                count(total),
                String::from_utf8_lossy(kind),
                count(end),
                count(image_bytes)
            ));
        }
        if kind == b"IDAT" {
            image_bytes += length;
        }
        if kind == b"IEND" {
            return Ok(());
        }
        pos = end;
    }
}

fn gif(bytes: &[u8]) -> Result<(), String> {
    let total = bytes.len();
    let short = |what: &str| {
        Err(format!(
            "truncated GIF: the data stops at byte {} {what}, before the trailer",
            count(total)
        ))
    };
    // Header (6) + logical screen descriptor (7), then the global colour table.
    if total < 13 {
        return short("inside the header");
    }
    let mut pos = 13;
    if bytes[10] & 0x80 != 0 {
        pos += 3 << ((bytes[10] & 0x07) + 1);
    }
    // Data sub-blocks: a length byte, that many bytes, until a zero length.
    let skip_blocks = |mut pos: usize| -> Option<usize> {
        loop {
            let len = usize::from(*bytes.get(pos)?);
            pos += 1;
            if len == 0 {
                return Some(pos);
            }
            pos += len;
        }
    };
    let mut frames = 0;
    loop {
        let Some(&block) = bytes.get(pos) else {
            return short(&format!("after {frames} frame(s)"));
        };
        match block {
            0x3B => return Ok(()),
            0x21 => match skip_blocks(pos + 2) {
                Some(next) => pos = next,
                None => return short("inside an extension block"),
            },
            0x2C => {
                let Some(&packed) = bytes.get(pos + 9) else {
                    return short("inside an image descriptor");
                };
                pos += 10;
                if packed & 0x80 != 0 {
                    pos += 3 << ((packed & 0x07) + 1);
                }
                // The LZW minimum code size, then the image data's sub-blocks.
                match skip_blocks(pos + 1) {
                    Some(next) => pos = next,
                    None => return short(&format!("inside the image data of frame {}", frames + 1)),
                }
                frames += 1;
            }
            // Not a block where one must be: damage the decoder will name.
            _ => return Ok(()),
        }
    }
}

fn riff(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 12 {
        return Err(format!(
            "truncated WebP: {} bytes, shorter than its header",
            bytes.len()
        ));
    }
    let declared = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize + 8;
    if bytes.len() < declared {
        return Err(format!(
            "truncated WebP: {} of the {} bytes its header declares",
            count(bytes.len()),
            count(declared)
        ));
    }
    Ok(())
}

fn bmp(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 6 {
        return Err(format!("truncated BMP: {} bytes, shorter than its header", bytes.len()));
    }
    let declared = u32::from_le_bytes(bytes[2..6].try_into().expect("4 bytes")) as usize;
    // Some writers leave the size field 0; only a positive claim is checked.
    if declared > bytes.len() {
        return Err(format!(
            "truncated BMP: {} of the {} bytes its header declares",
            count(bytes.len()),
            count(declared)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(7), "7");
        assert_eq!(count(2000), "2,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn jpeg_markers_inside_scans_are_told_apart_from_its_end() {
        // SOI, a scan whose data holds a stuffed byte and a restart marker, then EOI.
        let mut whole = vec![0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        whole.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9]);
        assert_eq!(jpeg(&whole), Ok(()));
        let mut garbage = whole.clone();
        garbage.extend_from_slice(b"trailing bytes");
        assert_eq!(jpeg(&garbage), Ok(()));
        for cut in [3, 5, 8, 11, whole.len() - 1] {
            let err = jpeg(&whole[..cut]).unwrap_err();
            assert!(err.starts_with("truncated JPEG"), "{cut}: {err}");
        }
    }

    #[test]
    fn gif_blocks_are_walked_to_the_trailer() {
        // GIF89a, 1×1, no colour table, one image of one data block, trailer.
        let mut whole = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();
        whole.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
        assert_eq!(gif(&whole), Ok(()));
        for cut in [10, 13, 20, whole.len() - 1] {
            assert!(gif(&whole[..cut]).unwrap_err().starts_with("truncated GIF"), "{cut}");
        }
    }
}
