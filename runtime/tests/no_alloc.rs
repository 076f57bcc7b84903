//! Evaluation allocates nothing once the workspace is large enough: a counting global
//! allocator sees zero allocations during map / velocity / sample / sample_seeded, for
//! batch 1 and batched paths, raw and Fourier time embeddings, f16 and bf16 weight files
//! (16-bit panels), and a U-Net (format 2); and the thread pool's calls (`flowmap::Pool`)
//! allocate nothing on the calling thread once warmed up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use flowmap::schema::*;
use flowmap::write::{ModelBuilder, WeightDtype};
use flowmap::{Grid, Model};

struct Counting;

thread_local! {
    // Only allocations made by the measuring thread count (the test harness has others,
    // and tests measure in parallel): a per-thread switch and a per-thread count.
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if TRACK.with(|t| t.get()) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards every call unchanged to the system allocator; the bookkeeping touches
// only const-initialised thread-local `Cell`s (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.with(|a| a.get());
    TRACK.with(|t| t.set(true));
    let r = f();
    TRACK.with(|t| t.set(false));
    (ALLOCS.with(|a| a.get()) - before, r)
}

fn model(time_embedding: TimeEmbedding) -> Model {
    model_as(time_embedding, WeightDtype::F32)
}

/// The test MLP with its weights stored as `dtype` (16-bit files keep 16-bit panels).
fn model_as(time_embedding: TimeEmbedding, dtype: WeightDtype) -> Model {
    let dim = 3;
    let hidden = vec![40, 24];
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![dim],
            hidden: hidden.clone(),
            activation: Activation::GeluTanh,
            time_embedding,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Trig,
        sigma: 0.8,
        normalization: Normalization {
            mean: vec![0.1, 0.2, 0.3],
            std: vec![1.0, 2.0, 0.5],
        },
        provenance: Provenance {
            method: "psd-midpoint".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "no_alloc test".into(),
            dataset: String::new(),
        },
    };
    let bytes = ModelBuilder::random_scaled(
        meta,
        4,
        |spec| {
            if spec.shape.len() == 2 {
                0.3
            } else {
                0.1
            }
        },
    )
    .dtype(dtype)
    .to_bytes();
    Model::from_bytes(&bytes).unwrap()
}

/// A U-Net over 1×28×28 (levels 28, 14, 7; attention at 7 and in the middle block).
fn unet_model() -> Model {
    let meta = flowmap::write::example_unet_meta([1, 28, 28], &[1, 2, 2], &[7]);
    let bytes = flowmap::write::random_unet_builder(meta, 6).to_bytes();
    Model::from_bytes(&bytes).unwrap()
}

#[test]
fn evaluation_does_not_allocate() {
    for emb in [
        TimeEmbedding::Raw,
        TimeEmbedding::Fourier {
            frequencies: vec![0.5, 1.0, 2.0],
        },
    ] {
        no_allocation_per_call(&model(emb), &[1, 2, 5, 16, 37]);
    }
}

/// f16 and bf16 files (16-bit weight panels, widened in the kernel): no allocation either,
/// at batch 1 and batched.
#[test]
fn sixteen_bit_evaluation_does_not_allocate() {
    for dtype in [WeightDtype::F16, WeightDtype::BF16] {
        no_allocation_per_call(&model_as(TimeEmbedding::Raw, dtype), &[1, 2, 5, 16, 37]);
    }
}

#[test]
fn unet_evaluation_does_not_allocate() {
    no_allocation_per_call(&unet_model(), &[1, 2, 3]);
}

/// Every call whose batch fits the workspace (created for the largest of `batches`)
/// allocates nothing; a larger batch grows it once.
fn no_allocation_per_call(m: &Model, batches: &[usize]) {
    {
        let dim = m.dim();
        let max_batch = *batches.iter().max().unwrap();
        let mut ws = m.workspace(max_batch);
        let x: Vec<f32> = (0..max_batch * dim)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let mut out = vec![0.0f32; x.len()];
        let grid = [0.0f32, 0.25, 0.25, 1.0];
        for &batch in batches {
            let n = batch * dim;
            let (allocs, r) = count(|| {
                m.map(&mut ws, 0.1, 0.9, &x[..n], &mut out[..n])?;
                m.velocity(&mut ws, 0.3, &x[..n], &mut out[..n])?;
                m.sample(&mut ws, &x[..n], Grid::Uniform(2), &mut out[..n])?;
                m.sample(&mut ws, &x[..n], Grid::Custom(&grid), &mut out[..n])?;
                m.sample_seeded(&mut ws, 5, Grid::Uniform(1), &mut out[..n])?;
                // Errors do not allocate either.
                let bad = m.map(&mut ws, f32::NAN, 0.9, &x[..n], &mut out[..n]);
                assert!(bad.is_err());
                Ok::<(), flowmap::EvalError>(())
            });
            r.unwrap();
            assert_eq!(allocs, 0, "batch {batch}: {allocs} allocations");
        }
        // A batch beyond capacity grows the workspace (allocates) once, then not again.
        let big = vec![0.5f32; (max_batch + 3) * dim];
        let mut big_out = vec![0.0f32; big.len()];
        let (grow, r) = count(|| m.map(&mut ws, 0.0, 1.0, &big, &mut big_out));
        r.unwrap();
        assert!(grow > 0, "growing the workspace should allocate");
        let (again, r) = count(|| m.map(&mut ws, 0.0, 1.0, &big, &mut big_out));
        r.unwrap();
        assert_eq!(again, 0);
    }
}

#[cfg(feature = "std")]
#[test]
fn pooled_evaluation_does_not_allocate() {
    no_allocation_per_pooled_call(&model(TimeEmbedding::Raw), 3, &[1, 2, 5, 16, 37]);
    no_allocation_per_pooled_call(
        &model(TimeEmbedding::Fourier {
            frequencies: vec![0.5, 1.0],
        }),
        8,
        &[1, 2, 5, 37],
    );
    no_allocation_per_pooled_call(&unet_model(), 2, &[1, 2, 3]);
}

/// After one warm-up call at the largest batch (which sizes the pool's buffers and every
/// thread's workspace), pooled calls at that batch or smaller allocate nothing on the
/// calling thread, errors included.
#[cfg(feature = "std")]
fn no_allocation_per_pooled_call(m: &Model, threads: usize, batches: &[usize]) {
    let dim = m.dim();
    let max_batch = *batches.iter().max().unwrap();
    let mut pool = flowmap::Pool::new(threads).unwrap();
    let x: Vec<f32> = (0..max_batch * dim)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let mut out = vec![0.0f32; x.len()];
    let grid = [0.0f32, 0.25, 0.25, 1.0];
    pool.sample_seeded(m, 5, Grid::Uniform(1), &mut out)
        .unwrap();
    for &batch in batches {
        let n = batch * dim;
        let (allocs, r) = count(|| {
            pool.sample_seeded(m, 5, Grid::Uniform(2), &mut out[..n])?;
            pool.sample(m, &x[..n], Grid::Custom(&grid), &mut out[..n])?;
            pool.map(m, 0.1, 0.9, &x[..n], &mut out[..n])?;
            pool.velocity(m, 0.3, &x[..n], &mut out[..n])?;
            let bad = pool.map(m, 0.1, f32::NAN, &x[..n], &mut out[..n]);
            assert!(bad.is_err());
            Ok::<(), flowmap::EvalError>(())
        });
        r.unwrap();
        assert_eq!(
            allocs, 0,
            "{threads} threads, batch {batch}: {allocs} allocations"
        );
    }
}

#[test]
fn one_model_many_threads() {
    // Shared immutably across threads, each with its own workspace; results equal the
    // single-threaded ones bit for bit.
    let m = std::sync::Arc::new(model(TimeEmbedding::Raw));
    let n = 8 * m.dim();
    let mut ws = m.workspace(8);
    let mut want = vec![0.0f32; n];
    m.sample_seeded(&mut ws, 11, Grid::Uniform(2), &mut want)
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = std::sync::Arc::clone(&m);
            std::thread::spawn(move || {
                let mut ws = m.workspace(8);
                let mut out = vec![0.0f32; n];
                m.sample_seeded(&mut ws, 11, Grid::Uniform(2), &mut out)
                    .unwrap();
                out
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

/// The `ndarray` feature's methods (src/array.rs) evaluate in the arrays' own memory: no
/// allocation either, for owned arrays and views.
#[cfg(feature = "ndarray")]
#[test]
fn array_evaluation_does_not_allocate() {
    use flowmap::ndarray::{s, Array2};
    let m = model(TimeEmbedding::Raw);
    let mut ws = m.workspace(16);
    let x = Array2::from_shape_fn((16, m.dim()), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
    let mut out: Array2<f32> = m.zeros_array(16).unwrap();
    let (allocs, r) = count(|| {
        m.map_array(&mut ws, 0.1, 0.9, &x, &mut out)?;
        m.velocity_array(&mut ws, 0.3, &x.view(), &mut out.view_mut())?;
        let (noise, mut rows) = (x.slice(s![..5, ..]), out.slice_mut(s![3..8, ..]));
        m.sample_array(&mut ws, &noise, Grid::Uniform(2), &mut rows)?;
        m.sample_seeded_array(&mut ws, 5, Grid::Uniform(1), &mut out)?;
        Ok::<(), flowmap::ArrayError>(())
    });
    r.unwrap();
    assert_eq!(allocs, 0, "{allocs} allocations");
}
