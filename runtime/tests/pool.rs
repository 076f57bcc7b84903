//! `flowmap::Pool` (a batch split over threads) gives exactly (bit for bit) the one-thread
//! results for 1, 2, 3 and 8 threads and batches 1, 2, 7 and 61 (fewer rows than threads
//! included), for MLPs with raw and Fourier time embeddings and a small U-Net; and reports
//! the one-thread errors with `out` untouched.
#![cfg(feature = "std")]

use flowmap::schema::*;
use flowmap::write::ModelBuilder;
use flowmap::{EvalError, Grid, Model, NormalRng, Pool, PoolError, MAX_POOL_THREADS};

const THREADS: [usize; 4] = [1, 2, 3, 8];
const BATCHES: [usize; 4] = [1, 2, 7, 61];
const CUSTOM: [f32; 4] = [0.0, 0.3, 0.3, 1.0];

fn mlp(time_embedding: TimeEmbedding) -> Model {
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![3],
            hidden: vec![32, 20],
            activation: Activation::Silu,
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
            trainer: "pool test".into(),
            dataset: String::new(),
        },
    };
    let bytes =
        ModelBuilder::random_scaled(
            meta,
            21,
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

/// A small RGB U-Net (levels 8 and 4, attention at 4): every U-Net code path, quick in a
/// debug build.
fn unet() -> Model {
    let meta = flowmap::write::example_unet_meta([3, 8, 8], &[1, 2], &[4]);
    let bytes = flowmap::write::random_unet_builder(meta, 5).to_bytes();
    Model::from_bytes(&bytes).unwrap()
}

fn models() -> Vec<(&'static str, Model)> {
    vec![
        ("mlp raw", mlp(TimeEmbedding::Raw)),
        (
            "mlp fourier",
            mlp(TimeEmbedding::Fourier {
                frequencies: vec![0.5, 1.0, 3.0],
            }),
        ),
        ("unet", unet()),
    ]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn pooled_results_equal_one_thread_bit_for_bit() {
    for (name, m) in models() {
        let dim = m.dim();
        let batches: &[usize] = if name == "unet" { &[1, 2, 7] } else { &BATCHES };
        let mut ws = m.workspace(1);
        for threads in THREADS {
            let mut pool = Pool::new(threads).unwrap();
            assert_eq!(pool.threads(), threads);
            for &batch in batches {
                let n = batch * dim;
                let mut x = vec![0.0f32; n];
                NormalRng::new(batch as u64).fill(&mut x);
                let (mut want, mut got) = (vec![0.0f32; n], vec![0.0f32; n]);
                let at = format!("{name}, {threads} threads, batch {batch}");
                for grid in [Grid::Uniform(1), Grid::Uniform(2), Grid::Custom(&CUSTOM)] {
                    m.sample_seeded(&mut ws, 9, grid, &mut want).unwrap();
                    pool.sample_seeded(&m, 9, grid, &mut got).unwrap();
                    assert_eq!(bits(&got), bits(&want), "sample_seeded {grid:?}, {at}");
                    m.sample(&mut ws, &x, grid, &mut want).unwrap();
                    pool.sample(&m, &x, grid, &mut got).unwrap();
                    assert_eq!(bits(&got), bits(&want), "sample {grid:?}, {at}");
                }
                m.map(&mut ws, 0.2, 0.9, &x, &mut want).unwrap();
                pool.map(&m, 0.2, 0.9, &x, &mut got).unwrap();
                assert_eq!(bits(&got), bits(&want), "map, {at}");
                m.velocity(&mut ws, 0.4, &x, &mut want).unwrap();
                pool.velocity(&m, 0.4, &x, &mut got).unwrap();
                assert_eq!(bits(&got), bits(&want), "velocity, {at}");
            }
        }
    }
}

/// One pool serves several models in turn (its workspaces grow to fit each).
#[test]
fn one_pool_many_models() {
    let ms = models();
    let mut pool = Pool::new(3).unwrap();
    for _ in 0..2 {
        for (name, m) in &ms {
            let mut want = vec![0.0f32; 5 * m.dim()];
            let mut got = vec![0.0f32; want.len()];
            m.sample_seeded(&mut m.workspace(5), 3, Grid::Uniform(2), &mut want)
                .unwrap();
            pool.sample_seeded(m, 3, Grid::Uniform(2), &mut got)
                .unwrap();
            assert_eq!(bits(&got), bits(&want), "{name}");
        }
    }
}

#[test]
fn bad_thread_counts_are_typed_errors() {
    assert_eq!(Pool::new(0).unwrap_err(), PoolError::ZeroThreads);
    assert_eq!(
        Pool::new(MAX_POOL_THREADS + 1).unwrap_err(),
        PoolError::TooManyThreads {
            threads: MAX_POOL_THREADS + 1
        }
    );
    assert_eq!(
        Pool::new(usize::MAX).unwrap_err(),
        PoolError::TooManyThreads {
            threads: usize::MAX
        }
    );
    assert!(PoolError::ZeroThreads.to_string().contains("at least 1"));
    assert_eq!(Pool::new(1).unwrap().threads(), 1);
}

/// Every rejected call reports exactly the one-thread error and leaves `out` untouched.
#[test]
fn errors_match_one_thread_and_leave_out_untouched() {
    let m = mlp(TimeEmbedding::Raw);
    let dim = m.dim();
    let mut ws = m.workspace(8);
    let mut pool = Pool::new(3).unwrap();
    let good = vec![0.25f32; 7 * dim];
    let mut nan = good.clone();
    nan[5 * dim + 1] = f32::NAN; // in the third chunk
    let short = vec![0.0f32; 7 * dim - 1];
    let bad_grid = [0.0f32, 0.8, 0.5, 1.0];
    let sentinel = -123.0f32;

    type Call<'a> = Box<
        dyn Fn(Option<&mut Pool>, &mut flowmap::Workspace, &mut [f32]) -> Result<(), EvalError>
            + 'a,
    >;
    let m = &m;
    let calls: Vec<(&str, usize, Call)> = vec![
        (
            "sample: NaN noise",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample(m, &nan, Grid::Uniform(2), out),
                None => m.sample(ws, &nan, Grid::Uniform(2), out),
            }),
        ),
        (
            "sample: noise not a multiple of dim",
            short.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample(m, &short, Grid::Uniform(1), out),
                None => m.sample(ws, &short, Grid::Uniform(1), out),
            }),
        ),
        (
            "sample: out of another length",
            good.len() + dim,
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample(m, &good, Grid::Uniform(1), out),
                None => m.sample(ws, &good, Grid::Uniform(1), out),
            }),
        ),
        (
            "sample: zero steps",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample(m, &good, Grid::Uniform(0), out),
                None => m.sample(ws, &good, Grid::Uniform(0), out),
            }),
        ),
        (
            "sample_seeded: decreasing grid",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample_seeded(m, 1, Grid::Custom(&bad_grid), out),
                None => m.sample_seeded(ws, 1, Grid::Custom(&bad_grid), out),
            }),
        ),
        (
            "sample_seeded: out not a multiple of dim",
            good.len() + 1,
            Box::new(|p, ws, out| match p {
                Some(p) => p.sample_seeded(m, 1, Grid::Uniform(1), out),
                None => m.sample_seeded(ws, 1, Grid::Uniform(1), out),
            }),
        ),
        (
            "map: NaN input",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.map(m, 0.1, 0.9, &nan, out),
                None => m.map(ws, 0.1, 0.9, &nan, out),
            }),
        ),
        (
            "map: infinite t",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.map(m, 0.1, f32::INFINITY, &good, out),
                None => m.map(ws, 0.1, f32::INFINITY, &good, out),
            }),
        ),
        (
            "velocity: NaN t",
            good.len(),
            Box::new(|p, ws, out| match p {
                Some(p) => p.velocity(m, f32::NAN, &good, out),
                None => m.velocity(ws, f32::NAN, &good, out),
            }),
        ),
    ];
    for (what, out_len, call) in &calls {
        let mut out1 = vec![sentinel; *out_len];
        let want = call(None, &mut ws, &mut out1).unwrap_err();
        let mut out = vec![sentinel; *out_len];
        let got = call(Some(&mut pool), &mut ws, &mut out).unwrap_err();
        // Compared through Debug: the errors may carry a NaN (which is != itself).
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{what}");
        assert!(out.iter().all(|&v| v == sentinel), "{what}: out touched");
    }
    // The pool still works after errors.
    let mut want = vec![0.0f32; good.len()];
    let mut got = vec![0.0f32; good.len()];
    m.sample(&mut ws, &good, Grid::Uniform(2), &mut want)
        .unwrap();
    pool.sample(m, &good, Grid::Uniform(2), &mut got).unwrap();
    assert_eq!(bits(&got), bits(&want));
}

/// A result that overflows in a later chunk is reported at the one-thread flat index, and
/// `out` stays untouched even though the earlier chunks succeeded.
#[test]
fn non_finite_output_in_a_later_chunk_is_reported_at_its_flat_index() {
    let m = mlp(TimeEmbedding::Raw);
    let dim = m.dim();
    let rows = 9;
    let mut x = vec![0.5f32; rows * dim];
    // Finite, but huge enough that the map overflows to inf/NaN for this row only.
    for v in &mut x[6 * dim..7 * dim] {
        *v = 3.0e38;
    }
    let mut ws = m.workspace(rows);
    let mut one = vec![7.0f32; x.len()];
    let want = m.map(&mut ws, 0.0, 1.0, &x, &mut one).unwrap_err();
    assert!(
        matches!(want, EvalError::NonFiniteOutput { index } if index >= 6 * dim),
        "{want:?}"
    );
    for threads in THREADS {
        let mut pool = Pool::new(threads).unwrap();
        let mut out = vec![7.0f32; x.len()];
        let got = pool.map(&m, 0.0, 1.0, &x, &mut out).unwrap_err();
        assert_eq!(got, want, "{threads} threads");
        assert!(
            out.iter().all(|&v| v == 7.0),
            "{threads} threads: out touched"
        );
    }
}

/// Empty batches are no-ops, as on one thread.
#[test]
fn empty_batches_succeed() {
    let m = mlp(TimeEmbedding::Raw);
    let mut pool = Pool::new(2).unwrap();
    pool.sample_seeded(&m, 1, Grid::Uniform(1), &mut [])
        .unwrap();
    pool.sample(&m, &[], Grid::Uniform(1), &mut []).unwrap();
    pool.map(&m, 0.0, 1.0, &[], &mut []).unwrap();
}

/// A pool can be moved to another thread and used there; dropping it joins its threads.
#[test]
fn a_pool_moves_between_threads_and_drops_cleanly() {
    let m = std::sync::Arc::new(mlp(TimeEmbedding::Raw));
    for _ in 0..20 {
        let pool = Pool::new(4).unwrap();
        let m2 = std::sync::Arc::clone(&m);
        let out = std::thread::spawn(move || {
            let mut pool = pool;
            let mut out = vec![0.0f32; 10 * m2.dim()];
            pool.sample_seeded(&m2, 4, Grid::Uniform(1), &mut out)
                .unwrap();
            out
        })
        .join()
        .unwrap();
        let mut want = vec![0.0f32; out.len()];
        m.sample_seeded(&mut m.workspace(10), 4, Grid::Uniform(1), &mut want)
            .unwrap();
        assert_eq!(bits(&out), bits(&want));
    }
}
