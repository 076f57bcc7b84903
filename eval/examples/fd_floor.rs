//! The image FD's reference points on Fashion-MNIST, without a model: the floor (a random
//! TRAIN-split subset of n images vs the TEST split) and base noise (N(0, 0.5²) images, the
//! start of a σ = 0.5 flow map, i.e. its identity map), with the classifier's time.
//!
//! ```sh
//! cargo run --release -p flowmap-eval --example fd_floor -- [N] [DIR]
//! ```
//! N defaults to 10000, DIR to .deps/fashion-mnist (scripts/setup.sh fetches it).

use flowmap_eval::classifier::{class_coverage, quantize_to_pixels, Classifier, CLASSES, FEATURES};
use flowmap_eval::datasets::{load_idx_images, Rng};
use flowmap_eval::metrics::{frechet_distance_fits, GaussianFit};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let dir = std::path::PathBuf::from(args.get(1).map_or(".deps/fashion-mnist", String::as_str));
    let train = load_idx_images(&dir.join("train-images-idx3-ubyte.gz"))?;
    let test = load_idx_images(&dir.join("t10k-images-idx3-ubyte.gz"))?;
    let pick = |ds: &flowmap_eval::Dataset, seed| -> Vec<f32> {
        Rng::new(seed)
            .choose_indices(ds.n, n)
            .iter()
            .flat_map(|&i| ds.row(i).to_vec())
            .collect()
    };
    let net = Classifier::fashion_mnist()?;
    let t = Instant::now();
    let reference = net.forward(&pick(&test, 12_345))?;
    let forward_s = t.elapsed().as_secs_f64();
    let images = reference.features.len() / FEATURES;
    let t = Instant::now();
    let ref_fit = GaussianFit::of(&reference.features, FEATURES);
    let fit_s = t.elapsed().as_secs_f64();
    let score = |name: &str, x: &[f32]| -> Result<(), Box<dyn std::error::Error>> {
        let out = net.forward(&quantize_to_pixels(x))?;
        let t = Instant::now();
        let fd = frechet_distance_fits(&GaussianFit::of(&out.features, FEATURES), &ref_fit);
        let c = class_coverage(&out.classes(), CLASSES);
        println!(
            "{name:<32} FD {fd:>9.4}   coverage TV {:.3} (min {:.3}, max {:.3})   [fit + FD {:.2} s]",
            c.tv_to_uniform,
            c.min_fraction,
            c.max_fraction,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    };
    println!(
        "{images} test images as reference; classifier forward {forward_s:.2} s ({:.0} images/s, 1 thread), Gaussian fit {fit_s:.2} s",
        images as f64 / forward_s
    );
    score("floor (train subset vs test)", &pick(&train, 12_346))?;
    let mut noise = vec![0.0f32; n * 784];
    flowmap::NormalRng::new(1).fill(&mut noise);
    noise.iter_mut().for_each(|v| *v *= 0.5);
    score("base noise (N(0, 0.5^2) pixels)", &noise)?;
    Ok(())
}
