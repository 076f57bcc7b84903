//! `flowmap_eval::datasets::load` on real files: the format chosen by the file's name, errors
//! that name the file, and Fashion-MNIST when scripts/setup.sh has fetched it. (Integration
//! tests: they use the public loader, not one format's internals.)

use flowmap_eval::datasets::{load, load_idx_labels, DataError};
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;

fn one_tensor_file(values: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![values.len()], &bytes).unwrap();
    safetensors::serialize([("x".to_string(), view)], None).unwrap()
}

#[test]
fn load_from_file_names_the_path() {
    let dir = std::env::temp_dir().join(format!("flowmap-eval-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("d.safetensors");
    std::fs::write(&p, one_tensor_file(&[f32::NAN])).unwrap();
    let e = load(&p, None).unwrap_err();
    assert_eq!(e.path(), p.as_path());
    assert!(e.to_string().contains("d.safetensors"), "{e}");
    assert!(matches!(e, DataError::NonFinite { .. }), "{e}");
    let ok = dir.join("ok.safetensors");
    std::fs::write(&ok, one_tensor_file(&[2.0])).unwrap();
    assert_eq!(load(&ok, Some("x")).unwrap().data, vec![2.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real thing, when scripts/setup.sh has fetched it (the test suite does not need it).
#[test]
fn fashion_mnist_test_split_when_present() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    if !images.exists() {
        eprintln!("{} absent: run scripts/setup.sh", images.display());
        return;
    }
    let ds = load(&images, None).unwrap();
    assert_eq!((ds.n, ds.data_shape.clone()), (10_000, vec![1, 28, 28]));
    assert!(ds.data.iter().all(|v| (-1.0..=1.0).contains(v)));
    let labels = load_idx_labels(&dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [1000; 10], "the test split is balanced");
}
