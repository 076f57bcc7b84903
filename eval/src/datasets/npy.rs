//! `.npy` files through the `ndarray-npy` crate (numpy's NEP 1 format), held to this project's
//! rules: little-endian `<f4 <f8 <i4 <i8` only (values converted to f32), C order only, every
//! length checked before anything is allocated, shape `(n, rest…)` read as `n` rows of `rest`.

use super::dataset::{from_shaped, Dataset};
use super::error::DataError;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_npy::{npy::header::Header, ReadNpyError, ReadNpyExt, ReadableElement, WriteNpyExt};
use py_literal::Value as PyValue;
use std::path::{Path, PathBuf};

#[cfg(test)]
const MAGIC: &[u8] = b"\x93NUMPY";

fn malformed(reason: impl Into<String>) -> DataError {
    DataError::Malformed {
        path: PathBuf::from("<memory>"),
        reason: reason.into(),
    }
}

/// Parses the bytes of a `.npy` file: dtypes `<f4 <f8 <i4 <i8` (values converted to f32),
/// C order only; shape `(n, rest…)` gives `n` rows of shape `rest`, 1-D `(n,)` gives `n × 1`.
pub fn parse_npy(bytes: &[u8]) -> Result<Dataset, DataError> {
    check_header_length(bytes)?;
    let header = Header::from_reader(&mut &bytes[..])
        .map_err(|e| malformed(format!("not a readable .npy file: {e}")))?;
    if header.layout.is_fortran() {
        return Err(DataError::FortranOrder {
            path: "<memory>".into(),
        });
    }
    let descr = match &header.type_descriptor {
        PyValue::String(s) => s.as_str(),
        other => return Err(unsupported(&other.to_string())),
    };
    let data: Vec<f32> = match descr {
        "<f4" => read::<f32>(bytes, &header)?,
        "<f8" => read::<f64>(bytes, &header)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<i4" => read::<i32>(bytes, &header)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<i8" => read::<i64>(bytes, &header)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        other => return Err(unsupported(other)),
    };
    from_shaped(data, &header.shape)
}

/// The crate allocates the header length the file declares before reading it; a file whose
/// declared header runs past its end is rejected first (a 20-byte file must not cost 4 GiB).
fn check_header_length(bytes: &[u8]) -> Result<(), DataError> {
    let declared = match bytes.get(6..12) {
        Some([1, _, a, b, ..]) => 10 + usize::from(u16::from_le_bytes([*a, *b])),
        Some([2 | 3, _, a, b, c, d]) => 12 + u32::from_le_bytes([*a, *b, *c, *d]) as usize,
        _ => 0, // not a header the crate accepts: it says why
    };
    if declared > bytes.len() {
        return Err(malformed(format!(
            "the header claims {declared} bytes but the file has {}",
            bytes.len()
        )));
    }
    Ok(())
}

fn unsupported(descr: &str) -> DataError {
    let hint = if descr.starts_with('>') {
        " (big-endian)"
    } else {
        ""
    };
    DataError::UnsupportedDtype {
        path: "<memory>".into(),
        dtype: format!("{descr:?}{hint}"),
    }
}

/// The data of a C-order file as a flat vector (ndarray keeps C order in memory).
fn read<T: ReadableElement>(bytes: &[u8], header: &Header) -> Result<Vec<T>, DataError> {
    let array = ArrayD::<T>::read_npy(bytes).map_err(|e| match e {
        ReadNpyError::LengthOverflow => malformed(format!("shape {:?} overflows", header.shape)),
        ReadNpyError::MissingData | ReadNpyError::ExtraBytes(_) => malformed(format!(
            "shape {:?} does not match the data bytes: {e}",
            header.shape
        )),
        other => malformed(other.to_string()),
    })?;
    Ok(array.into_raw_vec_and_offset().0)
}

/// The bytes of a `.npy` file holding `ds` as `<f4` with shape `(n, data_shape…)`.
pub fn to_npy_bytes(ds: &Dataset) -> Vec<u8> {
    let shape: Vec<usize> = std::iter::once(ds.n)
        .chain(ds.data_shape.iter().copied())
        .collect();
    let view =
        ArrayViewD::from_shape(IxDyn(&shape), &ds.data).expect("a Dataset holds n · dim values");
    let mut out = Vec::with_capacity(128 + 4 * ds.data.len());
    view.write_npy(&mut out)
        .expect("writing an f32 array to memory cannot fail");
    out
}

/// Writes `ds` as an f32 `.npy` file readable by `numpy.load` (and by [`parse_npy`]).
pub fn write_npy(path: impl AsRef<Path>, ds: &Dataset) -> Result<(), DataError> {
    let path = path.as_ref();
    std::fs::write(path, to_npy_bytes(ds)).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file; the header gets numpy's terminating newline when it lacks one (the
    /// format requires it; `header_without_newline_is_malformed` checks the raw case).
    fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let header = &if header.ends_with('\n') {
            header.to_string()
        } else {
            format!("{header}\n")
        };
        raw_npy(version, header, data)
    }

    fn raw_npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn le<T: Copy, const N: usize>(xs: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        xs.iter().flat_map(|&x| f(x)).collect()
    }

    #[test]
    fn round_trip_through_writer() {
        let ds = Dataset::new((0..24).map(|v| v as f32 * 0.5 - 3.0).collect(), vec![3, 4]).unwrap();
        let bytes = to_npy_bytes(&ds);
        assert_eq!(bytes.len() % 64, (24 * 4) % 64);
        assert_eq!(parse_npy(&bytes).unwrap(), ds);
    }

    #[test]
    fn all_dtypes_and_versions() {
        let h =
            |d: &str| format!("{{'descr': '{d}', 'fortran_order': False, 'shape': (2, 2), }}\n");
        let want = vec![1.0, -2.0, 3.0, 4.0];
        let cases = [
            ("<f4", le(&[1.0f32, -2.0, 3.0, 4.0], f32::to_le_bytes)),
            ("<f8", le(&[1.0f64, -2.0, 3.0, 4.0], f64::to_le_bytes)),
            ("<i4", le(&[1i32, -2, 3, 4], i32::to_le_bytes)),
            ("<i8", le(&[1i64, -2, 3, 4], i64::to_le_bytes)),
        ];
        for (d, data) in cases {
            for v in [1, 2, 3] {
                let ds = parse_npy(&npy(v, &h(d), &data)).unwrap();
                assert_eq!(
                    (ds.n, ds.data_shape.clone(), ds.data.clone()),
                    (2, vec![2], want.clone())
                );
            }
        }
    }

    #[test]
    fn one_d_is_n_by_1_and_double_quotes_accepted() {
        let h = "{\"descr\": \"<f4\", \"shape\": (3,), \"fortran_order\": False}";
        let ds = parse_npy(&npy(1, h, &le(&[1.0f32, 2.0, 3.0], f32::to_le_bytes))).unwrap();
        assert_eq!((ds.n, ds.data_shape), (3, vec![1]));
    }

    #[test]
    fn errors_are_typed() {
        let good = |shape: &str, f: &str| {
            format!("{{'descr': '<f4', 'fortran_order': {f}, 'shape': {shape}, }}")
        };
        let four = le(&[1.0f32, 2.0, 3.0, 4.0], f32::to_le_bytes);
        let e = |b: Vec<u8>| parse_npy(&b).unwrap_err();
        assert!(matches!(
            e(npy(1, &good("(2, 2)", "True"), &four)),
            DataError::FortranOrder { .. }
        ));
        assert!(matches!(
            e(npy(1, &good("(3, 2)", "False"), &four)),
            DataError::Malformed { .. }
        ));
        assert!(matches!(
            e(npy(1, &good("(0, 2)", "False"), &[])),
            DataError::Empty { .. }
        ));
        assert!(matches!(
            e(npy(1, &good("()", "False"), &four[..4])),
            DataError::Shape { .. }
        ));
        let big = "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }";
        assert!(matches!(
            e(npy(1, big, &four)),
            DataError::UnsupportedDtype { .. }
        ));
        let u8s = "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }";
        assert!(matches!(
            e(npy(1, u8s, &[1, 2, 3, 4])),
            DataError::UnsupportedDtype { .. }
        ));
        assert!(matches!(
            e(b"hello world".to_vec()),
            DataError::Malformed { .. }
        ));
        assert!(matches!(
            e(npy(4, &good("(1,)", "False"), &four[..4])),
            DataError::Malformed { .. }
        ));
        // Header length pointing past the end of the file.
        let mut trunc = npy(1, &good("(1,)", "False"), &[]);
        trunc[8] = 0xff;
        trunc[9] = 0xff;
        assert!(matches!(e(trunc), DataError::Malformed { .. }));
        // Overflowing shape is rejected before any allocation.
        let huge = good("(18446744073709551615, 18446744073709551615)", "False");
        assert!(matches!(
            e(npy(1, &huge, &four)),
            DataError::Malformed { .. }
        ));
        // NaN: the first bad row is reported.
        let nan = le(&[1.0f32, 2.0, f32::NAN, 4.0], f32::to_le_bytes);
        match e(npy(1, &good("(2, 2)", "False"), &nan)) {
            DataError::NonFinite { row, column, .. } => assert_eq!((row, column), (1, 0)),
            other => panic!("{other}"),
        }
        // f64 beyond f32 range becomes infinite: rejected too.
        let f8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
        assert!(matches!(
            e(npy(1, f8, &1e300f64.to_le_bytes())),
            DataError::NonFinite { .. }
        ));
    }

    #[test]
    fn header_without_newline_is_malformed() {
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
        let e = parse_npy(&raw_npy(1, h, &1.0f32.to_le_bytes())).unwrap_err();
        assert!(matches!(e, DataError::Malformed { .. }), "{e}");
        // A v2 header length far past the end of a small file is refused before any allocation.
        let mut big = raw_npy(2, "{}\n", &[]);
        big[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = parse_npy(&big).unwrap_err();
        assert!(e.to_string().contains("header claims"), "{e}");
    }
}
