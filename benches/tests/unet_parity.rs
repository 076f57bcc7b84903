//! Parity of the runtime's U-Net with libtorch: a reference forward pass written here from
//! the schema's plan (`UnetPlan`, the same function that names the tensors) in tch ops
//! (conv2d, group_norm, silu, linear, matmul, softmax, upsample_nearest2d, cat), on the same
//! weights, compared with `Model::map` in data space.
//!
//! Error measure, per sample: max_i |runtime_i − torch_i| / max_i |torch_i| (relative to the
//! sample's scale, so that near-zero entries do not divide by ~0); the test takes the max
//! over many (s, t, x). Bound: 1e-5 with F32 weights; with F16/BF16 weights the runtime
//! equals the reference run on the same rounded weights to the same 1e-5.
//!
//! OMP_NUM_THREADS=1 (and tch::set_num_threads(1)): libtorch single-threaded.

#[path = "../common/unet_torch.rs"]
mod unet_torch;

use flowmap::schema::{Architecture, UnetPlan, UnetTimeEmbedding};
use flowmap::write::{example_unet_meta, random_unet_builder, WeightDtype};
use flowmap::{Model, NormalRng};
use tch::Tensor;
use unet_torch::{torch_map, torch_weights};

/// Worst per-sample relative error of the runtime against libtorch over `cases` (s, t, x).
fn worst_error(shape: [usize; 3], mult: &[usize], attention: &[usize], dtype: WeightDtype) -> f64 {
    tch::set_num_threads(1);
    let mut meta = example_unet_meta(shape, mult, attention);
    // Per-channel normalisation with distinct values, σ ≠ 1.
    let c = shape[0];
    meta.normalization.mean = (0..c).map(|i| 0.1 * i as f32 - 0.05).collect();
    meta.normalization.std = (0..c).map(|i| 0.5 + 0.25 * i as f32).collect();
    meta.sigma = 0.8;
    if let Architecture::Unet {
        channels,
        time_embedding,
        ..
    } = &mut meta.architecture
    {
        *channels = 16;
        *time_embedding = UnetTimeEmbedding::FourierMlp {
            frequencies: vec![0.25, 1.0, 4.0],
            dim: 32,
        };
    }
    let plan = UnetPlan::new(&meta.architecture).unwrap().unwrap();
    let builder = random_unet_builder(meta.clone(), 42).dtype(dtype);
    let model = Model::from_bytes(&builder.to_bytes()).expect("valid model");
    let w = torch_weights(&builder, dtype);
    let dim = model.dim();
    let batch = 4;
    let mut ws = model.workspace(batch);
    let mut rng = NormalRng::new(7);
    let mean = Tensor::from_slice(&meta.normalization.mean).view([1, c as i64, 1, 1]);
    let std = Tensor::from_slice(&meta.normalization.std).view([1, c as i64, 1, 1]);
    let mut worst = 0.0f64;
    // How far the map moves x (relative): the comparison is only meaningful if the network
    // term (t − s)·v is not negligible next to x.
    let mut moved = 0.0f64;
    for case in 0..6 {
        let s = [0.0f32, 0.1, 0.37, 0.5, 0.9, 0.0][case];
        let t = [1.0f32, 0.6, 0.38, 0.5, 1.0, 0.25][case];
        let mut x = vec![0.0f32; batch * dim];
        rng.fill(&mut x);
        let mut y = vec![0.0f32; x.len()];
        model.map(&mut ws, s, t, &x, &mut y).unwrap();
        let xt =
            Tensor::from_slice(&x).view([batch as i64, c as i64, shape[1] as i64, shape[2] as i64]);
        let z = (&xt - &mean) / &std;
        let out = tch::no_grad(|| torch_map(&plan, &w, meta.sigma, s, t, &z)) * &std + &mean;
        let want: Vec<f32> = Vec::try_from(out.flatten(0, -1)).unwrap();
        for (ys, ws_) in y.chunks(dim).zip(want.chunks(dim)) {
            let scale = ws_.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            let err = ys
                .iter()
                .zip(ws_)
                .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
            worst = worst.max(err / scale);
        }
        for (ys, xs) in y.chunks(dim).zip(x.chunks(dim)) {
            let scale = xs.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            let d = ys
                .iter()
                .zip(xs)
                .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
            moved = moved.max(d / scale);
        }
    }
    assert!(
        moved > 0.05,
        "the network term is negligible ({moved:e}): weak test"
    );
    eprintln!(
        "{shape:?} mult {mult:?} attention {attention:?} {dtype:?}: worst relative error \
         {worst:e} (the map moves x by up to {moved:.2} of its scale)"
    );
    worst
}

#[test]
fn unet_1x8x8_matches_libtorch() {
    assert!(worst_error([1, 8, 8], &[1, 2], &[], WeightDtype::F32) <= 1e-5);
}

#[test]
fn unet_1x28x28_attention_at_7_matches_libtorch() {
    assert!(worst_error([1, 28, 28], &[1, 2, 2], &[7], WeightDtype::F32) <= 1e-5);
}

#[test]
fn unet_3x32x32_matches_libtorch() {
    assert!(worst_error([3, 32, 32], &[1, 2, 2], &[8], WeightDtype::F32) <= 1e-5);
}

#[test]
fn unet_rgba_odd_sizes_match_libtorch() {
    assert!(worst_error([4, 13, 9], &[1, 2, 2], &[4], WeightDtype::F32) <= 1e-5);
}

#[test]
fn unet_half_precision_weights_match_libtorch_on_the_rounded_weights() {
    for dtype in [WeightDtype::F16, WeightDtype::BF16] {
        assert!(
            worst_error([1, 8, 8], &[1, 2], &[4], dtype) <= 1e-5,
            "{dtype:?}"
        );
    }
}
