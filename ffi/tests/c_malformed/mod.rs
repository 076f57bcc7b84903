//! Hostile model files for the C ABI: written next to the C suite's fixtures as
//! `malformed/NNNN_<kind>.bin` plus `malformed/manifest.txt` (one `<status> <file>` line
//! each). `tests/c/test_flowmap.c` (`test_malformed_corpus`) loads every file through
//! `flowmap_model_load_bytes` and `flowmap_model_load` and checks the status — in C, C++, with
//! the static library and under valgrind (no leak, no invalid read).
//!
//! The expected status is what the Rust runtime's error maps to (the mapping is restated
//! below from include/flowmap.h); each designed case also asserts here that the runtime gives
//! the intended kind of error, so a file cannot silently stop testing what its name says.

use std::fmt::Write as _;
use std::path::Path;

use flowmap::{LoadError, Model, NormalRng, UnetError};
use serde_json::{json, Value};

// Status codes (include/flowmap.h).
pub const OK: i32 = 0;
pub const MALFORMED: i32 = 7;
pub const UNSUPPORTED_VERSION: i32 = 8;
pub const INVALID_MODEL: i32 = 9;
pub const SHAPE_MISMATCH: i32 = 10;
pub const NON_FINITE: i32 = 11;

/// The documented status for a load result.
fn status(r: &Result<Model, LoadError>) -> i32 {
    use LoadError::*;
    match r {
        Ok(_) => OK,
        Err(e) => match e {
            UnsupportedFormatVersion { .. } | UnknownArchitecture(_) => UNSUPPORTED_VERSION,
            ArchitectureNeedsVersion { .. }
            | InvalidUnet(_)
            | EmptyDataShape
            | ZeroDim { .. }
            | DimTooLarge { .. }
            | EmptyHidden
            | TooManyLayers { .. }
            | InvalidWidth { .. }
            | InvalidFrequency { .. }
            | InvalidSigma(_)
            | NormalizationLength { .. }
            | InvalidMean { .. }
            | InvalidStd { .. } => INVALID_MODEL,
            MissingTensor(_) | UnexpectedTensor(_) | ShapeMismatch { .. } => SHAPE_MISMATCH,
            NonFiniteWeight { .. } => NON_FINITE,
            _ => MALFORMED,
        },
    }
}

/// Splits a safetensors file into (header JSON, data section).
fn split(file: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&file[8..8 + n]).unwrap();
    (header, file[8 + n..].to_vec())
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_string(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Edits the header (the data section stays as it is).
fn edit_header(file: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut h, data) = split(file);
    f(&mut h);
    join(&h, &data)
}

/// Edits the flowmap metadata document.
fn edit_meta(file: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    edit_header(file, |h| {
        let text = h["__metadata__"]["flowmap"].as_str().unwrap().to_string();
        let mut m: Value = serde_json::from_str(&text).unwrap();
        f(&mut m);
        h["__metadata__"]["flowmap"] = Value::String(serde_json::to_string(&m).unwrap());
    })
}

/// Overwrites 4 bytes of tensor `name`'s data at element `index` with `value`'s bytes.
fn set_f32(file: &[u8], name: &str, index: usize, value: f32) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let (h, _) = split(file);
    let start = h[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + n + start + 4 * index;
    let mut out = file.to_vec();
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
    out
}

type Check = fn(&LoadError) -> bool;

/// Writes the corpus under `dir/malformed`; `good` is a valid F32 model file whose first
/// layer is `layers.0.*`. Returns the number of files.
pub fn write(dir: &Path, good: &[u8], good_f16: &[u8]) -> usize {
    use LoadError as E;
    let out = dir.join("malformed");
    std::fs::create_dir_all(&out).unwrap();
    let mut manifest = String::new();
    let mut count = 0usize;
    let mut add = |kind: &str, bytes: &[u8], check: Option<Check>| {
        let r = Model::from_bytes(bytes);
        if let Some(check) = check {
            match &r {
                Err(e) => assert!(check(e), "{kind}: unexpected error {e:?}"),
                Ok(_) => panic!("{kind}: accepted"),
            }
        }
        let name = format!("{count:04}_{kind}.bin");
        std::fs::write(out.join(&name), bytes).unwrap();
        writeln!(manifest, "{} {name}", status(&r)).unwrap();
        count += 1;
    };
    let (header, _) = split(good);
    let data_start = good.len() - {
        let (_, d) = split(good);
        d.len()
    };
    let malformed: Check = |e| status(&Err(e.clone())) == MALFORMED;

    add("valid", good, None);
    add("valid_f16", good_f16, None);

    // Truncation: every offset in the length prefix and the start of the header, then a
    // spread over the header and the data section.
    let mut cuts: Vec<usize> = (0..40).collect();
    cuts.extend((40..data_start + 8).step_by(23));
    cuts.extend((data_start..good.len()).step_by(53));
    cuts.push(good.len() - 1);
    for cut in cuts {
        add("truncated", &good[..cut], Some(malformed));
    }

    // Flipped bytes: single bit flips in the header (any outcome but a crash; usually
    // malformed) and in the data (a still-valid file, or a non-finite weight).
    let mut rng = NormalRng::new(99);
    for _ in 0..40 {
        let at = 8 + (rng.next_u64() as usize) % (data_start - 8);
        let mut b = good.to_vec();
        b[at] ^= 1 << (rng.next_u64() % 8);
        add("header_bitflip", &b, None);
    }
    for _ in 0..20 {
        let at = data_start + (rng.next_u64() as usize) % (good.len() - data_start);
        let mut b = good.to_vec();
        b[at] ^= 1 << (rng.next_u64() % 8);
        add("data_bitflip", &b, None);
    }
    for _ in 0..20 {
        // Several random bytes anywhere.
        let mut b = good.to_vec();
        for _ in 0..1 + rng.next_u64() % 6 {
            let at = (rng.next_u64() as usize) % b.len();
            b[at] = rng.next_u64() as u8;
        }
        add("random_bytes", &b, None);
    }
    // Exponent bytes of a weight set to all ones: ±Inf or NaN.
    let mut b = good.to_vec();
    b[data_start + 3] = 0x7F;
    b[data_start + 2] |= 0x80;
    add(
        "data_exponent_ones",
        &b,
        Some(|e| matches!(e, E::NonFiniteWeight { .. })),
    );

    // Header length beyond the file, and absurd.
    for claimed in [
        (good.len() - 8 + 1) as u64,
        good.len() as u64 * 2,
        u32::MAX as u64,
        u64::MAX,
        u64::MAX - 7,
    ] {
        let mut b = good.to_vec();
        b[..8].copy_from_slice(&claimed.to_le_bytes());
        add(
            "header_len_beyond_file",
            &b,
            Some(|e| matches!(e, E::HeaderTooLong { .. })),
        );
    }
    // Header length shorter than the header (the JSON is cut).
    let mut b = good.to_vec();
    b[..8].copy_from_slice(&((data_start - 8 - 10) as u64).to_le_bytes());
    add("header_len_short", &b, Some(malformed));

    // Offsets: overlapping, out of range, reversed, near u64::MAX, a gap.
    let b0 = header["layers.0.bias"]["data_offsets"].clone();
    let w0 = header["layers.0.weight"]["data_offsets"].clone();
    let (w0s, w0e) = (w0[0].as_u64().unwrap(), w0[1].as_u64().unwrap());
    let (b0s, b0e) = (b0[0].as_u64().unwrap(), b0[1].as_u64().unwrap());
    let data_len = (good.len() - data_start) as u64;
    add(
        "overlapping_offsets",
        &edit_header(good, |h| {
            h["layers.0.bias"]["data_offsets"] = json!([w0s, w0s + (b0e - b0s)]);
        }),
        Some(malformed),
    );
    add(
        "same_offsets_twice",
        &edit_header(good, |h| {
            h["layers.0.bias"]["data_offsets"] = json!([w0s, w0e]);
            h["layers.0.bias"]["shape"] = h["layers.0.weight"]["shape"].clone();
        }),
        Some(malformed),
    );
    for (s, e) in [
        (data_len, data_len + (b0e - b0s)),
        (u64::MAX - 8, u64::MAX),
        (b0e, b0s),
        (0, u64::MAX),
    ] {
        add(
            "offsets_out_of_range",
            &edit_header(good, |h| h["layers.0.bias"]["data_offsets"] = json!([s, e])),
            Some(malformed),
        );
    }
    add(
        "trailing_bytes",
        &[good, &[0u8; 8][..]].concat(),
        Some(|e| matches!(e, E::DataGap { .. })),
    );

    // Gigantic claimed shapes (must not allocate what they claim).
    for shape in [
        json!([1u64 << 40, 1u64 << 40]),
        json!([1u64 << 30, 1u64 << 30]),
        json!([u64::MAX, 2]),
        json!([u64::MAX]),
        json!([1u64 << 62]),
        json!([4294967296u64, 16]),
    ] {
        add(
            "gigantic_shape",
            &edit_header(good, |h| h["layers.0.weight"]["shape"] = shape),
            Some(malformed),
        );
    }
    add(
        "gigantic_dim",
        &edit_meta(good, |m| {
            m["architecture"]["data_shape"] = json!([1u64 << 40])
        }),
        Some(|e| matches!(e, E::DimTooLarge { .. })),
    );
    add(
        "gigantic_width",
        &edit_meta(good, |m| {
            m["architecture"]["hidden"] = json!([1u64 << 31, 16])
        }),
        Some(|e| matches!(e, E::InvalidWidth { .. })),
    );

    // Non-finite weights.
    for (name, v) in [
        ("layers.0.weight", f32::NAN),
        ("layers.0.weight", f32::INFINITY),
        ("layers.1.bias", f32::NEG_INFINITY),
        ("layers.2.weight", -f32::NAN),
    ] {
        add(
            "nonfinite_weight",
            &set_f32(good, name, 1, v),
            Some(|e| matches!(e, E::NonFiniteWeight { .. })),
        );
    }
    // F16 infinity (0x7C00) in the F16 file's first weight.
    let (h16, _) = split(good_f16);
    let start16 = good_f16.len() - split(good_f16).1.len();
    let off = h16["layers.0.weight"]["data_offsets"][0].as_u64().unwrap() as usize;
    let mut b = good_f16.to_vec();
    b[start16 + off..start16 + off + 2].copy_from_slice(&0x7C00u16.to_le_bytes());
    add(
        "f16_infinity",
        &b,
        Some(|e| matches!(e, E::NonFiniteWeight { .. })),
    );
    let mut b = good_f16.to_vec();
    b[start16 + off..start16 + off + 2].copy_from_slice(&0x7E01u16.to_le_bytes());
    add(
        "f16_nan",
        &b,
        Some(|e| matches!(e, E::NonFiniteWeight { .. })),
    );

    // Format versions.
    for v in [json!(0), json!(3), json!(999), json!(u64::MAX)] {
        add(
            "unsupported_version",
            &edit_meta(good, |m| m["format_version"] = v),
            Some(|e| matches!(e, E::UnsupportedFormatVersion { .. })),
        );
    }
    for v in [json!(-1), json!(1.5), json!("1"), Value::Null] {
        add(
            "bad_version_type",
            &edit_meta(good, |m| m["format_version"] = v),
            Some(malformed),
        );
    }

    // Wrong architecture metadata.
    add(
        "architecture_unknown_kind",
        &edit_meta(good, |m| m["architecture"]["kind"] = json!("transformer")),
        Some(|e| matches!(e, E::UnknownArchitecture(k) if k == "transformer")),
    );
    add(
        "architecture_unknown_activation",
        &edit_meta(good, |m| m["architecture"]["activation"] = json!("tanh")),
        Some(malformed),
    );
    add(
        "architecture_hidden_disagrees",
        &edit_meta(good, |m| m["architecture"]["hidden"] = json!([16, 8])),
        Some(|e| matches!(e, E::ShapeMismatch { .. })),
    );
    add(
        "architecture_extra_layer",
        &edit_meta(good, |m| m["architecture"]["hidden"] = json!([16, 16, 16])),
        Some(|e| matches!(e, E::MissingTensor(_) | E::ShapeMismatch { .. })),
    );
    add(
        "architecture_fewer_layers",
        &edit_meta(good, |m| m["architecture"]["hidden"] = json!([16])),
        Some(|e| matches!(e, E::ShapeMismatch { .. } | E::UnexpectedTensor(_))),
    );
    add(
        "architecture_fourier_not_in_weights",
        &edit_meta(good, |m| {
            m["architecture"]["time_embedding"] = json!({"kind": "fourier", "frequencies": [1.0]})
        }),
        Some(|e| matches!(e, E::ShapeMismatch { .. })),
    );
    add(
        "architecture_data_shape_disagrees",
        &edit_meta(good, |m| {
            m["architecture"]["data_shape"] = json!([3]);
            m["normalization"]["mean"] = json!([0.0, 0.0, 0.0]);
            m["normalization"]["std"] = json!([1.0, 1.0, 1.0]);
        }),
        Some(|e| matches!(e, E::ShapeMismatch { .. })),
    );
    add(
        "architecture_zero_dim",
        &edit_meta(good, |m| m["architecture"]["data_shape"] = json!([2, 0])),
        Some(|e| matches!(e, E::ZeroDim { .. })),
    );
    add(
        "architecture_missing",
        &edit_meta(good, |m| {
            m.as_object_mut().unwrap().remove("architecture");
        }),
        Some(malformed),
    );
    add(
        "sigma_negative",
        &edit_meta(good, |m| m["sigma"] = json!(-0.5)),
        Some(|e| matches!(e, E::InvalidSigma(_))),
    );
    add(
        "std_zero",
        &edit_meta(good, |m| m["normalization"]["std"] = json!([0.0, 1.0])),
        Some(|e| matches!(e, E::InvalidStd { .. })),
    );
    add(
        "unsupported_dtype",
        &edit_header(good, |h| h["layers.0.bias"]["dtype"] = json!("F64")),
        Some(|e| matches!(e, E::UnsupportedDtype { .. })),
    );
    add(
        "missing_tensor",
        &edit_header(good, |h| {
            h.as_object_mut().unwrap().remove("layers.2.bias");
        }),
        Some(malformed),
    );
    add(
        "missing_metadata",
        &edit_header(good, |h| {
            h.as_object_mut().unwrap().remove("__metadata__");
        }),
        Some(|e| matches!(e, E::MissingMetadata)),
    );

    // Format 2: a small U-Net, valid, then hostile variants of its metadata and tensors.
    let unet = {
        let mut meta = flowmap::write::example_unet_meta([1, 4, 4], &[1, 2], &[2]);
        if let flowmap::schema::Architecture::Unet {
            channels, groups, ..
        } = &mut meta.architecture
        {
            *channels = 4;
            *groups = 2;
        }
        flowmap::write::random_unet_builder(meta, 3).to_bytes()
    };
    add("unet_valid", &unet, None);
    type Edit = fn(&mut Value);
    let unet_cases: [(&str, Edit, Check); 18] = [
        (
            "unet_rank2_shape",
            |m| m["architecture"]["data_shape"] = json!([4, 4]),
            |e| matches!(e, E::InvalidUnet(UnetError::DataShape { .. })),
        ),
        (
            "unet_5_channels",
            |m| m["architecture"]["data_shape"] = json!([5, 4, 4]),
            |e| matches!(e, E::InvalidUnet(UnetError::DataShape { .. })),
        ),
        (
            "unet_zero_width",
            |m| m["architecture"]["data_shape"] = json!([1, 4, 0]),
            |e| matches!(e, E::InvalidUnet(UnetError::DataShape { .. })),
        ),
        (
            "unet_huge_resolution",
            |m| m["architecture"]["data_shape"] = json!([1, 1u64 << 40, 1u64 << 40]),
            |e| matches!(e, E::InvalidUnet(UnetError::DataShape { .. })),
        ),
        (
            "unet_no_levels",
            |m| m["architecture"]["channel_mult"] = json!([]),
            |e| matches!(e, E::InvalidUnet(UnetError::Levels { .. })),
        ),
        (
            "unet_many_levels",
            |m| m["architecture"]["channel_mult"] = json!([1, 1, 1, 1, 1, 1, 1, 1, 1]),
            |e| matches!(e, E::InvalidUnet(UnetError::Levels { .. })),
        ),
        (
            "unet_absurd_channels",
            |m| m["architecture"]["channels"] = json!(1u64 << 62),
            |e| matches!(e, E::InvalidUnet(UnetError::Channels { .. })),
        ),
        (
            "unet_zero_mult",
            |m| m["architecture"]["channel_mult"] = json!([1, 0]),
            |e| matches!(e, E::InvalidUnet(UnetError::Channels { .. })),
        ),
        (
            "unet_zero_blocks",
            |m| m["architecture"]["blocks"] = json!(0),
            |e| matches!(e, E::InvalidUnet(UnetError::Blocks { .. })),
        ),
        (
            "unet_attention_never_occurs",
            |m| m["architecture"]["attention"] = json!([3]),
            |e| matches!(e, E::InvalidUnet(UnetError::AttentionResolution { .. })),
        ),
        (
            "unet_heads_do_not_divide",
            |m| m["architecture"]["heads"] = json!(3),
            |e| matches!(e, E::InvalidUnet(UnetError::Heads { .. })),
        ),
        (
            "unet_groups_do_not_divide",
            |m| m["architecture"]["groups"] = json!(3),
            |e| matches!(e, E::InvalidUnet(UnetError::Groups { .. })),
        ),
        (
            "unet_zero_groups",
            |m| m["architecture"]["groups"] = json!(0),
            |e| matches!(e, E::InvalidUnet(UnetError::Groups { .. })),
        ),
        (
            "unet_bad_eps",
            |m| m["architecture"]["norm_eps"] = json!(0.0),
            |e| matches!(e, E::InvalidUnet(UnetError::NormEps(_))),
        ),
        (
            "unet_zero_embedding",
            |m| m["architecture"]["time_embedding"]["dim"] = json!(0),
            |e| matches!(e, E::InvalidUnet(UnetError::EmbedDim { .. })),
        ),
        (
            "unet_pixel_range_inverted",
            |m| m["architecture"]["pixel_range"] = json!([1.0, 0.0]),
            |e| matches!(e, E::InvalidUnet(UnetError::PixelRange { .. })),
        ),
        (
            "unet_in_format_1",
            |m| m["format_version"] = json!(1),
            |e| matches!(e, E::ArchitectureNeedsVersion { .. }),
        ),
        (
            "unet_more_channels_than_tensors",
            |m| m["architecture"]["channels"] = json!(64),
            |e| matches!(e, E::ShapeMismatch { .. }),
        ),
    ];
    for (kind, f, check) in unet_cases {
        add(kind, &edit_meta(&unet, f), Some(check));
    }

    std::fs::write(out.join("manifest.txt"), &manifest).unwrap();
    count
}
