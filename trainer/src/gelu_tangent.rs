//! The tangent of the tanh-GELU, g·gelu'(x), in a few fused passes, with its exact θ-gradient.
//!
//! LSD and ESD push a tangent through every hidden layer ([`crate::net::Mlp::velocity_jvp`]), and
//! `backward()` then differentiates that tangent in x as well (forward-over-reverse). Written
//! as ordinary tensor ops, gelu'(x) is ≈ 17 elementwise kernels per layer and autograd adds
//! ≈ 30 more for their backward, each a full pass over a [rows, 512] tensor: about a quarter of
//! an LSD step on a CPU. Here the value is libtorch's fused `gelu_backward(g, x)` (one kernel,
//! whose derivative in g is that same kernel), and the derivative in x, ḡ·g·gelu''(x), is
//! attached as a precomputed factor q = g·gelu''(x) on a term that is zero in value:
//!
//!   out = gelu_backward(g, sg(x)) + (x − sg(x))·sg(q),    sg = stop-gradient,
//!
//! so d out/dg = gelu'(x) and d out/dx = g·gelu''(x) exactly, as the composed formula gives.
//! q is computed without autograd: on the CPU in two Rust loops around libtorch's vectorised
//! tanh, elsewhere (or for other dtypes) with tensor ops. Only first derivatives are exact:
//! nothing in the trainer differentiates the θ-gradient again.

use std::ops::{Add, Mul, Sub};
use tch::{Device, Kind, Tensor};

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_CUBIC: f64 = 0.044_715;

/// g·gelu'(x) for the tanh-GELU, differentiable in x and g (first order).
pub fn gelu_tanh_tangent(x: &Tensor, g: &Tensor) -> Tensor {
    let xd = x.detach();
    let value = xd.gelu_backward(g, "tanh");
    if !x.requires_grad() {
        // No θ-gradient flows through x (inference, a detached teacher): the value suffices.
        return value;
    }
    let q = second_derivative_times(&xd, &g.detach());
    value + (x - &xd) * q
}

/// q = g·gelu''(x) for the tanh-GELU, without autograd.
///
/// With k = β(x + κx³), t = tanh k, k' = β(1 + 3κx²): gelu'(x) = ½(1 + t) + ½x(1 − t²)k', and
/// differentiating once more, gelu''(x) = (1 − t²)·(k'(1 − x·t·k') + 3βκx²).
pub fn second_derivative_times(x: &Tensor, g: &Tensor) -> Tensor {
    let fast = x.device() == Device::Cpu
        && g.device() == Device::Cpu
        && x.kind() == g.kind()
        && x.size() == g.size()
        && x.is_contiguous()
        && g.is_contiguous();
    let threads = tch::get_num_threads().max(1) as usize;
    match (fast, x.kind()) {
        (true, Kind::Float) => second_derivative_cpu::<f32>(x, g, threads),
        (true, Kind::Double) => second_derivative_cpu::<f64>(x, g, threads),
        _ => second_derivative_ops(x, g),
    }
}

/// [`second_derivative_times`] with tensor ops (any device and dtype).
fn second_derivative_ops(x: &Tensor, g: &Tensor) -> Tensor {
    tch::no_grad(|| {
        let x2 = x.square();
        let t = (x * (&x2 * (SQRT_2_OVER_PI * GELU_CUBIC) + SQRT_2_OVER_PI)).tanh();
        let kp = &x2 * (3.0 * SQRT_2_OVER_PI * GELU_CUBIC) + SQRT_2_OVER_PI;
        let inner = &kp * (1.0 - x * &t * &kp) + x2 * (3.0 * SQRT_2_OVER_PI * GELU_CUBIC);
        Tensor::tanh_backward(g, &t) * inner
    })
}

/// The float types the CPU loops run in, with constants converted from f64.
trait Real:
    tch::kind::Element
    + Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
{
    fn of(v: f64) -> Self;
}

impl Real for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
}

impl Real for f64 {
    fn of(v: f64) -> f64 {
        v
    }
}

/// [`second_derivative_times`] for contiguous CPU tensors of kind `T` and equal shape:
/// one loop for the tanh argument, libtorch's tanh in place, one loop turning t into q in
/// place, each split over `threads` scoped threads.
fn second_derivative_cpu<T: Real>(x: &Tensor, g: &Tensor, threads: usize) -> Tensor {
    let opts = (x.kind(), Device::Cpu);
    let xs = cpu_slice::<T>(x);
    let gs = cpu_slice::<T>(g);
    let (beta, beta_kappa) = (T::of(SQRT_2_OVER_PI), T::of(SQRT_2_OVER_PI * GELU_CUBIC));
    // Zero-filled, not `Tensor::empty`: a slice must not cover uninitialised memory.
    let mut k = Tensor::zeros(x.size(), opts);
    fill_chunks(cpu_slice_mut::<T>(&mut k), threads, |start, out| {
        for (o, &x) in out.iter_mut().zip(&xs[start..]) {
            *o = x * (beta + beta_kappa * (x * x));
        }
    });
    // t = tanh k in place, then q overwrites t element by element (q_i needs t_i only).
    let mut q = tch::no_grad(|| k.tanh_());
    drop(k); // q is now the only handle on the storage
    let (one, b3k) = (T::of(1.0), T::of(3.0 * SQRT_2_OVER_PI * GELU_CUBIC));
    fill_chunks(cpu_slice_mut::<T>(&mut q), threads, |start, out| {
        let (xs, gs) = (&xs[start..], &gs[start..]);
        for (i, o) in out.iter_mut().enumerate() {
            let (x, t) = (xs[i], *o);
            let x2 = x * x;
            let kp = beta + b3k * x2;
            *o = gs[i] * (one - t * t) * (kp * (one - x * t * kp) + b3k * x2);
        }
    });
    q
}

/// Below this many elements a chunk is not worth a thread.
const MIN_CHUNK: usize = 1 << 15;

/// Calls `work(start, chunk)` on consecutive chunks of `out` covering it, on up to `threads`
/// threads (the caller's thread takes the first chunk).
fn fill_chunks<T: Send>(out: &mut [T], threads: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let n = out.len();
    let parts = threads.min(n / MIN_CHUNK).max(1);
    if parts == 1 {
        return work(0, out);
    }
    let chunk = n.div_ceil(parts);
    std::thread::scope(|scope| {
        let mut chunks = out.chunks_mut(chunk).enumerate();
        let first = chunks.next();
        for (i, c) in chunks {
            let work = &work;
            scope.spawn(move || work(i * chunk, c));
        }
        if let Some((_, c)) = first {
            work(0, c);
        }
    });
}

/// The elements of a contiguous CPU tensor of kind `T`, read-only.
fn cpu_slice<T: Real>(t: &Tensor) -> &[T] {
    assert!(
        t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous(),
        "cpu_slice needs a contiguous CPU tensor of the element type"
    );
    // SAFETY: the assertion guarantees that the storage is host memory holding numel()
    // contiguous, initialised elements of type T from data_ptr() on (libtorch aligns
    // allocations for every dtype). The slice borrows `t`, which keeps the storage alive, and
    // this module never writes to a tensor while a slice of it is alive.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const T, t.numel()) }
}

/// The elements of a contiguous CPU tensor of kind `T` that this module just allocated
/// (zero-filled) and has not shared.
fn cpu_slice_mut<T: Real>(t: &mut Tensor) -> &mut [T] {
    assert!(
        t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous(),
        "cpu_slice_mut needs a contiguous CPU tensor of the element type"
    );
    // SAFETY: as in `cpu_slice` (the tensor is zero-filled, so every element is initialised);
    // in addition the tensor is one this module allocated and has not shared (`k.tanh_()`
    // returns the same storage), so the exclusive borrow of `t` is the only access to the
    // storage while the slice lives.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, t.numel()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of x over the whole useful range, including both tails, and a tangent g.
    fn inputs(kind: Kind, rows: i64) -> (Tensor, Tensor) {
        tch::manual_seed(11);
        let opts = (kind, Device::Cpu);
        (
            Tensor::randn([rows, 64], opts) * 2.5,
            Tensor::randn([rows, 64], opts),
        )
    }

    fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
        let scale = b.abs().max().double_value(&[]).max(1e-30);
        (a - b).abs().max().double_value(&[]) / scale
    }

    /// The CPU loops agree with the tensor-op form on every chunking, and the tensor-op form
    /// is what non-contiguous inputs get.
    #[test]
    fn second_derivative_loops_match_tensor_ops() {
        let (x, g) = inputs(Kind::Double, 2048);
        let reference = second_derivative_ops(&x, &g);
        for threads in [1, 2, 3] {
            let err = rel_err(&second_derivative_cpu::<f64>(&x, &g, threads), &reference);
            assert!(err < 1e-14, "{threads} threads: relative error {err}");
        }
        let gt = g.tr().contiguous().tr();
        assert!(!gt.is_contiguous());
        let err = rel_err(&second_derivative_times(&x, &gt), &reference);
        assert!(err < 1e-15, "non-contiguous: relative error {err}");
    }

    /// Without a gradient to carry (no_grad, or x constant) the result is the plain value.
    #[test]
    fn no_gradient_needed_gives_the_value_only() {
        let (x, g) = inputs(Kind::Float, 4);
        let out = tch::no_grad(|| gelu_tanh_tangent(&x.set_requires_grad(true), &g));
        assert!(!out.requires_grad());
        assert_eq!(
            (out - x.detach().gelu_backward(&g, "tanh"))
                .abs()
                .max()
                .double_value(&[]),
            0.0
        );
    }
}
