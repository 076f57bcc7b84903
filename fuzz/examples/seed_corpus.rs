//! Writes the seed corpus for both fuzz targets: real model files from
//! `flowmap::write` covering every dtype, activation and time embedding, a multi-dimensional
//! data shape, and a few near-misses (truncated, bad version, NaN weight).
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus -- fuzz/seeds
use flowmap::schema::*;
use flowmap::write::{example_model_bytes, ModelBuilder, WeightDtype};

fn model(
    data_shape: Vec<usize>,
    hidden: Vec<usize>,
    activation: Activation,
    time_embedding: TimeEmbedding,
    dtype: WeightDtype,
    seed: u64,
) -> Vec<u8> {
    let dim: usize = data_shape.iter().product();
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape,
            hidden,
            activation,
            time_embedding,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: (0..dim).map(|i| i as f32 * 0.1).collect(),
            std: (0..dim).map(|i| 1.0 + i as f32 * 0.5).collect(),
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 1,
            seed,
            weights: "raw".into(),
            trainer: "seed".into(),
            dataset: String::new(),
        },
    };
    ModelBuilder::random_scaled(
        meta,
        seed,
        |spec| {
            if spec.shape.len() == 2 {
                0.5
            } else {
                0.1
            }
        },
    )
    .dtype(dtype)
    .to_bytes()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    std::fs::create_dir_all(&dir).unwrap();
    let fourier = || TimeEmbedding::Fourier {
        frequencies: vec![1.0, 2.0],
    };
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("example_model", example_model_bytes()),
        (
            "raw_gelu_tanh_f32",
            model(
                vec![2],
                vec![4],
                Activation::GeluTanh,
                TimeEmbedding::Raw,
                WeightDtype::F32,
                1,
            ),
        ),
        (
            "fourier_silu_f16",
            model(
                vec![2],
                vec![3, 3],
                Activation::Silu,
                fourier(),
                WeightDtype::F16,
                2,
            ),
        ),
        (
            "raw_relu_bf16",
            model(
                vec![3],
                vec![5],
                Activation::Relu,
                TimeEmbedding::Raw,
                WeightDtype::BF16,
                3,
            ),
        ),
        (
            "image_gelu_erf_f32",
            model(
                vec![1, 2, 2],
                vec![3],
                Activation::GeluErf,
                fourier(),
                WeightDtype::F32,
                4,
            ),
        ),
        (
            "dim1_f32",
            model(
                vec![1],
                vec![2],
                Activation::GeluTanh,
                TimeEmbedding::Raw,
                WeightDtype::F32,
                5,
            ),
        ),
    ];
    // Format 2: small U-Nets (grey with attention, RGBA at an odd size), F16 to stay small.
    for (name, shape, mult, attention) in [
        (
            "unet_grey_4x4_f16",
            [1usize, 4, 4],
            &[1usize, 2][..],
            &[2usize][..],
        ),
        ("unet_rgba_3x5_f16", [4, 3, 5], &[1, 1][..], &[][..]),
    ] {
        let mut meta = flowmap::write::example_unet_meta(shape, mult, attention);
        if let Architecture::Unet {
            channels,
            groups,
            time_embedding,
            ..
        } = &mut meta.architecture
        {
            *channels = 4;
            *groups = 2;
            *time_embedding = UnetTimeEmbedding::FourierMlp {
                frequencies: vec![1.0],
                dim: 4,
            };
        }
        let bytes = flowmap::write::random_unet_builder(meta, 8)
            .dtype(WeightDtype::F16)
            .to_bytes();
        files.push((name, bytes));
    }
    // Near misses: each fails one late check, so mutations explore the deep paths.
    let good = files[1].1.clone();
    files.push(("truncated_half", good[..good.len() / 2].to_vec()));
    let mut nan = good.clone();
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    files.push(("nan_last_weight", nan));
    let pat = b"format_version\\\":1";
    let at = good.windows(pat.len()).position(|w| w == pat).unwrap() + pat.len() - 1;
    let mut v2 = good.clone();
    v2[at] = b'2';
    files.push(("format_version_2", v2));
    // A U-Net whose groups do not divide its channels.
    let unet = files
        .iter()
        .find(|(n, _)| *n == "unet_grey_4x4_f16")
        .unwrap()
        .1
        .clone();
    let pat = b"groups\\\":2";
    let at = unet.windows(pat.len()).position(|w| w == pat).unwrap() + pat.len() - 1;
    let mut bad_groups = unet.clone();
    bad_groups[at] = b'3';
    files.push(("unet_groups_3", bad_groups));
    for (name, bytes) in files {
        std::fs::write(format!("{dir}/{name}.safetensors"), bytes).unwrap();
    }
}
