//! libtorch's forward-mode automatic differentiation: exact Jacobian-vector products through
//! any network built from tensor ops (the U-Net's convolutions, GroupNorm, attention), which
//! stay differentiable in θ (forward-over-reverse).
//!
//! tch exposes dual tensors (`internal_make_dual`, `internal_unpack_dual`) but not the dual
//! level they live in, so the two functions that open and close a level are declared here by
//! their symbol names in libtorch_cpu.so (C++ `torch::autograd::forward_ad::enter_dual_level()`
//! and `exit_dual_level(uint64_t)`; the names are tied to the libtorch version that
//! scripts/setup.sh assembles, 2.13). The crate's other unsafe code reads CPU tensors'
//! memory in [`crate::gelu_tangent`].

use std::sync::Mutex;
use tch::Tensor;

/// libtorch has one process-wide stack of dual levels and refuses (throws) a second open
/// level, also from another thread: every level is opened and closed under this lock.
static LEVEL_LOCK: Mutex<()> = Mutex::new(());

extern "C" {
    #[link_name = "_ZN5torch8autograd10forward_ad16enter_dual_levelEv"]
    fn torch_enter_dual_level() -> u64;
    #[link_name = "_ZN5torch8autograd10forward_ad15exit_dual_levelEm"]
    fn torch_exit_dual_level(level: u64);
}

/// An open dual level; closed when dropped (libtorch then discards every tangent of the level,
/// so results are copied out before).
struct DualLevel(u64);

impl DualLevel {
    fn enter() -> DualLevel {
        // SAFETY: a plain C++ function without arguments returning uint64_t (the System V
        // calling convention is the C one for such a signature). It throws only when a level
        // is already open, which cannot happen: levels are opened only here, under
        // LEVEL_LOCK, and closed before the lock is released.
        DualLevel(unsafe { torch_enter_dual_level() })
    }
}

impl Drop for DualLevel {
    fn drop(&mut self) {
        // SAFETY: closes the level this value opened, exactly once (the same argument as
        // `enter`; it throws only for a level that is not the innermost open one).
        unsafe { torch_exit_dual_level(self.0) }
    }
}

/// f(primals) and its directional derivative along `tangents` (`None`: a zero tangent for
/// that input), both differentiable in the parameters `f` closes over. `f` must not call
/// `jvp` itself (it would wait for itself). Calls from several threads take turns.
pub fn jvp(
    f: impl FnOnce(&[Tensor]) -> Tensor,
    primals: &[&Tensor],
    tangents: &[Option<&Tensor>],
) -> (Tensor, Tensor) {
    assert_eq!(primals.len(), tangents.len(), "one tangent per primal");
    // A panic inside `f` poisons the lock after the level was closed (Drop): still usable.
    let _guard = LEVEL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let level = DualLevel::enter();
    let id = level.0 as i64;
    let inputs: Vec<Tensor> = primals
        .iter()
        .zip(tangents)
        .map(|(p, t)| match t {
            Some(t) => Tensor::internal_make_dual(p, &t.expand_as(p), id),
            None => p.shallow_clone(),
        })
        .collect();
    let out = f(&inputs);
    let (primal, tangent) = Tensor::internal_unpack_dual(&out, id);
    // Copies survive the level's end (its tangents are freed then); the copies are recorded
    // by autograd, so gradients still flow to the parameters.
    let primal = primal.copy();
    let tangent = if tangent.defined() {
        tangent.copy()
    } else {
        primal.zeros_like()
    };
    drop(level);
    (primal, tangent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn d(v: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).view(shape)
    }

    /// Central difference of `f` at `x` along `dx` (float64, step h).
    fn central(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, dx: &Tensor, h: f64) -> Tensor {
        (f(&(x + dx * h)) - f(&(x - dx * h))) / (2.0 * h)
    }

    fn check_layer(name: &str, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) {
        let dx = x.randn_like();
        let (y, t) = jvp(|i| f(&i[0]), &[x], &[Some(&dx)]);
        assert!(y.allclose(&f(x), 1e-12, 1e-12, false), "{name}: primal");
        let fd = central(f, x, &dx, 1e-5);
        let err = (&t - &fd).abs().max().double_value(&[]);
        let scale = fd.abs().max().double_value(&[]).max(1e-6);
        assert!(
            err / scale < 1e-7,
            "{name}: tangent off by {err} (scale {scale})"
        );
    }

    #[test]
    fn every_layer_kind_matches_float64_central_differences() {
        tch::manual_seed(0);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([2, 4, 5, 3], opts);
        let w3 = Tensor::randn([6, 4, 3, 3], opts);
        let w1 = Tensor::randn([6, 4, 1, 1], opts);
        let b = Tensor::randn([6], opts);
        let (gw, gb) = (Tensor::randn([4], opts), Tensor::randn([4], opts));
        check_layer(
            "conv 3x3",
            &|x| x.conv2d(&w3, Some(&b), [1], [1], [1], 1),
            &x,
        );
        check_layer(
            "conv 1x1",
            &|x| x.conv2d(&w1, Some(&b), [1], [0], [1], 1),
            &x,
        );
        check_layer(
            "conv stride 2",
            &|x| x.conv2d(&w3, Some(&b), [2], [1], [1], 1),
            &x,
        );
        check_layer(
            "groupnorm",
            &|x| x.group_norm(2, Some(&gw), Some(&gb), 1e-5, false),
            &x,
        );
        check_layer("silu", &|x| x.silu(), &x);
        check_layer(
            "nearest upsample + crop",
            &|x| {
                x.repeat_interleave_self_int(2, Some(2), None)
                    .repeat_interleave_self_int(2, Some(3), None)
                    .narrow(2, 0, 9)
            },
            &x,
        );
        check_layer("softmax", &|x| x.softmax(-1, Kind::Double), &x);
        let q = Tensor::randn([2, 3, 4], opts);
        check_layer(
            "attention scores",
            &|k| q.transpose(1, 2).matmul(k).softmax(-1, Kind::Double),
            &Tensor::randn([2, 3, 5], opts),
        );
        let lw = Tensor::randn([7, 3], opts);
        check_layer(
            "linear + sin/cos features",
            &|s| Tensor::cat(&[s.sin(), s.cos()], 1).linear::<&Tensor>(&lw.narrow(1, 0, 2), None),
            &d(&[0.1, 0.7], &[2, 1]),
        );
    }

    #[test]
    fn the_tangent_is_differentiable_in_the_parameters() {
        // f(x) = w·x², df/dx·dx = 2·w·x·dx; ∂/∂w of that tangent = 2·x·dx.
        let w = Tensor::from_slice(&[3.0f64]).set_requires_grad(true);
        let x = Tensor::from_slice(&[0.5f64, -2.0]);
        let dx = Tensor::from_slice(&[1.0f64, 0.25]);
        let (_, t) = jvp(|i| &w * &i[0] * &i[0], &[&x], &[Some(&dx)]);
        let t_vals: Vec<f64> = Vec::try_from(&t.detach()).unwrap();
        assert_eq!(t_vals, vec![3.0, -3.0]);
        t.sum(Kind::Double).backward();
        let g = w.grad().double_value(&[0]);
        assert!(
            (g - (2.0 * 0.5 * 1.0 + 2.0 * -2.0 * 0.25)).abs() < 1e-12,
            "{g}"
        );
    }

    #[test]
    fn no_tangent_gives_zero() {
        let x = Tensor::from_slice(&[1.0f64, 2.0]);
        let (y, t) = jvp(|i| i[0].exp(), &[&x], &[None]);
        assert!(y.allclose(&x.exp(), 0.0, 0.0, false));
        assert_eq!(t.abs().sum(Kind::Double).double_value(&[]), 0.0);
    }
}
