//! `map` of the reference MLPs (2→3×256→2 and the paper's 2-D net 2→5×512→2, tanh-GELU,
//! as in `benches/runtime_vs_libtorch.rs`) with the same weights stored as f32, f16 and
//! bf16, single thread, same process, no libtorch. f16 / bf16 files keep 16-bit weight
//! panels (widened in the kernel); the f32 file of the same rounded weights runs the path
//! those files ran before (decoded to f32 at load: the same bits, tested), so f32 / f16 is
//! the before / after ratio.
//!
//! Criterion ids `<net>/map/<dtype>/batch_<B>`; then a summary of interleaved best-of-rounds
//! times (a neighbour's load hits every candidate alike) with the ratios.
//!
//! ```sh
//! nice -n 0 taskset -c 1 cargo bench -p flowmap --bench dense_dtypes
//! # only the summary:  ... --bench dense_dtypes -- --summary-only
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use flowmap::schema::*;
use flowmap::write::{ModelBuilder, WeightDtype};
use flowmap::{Model, NormalRng, Workspace};

const DIM: usize = 2;
const DTYPES: [WeightDtype; 3] = [WeightDtype::F32, WeightDtype::F16, WeightDtype::BF16];
const BATCHES: [usize; 3] = [1, 64, 1024];

/// The metadata of a reference network (data dimension 2, raw time embedding).
fn meta(hidden: &[usize]) -> ModelMeta {
    ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![DIM],
            hidden: hidden.to_vec(),
            activation: Activation::GeluTanh,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Trig,
        sigma: 1.0,
        normalization: Normalization {
            mean: vec![0.0; DIM],
            std: vec![1.0; DIM],
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 0,
            seed: 7,
            weights: "raw".into(),
            trainer: "benches".into(),
            dataset: String::new(),
        },
    }
}

/// The three models of one network: the same random weights, rounded to f16 first so that
/// the f32 and f16 files hold the same values (bf16 rounds them once more).
fn models(hidden: &[usize]) -> Vec<Model> {
    let mut b = ModelBuilder::random(meta(hidden), 7);
    let names: Vec<String> = b.tensors().iter().map(|(s, _)| s.name.clone()).collect();
    for name in &names {
        if let Some((_, v)) = b.tensor_mut(name) {
            for x in v.iter_mut() {
                *x = half::f16::from_f32(*x).to_f32();
            }
        }
    }
    DTYPES
        .iter()
        .map(|&d| Model::from_bytes(&b.clone().dtype(d).to_bytes()).expect("valid model"))
        .collect()
}

fn nets() -> Vec<(&'static str, Vec<Model>)> {
    vec![("3x256", models(&[256; 3])), ("5x512", models(&[512; 5]))]
}

fn inputs(batch: usize) -> Vec<f32> {
    let mut rng = NormalRng::new(11);
    (0..batch * DIM).map(|_| rng.next_f32()).collect()
}

fn map(m: &Model, ws: &mut Workspace, x: &[f32], out: &mut [f32]) {
    m.map(ws, 0.2, 0.9, black_box(x), out).expect("map");
    black_box(&out);
}

fn criterion_benches(c: &mut Criterion) {
    for (name, ms) in nets() {
        let mut g = c.benchmark_group(format!("{name}/map"));
        for batch in BATCHES {
            let x = inputs(batch);
            for (m, d) in ms.iter().zip(DTYPES) {
                let mut ws = m.workspace(batch);
                let mut out = vec![0.0f32; x.len()];
                let id = BenchmarkId::new(d.name().to_lowercase(), format!("batch_{batch}"));
                g.bench_function(id, |b| b.iter(|| map(m, &mut ws, &x, &mut out)));
            }
        }
        g.finish();
    }
}

/// Best (minimum over rounds) seconds per call of each closure, in interleaved rounds of
/// ~2 ms per candidate for about `budget` (on a shared machine the minimum of many short
/// rounds estimates the uncontended time).
fn interleaved(fs: &mut [&mut dyn FnMut()], budget: Duration) -> Vec<f64> {
    let reps: Vec<u32> = fs
        .iter_mut()
        .map(|f| {
            f();
            let t0 = Instant::now();
            f();
            let dt = t0.elapsed().as_secs_f64().max(1e-8);
            ((2e-3 / dt) as u32).clamp(1, 1_000_000)
        })
        .collect();
    let mut best = vec![f64::INFINITY; fs.len()];
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < budget || rounds < 5 {
        for (i, f) in fs.iter_mut().enumerate() {
            let t0 = Instant::now();
            for _ in 0..reps[i] {
                f();
            }
            best[i] = best[i].min(t0.elapsed().as_secs_f64() / reps[i] as f64);
        }
        rounds += 1;
    }
    best
}

fn fmt_time(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn summary() {
    println!("\n| net | batch | f32 | f16 | bf16 | f32/f16 | f32/bf16 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, ms) in nets() {
        for batch in BATCHES {
            let x = inputs(batch);
            let mut st: Vec<(Workspace, Vec<f32>)> = ms
                .iter()
                .map(|m| (m.workspace(batch), vec![0.0f32; x.len()]))
                .collect();
            let [s0, s1, s2] = &mut st[..] else {
                unreachable!("three dtypes")
            };
            let (m0, m1, m2) = (&ms[0], &ms[1], &ms[2]);
            let t = interleaved(
                &mut [
                    &mut || map(m0, &mut s0.0, &x, &mut s0.1),
                    &mut || map(m1, &mut s1.0, &x, &mut s1.1),
                    &mut || map(m2, &mut s2.0, &x, &mut s2.1),
                ],
                Duration::from_secs(2),
            );
            // Same values in the f32 and f16 files, so the results agree bit for bit.
            assert_eq!(s0.1, s1.1, "f32 and f16 files of the same values");
            println!(
                "| {name} | {batch} | {} | {} | {} | {:.2} | {:.2} |",
                fmt_time(t[0]),
                fmt_time(t[1]),
                fmt_time(t[2]),
                t[0] / t[1],
                t[0] / t[2]
            );
        }
    }
}

fn main() {
    let summary_only = std::env::args().any(|a| a == "--summary-only");
    if !summary_only {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(10)
            .configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
    if !std::env::args().any(|a| a == "--list") {
        summary();
    }
}
