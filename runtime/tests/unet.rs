//! The `unet` family end to end through the public API: the schema's tensor list, loading,
//! X_{s,s} = id, determinism across batch sizes, compact normalisation, and the typed
//! errors of hostile format-2 metadata.

use flowmap::schema::*;
use flowmap::write::{ModelBuilder, WeightDtype};
use flowmap::{Grid, LoadError, Model, NormalRng, UnetError};

/// A `unet` architecture of data shape `[c, h, w]`.
fn arch(shape: [usize; 3], mult: &[usize], attention: &[usize]) -> Architecture {
    Architecture::Unet {
        data_shape: shape.to_vec(),
        channels: 8,
        channel_mult: mult.to_vec(),
        blocks: 1,
        attention: attention.to_vec(),
        heads: 2,
        mid_attention: true,
        groups: 4,
        norm_eps: 1e-5,
        time_embedding: UnetTimeEmbedding::FourierMlp {
            frequencies: vec![0.5, 1.0, 2.0],
            dim: 16,
        },
        pixel_range: Some([-1.0, 1.0]),
    }
}

fn meta(architecture: Architecture, mean: Vec<f32>, std: Vec<f32>) -> ModelMeta {
    ModelMeta {
        format_version: architecture.format_version(),
        architecture,
        interpolant: Interpolant::Linear,
        sigma: 0.7,
        normalization: Normalization { mean, std },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "unet tests".into(),
            dataset: "sprites".into(),
        },
    }
}

/// Random weights with GroupNorm scales around 1.
fn builder(m: ModelMeta, seed: u64) -> ModelBuilder {
    let mut rng = NormalRng::new(seed);
    ModelBuilder::new(m, |spec| {
        let n = spec.numel();
        let is_norm = spec.name.contains("norm");
        let fan_in = if spec.shape.len() >= 2 {
            n / spec.shape[0]
        } else {
            0
        };
        (0..n)
            .map(|_| {
                let r = rng.next_f32();
                match (is_norm, spec.name.ends_with(".weight"), fan_in) {
                    (true, true, _) => 1.0 + 0.1 * r,
                    (true, false, _) => 0.1 * r,
                    (false, _, 0) => 0.1 * r,
                    (false, _, k) => r / (k as f32).sqrt(),
                }
            })
            .collect()
    })
}

fn model(shape: [usize; 3], mult: &[usize], attention: &[usize]) -> Model {
    let dim = shape.iter().product();
    let m = meta(arch(shape, mult, attention), vec![0.1; dim], vec![0.5; dim]);
    Model::from_bytes(&builder(m, 3).to_bytes()).expect("valid unet")
}

#[test]
fn tensors_follow_the_format_table() {
    let a = arch([1, 28, 28], &[1, 2, 2], &[7]);
    let plan = UnetPlan::new(&a).unwrap().unwrap();
    let heights: Vec<usize> = plan.levels.iter().map(|l| l.height).collect();
    assert_eq!(heights, [28, 14, 7]);
    let t = a.tensors();
    let find = |n: &str| t.iter().find(|s| s.name == n).map(|s| s.shape.clone());
    assert_eq!(find("time.0.weight"), Some(vec![16, 12]));
    assert_eq!(find("conv_in.weight"), Some(vec![8, 1, 3, 3]));
    assert_eq!(find("down.0.block.0.skip.weight"), None); // 8 -> 8
    assert_eq!(find("down.1.block.0.skip.weight"), Some(vec![16, 8, 1, 1]));
    assert_eq!(find("down.2.attn.0.qkv.weight"), Some(vec![48, 16, 1, 1]));
    assert_eq!(find("down.1.attn.0.qkv.weight"), None); // 14 has no attention
    assert_eq!(find("down.0.downsample.weight"), Some(vec![8, 8, 3, 3]));
    assert_eq!(find("down.2.downsample.weight"), None);
    assert_eq!(find("mid.attn.proj.weight"), Some(vec![16, 16, 1, 1]));
    // Decoder level 2 block 0: 16 (mid) + 16 (skip) -> 16; level 0: 16 + 8 -> 8.
    assert_eq!(find("up.2.block.0.conv1.weight"), Some(vec![16, 32, 3, 3]));
    assert_eq!(find("up.0.block.0.conv1.weight"), Some(vec![8, 24, 3, 3]));
    assert_eq!(find("up.0.upsample.weight"), None);
    assert_eq!(find("up.1.upsample.weight"), Some(vec![16, 16, 3, 3]));
    assert_eq!(find("up.0.block.0.emb.weight"), Some(vec![16, 16]));
    assert_eq!(find("out.conv.weight"), Some(vec![1, 8, 3, 3]));
    let mut names: Vec<&str> = t.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), t.len(), "names are unique");
}

#[test]
fn unet_maps_deterministically_and_x_ss_is_identity() {
    for (shape, mult, attn) in [
        ([1usize, 8, 8], &[1usize, 2][..], &[][..]),
        ([1, 28, 28], &[1, 2, 2][..], &[7][..]),
        ([3, 5, 7], &[1, 2][..], &[3][..]),
        ([4, 1, 1], &[1][..], &[1][..]),
    ] {
        let m = model(shape, mult, attn);
        let dim = m.dim();
        assert_eq!(m.data_shape(), &shape);
        let batch = 3;
        let mut x = vec![0.0f32; batch * dim];
        NormalRng::new(5).fill(&mut x);
        let mut ws = m.workspace(batch);
        let mut y = vec![0.0f32; batch * dim];
        m.map(&mut ws, 0.3, 0.3, &x, &mut y).unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + a.abs()),
                "X_ss = id: {a} vs {b}"
            );
        }
        m.map(&mut ws, 0.1, 0.9, &x, &mut y).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        assert!(x.iter().zip(&y).any(|(a, b)| a != b), "the map moves x");
        // Each row alone gives the same bits.
        for r in 0..batch {
            let mut one = vec![0.0f32; dim];
            m.map(&mut ws, 0.1, 0.9, &x[r * dim..(r + 1) * dim], &mut one)
                .unwrap();
            assert_eq!(one[..], y[r * dim..(r + 1) * dim], "{shape:?} row {r}");
        }
        let mut s1 = vec![0.0f32; 2 * dim];
        let mut s2 = vec![0.0f32; 2 * dim];
        m.sample_seeded(&mut ws, 9, Grid::Uniform(2), &mut s1)
            .unwrap();
        m.sample_seeded(&mut Model::workspace(&m, 1), 9, Grid::Uniform(2), &mut s2)
            .unwrap();
        assert_eq!(s1, s2);
    }
}

#[test]
fn compact_normalisation_equals_the_expanded_one() {
    let shape = [3usize, 4, 4];
    let a = arch(shape, &[1, 2], &[]);
    let per_channel = meta(a.clone(), vec![0.1, -0.2, 0.3], vec![0.5, 1.0, 2.0]);
    let expand = |v: &[f32]| v.iter().flat_map(|&m| [m; 16]).collect::<Vec<f32>>();
    let full = meta(
        a.clone(),
        expand(&[0.1, -0.2, 0.3]),
        expand(&[0.5, 1.0, 2.0]),
    );
    let scalar = meta(a.clone(), vec![0.25], vec![1.5]);
    let scalar_full = meta(a, vec![0.25; 48], vec![1.5; 48]);
    for (compact, expanded) in [(per_channel, full), (scalar, scalar_full)] {
        let mc = Model::from_bytes(&builder(compact, 1).to_bytes()).unwrap();
        let me = Model::from_bytes(&builder(expanded, 1).to_bytes()).unwrap();
        let mut x = vec![0.0f32; 2 * 48];
        NormalRng::new(2).fill(&mut x);
        let (mut yc, mut ye) = (vec![0.0f32; 96], vec![0.0f32; 96]);
        let mut ws = mc.workspace(2);
        mc.map(&mut ws, 0.2, 0.8, &x, &mut yc).unwrap();
        me.map(&mut ws, 0.2, 0.8, &x, &mut ye).unwrap();
        assert_eq!(yc, ye);
        mc.velocity(&mut ws, 0.5, &x, &mut yc).unwrap();
        me.velocity(&mut ws, 0.5, &x, &mut ye).unwrap();
        assert_eq!(yc, ye);
    }
}

#[test]
fn half_precision_unet_weights_load() {
    let dim = 64;
    let m = meta(
        arch([1, 8, 8], &[1, 2], &[4]),
        vec![0.0; dim],
        vec![1.0; dim],
    );
    for dtype in [WeightDtype::F16, WeightDtype::BF16] {
        let model = Model::from_bytes(&builder(m.clone(), 4).dtype(dtype).to_bytes()).unwrap();
        let mut y = vec![0.0f32; dim];
        model
            .sample_seeded(&mut model.workspace(1), 1, Grid::Uniform(1), &mut y)
            .unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
    }
}

/// Loads `m` (with weights for its architecture if it has a valid one, else for a
/// reference architecture) and returns the error.
fn load_err(m: ModelMeta) -> LoadError {
    let b = builder(m, 1);
    Model::from_bytes(&b.to_bytes()).expect_err("rejected")
}

fn good() -> ModelMeta {
    meta(arch([1, 8, 8], &[1, 2], &[4]), vec![0.0], vec![1.0])
}

fn with_arch(f: impl FnOnce(&mut Architecture)) -> ModelMeta {
    let mut m = good();
    f(&mut m.architecture);
    m
}

macro_rules! unet_field {
    ($m:expr, $field:ident, $value:expr) => {
        with_arch(|a| {
            if let Architecture::Unet { $field, .. } = a {
                *$field = $value;
            }
        })
    };
}

/// One test per hostile variant of a valid format-2 header: the metadata `$meta` must be
/// refused with an error matching `$pat` (and a message).
macro_rules! hostile {
    ($($name:ident: $meta:expr => $pat:pat,)*) => {
        $(
            #[test]
            fn $name() {
                let e = load_err($meta);
                assert!(matches!(e, $pat), "got {e:?}");
                assert!(!e.to_string().is_empty());
            }
        )*
    };
}

#[test]
fn the_hostile_cases_start_from_a_valid_file() {
    let valid = Model::from_bytes(&builder(good(), 1).to_bytes());
    assert!(valid.is_ok(), "{:?}", valid.err());
}

hostile! {
    hostile_v2_rank2_data_shape: unet_field!(m, data_shape, vec![8, 8])
        => LoadError::InvalidUnet(UnetError::DataShape { .. }),
    hostile_v2_five_channels: unet_field!(m, data_shape, vec![5, 8, 8])
        => LoadError::InvalidUnet(UnetError::DataShape { .. }),
    hostile_v2_zero_height: unet_field!(m, data_shape, vec![1, 0, 8])
        => LoadError::InvalidUnet(UnetError::DataShape { .. }),
    hostile_v2_absurd_resolution: unet_field!(m, data_shape, vec![1, 1 << 40, 1 << 40])
        => LoadError::InvalidUnet(UnetError::DataShape { .. }),
    hostile_v2_resolution_over_the_limit: unet_field!(m, data_shape, vec![1, 8193, 1])
        => LoadError::InvalidUnet(UnetError::DataShape { .. }),
    hostile_v2_no_levels: unet_field!(m, channel_mult, vec![])
        => LoadError::InvalidUnet(UnetError::Levels { count: 0 }),
    hostile_v2_too_many_levels: unet_field!(m, channel_mult, vec![1; 9])
        => LoadError::InvalidUnet(UnetError::Levels { count: 9 }),
    hostile_v2_zero_multiplier: unet_field!(m, channel_mult, vec![1, 0])
        => LoadError::InvalidUnet(UnetError::Channels { level: 1, .. }),
    hostile_v2_absurd_channels: unet_field!(m, channels, usize::MAX / 2)
        => LoadError::InvalidUnet(UnetError::Channels { level: 0, .. }),
    hostile_v2_zero_channels: unet_field!(m, channels, 0)
        => LoadError::InvalidUnet(UnetError::Channels { .. }),
    hostile_v2_zero_blocks: unet_field!(m, blocks, 0)
        => LoadError::InvalidUnet(UnetError::Blocks { blocks: 0 }),
    hostile_v2_absurd_blocks: unet_field!(m, blocks, 1 << 30)
        => LoadError::InvalidUnet(UnetError::Blocks { .. }),
    hostile_v2_attention_at_a_resolution_that_never_occurs: unet_field!(m, attention, vec![5])
        => LoadError::InvalidUnet(UnetError::AttentionResolution { resolution: 5 }),
    hostile_v2_heads_do_not_divide: unet_field!(m, heads, 3)
        => LoadError::InvalidUnet(UnetError::Heads { heads: 3, .. }),
    hostile_v2_zero_heads: unet_field!(m, heads, 0)
        => LoadError::InvalidUnet(UnetError::Heads { heads: 0, .. }),
    hostile_v2_groups_do_not_divide: unet_field!(m, groups, 3)
        => LoadError::InvalidUnet(UnetError::Groups { groups: 3, .. }),
    hostile_v2_zero_groups: unet_field!(m, groups, 0)
        => LoadError::InvalidUnet(UnetError::Groups { groups: 0, .. }),
    hostile_v2_negative_eps: unet_field!(m, norm_eps, -1.0)
        => LoadError::InvalidUnet(UnetError::NormEps(_)),
    hostile_v2_zero_embedding_width: unet_field!(
        m,
        time_embedding,
        UnetTimeEmbedding::FourierMlp { frequencies: vec![1.0], dim: 0 }
    ) => LoadError::InvalidUnet(UnetError::EmbedDim { dim: 0 }),
    hostile_v2_no_frequencies: unet_field!(
        m,
        time_embedding,
        UnetTimeEmbedding::FourierMlp { frequencies: vec![], dim: 8 }
    ) => LoadError::InvalidFrequency { .. },
    hostile_v2_inverted_pixel_range: unet_field!(m, pixel_range, Some([1.0, -1.0]))
        => LoadError::InvalidUnet(UnetError::PixelRange { .. }),
    hostile_v2_normalisation_of_the_wrong_length: {
        let mut m = good();
        m.normalization.mean = vec![0.0; 2];
        m
    } => LoadError::NormalizationLength { field: "mean", expected: 64, got: 2 },
    hostile_v2_zero_sigma: {
        let mut m = good();
        m.sigma = 0.0;
        m
    } => LoadError::InvalidSigma(_),
    hostile_v2_unet_in_a_format_1_file: {
        let mut m = good();
        m.format_version = 1;
        m
    } => LoadError::ArchitectureNeedsVersion { needs: 2, found: 1, .. },
    hostile_v2_format_version_3: {
        let mut m = good();
        m.format_version = 3;
        m
    } => LoadError::UnsupportedFormatVersion { found: 3, supported: 2 },
}

/// Tensor-level hostility: shapes that disagree with the plan, missing and extra tensors,
/// and a header that declares a huge network over a tiny file.
#[test]
fn hostile_v2_tensors_get_typed_errors() {
    use LoadError as E;
    let b = builder(good(), 2);
    let mut missing = b.clone();
    assert!(missing.remove("mid.attn.qkv.weight"));
    let e = Model::from_bytes(&missing.to_bytes()).unwrap_err();
    assert!(
        matches!(&e, E::MissingTensor(n) if n == "mid.attn.qkv.weight"),
        "{e:?}"
    );

    let mut extra = b.clone();
    extra.push(
        "down.0.block.0.skip.weight",
        vec![8, 8, 1, 1],
        vec![0.0; 64],
    );
    let e = Model::from_bytes(&extra.to_bytes()).unwrap_err();
    assert!(
        matches!(&e, E::UnexpectedTensor(n) if n == "down.0.block.0.skip.weight"),
        "{e:?}"
    );

    let mut wrong = b.clone();
    let (shape, _) = wrong.tensor_mut("conv_in.weight").unwrap();
    *shape = vec![8, 9, 1, 1]; // same element count, wrong shape
    let e = Model::from_bytes(&wrong.to_bytes()).unwrap_err();
    assert!(
        matches!(&e, E::ShapeMismatch { tensor, .. } if tensor == "conv_in.weight"),
        "{e:?}"
    );

    let mut nan = b.clone();
    nan.tensor_mut("out.conv.bias").unwrap().1[0] = f32::NAN;
    let e = Model::from_bytes(&nan.to_bytes()).unwrap_err();
    assert!(
        matches!(&e, E::NonFiniteWeight { tensor, .. } if tensor == "out.conv.bias"),
        "{e:?}"
    );

    // A header declaring 4096 channels and 8 levels with the tensors of the small net: the
    // loader refuses it by shape, before decoding (or allocating for) any weight.
    let mut huge = b.clone();
    if let Architecture::Unet {
        channels,
        channel_mult,
        ..
    } = &mut huge.meta_mut().architecture
    {
        *channels = 4096;
        *channel_mult = vec![1; 8];
    }
    let e = Model::from_bytes(&huge.to_bytes()).unwrap_err();
    assert!(
        matches!(e, E::ShapeMismatch { .. } | E::MissingTensor(_)),
        "{e:?}"
    );
}

#[test]
fn unknown_family_is_a_typed_error() {
    // Same length, so the header length and offsets stay right.
    let mut bytes = builder(good(), 1).to_bytes();
    let pat = br#"\"kind\":\"unet\""#;
    let at = bytes
        .windows(pat.len())
        .position(|w| w == pat)
        .expect("the header names the family");
    bytes[at + pat.len() - 6..at + pat.len() - 2].copy_from_slice(b"unit");
    let e = Model::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&e, LoadError::UnknownArchitecture(k) if k == "unit"),
        "{e:?}"
    );
}

#[test]
fn pixels_are_interleaved_clamped_and_rounded() {
    // RGB 1×2 image, pixel_range [-1, 1].
    let m = meta(arch([3, 1, 2], &[1], &[]), vec![0.0], vec![1.0]);
    let model = Model::from_bytes(&builder(m, 1).to_bytes()).unwrap();
    assert_eq!(model.pixel_range(), [-1.0, 1.0]);
    // Channel-major data: R = [-1, 1], G = [0, 0.5], B = [-3, 3].
    let data = [-1.0f32, 1.0, 0.0, 0.5, -3.0, 3.0];
    let mut px = [9u8; 6];
    model.to_pixels(&data, &mut px).unwrap();
    // Pixel-major output: (R, G, B) of pixel 0, then of pixel 1. 0 -> 127.5 -> 128.
    assert_eq!(px, [0, 128, 0, 255, 191, 255]);
    let mut short = [9u8; 5];
    assert!(matches!(
        model.to_pixels(&data, &mut short),
        Err(flowmap::EvalError::OutputLength { .. })
    ));
    let mut nan = data;
    nan[2] = f32::NAN;
    assert!(matches!(
        model.to_pixels(&nan, &mut px),
        Err(flowmap::EvalError::NonFiniteInput { index: 2 })
    ));
    assert_eq!(px, [0, 128, 0, 255, 191, 255], "untouched on error");
}

/// One shared U-Net, four threads with their own workspaces: bit-identical to one thread.
#[test]
fn unet_threads_give_the_single_threaded_bits() {
    let m = std::sync::Arc::new(model([3, 9, 7], &[1, 2], &[5]));
    let n = 3 * m.dim();
    let mut want = vec![0.0f32; n];
    m.sample_seeded(&mut m.workspace(3), 21, Grid::Uniform(2), &mut want)
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = std::sync::Arc::clone(&m);
            std::thread::spawn(move || {
                let mut out = vec![0.0f32; n];
                let mut ws = m.workspace(1); // grows on first use
                m.sample_seeded(&mut ws, 21, Grid::Uniform(2), &mut out)
                    .unwrap();
                out
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}
