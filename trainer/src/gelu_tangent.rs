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
//!
//! A layer of the tangent pass needs the activation too. [`gelu_tanh_and_tangent`] gives both
//! from one tanh per element on the CPU: gelu(x), gelu'(x) and g·gelu''(x) come out of the same
//! loops, and the activation gets its gradient the same way, gelu(sg(x)) + (x − sg(x))·sg(gelu'(x)).
//! libtorch's own kernels evaluate tanh five times per element for that pair (gelu and
//! gelu_backward, forward and backward, and the loops' own).

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

/// (gelu(x), g·gelu'(x)) for the tanh-GELU, both differentiable in x and g (first order): the
/// activation and its tangent for one layer of the tangent pass.
pub fn gelu_tanh_and_tangent(x: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    let (xd, gd) = (x.detach(), g.detach());
    let parts = match (fast_cpu_pair(&xd, &gd), xd.kind()) {
        (true, Kind::Float) => Some(gelu_parts_cpu::<f32>(&xd, &gd)),
        (true, Kind::Double) => Some(gelu_parts_cpu::<f64>(&xd, &gd)),
        _ => None,
    };
    let Some(GeluParts {
        value,
        slope,
        curve,
    }) = parts
    else {
        return (x.gelu("tanh"), gelu_tanh_tangent(x, g));
    };
    // g·sg(gelu'(x)) carries d/dg; the zero-valued terms carry d/dx (module docs).
    let tangent = g * &slope;
    if !x.requires_grad() {
        return (value, tangent);
    }
    let zero = x - &xd;
    (value + &zero * slope, tangent + zero * curve)
}

/// gelu(x), gelu'(x) and g·gelu''(x) of the same x, from the CPU loops.
struct GeluParts {
    value: Tensor,
    slope: Tensor,
    curve: Tensor,
}

/// Whether the CPU loops can read `x` and `g` directly.
fn fast_cpu_pair(x: &Tensor, g: &Tensor) -> bool {
    x.device() == Device::Cpu
        && g.device() == Device::Cpu
        && x.kind() == g.kind()
        && x.size() == g.size()
        && x.is_contiguous()
        && g.is_contiguous()
}

/// q = g·gelu''(x) for the tanh-GELU, without autograd.
///
/// With k = β(x + κx³), t = tanh k, k' = β(1 + 3κx²): gelu'(x) = ½(1 + t) + ½x(1 − t²)k', and
/// differentiating once more, gelu''(x) = (1 − t²)·(k'(1 − x·t·k') + 3βκx²).
pub fn second_derivative_times(x: &Tensor, g: &Tensor) -> Tensor {
    let fast = fast_cpu_pair(x, g);
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

/// [`second_derivative_times`] for contiguous CPU tensors of kind `T` and equal shape: t =
/// tanh k ([`tanh_of_gelu_argument`]), then one loop turning t into q in place.
fn second_derivative_cpu<T: Real>(x: &Tensor, g: &Tensor, threads: usize) -> Tensor {
    let (xs, gs) = (cpu_slice::<T>(x), cpu_slice::<T>(g));
    let mut q = tanh_of_gelu_argument::<T>(x, threads);
    let c = Constants::<T>::new();
    fill_chunks([cpu_slice_mut::<T>(&mut q)], threads, |start, [out]| {
        let (xs, gs) = (&xs[start..], &gs[start..]);
        for (i, o) in out.iter_mut().enumerate() {
            let (x, t) = (xs[i], *o); // q_i needs t_i only: overwrite in place
            *o = gs[i] * c.second_derivative(x, t);
        }
    });
    q
}

/// [`GeluParts`] for contiguous CPU tensors of kind `T` and equal shape: t = tanh k
/// ([`tanh_of_gelu_argument`]), then one loop from t to all three parts (the curve in t's
/// place).
fn gelu_parts_cpu<T: Real>(x: &Tensor, g: &Tensor) -> GeluParts {
    let threads = tch::get_num_threads().max(1) as usize;
    let (xs, gs) = (cpu_slice::<T>(x), cpu_slice::<T>(g));
    let mut curve = tanh_of_gelu_argument::<T>(x, threads);
    // Zero-filled, not `Tensor::empty`: a slice must not cover uninitialised memory.
    let mut value = Tensor::zeros(x.size(), (x.kind(), Device::Cpu));
    let mut slope = Tensor::zeros(x.size(), (x.kind(), Device::Cpu));
    let c = Constants::<T>::new();
    let outs = [
        cpu_slice_mut::<T>(&mut value),
        cpu_slice_mut::<T>(&mut slope),
        cpu_slice_mut::<T>(&mut curve),
    ];
    fill_chunks(outs, threads, |start, [value, slope, curve]| {
        let (xs, gs) = (&xs[start..], &gs[start..]);
        for i in 0..value.len() {
            let (x, t) = (xs[i], curve[i]);
            let half_one_plus_t = c.half * (c.one + t);
            value[i] = x * half_one_plus_t;
            slope[i] = half_one_plus_t + c.half * x * (c.one - t * t) * c.k_prime(x);
            curve[i] = gs[i] * c.second_derivative(x, t);
        }
    });
    GeluParts {
        value,
        slope,
        curve,
    }
}

/// The tanh-GELU's constants in `T`, and the pieces of its derivatives the loops share.
struct Constants<T> {
    one: T,
    half: T,
    beta: T,
    beta_kappa: T,
    three_beta_kappa: T,
}

impl<T: Real> Constants<T> {
    fn new() -> Self {
        Constants {
            one: T::of(1.0),
            half: T::of(0.5),
            beta: T::of(SQRT_2_OVER_PI),
            beta_kappa: T::of(SQRT_2_OVER_PI * GELU_CUBIC),
            three_beta_kappa: T::of(3.0 * SQRT_2_OVER_PI * GELU_CUBIC),
        }
    }

    /// k = β(x + κx³), the argument of the tanh.
    fn argument(&self, x: T) -> T {
        x * (self.beta + self.beta_kappa * (x * x))
    }

    /// k' = β(1 + 3κx²).
    fn k_prime(&self, x: T) -> T {
        self.beta + self.three_beta_kappa * (x * x)
    }

    /// gelu''(x) given t = tanh k: (1 − t²)·(k'(1 − x·t·k') + 3βκx²).
    fn second_derivative(&self, x: T, t: T) -> T {
        let x2 = x * x;
        let kp = self.beta + self.three_beta_kappa * x2;
        (self.one - t * t) * (kp * (self.one - x * t * kp) + self.three_beta_kappa * x2)
    }
}

/// tanh(β(x + κx³)) of a contiguous CPU tensor of kind `T`, in a tensor of its own: the
/// argument in a Rust loop, then libtorch's vectorised tanh in place.
fn tanh_of_gelu_argument<T: Real>(x: &Tensor, threads: usize) -> Tensor {
    let xs = cpu_slice::<T>(x);
    let c = Constants::<T>::new();
    // Zero-filled, not `Tensor::empty`: a slice must not cover uninitialised memory.
    let mut k = Tensor::zeros(x.size(), (x.kind(), Device::Cpu));
    fill_chunks([cpu_slice_mut::<T>(&mut k)], threads, |start, [out]| {
        for (o, &x) in out.iter_mut().zip(&xs[start..]) {
            *o = c.argument(x);
        }
    });
    let t = tch::no_grad(|| k.tanh_());
    drop(k); // t is now the only handle on the storage, which the callers overwrite
    t
}

/// Below this many elements a chunk is not worth a thread.
const MIN_CHUNK: usize = 1 << 15;

/// Calls `work(start, chunks)` on consecutive, equally placed chunks of the `N` equally long
/// slices in `outs`, covering them, on up to `threads` threads (the caller's thread takes the
/// first chunk).
fn fill_chunks<T: Send, const N: usize>(
    outs: [&mut [T]; N],
    threads: usize,
    work: impl Fn(usize, [&mut [T]; N]) + Sync,
) {
    let n = outs.first().map_or(0, |o| o.len());
    assert!(
        outs.iter().all(|o| o.len() == n),
        "slices of unequal length"
    );
    let parts = threads.min(n / MIN_CHUNK).max(1);
    if parts == 1 {
        return work(0, outs);
    }
    let chunk = n.div_ceil(parts);
    let mut pieces = outs.map(|o| o.chunks_mut(chunk));
    let mut next = || -> Option<[&mut [T]; N]> {
        let piece = pieces.each_mut().map(|it| it.next());
        piece
            .iter()
            .all(Option::is_some)
            .then(|| piece.map(Option::unwrap))
    };
    std::thread::scope(|scope| {
        let first = next();
        let mut start = chunk;
        while let Some(piece) = next() {
            let work = &work;
            scope.spawn(move || work(start, piece));
            start += chunk;
        }
        if let Some(piece) = first {
            work(0, piece);
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
