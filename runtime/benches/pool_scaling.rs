//! Thread scaling of `flowmap::Pool`: one batch split over 1, 2, … threads, in the same
//! process, interleaved round by round (so a neighbour's load hits every thread count alike),
//! on two workloads:
//!
//! - `unet 1x28x28`: the `1x28x28` U-Net of benches/unet_vs_libtorch.rs (c = 32, channel_mult
//!   [1, 2, 2], 2 blocks, attention at 7), a 16-sprite batch in 1 step;
//! - `mlp 3x256`: the 2→3×256→2 reference MLP at batch 1024, 2 steps.
//!
//! Every pool's output is checked bit for bit against the one-thread `Model` call before
//! timing. Prints, per workload and thread count, the minimum and median milliseconds per
//! call over the rounds and the speed-up over one thread (the minimum estimates the
//! uncontended time on a shared machine).
//!
//! It lives in the runtime crate rather than the workspace's benches/ crate because that
//! crate links libtorch; this one needs nothing but the runtime:
//!
//! ```sh
//! cargo bench -p flowmap --bench pool_scaling            # 1 and 2 threads
//! cargo bench -p flowmap --bench pool_scaling -- 4       # 1, 2, 3 and 4 threads
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use flowmap::schema::*;
use flowmap::write::ModelBuilder;
use flowmap::{Grid, Model, Pool};

/// Rounds per workload (each round times one call per thread count).
const ROUNDS: usize = 30;

/// The 1x28x28 benchmark U-Net (benches/common/mod.rs, `unet_bench_meta`, seed 1).
fn unet_28() -> Model {
    let mut meta = flowmap::write::example_unet_meta([1, 28, 28], &[1, 2, 2], &[7]);
    if let Architecture::Unet {
        channels,
        blocks,
        heads,
        groups,
        time_embedding,
        ..
    } = &mut meta.architecture
    {
        *channels = 32;
        *blocks = 2;
        *heads = 4;
        *groups = 8;
        *time_embedding = UnetTimeEmbedding::FourierMlp {
            frequencies: (0..8).map(|k| (1u32 << k) as f32 * 0.25).collect(),
            dim: 128,
        };
    }
    meta.normalization.mean = vec![0.0];
    meta.normalization.std = vec![1.0];
    Model::from_bytes(&flowmap::write::random_unet_builder(meta, 1).to_bytes()).unwrap()
}

/// The 2→3×256→2 reference MLP (benches/common/mod.rs, `Net::new("3x256", ..)`).
fn mlp_3x256() -> Model {
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![2],
            hidden: vec![256; 3],
            activation: Activation::GeluTanh,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Trig,
        sigma: 1.0,
        normalization: Normalization {
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "pool_scaling bench".into(),
            dataset: String::new(),
        },
    };
    Model::from_bytes(&ModelBuilder::random(meta, 7).to_bytes()).unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn scaling(name: &str, model: &Model, batch: usize, steps: usize, max_threads: usize) {
    let grid = Grid::Uniform(steps);
    let mut want = vec![0.0f32; batch * model.dim()];
    model
        .sample_seeded(&mut model.workspace(batch), 3, grid, &mut want)
        .unwrap();
    let mut pools: Vec<Pool> = (1..=max_threads).map(|t| Pool::new(t).unwrap()).collect();
    let mut out = vec![0.0f32; want.len()];
    for pool in &mut pools {
        // Also the warm-up: sizes every thread's workspace.
        pool.sample_seeded(model, 3, grid, &mut out).unwrap();
        assert!(
            out.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: {} threads differ from one thread",
            pool.threads()
        );
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(ROUNDS); max_threads];
    for _ in 0..ROUNDS {
        for (pool, t) in pools.iter_mut().zip(&mut times) {
            let start = Instant::now();
            pool.sample_seeded(model, 3, grid, black_box(&mut out))
                .unwrap();
            t.push(start.elapsed());
        }
    }
    for t in &mut times {
        t.sort();
    }
    let (min1, med1) = (times[0][0], times[0][ROUNDS / 2]);
    println!("{name}, batch {batch}, {steps} step(s), {ROUNDS} interleaved rounds:");
    for (i, t) in times.iter().enumerate() {
        let (min, med) = (t[0], t[ROUNDS / 2]);
        println!(
            "  {} thread(s): min {:8.3} ms, median {:8.3} ms; speed-up over 1 thread: min {:.2}x, median {:.2}x",
            i + 1,
            ms(min),
            ms(med),
            min1.as_secs_f64() / min.as_secs_f64(),
            med1.as_secs_f64() / med.as_secs_f64(),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the only other argument is the largest thread count.
    let max_threads = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("the argument is the largest thread count"))
        .unwrap_or(2usize)
        .max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("pool_scaling: 1..={max_threads} threads, {cores} cores available");
    scaling("unet 1x28x28", &unet_28(), 16, 1, max_threads);
    scaling("mlp 3x256", &mlp_3x256(), 1024, 2, max_threads);
}
