//! The loader rejects every kind of malformed model file with its specific error variant —
//! never a panic, an out-of-bounds read, or an allocation sized by a hostile header.

use flowmap::schema::*;
use flowmap::{LoadError, Model};
use serde_json::{json, Value};

/// One tensor entry for the raw writer: name, dtype, shape, bytes, and optional offsets
/// overriding the computed ones.
#[derive(Clone)]
struct T {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    data: Vec<u8>,
    offsets: Option<[u64; 2]>,
}

fn f32_tensor(name: &str, shape: &[u64], values: &[f32]) -> T {
    T {
        name: name.to_string(),
        dtype: "F32".to_string(),
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        offsets: None,
    }
}

/// Writes a safetensors file by hand (header text built directly, so duplicates and odd
/// values are possible). `metadata`: the `__metadata__` JSON text, if any.
fn raw_file(metadata: Option<&str>, tensors: &[T], trailing: &[u8]) -> Vec<u8> {
    let mut entries = Vec::new();
    if let Some(m) = metadata {
        entries.push(format!("\"__metadata__\":{m}"));
    }
    let mut offset = 0u64;
    let mut data = Vec::new();
    for t in tensors {
        let len = t.data.len() as u64;
        let [s, e] = t.offsets.unwrap_or([offset, offset + len]);
        offset += len;
        data.extend_from_slice(&t.data);
        entries.push(format!(
            "\"{}\":{{\"dtype\":\"{}\",\"shape\":{:?},\"data_offsets\":[{s},{e}]}}",
            t.name, t.dtype, t.shape
        ));
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(trailing);
    out
}

/// A valid metadata value: dim 2, hidden [3], GELU-tanh, raw embedding.
fn good_meta() -> Value {
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![2],
            hidden: vec![3],
            activation: Activation::GeluTanh,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: vec![0.0, 1.0],
            std: vec![1.0, 2.0],
        },
        provenance: Provenance {
            method: "lsd".to_string(),
            steps: 10,
            seed: 0,
            weights: "ema0.999".to_string(),
            trainer: "tests".to_string(),
            dataset: "checker".to_string(),
        },
    };
    serde_json::to_value(&meta).unwrap()
}

fn meta_text(meta: &Value) -> String {
    let s = serde_json::to_string(meta).unwrap();
    serde_json::to_string(&json!({ "flowmap": s })).unwrap()
}

/// The tensors matching `good_meta`: layer 0 [3, 4], layer 1 [2, 3].
fn good_tensors() -> Vec<T> {
    let w0: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    let w1: Vec<f32> = (0..6).map(|i| 0.2 - i as f32 * 0.05).collect();
    vec![
        f32_tensor("layers.0.weight", &[3, 4], &w0),
        f32_tensor("layers.0.bias", &[3], &[0.1, 0.2, 0.3]),
        f32_tensor("layers.1.weight", &[2, 3], &w1),
        f32_tensor("layers.1.bias", &[2], &[0.0, -0.1]),
    ]
}

fn file_with_meta(meta: &Value) -> Vec<u8> {
    raw_file(Some(&meta_text(meta)), &good_tensors(), &[])
}

fn file_with_tensors(tensors: &[T]) -> Vec<u8> {
    raw_file(Some(&meta_text(&good_meta())), tensors, &[])
}

fn edit_meta(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut m = good_meta();
    f(&mut m);
    file_with_meta(&m)
}

fn edit_tensor(i: usize, f: impl FnOnce(&mut T)) -> Vec<u8> {
    let mut ts = good_tensors();
    f(&mut ts[i]);
    file_with_tensors(&ts)
}

#[test]
fn the_baseline_file_is_valid() {
    let m = Model::from_bytes(&file_with_meta(&good_meta())).unwrap();
    assert_eq!(m.dim(), 2);
    assert_eq!(m.meta().provenance.dataset, "checker");
    // Tensor order in the header/data does not matter.
    let mut ts = good_tensors();
    ts.reverse();
    Model::from_bytes(&file_with_tensors(&ts)).unwrap();
}

#[test]
fn malformed_files_are_rejected_with_the_specific_error() {
    use LoadError as E;
    let good = file_with_meta(&good_meta());

    let mut long_header = good.clone();
    long_header[..8].copy_from_slice(&((good.len() - 8 + 1) as u64).to_le_bytes());
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut not_utf8 = good.clone();
    not_utf8[8 + 2] = 0xFF;
    let mut bad_json = good.clone();
    bad_json[8] = b'[';
    let truncated_data = good[..good.len() - 4].to_vec();

    let mut with_f16_inf = good_tensors();
    with_f16_inf[3] = T {
        dtype: "F16".to_string(),
        data: [0x3C00u16, 0x7C00]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ..f32_tensor("layers.1.bias", &[2], &[0.0, 0.0])
    };

    type Check = Box<dyn Fn(&LoadError) -> bool>;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "empty file",
            vec![],
            Box::new(|e| matches!(e, E::TruncatedHeader { len: 0 })),
        ),
        (
            "truncated length prefix",
            good[..5].to_vec(),
            Box::new(|e| matches!(e, E::TruncatedHeader { len: 5 })),
        ),
        (
            "header length beyond file",
            long_header,
            Box::new(|e| matches!(e, E::HeaderTooLong { .. })),
        ),
        (
            "header length u64::MAX",
            huge_header,
            Box::new(|e| {
                matches!(
                    e,
                    E::HeaderTooLong {
                        header_len: u64::MAX,
                        ..
                    }
                )
            }),
        ),
        (
            "header not UTF-8",
            not_utf8,
            Box::new(|e| matches!(e, E::HeaderNotUtf8)),
        ),
        (
            "header not a JSON object",
            bad_json,
            Box::new(|e| matches!(e, E::HeaderJson(_))),
        ),
        (
            "header is not JSON",
            {
                let mut v = 9u64.to_le_bytes().to_vec();
                v.extend_from_slice(b"{not json");
                v
            },
            Box::new(|e| matches!(e, E::HeaderJson(_))),
        ),
        (
            "tensor entry with unknown field",
            {
                let h = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}"#;
                let mut v = (h.len() as u64).to_le_bytes().to_vec();
                v.extend_from_slice(h);
                v.extend_from_slice(&[0; 4]);
                v
            },
            Box::new(|e| matches!(e, E::HeaderJson(_))),
        ),
        (
            "data section truncated",
            truncated_data,
            Box::new(|e| matches!(e, E::OffsetsOutOfRange { .. })),
        ),
        (
            "trailing bytes after the data",
            raw_file(Some(&meta_text(&good_meta())), &good_tensors(), &[0; 4]),
            Box::new(|e| matches!(e, E::DataGap { .. })),
        ),
        (
            "no __metadata__",
            raw_file(None, &good_tensors(), &[]),
            Box::new(|e| matches!(e, E::MissingMetadata)),
        ),
        (
            "__metadata__ without flowmap key",
            raw_file(Some(r#"{"other":"x"}"#), &good_tensors(), &[]),
            Box::new(|e| matches!(e, E::MissingMetadata)),
        ),
        (
            "__metadata__ value not a string",
            raw_file(Some(r#"{"flowmap":{"a":1}}"#), &good_tensors(), &[]),
            Box::new(|e| matches!(e, E::HeaderJson(_))),
        ),
        (
            "flowmap metadata not JSON",
            raw_file(Some(r#"{"flowmap":"{oops"}"#), &good_tensors(), &[]),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "flowmap metadata missing sigma",
            edit_meta(|m| {
                m.as_object_mut().unwrap().remove("sigma");
            }),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "flowmap metadata unknown field",
            edit_meta(|m| {
                m["surprise"] = json!(1);
            }),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "flowmap metadata unknown activation",
            edit_meta(|m| {
                m["architecture"]["activation"] = json!("swish9");
            }),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "missing format_version",
            edit_meta(|m| {
                m.as_object_mut().unwrap().remove("format_version");
            }),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "unsupported format version",
            edit_meta(|m| {
                m["format_version"] = json!(3);
            }),
            Box::new(|e| {
                matches!(
                    e,
                    E::UnsupportedFormatVersion {
                        found: 3,
                        supported: 2
                    }
                )
            }),
        ),
        (
            "format version 0",
            edit_meta(|m| {
                m["format_version"] = json!(0);
            }),
            Box::new(|e| matches!(e, E::UnsupportedFormatVersion { found: 0, .. })),
        ),
        (
            "duplicate tensor name",
            {
                let mut ts = good_tensors();
                ts.push(ts[3].clone());
                file_with_tensors(&ts)
            },
            Box::new(|e| matches!(e, E::DuplicateKey(k) if k == "layers.1.bias")),
        ),
        (
            "duplicate metadata key",
            raw_file(
                Some(&{
                    let s = serde_json::to_string(&serde_json::to_string(&good_meta()).unwrap())
                        .unwrap();
                    format!("{{\"flowmap\":{s},\"flowmap\":{s}}}")
                }),
                &good_tensors(),
                &[],
            ),
            Box::new(|e| matches!(e, E::DuplicateKey(k) if k == "flowmap")),
        ),
        (
            "missing tensor",
            file_with_tensors(&good_tensors()[..3]),
            Box::new(|e| matches!(e, E::MissingTensor(n) if n == "layers.1.bias")),
        ),
        (
            "unexpected tensor",
            {
                let mut ts = good_tensors();
                ts.push(f32_tensor("layers.2.bias", &[2], &[0.0, 0.0]));
                file_with_tensors(&ts)
            },
            Box::new(|e| matches!(e, E::UnexpectedTensor(n) if n == "layers.2.bias")),
        ),
        (
            "renamed tensor",
            edit_tensor(1, |t| t.name = "layers.0.b".into()),
            Box::new(|e| matches!(e, E::MissingTensor(n) if n == "layers.0.bias")),
        ),
        (
            "wrong shape (transposed weight)",
            edit_tensor(0, |t| t.shape = vec![4, 3]),
            Box::new(
                |e| matches!(e, E::ShapeMismatch { tensor, expected, got } if tensor == "layers.0.weight" && expected == &[3, 4] && got == &[4, 3]),
            ),
        ),
        (
            "wrong rank",
            edit_tensor(1, |t| t.shape = vec![3, 1]),
            Box::new(|e| matches!(e, E::ShapeMismatch { .. })),
        ),
        (
            "dtype I32",
            edit_tensor(1, |t| t.dtype = "I32".into()),
            Box::new(|e| matches!(e, E::UnsupportedDtype { dtype, .. } if dtype == "I32")),
        ),
        (
            "dtype F64",
            edit_tensor(3, |t| {
                t.dtype = "F64".into();
                t.shape = vec![1];
            }),
            Box::new(|e| matches!(e, E::UnsupportedDtype { dtype, .. } if dtype == "F64")),
        ),
        (
            "dtype unknown string",
            edit_tensor(3, |t| t.dtype = "Q4".into()),
            Box::new(|e| matches!(e, E::UnsupportedDtype { .. })),
        ),
        (
            "size does not match shape",
            edit_tensor(1, |t| t.shape = vec![2]),
            Box::new(|e| {
                matches!(
                    e,
                    E::TensorSizeMismatch {
                        expected_bytes: 8,
                        got_bytes: 12,
                        ..
                    }
                )
            }),
        ),
        (
            "overlapping offsets",
            edit_tensor(1, |t| t.offsets = Some([40, 52])),
            Box::new(|e| matches!(e, E::OverlappingTensors { .. })),
        ),
        (
            "offsets out of range",
            edit_tensor(3, |t| t.offsets = Some([1000, 1008])),
            Box::new(|e| matches!(e, E::OffsetsOutOfRange { start: 1000, .. })),
        ),
        (
            "reversed offsets",
            edit_tensor(3, |t| t.offsets = Some([80, 72])),
            Box::new(|e| matches!(e, E::OffsetsOutOfRange { .. })),
        ),
        (
            // The `safetensors` crate computes `end + 8 + header_len` unchecked for this.
            "offsets near u64::MAX",
            edit_tensor(3, |t| {
                t.dtype = "F16".into();
                t.shape = vec![u64::MAX / 4];
                t.offsets = Some([0, u64::MAX / 4 * 2]);
            }),
            Box::new(|e| matches!(e, E::OffsetsOutOfRange { .. })),
        ),
        (
            "gap between tensors",
            {
                let mut ts = good_tensors();
                ts[3].offsets = Some([88, 96]);
                raw_file(Some(&meta_text(&good_meta())), &ts, &[0; 4])
            },
            Box::new(|e| matches!(e, E::DataGap { start: 84, end: 88 })),
        ),
        (
            "gigantic claimed shape (overflows)",
            edit_tensor(0, |t| t.shape = vec![1 << 40, 1 << 40]),
            Box::new(
                |e| matches!(e, E::ShapeOverflow { tensor, .. } if tensor == "layers.0.weight"),
            ),
        ),
        (
            "gigantic claimed shape (fits u64)",
            edit_tensor(0, |t| t.shape = vec![1 << 30, 1 << 30]),
            Box::new(
                |e| matches!(e, E::TensorSizeMismatch { expected_bytes, .. } if *expected_bytes == 1 << 62),
            ),
        ),
        (
            "NaN weight",
            edit_tensor(2, |t| t.data[4..8].copy_from_slice(&f32::NAN.to_le_bytes())),
            Box::new(
                |e| matches!(e, E::NonFiniteWeight { tensor, index: 1 } if tensor == "layers.1.weight"),
            ),
        ),
        (
            "Inf weight",
            edit_tensor(0, |t| {
                t.data[44..48].copy_from_slice(&f32::INFINITY.to_le_bytes())
            }),
            Box::new(|e| matches!(e, E::NonFiniteWeight { index: 11, .. })),
        ),
        (
            "-Inf bias",
            edit_tensor(1, |t| {
                t.data[0..4].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes())
            }),
            Box::new(|e| matches!(e, E::NonFiniteWeight { index: 0, .. })),
        ),
        (
            "F16 infinity",
            file_with_tensors(&with_f16_inf),
            Box::new(|e| matches!(e, E::NonFiniteWeight { index: 1, .. })),
        ),
        (
            "zero dim",
            edit_meta(|m| m["architecture"]["data_shape"] = json!([2, 0])),
            Box::new(|e| matches!(e, E::ZeroDim { .. })),
        ),
        (
            "empty data shape",
            edit_meta(|m| m["architecture"]["data_shape"] = json!([])),
            Box::new(|e| matches!(e, E::EmptyDataShape)),
        ),
        (
            "data shape product overflows",
            edit_meta(|m| m["architecture"]["data_shape"] = json!([1u64 << 32, 1u64 << 32, 2])),
            Box::new(|e| matches!(e, E::DimTooLarge { .. })),
        ),
        (
            "dim above MAX_DIM",
            edit_meta(|m| m["architecture"]["data_shape"] = json!([flowmap::MAX_DIM + 1])),
            Box::new(|e| matches!(e, E::DimTooLarge { .. })),
        ),
        (
            "empty hidden",
            edit_meta(|m| m["architecture"]["hidden"] = json!([])),
            Box::new(|e| matches!(e, E::EmptyHidden)),
        ),
        (
            "zero width",
            edit_meta(|m| m["architecture"]["hidden"] = json!([3, 0])),
            Box::new(|e| matches!(e, E::InvalidWidth { layer: 1, width: 0 })),
        ),
        (
            "width above MAX_WIDTH",
            edit_meta(|m| m["architecture"]["hidden"] = json!([flowmap::MAX_WIDTH + 1])),
            Box::new(|e| matches!(e, E::InvalidWidth { layer: 0, .. })),
        ),
        (
            "too many layers",
            edit_meta(|m| {
                m["architecture"]["hidden"] = json!(vec![3; flowmap::MAX_HIDDEN_LAYERS + 1])
            }),
            Box::new(|e| matches!(e, E::TooManyLayers { .. })),
        ),
        (
            "std zero",
            edit_meta(|m| m["normalization"]["std"] = json!([1.0, 0.0])),
            Box::new(|e| matches!(e, E::InvalidStd { index: 1, .. })),
        ),
        (
            "std negative",
            edit_meta(|m| m["normalization"]["std"] = json!([-1.0, 1.0])),
            Box::new(|e| matches!(e, E::InvalidStd { index: 0, .. })),
        ),
        (
            "std infinite (1e39 overflows f32)",
            edit_meta(|m| m["normalization"]["std"] = json!([1.0, 1e39])),
            Box::new(|e| matches!(e, E::InvalidStd { index: 1, .. })),
        ),
        (
            "std NaN (null)",
            edit_meta(|m| m["normalization"]["std"] = json!([1.0, null])),
            Box::new(|e| matches!(e, E::MetadataJson(_))),
        ),
        (
            "mean infinite",
            edit_meta(|m| m["normalization"]["mean"] = json!([-1e39, 0.0])),
            Box::new(|e| matches!(e, E::InvalidMean { index: 0, .. })),
        ),
        (
            "normalization length mismatch (mean)",
            edit_meta(|m| m["normalization"]["mean"] = json!([0.0])),
            Box::new(|e| {
                matches!(
                    e,
                    E::NormalizationLength {
                        field: "mean",
                        expected: 2,
                        got: 1
                    }
                )
            }),
        ),
        (
            "normalization length mismatch (std)",
            edit_meta(|m| m["normalization"]["std"] = json!([1.0, 1.0, 1.0])),
            Box::new(|e| {
                matches!(
                    e,
                    E::NormalizationLength {
                        field: "std",
                        expected: 2,
                        got: 3
                    }
                )
            }),
        ),
        (
            "sigma zero",
            edit_meta(|m| m["sigma"] = json!(0.0)),
            Box::new(|e| matches!(e, E::InvalidSigma(_))),
        ),
        (
            "sigma negative",
            edit_meta(|m| m["sigma"] = json!(-1.0)),
            Box::new(|e| matches!(e, E::InvalidSigma(_))),
        ),
        (
            "sigma infinite",
            edit_meta(|m| m["sigma"] = json!(1e39)),
            Box::new(|e| matches!(e, E::InvalidSigma(_))),
        ),
        (
            "Fourier frequency infinite",
            edit_meta(|m| {
                m["architecture"]["time_embedding"] =
                    json!({"kind": "fourier", "frequencies": [1.0, 1e39]})
            }),
            Box::new(|e| matches!(e, E::InvalidFrequency { index: 1, .. })),
        ),
        (
            "Fourier embedding changes the input width (shape mismatch)",
            edit_meta(|m| {
                m["architecture"]["time_embedding"] =
                    json!({"kind": "fourier", "frequencies": [1.0]})
            }),
            Box::new(
                |e| matches!(e, E::ShapeMismatch { tensor, expected, .. } if tensor == "layers.0.weight" && expected == &[3, 8]),
            ),
        ),
    ];
    assert!(cases.len() >= 15);
    for (what, bytes, ok) in &cases {
        match Model::from_bytes(bytes) {
            Ok(_) => panic!("{what}: accepted a malformed file"),
            Err(e) => {
                assert!(ok(&e), "{what}: wrong error {e:?}");
                // Every error has a readable message.
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn error_messages_name_the_problem() {
    let e = Model::from_bytes(&edit_tensor(0, |t| t.shape = vec![4, 3])).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("layers.0.weight") && msg.contains("[4, 3]") && msg.contains("[3, 4]"),
        "{msg}"
    );
    let e = Model::from_bytes(&edit_meta(|m| m["format_version"] = json!(7))).unwrap_err();
    assert!(e.to_string().contains('7'), "{e}");
}

#[test]
fn every_truncation_of_a_valid_file_is_rejected_without_panic() {
    let good = file_with_meta(&good_meta());
    for len in 0..good.len() {
        assert!(
            Model::from_bytes(&good[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
}

#[test]
fn single_byte_corruptions_never_panic() {
    // Flip each header byte to a few values: the loader must return (Ok or Err), never panic.
    let good = file_with_meta(&good_meta());
    for i in 0..good.len() {
        for v in [0u8, b'9', b'"', b'{', 0xFF] {
            let mut b = good.clone();
            b[i] = v;
            let _ = Model::from_bytes(&b);
        }
    }
}

#[cfg(feature = "std")]
#[test]
fn from_file_reports_io_errors_and_loads_files() {
    let e = Model::from_file("/nonexistent/dir/model.safetensors").unwrap_err();
    assert!(
        matches!(&e, LoadError::Io(msg) if msg.contains("/nonexistent/dir/model.safetensors")),
        "{e:?}"
    );
    let dir = std::env::temp_dir().join(format!("flowmap-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    std::fs::write(&path, file_with_meta(&good_meta())).unwrap();
    let m = Model::from_file(&path).unwrap();
    assert_eq!(m.dim(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn random_multi_byte_corruptions_never_panic() {
    // Deterministic pseudo-random mutations (1–8 bytes each) of valid F32 and F16 files.
    let mut rng = flowmap::NormalRng::new(2024);
    let f32_file = file_with_meta(&good_meta());
    let mut f16_tensors = good_tensors();
    for t in &mut f16_tensors {
        let vals: Vec<f32> = t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        t.dtype = "F16".into();
        t.data = vals
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
    }
    let f16_file = file_with_tensors(&f16_tensors);
    Model::from_bytes(&f16_file).unwrap();
    let mut accepted = 0;
    for i in 0..3000 {
        let mut b = if i % 2 == 0 {
            f32_file.clone()
        } else {
            f16_file.clone()
        };
        let flips = 1 + (rng.next_u64() % 8) as usize;
        for _ in 0..flips {
            let pos = (rng.next_u64() % b.len() as u64) as usize;
            b[pos] = rng.next_u64() as u8;
        }
        if rng.next_u64() % 4 == 0 {
            let cut = (rng.next_u64() % b.len() as u64) as usize;
            b.truncate(cut);
        }
        if Model::from_bytes(&b).is_ok() {
            accepted += 1; // e.g. a flipped weight byte: still a valid file
        }
    }
    assert!(accepted < 3000);
}
