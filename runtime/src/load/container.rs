//! A strict safetensors container reader (layout only; the flowmap rules are in
//! [`crate::schema`]).
//!
//! We parse the container ourselves instead of using the `safetensors` crate's reader: that
//! reader computes `end + 8 + header_len` unchecked, which panics (overflow check) on a hostile
//! header in builds with overflow checks, and it silently keeps the last of duplicated keys.
//! Here every size is computed with checked u64 arithmetic, every range is checked against
//! the buffer before it is touched, and nothing is allocated from a size the header claims
//! (only from bytes the buffer actually holds).

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::LoadError;

/// Element type of a stored tensor (the supported subset of safetensors dtypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        match s {
            "F32" => Some(Dtype::F32),
            "F16" => Some(Dtype::F16),
            "BF16" => Some(Dtype::BF16),
            _ => None,
        }
    }

    pub(crate) fn size(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }
}

/// One tensor entry, as written in the header.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The header: tensors (in file order), `__metadata__`, and the first duplicated key if any.
struct RawHeader {
    tensors: Vec<(String, RawInfo)>,
    metadata: Option<Vec<(String, String)>>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a safetensors header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut h = RawHeader {
                    tensors: Vec::new(),
                    metadata: None,
                    duplicate: None,
                };
                let mut seen = BTreeMap::<String, ()>::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.insert(key.clone(), ()).is_some() {
                        map.next_value::<IgnoredAny>()?;
                        if h.duplicate.is_none() {
                            h.duplicate = Some(key);
                        }
                        continue;
                    }
                    if key == "__metadata__" {
                        let m = map.next_value::<StringMap>()?;
                        if h.duplicate.is_none() {
                            h.duplicate = m.duplicate;
                        }
                        h.metadata = Some(m.entries);
                    } else {
                        let info = map.next_value::<RawInfo>()?;
                        h.tensors.push((key, info));
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON object of string values, recording the first duplicated key.
struct StringMap {
    entries: Vec<(String, String)>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
                let mut out = StringMap {
                    entries: Vec::new(),
                    duplicate: None,
                };
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.entries.iter().any(|(e, _)| *e == k) {
                        if out.duplicate.is_none() {
                            out.duplicate = Some(k);
                        }
                        continue;
                    }
                    out.entries.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// A validated tensor: dtype, shape, and its bytes (inside the caller's buffer).
pub(crate) struct TensorView<'a> {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<u64>,
    pub(crate) data: &'a [u8],
}

/// A validated safetensors container.
pub(crate) struct Container<'a> {
    /// Tensors by name.
    pub(crate) tensors: BTreeMap<String, TensorView<'a>>,
    /// `__metadata__` entries.
    pub(crate) metadata: Option<Vec<(String, String)>>,
}

/// Byte size of a tensor: product of shape × dtype size, checked.
fn byte_size(shape: &[u64], dtype: Dtype) -> Option<u64> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
}

/// Parses and validates the container layout (not the flowmap semantics).
pub(crate) fn parse(bytes: &[u8]) -> Result<Container<'_>, LoadError> {
    let (prefix, rest) = match bytes.split_first_chunk::<8>() {
        Some(x) => x,
        None => return Err(LoadError::TruncatedHeader { len: bytes.len() }),
    };
    let header_len = u64::from_le_bytes(*prefix);
    let n = match usize::try_from(header_len) {
        Ok(n) if n <= rest.len() => n,
        _ => {
            return Err(LoadError::HeaderTooLong {
                header_len,
                available: rest.len(),
            })
        }
    };
    let (header, data) = rest.split_at(n);
    let header = core::str::from_utf8(header).map_err(|_| LoadError::HeaderNotUtf8)?;
    let raw: RawHeader =
        serde_json::from_str(header).map_err(|e| LoadError::HeaderJson(e.to_string()))?;
    if let Some(k) = raw.duplicate {
        return Err(LoadError::DuplicateKey(k));
    }
    let data_len = data.len() as u64;

    // Per-tensor checks: dtype, size arithmetic, range inside the data section.
    let mut checked: Vec<(String, Dtype, Vec<u64>, u64, u64)> = Vec::new();
    for (name, info) in raw.tensors {
        let dtype = match Dtype::parse(&info.dtype) {
            Some(d) => d,
            None => {
                return Err(LoadError::UnsupportedDtype {
                    tensor: name,
                    dtype: info.dtype,
                })
            }
        };
        let size = match byte_size(&info.shape, dtype) {
            Some(s) => s,
            None => {
                return Err(LoadError::ShapeOverflow {
                    tensor: name,
                    shape: info.shape,
                })
            }
        };
        let [start, end] = info.data_offsets;
        if end < start || end > data_len {
            return Err(LoadError::OffsetsOutOfRange {
                tensor: name,
                start,
                end,
                data_len,
            });
        }
        if end - start != size {
            return Err(LoadError::TensorSizeMismatch {
                tensor: name,
                expected_bytes: size,
                got_bytes: end - start,
            });
        }
        checked.push((name, dtype, info.shape, start, end));
    }

    // Layout: in offset order the ranges must tile [0, data_len) exactly.
    checked.sort_by_key(|a| (a.3, a.4));
    let mut pos = 0u64;
    let mut prev: Option<&str> = None;
    for (name, _, _, start, end) in &checked {
        if *start < pos {
            return Err(LoadError::OverlappingTensors {
                tensor: name.clone(),
                previous: prev.unwrap_or("").to_string(),
            });
        }
        if *start > pos {
            return Err(LoadError::DataGap {
                start: pos,
                end: *start,
            });
        }
        pos = *end;
        prev = Some(name);
    }
    if pos != data_len {
        return Err(LoadError::DataGap {
            start: pos,
            end: data_len,
        });
    }

    let mut tensors = BTreeMap::new();
    for (name, dtype, shape, start, end) in checked {
        // In range (checked above: end <= data_len = data.len()), so the conversions and the
        // slice cannot fail; `get` keeps that a checked fact rather than an assumption.
        let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
        let bytes = match range.and_then(|(s, e)| data.get(s..e)) {
            Some(b) => b,
            None => {
                return Err(LoadError::OffsetsOutOfRange {
                    tensor: name,
                    start,
                    end,
                    data_len,
                })
            }
        };
        tensors.insert(
            name,
            TensorView {
                dtype,
                shape,
                data: bytes,
            },
        );
    }
    Ok(Container {
        tensors,
        metadata: raw.metadata,
    })
}

/// Decodes a validated tensor to f32 (little endian), reporting the first non-finite value.
pub(crate) fn to_f32(name: &str, t: &TensorView<'_>) -> Result<Vec<f32>, LoadError> {
    let mut out = Vec::with_capacity(t.data.len() / t.dtype.size() as usize);
    match t.dtype {
        Dtype::F32 => out.extend(
            t.data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        Dtype::F16 => out.extend(
            t.data
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        Dtype::BF16 => out.extend(
            t.data
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
    }
    if let Some(index) = out.iter().position(|v| !v.is_finite()) {
        return Err(LoadError::NonFiniteWeight {
            tensor: name.to_string(),
            index,
        });
    }
    Ok(out)
}
