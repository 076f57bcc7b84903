//! The Fashion-MNIST classifier: its libtorch forward (what the `fashion_classifier` example
//! trains) and the pure-Rust forward in `flowmap_eval::classifier` (what the FD uses) give the
//! same features and logits, on fresh weights and on the committed ones.

use flowmap_eval::classifier::{Classifier, CLASSES, FEATURES, INPUT};
use flowmap_eval::datasets::Rng;
use flowmap_train::classifier::FashionCnn;
use std::collections::HashMap;
use tch::{Device, Tensor};

/// Images with values in [−1, 1]: clamped normals (sparse like garment silhouettes: a third
/// at the background level −1).
fn images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n * INPUT)
        .map(|i| {
            let v = rng.normal_f32().clamp(-1.0, 1.0);
            if i % 3 == 0 {
                -1.0
            } else {
                v
            }
        })
        .collect()
}

fn assert_same(net: &FashionCnn, rust: &Classifier, x: &[f32]) {
    let n = x.len() / INPUT;
    let (f, l) = tch::no_grad(|| net.forward(&Tensor::from_slice(x).view([n as i64, 784])));
    let (f, l) = (
        Vec::<f32>::try_from(&f.view([-1])).unwrap(),
        Vec::<f32>::try_from(&l.view([-1])).unwrap(),
    );
    let out = rust.forward(x).unwrap();
    assert_eq!(
        (out.features.len(), out.logits.len()),
        (n * FEATURES, n * CLASSES)
    );
    let mut worst = 0.0f32;
    for (a, b) in out
        .features
        .iter()
        .chain(&out.logits)
        .zip(f.iter().chain(&l))
    {
        worst = worst.max((a - b).abs() / b.abs().max(1.0));
    }
    assert!(worst <= 1e-4, "largest relative difference {worst}");
}

#[test]
fn rust_forward_equals_libtorch_forward() {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let net = FashionCnn::new(Device::Cpu);
    let bytes = net.to_safetensors(HashMap::new()).unwrap();
    let rust = Classifier::from_bytes(&bytes).unwrap();
    assert_eq!(rust.test_accuracy, None);
    assert_same(&net, &rust, &images(16, 1));

    // The committed weights, read into libtorch from the file.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../eval/assets/fashion_classifier.safetensors"
    );
    let mut net = FashionCnn::new(Device::Cpu);
    net.vs.load(path).unwrap();
    assert_same(&net, &Classifier::fashion_mnist().unwrap(), &images(16, 2));
}
