//! A persistent thread pool that splits one batch into contiguous row chunks ([`Pool`]).
//!
//! Each row of a batch is evaluated independently and in the same summation order whatever
//! the batch (see [`Model::sample`]), so evaluating chunks on different threads and
//! concatenating them gives the single-thread result bit for bit. The pool only has to hand
//! borrowed chunks to its threads and collect the outcomes: every numerical path is the
//! public single-thread one.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::error::EvalError;
use crate::model::{Grid, Model, Workspace};
use crate::rng::NormalRng;

/// The largest thread count [`Pool::new`] accepts. Far above any core count a sprite-sheet
/// tool meets; a larger request is almost certainly a bug (a negative number cast to
/// `usize`, a byte count), and would only cost memory.
pub const MAX_POOL_THREADS: usize = 1024;

/// Why [`Pool::new`] failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PoolError {
    /// `threads` was 0 (a pool needs at least the calling thread).
    ZeroThreads,
    /// `threads` exceeds [`MAX_POOL_THREADS`].
    TooManyThreads {
        /// The requested count.
        threads: usize,
    },
    /// The operating system refused to start a worker thread (its message).
    Spawn(String),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::ZeroThreads => write!(f, "a pool needs at least 1 thread, got 0"),
            PoolError::TooManyThreads { threads } => write!(
                f,
                "{threads} threads requested; a pool holds at most {MAX_POOL_THREADS}"
            ),
            PoolError::Spawn(msg) => write!(f, "cannot start a pool thread: {msg}"),
        }
    }
}

impl core::error::Error for PoolError {}

/// What a chunk computes (the single-thread call it makes).
#[derive(Clone, Copy)]
enum Op<'a> {
    Sample(Grid<'a>),
    Map(f32, f32),
    Velocity(f32),
    /// Panics when the chunk's first input value is negative: only the tests below can
    /// make a chunk panic.
    #[cfg(test)]
    PanicIfNegative,
}

/// One chunk of a call: borrowed input rows, and the staging rows it writes.
struct Task<'a> {
    model: &'a Model,
    op: Op<'a>,
    input: &'a [f32],
    out: &'a mut [f32],
}

impl Task<'_> {
    fn run(self, ws: &mut Workspace) -> Result<(), EvalError> {
        match self.op {
            Op::Sample(grid) => self.model.sample(ws, self.input, grid, self.out),
            Op::Map(s, t) => self.model.map(ws, s, t, self.input, self.out),
            Op::Velocity(t) => self.model.velocity(ws, t, self.input, self.out),
            #[cfg(test)]
            Op::PanicIfNegative => {
                assert!(self.input[0] >= 0.0, "test panic");
                self.out.copy_from_slice(self.input);
                Ok(())
            }
        }
    }
}

/// How a worker's chunk ended.
#[derive(Clone)]
enum Outcome {
    Done(Result<(), EvalError>),
    Panicked,
}

/// The state the caller and the workers share, under one mutex.
struct State {
    /// One slot per worker: the chunk it is to run next. The lifetime is erased in
    /// [`Pool::run`] (see the SAFETY argument there); a slot is `Some` only while a call is
    /// in progress.
    tasks: Vec<Option<Task<'static>>>,
    /// One slot per worker: how its last chunk ended.
    outcomes: Vec<Outcome>,
    /// Workers that were handed a chunk and have not reported yet.
    pending: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when tasks are handed out or on shutdown.
    work: Condvar,
    /// Signalled when `pending` reaches 0.
    done: Condvar,
}

impl Shared {
    /// Locks the state. A poisoned lock is taken over: no code panics while holding it
    /// (tasks run outside it), and the state stays consistent either way.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until every worker has reported on the chunk it was handed.
    fn wait_idle(&self) {
        let mut st = self.lock();
        while st.pending > 0 {
            st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Waits for the workers when dropped, so that the caller's stack frame, whose data the
/// workers borrow, cannot end (by return or by unwinding) while a worker still uses it.
struct WaitOnDrop<'a>(&'a Shared);

impl Drop for WaitOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wait_idle();
    }
}

fn worker(shared: Arc<Shared>, me: usize) {
    // This thread's scratch: grows on the first chunks, then is reused.
    let mut ws = Workspace::new();
    loop {
        let task = {
            let mut st = shared.lock();
            loop {
                if let Some(task) = st.tasks[me].take() {
                    break task;
                }
                if st.shutdown {
                    return;
                }
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // The task (and with it every borrow of the caller's data) is consumed here, before
        // the worker reports.
        let outcome = match catch_unwind(AssertUnwindSafe(|| task.run(&mut ws))) {
            Ok(r) => Outcome::Done(r),
            Err(_) => {
                // The workspace may be half-grown; start the next chunk from a fresh one.
                ws = Workspace::new();
                Outcome::Panicked
            }
        };
        let mut st = shared.lock();
        st.outcomes[me] = outcome;
        st.pending -= 1;
        if st.pending == 0 {
            shared.done.notify_one();
        }
    }
}

/// A persistent pool of worker threads that evaluates one batch split into contiguous row
/// chunks, one per thread (`std` feature).
///
/// Results are bit-identical to the single-thread [`Model`] calls for every thread count and
/// batch size (a row's result does not depend on the batch it is in), and errors are the
/// ones the single-thread call reports, with `out` untouched on error.
///
/// `threads` counts the calling thread: `Pool::new(4)` starts 3 workers, and a call runs one
/// chunk on the caller while the workers run the others; `Pool::new(1)` starts none. Each
/// thread keeps its own [`Workspace`]; after a first call at a given batch size (the
/// warm-up, which sizes them), calls allocate nothing. A batch with fewer rows than threads
/// uses as many threads as rows. The pool is not tied to one model. Dropping it stops and
/// joins its threads.
///
/// Panics: no valid input makes a chunk panic. Should one panic anyway (a bug), the panic
/// is caught on its thread, the call waits for the other chunks and then panics on the
/// calling thread (the pool stays usable).
///
/// ```
/// use flowmap::{Grid, Model, Pool};
/// # let bytes = flowmap::write::example_model_bytes();
/// let model = Model::from_bytes(&bytes)?;
/// let mut pool = Pool::new(2)?; // the calling thread and one worker
/// let mut sheet = vec![0.0f32; 64 * model.dim()];
/// pool.sample_seeded(&model, 7, Grid::Uniform(2), &mut sheet)?;
/// // The same bits as one thread:
/// let mut one = vec![0.0f32; sheet.len()];
/// model.sample_seeded(&mut model.workspace(64), 7, Grid::Uniform(2), &mut one)?;
/// assert_eq!(sheet, one);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// The calling thread's workspace (it runs chunk 0).
    ws: Workspace,
    /// Seeded noise, drawn on the calling thread.
    noise: Vec<f32>,
    /// Results of all chunks, copied to `out` once every chunk succeeded.
    staging: Vec<f32>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

/// Grows `v` to at least `len` elements, reporting failure as the batch's out-of-memory.
fn grow(v: &mut Vec<f32>, len: usize, batch: usize) -> Result<(), EvalError> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len())
            .map_err(|_| EvalError::OutOfMemory { batch })?;
        v.resize(len, 0.0);
    }
    Ok(())
}

impl Pool {
    /// A pool of `threads` threads in all: the calling thread and `threads − 1` workers,
    /// started now. Errors: [`PoolError::ZeroThreads`], [`PoolError::TooManyThreads`]
    /// (above [`MAX_POOL_THREADS`]), [`PoolError::Spawn`] (threads started before the
    /// failure are stopped and joined).
    pub fn new(threads: usize) -> Result<Pool, PoolError> {
        if threads == 0 {
            return Err(PoolError::ZeroThreads);
        }
        if threads > MAX_POOL_THREADS {
            return Err(PoolError::TooManyThreads { threads });
        }
        let workers = threads - 1;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tasks: (0..workers).map(|_| None).collect(),
                outcomes: alloc::vec![Outcome::Done(Ok(())); workers],
                pending: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let mut pool = Pool {
            shared,
            handles: Vec::with_capacity(workers),
            ws: Workspace::new(),
            noise: Vec::new(),
            staging: Vec::new(),
        };
        for me in 0..workers {
            let shared = Arc::clone(&pool.shared);
            let spawned = std::thread::Builder::new()
                .name(alloc::format!("flowmap-pool-{me}"))
                .spawn(move || worker(shared, me));
            match spawned {
                Ok(h) => pool.handles.push(h),
                // Dropping the pool joins the workers started so far.
                Err(e) => return Err(PoolError::Spawn(alloc::format!("{e}"))),
            }
        }
        Ok(pool)
    }

    /// The number of threads a call uses at most (the calling thread included).
    pub fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// [`Model::sample`] split over the pool's threads: the same result, bit for bit, and
    /// the same errors.
    pub fn sample(
        &mut self,
        model: &Model,
        noise: &[f32],
        grid: Grid<'_>,
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = model.check_sample(noise, grid, out)?;
        let Pool {
            shared,
            ws,
            staging,
            ..
        } = self;
        run(
            shared,
            ws,
            staging,
            model,
            Op::Sample(grid),
            noise,
            batch,
            out,
        )
    }

    /// [`Model::sample_seeded`] split over the pool's threads: the calling thread draws the
    /// whole batch's noise from [`NormalRng::new(seed)`](NormalRng) as `sample_seeded` does
    /// (row-major), then the rows are sampled in chunks. The same result, bit for bit, and
    /// the same errors.
    pub fn sample_seeded(
        &mut self,
        model: &Model,
        seed: u64,
        grid: Grid<'_>,
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = model.check_sample_seeded(grid, out)?;
        if batch == 0 {
            return Ok(());
        }
        grow(&mut self.noise, out.len(), batch)?;
        let noise = &mut self.noise[..out.len()];
        NormalRng::new(seed).fill(noise);
        let Pool {
            shared,
            ws,
            staging,
            ..
        } = self;
        run(
            shared,
            ws,
            staging,
            model,
            Op::Sample(grid),
            noise,
            batch,
            out,
        )
    }

    /// [`Model::map`] split over the pool's threads: the same result, bit for bit, and the
    /// same errors.
    pub fn map(
        &mut self,
        model: &Model,
        s: f32,
        t: f32,
        x: &[f32],
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = model.check_map(s, t, x, out)?;
        let Pool {
            shared,
            ws,
            staging,
            ..
        } = self;
        run(shared, ws, staging, model, Op::Map(s, t), x, batch, out)
    }

    /// [`Model::velocity`] split over the pool's threads: the same result, bit for bit, and
    /// the same errors.
    pub fn velocity(
        &mut self,
        model: &Model,
        t: f32,
        x: &[f32],
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = model.check_velocity(t, x, out)?;
        let Pool {
            shared,
            ws,
            staging,
            ..
        } = self;
        run(shared, ws, staging, model, Op::Velocity(t), x, batch, out)
    }
}

/// Evaluates `op` on the `batch` rows of `input` (already checked as the single-thread call
/// checks them) in chunks, and copies the result to `out` if every chunk succeeded.
#[allow(clippy::too_many_arguments)]
fn run(
    shared: &Shared,
    ws: &mut Workspace,
    staging: &mut Vec<f32>,
    model: &Model,
    op: Op<'_>,
    input: &[f32],
    batch: usize,
    out: &mut [f32],
) -> Result<(), EvalError> {
    if batch == 0 {
        return Ok(());
    }
    let dim = model.dim();
    let n = input.len();
    grow(staging, n, batch)?;
    let workers = shared.lock().tasks.len();
    let parts = (workers + 1).min(batch);
    // Chunk p has base rows, plus one for the first `extra` chunks.
    let (base, extra) = (batch / parts, batch % parts);
    let rows_of = |p: usize| base + usize::from(p < extra);
    let (mine_out, mut rest_out) = staging[..n].split_at_mut(rows_of(0) * dim);
    let (mine_in, mut rest_in) = input.split_at(rows_of(0) * dim);
    let guard = WaitOnDrop(shared);
    {
        let mut st = shared.lock();
        for p in 1..parts {
            let len = rows_of(p) * dim;
            let (o, o_tail) = core::mem::take(&mut rest_out).split_at_mut(len);
            let (i, i_tail) = rest_in.split_at(len);
            (rest_out, rest_in) = (o_tail, i_tail);
            let task = Task {
                model,
                op,
                input: i,
                out: o,
            };
            // SAFETY: only the lifetime changes (same type otherwise, so the same layout).
            // The borrows it erases (`model`, the grid inside `op`, `input`, and the
            // disjoint staging chunk) outlive every use of the task: a worker consumes its
            // task before it decrements `pending`, and `guard` (created above, dropped at
            // the end of this function or while unwinding out of it) blocks until
            // `pending` is 0. Nothing else can take the task from its slot.
            let task: Task<'static> =
                unsafe { core::mem::transmute::<Task<'_>, Task<'static>>(task) };
            st.tasks[p - 1] = Some(task);
        }
        st.pending = parts - 1;
    }
    if parts > 1 {
        shared.work.notify_all();
    }
    let mine = Task {
        model,
        op,
        input: mine_in,
        out: mine_out,
    }
    .run(ws);
    drop(guard);

    // Combine in chunk order, as one thread would have met the problems: running out of
    // memory comes before any evaluation there, a non-finite output is reported at its
    // first flat index.
    let st = shared.lock();
    let mut first_bad = None;
    let mut oom = false;
    let mut offset = 0;
    for p in 0..parts {
        let outcome = if p == 0 {
            Outcome::Done(mine.clone())
        } else {
            st.outcomes[p - 1].clone()
        };
        match outcome {
            Outcome::Panicked => {
                drop(st);
                panic!("flowmap::Pool: a worker thread panicked while evaluating chunk {p}")
            }
            Outcome::Done(Ok(())) => {}
            Outcome::Done(Err(EvalError::OutOfMemory { .. })) => oom = true,
            Outcome::Done(Err(EvalError::NonFiniteOutput { index })) => {
                first_bad.get_or_insert(EvalError::NonFiniteOutput {
                    index: offset + index,
                });
            }
            Outcome::Done(Err(e)) => {
                first_bad.get_or_insert(e);
            }
        }
        offset += rows_of(p) * dim;
    }
    drop(st);
    if oom {
        return Err(EvalError::OutOfMemory { batch });
    }
    if let Some(e) = first_bad {
        return Err(e);
    }
    out.copy_from_slice(&staging[..n]);
    Ok(())
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        for h in self.handles.drain(..) {
            // A worker never panics outside its caught chunk; nothing to report if it did.
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// A chunk that panics (which no valid input makes happen) surfaces as a panic on the
    /// calling thread, after every chunk finished: on a worker or on the caller's own chunk.
    /// The pool stays usable and `out` is untouched.
    #[test]
    fn a_panicking_chunk_panics_the_caller_and_the_pool_recovers() {
        let model = Model::from_bytes(&crate::write::example_model_bytes()).unwrap();
        let dim = model.dim();
        let batch = 6;
        let mut pool = Pool::new(3).unwrap();
        let (shared, ws, staging) = (&pool.shared, &mut pool.ws, &mut pool.staging);
        let ok: Vec<f32> = (0..batch * dim).map(|i| i as f32).collect();
        // Rows 2.. (the workers' chunks) negative; then every row negative.
        let mut workers_only = ok.clone();
        workers_only[2 * dim..].iter_mut().for_each(|v| *v = -1.0);
        let all = alloc::vec![-1.0f32; batch * dim];
        for input in [&workers_only, &all] {
            let mut out = alloc::vec![5.0f32; batch * dim];
            let r = catch_unwind(AssertUnwindSafe(|| {
                run(
                    shared,
                    ws,
                    staging,
                    &model,
                    Op::PanicIfNegative,
                    input,
                    batch,
                    &mut out,
                )
            }));
            assert!(r.is_err(), "the call should panic");
            assert!(out.iter().all(|&v| v == 5.0), "out touched");
            assert_eq!(
                shared.lock().pending,
                0,
                "returned before the workers finished"
            );
        }
        let mut out = alloc::vec![0.0f32; batch * dim];
        run(
            shared,
            ws,
            staging,
            &model,
            Op::PanicIfNegative,
            &ok,
            batch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, ok);
        // And real work still matches one thread.
        let mut want = alloc::vec![0.0f32; batch * dim];
        model
            .sample_seeded(&mut model.workspace(batch), 2, Grid::Uniform(2), &mut want)
            .unwrap();
        pool.sample_seeded(&model, 2, Grid::Uniform(2), &mut out)
            .unwrap();
        assert_eq!(out, want);
    }
}
