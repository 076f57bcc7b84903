//! Trains the Fashion-MNIST classifier whose features the image FD uses
//! (`flowmap_train::classifier::FashionCnn`) on the TRAIN split, reports its accuracy on the
//! TEST split and writes its weights (f32 safetensors, the accuracy in the header):
//!
//! ```sh
//! OMP_NUM_THREADS=1 cargo run --release -p flowmap-train --example fashion_classifier -- \
//!     --out eval/assets/fashion_classifier.safetensors
//! ```
//!
//! Options: `--data DIR` (default .deps/fashion-mnist, where scripts/setup.sh puts the IDX
//! files), `--epochs N` (default 4), `--seed S` (default 0). One thread, fixed seed and a fixed
//! shuffle stream: the same command gives the same weights on the same libtorch build.

use anyhow::{bail, Context};
use flowmap_eval::datasets::{load_idx_images, load_idx_labels, Rng};
use flowmap_train::classifier::{FashionCnn, CLASSES};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

const BATCH: usize = 64;
const LR: f64 = 1e-3;

struct Args {
    out: PathBuf,
    data: PathBuf,
    epochs: usize,
    seed: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        out: PathBuf::from("eval/assets/fashion_classifier.safetensors"),
        data: PathBuf::from(".deps/fashion-mnist"),
        epochs: 4,
        seed: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => a.out = value()?.into(),
            "--data" => a.data = value()?.into(),
            "--epochs" => a.epochs = value()?.parse().context("--epochs")?,
            "--seed" => a.seed = value()?.parse().context("--seed")?,
            other => bail!("unknown option {other} (--out, --data, --epochs, --seed)"),
        }
    }
    Ok(a)
}

/// Images `[n, 784]` in [−1, 1] and labels `[n]` of one split (`train` or `t10k`).
fn split(dir: &std::path::Path, name: &str) -> anyhow::Result<(Tensor, Tensor)> {
    let images = load_idx_images(&dir.join(format!("{name}-images-idx3-ubyte.gz")))?;
    let labels = load_idx_labels(&dir.join(format!("{name}-labels-idx1-ubyte.gz")))?;
    if images.data_shape != [1, 28, 28] || labels.len() != images.n {
        bail!(
            "{name}: {} images of shape {:?} and {} labels (want 1x28x28, one label each)",
            images.n,
            images.data_shape,
            labels.len()
        );
    }
    let x = Tensor::from_slice(&images.data).view([images.n as i64, 784]);
    let y = Tensor::from_slice(&labels).to_kind(Kind::Int64);
    Ok((x, y))
}

/// Fraction of `x` classified as `y`.
fn accuracy(net: &FashionCnn, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| {
        let correct: i64 = (0..x.size()[0])
            .step_by(1000)
            .map(|i| {
                let len = 1000.min(x.size()[0] - i);
                let (_, logits) = net.forward(&x.narrow(0, i, len));
                logits
                    .argmax(-1, false)
                    .eq_tensor(&y.narrow(0, i, len))
                    .sum(Kind::Int64)
                    .int64_value(&[])
            })
            .sum();
        correct as f64 / x.size()[0] as f64
    })
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    tch::set_num_threads(1);
    tch::manual_seed(a.seed as i64);
    let (train_x, train_y) = split(&a.data, "train")?;
    let (test_x, test_y) = split(&a.data, "t10k")?;
    let net = FashionCnn::new(Device::Cpu);
    let mut opt = nn::Adam::default().build(&net.vs, LR)?;
    let n = train_x.size()[0] as usize;
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut rng = Rng::new(a.seed);
    let start = Instant::now();
    for epoch in 0..a.epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for (k, ids) in order.chunks(BATCH).enumerate() {
            let ids = Tensor::from_slice(ids);
            let (_, logits) = net.forward(&train_x.index_select(0, &ids));
            let loss = logits.cross_entropy_for_logits(&train_y.index_select(0, &ids));
            opt.backward_step(&loss);
            total += loss.double_value(&[]);
            if k % 200 == 0 {
                eprint!(".");
            }
        }
        eprintln!(
            "\nepoch {}: mean loss {:.4}, test accuracy {:.4} ({:.0} s)",
            epoch + 1,
            total / n.div_ceil(BATCH) as f64,
            accuracy(&net, &test_x, &test_y),
            start.elapsed().as_secs_f64()
        );
    }
    let train_acc = accuracy(&net, &train_x, &train_y);
    let test_acc = accuracy(&net, &test_x, &test_y);
    let meta = HashMap::from([
        ("test_accuracy".to_string(), format!("{test_acc:.4}")),
        ("train_accuracy".to_string(), format!("{train_acc:.4}")),
        ("classes".to_string(), CLASSES.to_string()),
        (
            "recipe".to_string(),
            format!(
                "flowmap-train example fashion_classifier: Fashion-MNIST train split, Adam lr \
                 {LR}, batch {BATCH}, {} epochs, seed {}, 1 thread",
                a.epochs, a.seed
            ),
        ),
    ]);
    let bytes = net.to_safetensors(meta)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "train accuracy {train_acc:.4}, test accuracy {test_acc:.4}; {:.0} s; wrote {} ({} bytes)",
        start.elapsed().as_secs_f64(),
        a.out.display(),
        bytes.len()
    );
    Ok(())
}
