//! Image data sets: IDX files (the MNIST / Fashion-MNIST format, raw or gzip-compressed) and
//! folders of PNG files, as `[C, H, W]` rows with pixels mapped to [−1, 1] ([`PIXEL_RANGE`]).
//!
//! IDX is read by hand: the format is a 4-byte magic, big-endian u32 sizes and raw bytes, and
//! no maintained crate reads generic IDX (the `mnist` crate hard-codes the MNIST files). Every
//! size is checked against the file before anything is allocated. PNG decoding is the `png`
//! crate's; gzip is `flate2`'s.

use super::dataset::Dataset;
use super::error::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The data values of pixel 0 and pixel 255: pixels are stored as `p / 127.5 − 1`, so the
/// runtime and the C pixel helper undo it exactly (`p = (x + 1) · 127.5`).
pub const PIXEL_RANGE: [f32; 2] = [-1.0, 1.0];

/// A pixel byte as a data value in [`PIXEL_RANGE`].
pub fn pixel_to_value(p: u8) -> f32 {
    f32::from(p) / 127.5 - 1.0
}

fn malformed(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Largest decompressed IDX file we accept (the whole Fashion-MNIST train set is 47 MB).
const MAX_IDX_BYTES: u64 = 4 << 30;

/// Reads an IDX image file (`*-images-idx3-ubyte`, optionally `.gz`): unsigned bytes with
/// shape `[n, h, w]`, as `n` rows of shape `[1, h, w]` in [`PIXEL_RANGE`].
pub fn load_idx_images(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_idx_images(&bytes).map_err(|e| e.with_path(path))
}

/// Reads an IDX label file (`*-labels-idx1-ubyte`, optionally `.gz`): one class byte per item.
pub fn load_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (dims, data) = idx_parts(&bytes).map_err(|e| e.with_path(path))?;
    if dims.len() != 1 {
        return Err(malformed(
            path,
            format!("a label file has 1 dimension, this one {}", dims.len()),
        ));
    }
    Ok(data.to_vec())
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| malformed(path, format!("gzip: {e}")))?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(malformed(path, "decompresses to more than 4 GiB"));
        }
        return Ok(out);
    }
    Ok(raw)
}

/// Splits IDX bytes into dimensions and unsigned-byte data, checking magic and sizes.
fn idx_parts(bytes: &[u8]) -> Result<(Vec<usize>, &[u8]), DataError> {
    let mem = Path::new("<memory>");
    let [0, 0, dtype, ndim, ..] = *bytes else {
        return Err(malformed(mem, "not an IDX file (too short or bad magic)"));
    };
    if dtype != 0x08 {
        return Err(DataError::UnsupportedDtype {
            path: mem.to_path_buf(),
            dtype: format!("IDX type 0x{dtype:02x} (only unsigned bytes, 0x08, are read)"),
        });
    }
    let ndim = usize::from(ndim);
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(malformed(
            mem,
            format!("{ndim} dimensions do not fit the file"),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| malformed(mem, format!("shape {dims:?} overflows")))?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(malformed(
            mem,
            format!(
                "shape {dims:?} needs {count} data bytes, the file has {}",
                data.len()
            ),
        ));
    }
    Ok((dims, data))
}

/// Parses IDX image bytes (`[n, h, w]` unsigned bytes).
pub fn parse_idx_images(bytes: &[u8]) -> Result<Dataset, DataError> {
    let (dims, data) = idx_parts(bytes)?;
    let [n, h, w] = dims[..] else {
        return Err(DataError::Shape {
            path: "<memory>".into(),
            reason: format!("an IDX image file is [n, h, w]; this one is {dims:?}"),
        });
    };
    if n == 0 || h == 0 || w == 0 {
        return Err(DataError::Empty {
            path: "<memory>".into(),
        });
    }
    Ok(Dataset {
        data: data.iter().map(|&p| pixel_to_value(p)).collect(),
        n,
        data_shape: vec![1, h, w],
    })
}

/// Reads every `.png` in `dir` (sorted by name) as one `[C, H, W]` image in [`PIXEL_RANGE`]:
/// grey (C = 1), grey + alpha (2), RGB (3) or RGBA (4), 8 or 16 bits (16 rounded to 8),
/// palettes expanded. All files must share size and channel count; the first that does not is
/// named in the error.
pub fn load_png_folder(dir: &Path) -> Result<Dataset, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::Empty {
            path: dir.to_path_buf(),
        });
    }
    let mut data = Vec::new();
    let mut shape: Option<(PathBuf, [usize; 3])> = None;
    for f in &files {
        let (chw, pixels) = decode_png(f)?;
        match &shape {
            None => shape = Some((f.clone(), chw)),
            Some((first, s)) if *s != chw => {
                return Err(DataError::Shape {
                    path: f.clone(),
                    reason: format!(
                        "{}x{} with {} channel(s), but {} is {}x{} with {} (every image \
                         must have one size and channel count)",
                        chw[2],
                        chw[1],
                        chw[0],
                        first.display(),
                        s[2],
                        s[1],
                        s[0]
                    ),
                })
            }
            Some(_) => {}
        }
        data.extend(pixels);
    }
    let [c, h, w] = shape.expect("at least one file").1;
    Ok(Dataset {
        data,
        n: files.len(),
        data_shape: vec![c, h, w],
    })
}

/// One PNG as `[C, H, W]` and its channel-major values in [`PIXEL_RANGE`].
fn decode_png(path: &Path) -> Result<([usize; 3], Vec<f32>), DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| malformed(path, format!("PNG: {e}")))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| malformed(path, "PNG: image too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| malformed(path, format!("PNG: {e}")))?;
    let c = info.color_type.samples();
    let (h, w) = (info.height as usize, info.width as usize);
    let row = info.line_size;
    let mut out = vec![0.0f32; c * h * w];
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                out[(k * h + y) * w + x] = pixel_to_value(buf[y * row + x * c + k]);
            }
        }
    }
    Ok(([c, h, w], out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn idx_images_map_pixels_to_minus_one_one() {
        let ds = parse_idx_images(&idx(&[2, 1, 2], &[0, 255, 51, 204])).unwrap();
        assert_eq!((ds.n, ds.data_shape.clone()), (2, vec![1, 1, 2]));
        assert_eq!(ds.data, vec![-1.0, 1.0, -0.6, 0.6]);
        for p in 0..=255u8 {
            let back = ((pixel_to_value(p) + 1.0) * 127.5).round();
            assert_eq!(back, f32::from(p), "the mapping is undone exactly");
        }
    }

    #[test]
    fn idx_errors_are_typed() {
        let e = |b: Vec<u8>| parse_idx_images(&b).unwrap_err();
        assert!(matches!(e(vec![1, 2]), DataError::Malformed { .. }));
        assert!(matches!(
            e(vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]),
            DataError::UnsupportedDtype { .. }
        ));
        assert!(matches!(
            e(idx(&[2, 2, 2], &[0; 7])),
            DataError::Malformed { .. }
        ));
        assert!(matches!(e(idx(&[4, 2], &[0; 8])), DataError::Shape { .. }));
        assert!(matches!(e(idx(&[0, 2, 2], &[])), DataError::Empty { .. }));
        let huge = idx(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        assert!(matches!(e(huge), DataError::Malformed { .. }));
    }

    #[test]
    fn gzip_idx_and_labels_from_files() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("flowmap-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let images = dir.join("img.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&idx(&[1, 2, 2], &[0, 1, 2, 3])).unwrap();
        std::fs::write(&images, gz.finish().unwrap()).unwrap();
        let ds = load_idx_images(&images).unwrap();
        assert_eq!(ds.data_shape, vec![1, 2, 2]);
        let labels = dir.join("labels");
        std::fs::write(&labels, idx(&[3], &[7, 0, 9])).unwrap();
        assert_eq!(load_idx_labels(&labels).unwrap(), vec![7, 0, 9]);
        let e = load_idx_labels(&images).unwrap_err();
        assert!(e.to_string().contains("img.gz"), "{e}");
    }

    fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, data: &[u8]) {
        let f = std::fs::File::create(path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w, h);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
    }

    #[test]
    fn png_folder_grey_rgb_rgba_and_a_clear_size_error() {
        let dir = std::env::temp_dir().join(format!("flowmap-png-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // RGB 2x1: pixel (0,0) = (255, 0, 0), (1,0) = (0, 255, 0) → channel-major planes.
        write_png(
            &dir.join("a.png"),
            2,
            1,
            png::ColorType::Rgb,
            &[255, 0, 0, 0, 255, 0],
        );
        write_png(&dir.join("b.png"), 2, 1, png::ColorType::Rgb, &[0; 6]);
        let ds = load_png_folder(&dir).unwrap();
        assert_eq!((ds.n, ds.data_shape.clone()), (2, vec![3, 1, 2]));
        assert_eq!(&ds.data[..6], &[1.0, -1.0, -1.0, 1.0, -1.0, -1.0]);
        let grey = dir.join("grey");
        std::fs::create_dir_all(&grey).unwrap();
        write_png(&grey.join("g.png"), 1, 1, png::ColorType::Grayscale, &[255]);
        assert_eq!(load_png_folder(&grey).unwrap().data_shape, vec![1, 1, 1]);
        let rgba = dir.join("rgba");
        std::fs::create_dir_all(&rgba).unwrap();
        write_png(
            &rgba.join("x.png"),
            1,
            1,
            png::ColorType::Rgba,
            &[0, 0, 0, 255],
        );
        let d = load_png_folder(&rgba).unwrap();
        assert_eq!((d.data_shape.clone(), d.data[3]), (vec![4, 1, 1], 1.0));
        // A third file of another size is named.
        write_png(&dir.join("c.png"), 3, 1, png::ColorType::Rgb, &[0; 9]);
        let e = load_png_folder(&dir).unwrap_err().to_string();
        assert!(e.contains("c.png") && e.contains("a.png"), "{e}");
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            load_png_folder(&empty).unwrap_err(),
            DataError::Empty { .. }
        ));
    }
}
