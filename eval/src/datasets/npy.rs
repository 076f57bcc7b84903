//! A small, strict `.npy` reader and an f32 writer.
//!
//! Format (numpy's NEP 1): magic `\x93NUMPY`, version byte pair, header length (u16 LE for
//! version 1, u32 LE for 2 and 3), then a Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }` padded with spaces and a
//! newline, then the raw little-endian data. Every length is checked against the file size
//! before it is used.

use super::{from_shaped, DataError, Dataset};
use std::path::{Path, PathBuf};

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
    let (header, data) = split_header(bytes)?;
    let h = parse_header(header)?;
    if h.fortran_order {
        return Err(DataError::FortranOrder {
            path: "<memory>".into(),
        });
    }
    let elem = dtype_size(&h.descr)?;
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(format!("shape {:?} overflows", h.shape)))?;
    let needed = count
        .checked_mul(elem)
        .ok_or_else(|| malformed(format!("shape {:?} overflows", h.shape)))?;
    if needed != data.len() {
        return Err(malformed(format!(
            "shape {:?} of {} needs {needed} data bytes, file has {}",
            h.shape,
            h.descr,
            data.len()
        )));
    }
    from_shaped(decode(&h.descr, data), &h.shape)
}

/// Splits a file into its header text and data bytes, checking magic, version and lengths.
fn split_header(bytes: &[u8]) -> Result<(&str, &[u8]), DataError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(malformed("not a .npy file (missing \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 if bytes.len() >= 12 => {
            let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(l).unwrap_or(usize::MAX), 12)
        }
        2 | 3 => return Err(malformed("truncated header length")),
        v => {
            return Err(malformed(format!(
                "unsupported .npy version {v} (expected 1, 2 or 3)"
            )))
        }
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            malformed(format!(
                "header length {len} runs past the end of the {}-byte file",
                bytes.len()
            ))
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| malformed("header is not valid UTF-8"))?;
    Ok((header, &bytes[end..]))
}

#[derive(Debug)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value in the header dict.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header's Python dict literal; needs `descr`, `fortran_order` and `shape`.
fn parse_header(text: &str) -> Result<Header, DataError> {
    let mut p = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(malformed(format!(
                    "header key {key:?} has unexpected value {v:?}"
                )))
            }
            _ => {}
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    let missing = |k: &str| malformed(format!("header lacks {k:?}"));
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), DataError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(malformed(format!(
                "header: expected '{}' at byte {}",
                c as char, self.i
            )))
        }
    }

    fn string(&mut self) -> Result<String, DataError> {
        let q = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(malformed(format!(
                    "header: expected a quoted string at byte {}",
                    self.i
                )))
            }
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err(malformed("header: unterminated string"));
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn value(&mut self) -> Result<Value, DataError> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            return Ok(Value::Bool(true));
        }
        if rest.starts_with(b"False") {
            self.i += 5;
            return Ok(Value::Bool(false));
        }
        match rest.first() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => self.tuple().map(Value::Tuple),
            Some(b'[') => Err(DataError::UnsupportedDtype {
                path: "<memory>".into(),
                dtype: "a structured (record) dtype".into(),
            }),
            _ => Err(malformed(format!(
                "header: unexpected value at byte {}",
                self.i
            ))),
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>, DataError> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let d: usize = digits
                .parse()
                .map_err(|_| malformed(format!("header: bad shape entry at byte {start}")))?;
            dims.push(d);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// Bytes per element of a supported dtype; anything else is [`DataError::UnsupportedDtype`].
fn dtype_size(descr: &str) -> Result<usize, DataError> {
    match descr {
        "<f4" | "<i4" => Ok(4),
        "<f8" | "<i8" => Ok(8),
        other => {
            let hint = if other.starts_with('>') {
                " (big-endian)"
            } else {
                ""
            };
            Err(DataError::UnsupportedDtype {
                path: "<memory>".into(),
                dtype: format!("{other:?}{hint}"),
            })
        }
    }
}

/// Converts little-endian raw data of a supported dtype to f32 (f64 and i64 round to nearest).
fn decode(descr: &str, data: &[u8]) -> Vec<f32> {
    let four = |c: &[u8]| [c[0], c[1], c[2], c[3]];
    let eight = |c: &[u8]| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
    match descr {
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(four(c)))
            .collect(),
        "<i4" => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(four(c)) as f32)
            .collect(),
        "<f8" => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(eight(c)) as f32)
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(eight(c)) as f32)
            .collect(),
    }
}

/// The bytes of a version-1 (or, for huge headers, version-2) `.npy` file holding `ds` as
/// `<f4` with shape `(n, data_shape…)`.
pub fn to_npy_bytes(ds: &Dataset) -> Vec<u8> {
    let dims: Vec<String> = std::iter::once(ds.n)
        .chain(ds.data_shape.iter().copied())
        .map(|d| d.to_string())
        .collect();
    let mut dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    // numpy pads so that the data starts at a multiple of 64 bytes, ending in '\n'.
    let v1 = dict.len() + 64 <= usize::from(u16::MAX);
    let prefix = if v1 { 10 } else { 12 };
    while (prefix + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(prefix + dict.len() + 4 * ds.data.len());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    for v in &ds.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
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

    fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
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
}
