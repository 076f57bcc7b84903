//! The classifier's forward against a direct (unpadded, bounds-checked) evaluation of the same
//! formulas, its file errors, coverage, and the committed weights' accuracy on the test split.

use super::*;
use crate::datasets::{load_idx_images, load_idx_labels, Rng};
use std::path::Path;

/// The textbook forward: every conv output as a bounds-checked 9-tap sum, pooling as a max.
fn reference_forward(net: &Classifier, img: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let conv = |x: &[f32], c_in: usize, side: usize, w: &[f32], b: &[f32]| {
        let c_out = b.len();
        let mut out = vec![0.0f32; c_out * side * side];
        for o in 0..c_out {
            for y in 0..side {
                for xx in 0..side {
                    let mut s = b[o];
                    for c in 0..c_in {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = (y + ky, xx + kx);
                                if iy >= 1 && ix >= 1 && iy <= side && ix <= side {
                                    s += w[((o * c_in + c) * 3 + ky) * 3 + kx]
                                        * x[(c * side + iy - 1) * side + ix - 1];
                                }
                            }
                        }
                    }
                    out[(o * side + y) * side + xx] = s.max(0.0);
                }
            }
        }
        out
    };
    let pool = |x: &[f32], c: usize, side: usize| {
        let h = side / 2;
        let mut out = vec![0.0f32; c * h * h];
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..h {
                    let at =
                        |dy: usize, dx: usize| x[(ch * side + 2 * y + dy) * side + 2 * xx + dx];
                    out[(ch * h + y) * h + xx] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                }
            }
        }
        out
    };
    let h = pool(&conv(img, 1, 28, &net.conv1_w, &net.conv1_b), 16, 28);
    let h = pool(&conv(&h, 16, 14, &net.conv2_w, &net.conv2_b), 32, 14);
    let lin = |x: &[f32], w: &[f32], b: &[f32], relu: bool| -> Vec<f32> {
        b.iter()
            .zip(w.chunks_exact(x.len()))
            .map(|(b, w)| {
                let v = b + x.iter().zip(w).map(|(a, c)| a * c).sum::<f32>();
                if relu {
                    v.max(0.0)
                } else {
                    v
                }
            })
            .collect()
    };
    let f = lin(&h, &net.fc1_w, &net.fc1_b, true);
    let l = lin(&f, &net.fc2_w, &net.fc2_b, false);
    (f, l)
}

#[test]
fn forward_matches_the_textbook_formulas() {
    let net = Classifier::fashion_mnist().unwrap();
    let mut rng = Rng::new(9);
    let images: Vec<f32> = (0..3 * INPUT)
        .map(|_| rng.normal_f32().clamp(-1.0, 1.0))
        .collect();
    let out = net.forward(&images).unwrap();
    assert_eq!((out.features.len(), out.logits.len()), (3 * 128, 3 * 10));
    for (i, img) in images.chunks_exact(INPUT).enumerate() {
        let (f, l) = reference_forward(&net, img);
        let got_f = &out.features[i * FEATURES..(i + 1) * FEATURES];
        let got_l = &out.logits[i * CLASSES..(i + 1) * CLASSES];
        for (a, b) in got_f.iter().chain(got_l).zip(f.iter().chain(&l)) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}

#[test]
fn bad_files_and_inputs_are_typed_errors() {
    assert!(matches!(
        Classifier::from_bytes(b"not a file"),
        Err(ClassifierError::Format(_))
    ));
    let one = |name: &str, shape: Vec<usize>| {
        let bytes = vec![0u8; 4 * shape.iter().product::<usize>()];
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape, &bytes).unwrap();
        safetensors::serialize([(name.to_string(), view)], None).unwrap()
    };
    let e = Classifier::from_bytes(&one("conv1.weight", vec![16, 1, 5, 5])).unwrap_err();
    assert!(
        e.to_string().contains("conv1.weight") && e.to_string().contains("[16, 1, 3, 3]"),
        "{e}"
    );
    let e = Classifier::from_bytes(&one("conv1.weight", vec![16, 1, 3, 3])).unwrap_err();
    assert!(
        e.to_string().contains("conv1.bias"),
        "a missing tensor is named: {e}"
    );
    let net = Classifier::fashion_mnist().unwrap();
    assert!(matches!(
        net.forward(&[0.0; 783]),
        Err(ClassifierError::Input(_))
    ));
    assert!(matches!(net.forward(&[]), Err(ClassifierError::Input(_))));
}

#[test]
fn coverage_counts_classes_against_uniform() {
    let c = class_coverage(&[0, 0, 1, 3], 4);
    assert_eq!(c.fractions, vec![0.5, 0.25, 0.0, 0.25]);
    // ½ (|0.5 − 0.25| + 0 + 0.25 + 0) = 0.25.
    assert_eq!(
        (c.tv_to_uniform, c.min_fraction, c.max_fraction),
        (0.25, 0.0, 0.5)
    );
    let even = class_coverage(&[0, 1, 2, 3, 3, 2, 1, 0], 4);
    assert_eq!(even.tv_to_uniform, 0.0);
    let one = class_coverage(&[7; 20], 10);
    assert!(
        (one.tv_to_uniform - 0.9).abs() < 1e-12,
        "all in one class: 1 − 1/K"
    );
}

#[test]
fn quantizing_keeps_pixel_levels_and_clamps() {
    let levels: Vec<f32> = (0..=255u8).map(crate::datasets::pixel_to_value).collect();
    assert_eq!(quantize_to_pixels(&levels), levels);
    assert_eq!(
        quantize_to_pixels(&[-3.0, 7.0, 0.001]),
        vec![-1.0, 1.0, 128.0 / 127.5 - 1.0]
    );
}

/// Test-split accuracy the committed weights were reported with (docs/training.md), less a
/// small margin for f32 summation-order differences from libtorch flipping near-ties.
const REPORTED_TEST_ACCURACY: f64 = 0.9027;

#[test]
fn committed_classifier_accuracy_on_the_test_split() {
    let net = Classifier::fashion_mnist().unwrap();
    assert_eq!(
        net.test_accuracy,
        Some(REPORTED_TEST_ACCURACY),
        "the file's header"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    if !images.exists() {
        eprintln!("{} absent: run scripts/setup.sh", images.display());
        return;
    }
    let ds = load_idx_images(&images).unwrap();
    let labels = load_idx_labels(&dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let predicted = net.forward(&ds.data).unwrap().classes();
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    let acc = correct as f64 / labels.len() as f64;
    eprintln!("pure-Rust forward: test accuracy {acc:.4}");
    assert!(acc >= REPORTED_TEST_ACCURACY - 0.001, "test accuracy {acc}");
}
