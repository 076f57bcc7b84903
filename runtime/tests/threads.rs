//! Eight threads evaluating one shared model at the same time get exactly (bit for bit) the
//! single-threaded results, for several batch sizes (the batch-1 fast path and the batched
//! kernels), uniform and custom grids, seeded and caller-noise sampling, map and velocity,
//! with raw and Fourier time embeddings. Each thread reuses one workspace across the batch
//! sizes (so it grows while other threads run).

use std::sync::{Arc, Barrier};

use flowmap::schema::*;
use flowmap::write::ModelBuilder;
use flowmap::{Grid, Model, NormalRng};

const THREADS: usize = 8;
const REPEATS: usize = 3;
const BATCHES: [usize; 5] = [1, 2, 7, 16, 61];
const CUSTOM: [f32; 5] = [0.0, 0.1, 0.1, 0.7, 1.0];

fn model(time_embedding: TimeEmbedding, activation: Activation) -> Model {
    let dim = 3;
    let hidden = [32usize, 20];
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![dim],
            hidden: hidden.to_vec(),
            activation,
            time_embedding,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.3,
        normalization: Normalization {
            mean: vec![0.1, -0.2, 0.3],
            std: vec![1.0, 2.0, 0.5],
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "threads test".into(),
            dataset: String::new(),
        },
    };
    let bytes =
        ModelBuilder::random_scaled(
            meta,
            77,
            |spec| {
                if spec.shape.len() == 2 {
                    0.3
                } else {
                    0.1
                }
            },
        )
        .to_bytes();
    Model::from_bytes(&bytes).unwrap()
}

/// Every result one "job" produces, in a fixed order. `worker` varies the seeds so that
/// threads do not all compute the same thing.
fn job(m: &Model, ws: &mut flowmap::Workspace, worker: u64) -> Vec<Vec<f32>> {
    let dim = m.dim();
    let mut results = Vec::new();
    for &batch in &BATCHES {
        let n = batch * dim;
        let mut x = vec![0.0f32; n];
        NormalRng::new(1000 + worker).fill(&mut x);
        let mut out = vec![0.0f32; n];
        for grid in [
            Grid::Uniform(1),
            Grid::Uniform(2),
            Grid::Uniform(4),
            Grid::Custom(&CUSTOM),
        ] {
            m.sample_seeded(ws, 7 + worker, grid, &mut out).unwrap();
            results.push(out.clone());
            m.sample(ws, &x, grid, &mut out).unwrap();
            results.push(out.clone());
        }
        m.map(ws, 0.2, 0.9, &x, &mut out).unwrap();
        results.push(out.clone());
        m.velocity(ws, 0.4, &x, &mut out).unwrap();
        results.push(out.clone());
    }
    results
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|r| r.iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn eight_threads_sampling_one_model_match_the_single_thread_results() {
    for (emb, act) in [
        (TimeEmbedding::Raw, Activation::GeluTanh),
        (
            TimeEmbedding::Fourier {
                frequencies: vec![0.5, 1.0, 3.0],
            },
            Activation::Silu,
        ),
    ] {
        let m = Arc::new(model(emb, act));
        // Reference: one thread, a fresh workspace per worker id.
        let want: Vec<Vec<Vec<u32>>> = (0..THREADS as u64)
            .map(|w| bits(&job(&m, &mut m.workspace(1), w)))
            .collect();
        let want = Arc::new(want);
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|w| {
                let (m, want, barrier) = (Arc::clone(&m), Arc::clone(&want), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    // Starts small: grows to the largest batch while the others run.
                    let mut ws = m.workspace(1);
                    barrier.wait();
                    for r in 0..REPEATS {
                        // Half the threads also compute another worker's job, so that
                        // identical computations run concurrently.
                        for id in [w as u64, ((w + r) % THREADS) as u64] {
                            let got = bits(&job(&m, &mut ws, id));
                            assert!(got == want[id as usize], "thread {w}, job {id}, repeat {r}");
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
