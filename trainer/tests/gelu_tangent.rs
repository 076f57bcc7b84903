//! The fused tanh-GELU tangent against the composed formula it replaced
//! (`g * activation_derivative(GeluTanh, x)`, ordinary differentiable tensor ops).

use flowmap::schema::Activation;
use flowmap_train::gelu_tangent::{
    gelu_tanh_and_tangent, gelu_tanh_tangent, second_derivative_times,
};
use flowmap_train::net::activation_derivative;
use tch::{Device, Kind, Tensor};

/// The composed formula: g·gelu'(x) from tensor ops, differentiated by autograd.
fn composed(x: &Tensor, g: &Tensor) -> Tensor {
    g * activation_derivative(Activation::GeluTanh, x)
}

/// (value, ∂/∂x, ∂/∂g) of Σ upstream·f(x, g).
fn value_and_grads(
    f: impl Fn(&Tensor, &Tensor) -> Tensor,
    x: &Tensor,
    g: &Tensor,
    upstream: &Tensor,
) -> (Tensor, Tensor, Tensor) {
    let x = x.detach().set_requires_grad(true);
    let g = g.detach().set_requires_grad(true);
    let out = f(&x, &g);
    (&out * upstream).sum(out.kind()).backward();
    (out.detach(), x.grad(), g.grad())
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    (a - b).abs().max().double_value(&[]) / scale
}

/// The fused tangent and both its gradients equal the composed formula's: to f32 rounding in
/// f32, to f64 rounding in f64. x spans both tails (σ = 2.5); 2048×64 elements are enough for
/// the threaded loops when libtorch runs more than one thread.
#[test]
fn fused_tangent_matches_composed_formula() {
    for (kind, tol) in [(Kind::Float, 2e-6), (Kind::Double, 1e-13)] {
        tch::manual_seed(11);
        let opts = (kind, Device::Cpu);
        let x = Tensor::randn([2048, 64], opts) * 2.5;
        let g = Tensor::randn([2048, 64], opts);
        let up = Tensor::randn([2048, 64], opts);
        let fused = value_and_grads(gelu_tanh_tangent, &x, &g, &up);
        let reference = value_and_grads(composed, &x, &g, &up);
        for (name, a, b) in [
            ("value", &fused.0, &reference.0),
            ("d/dx", &fused.1, &reference.1),
            ("d/dg", &fused.2, &reference.2),
        ] {
            let err = rel_err(a, b);
            assert!(err < tol, "{kind:?} {name}: relative error {err}");
        }
    }
}

/// gelu'' from the CPU loops against f64 central differences of the composed gelu'.
#[test]
fn second_derivative_matches_central_differences() {
    let x = Tensor::linspace(-6.0, 6.0, 241, (Kind::Double, Device::Cpu)) + 0.013;
    let h = 1e-6;
    let d = |x: &Tensor| activation_derivative(Activation::GeluTanh, x);
    let fd = (d(&(&x + h)) - d(&(&x - h))) / (2.0 * h);
    let exact = second_derivative_times(&x, &Tensor::ones_like(&x));
    let err = (exact - fd).abs().max().double_value(&[]);
    assert!(err < 1e-8, "gelu'' off by {err}");
}

/// The activation and its tangent from one set of loops, against libtorch's gelu and the
/// composed tangent: both values and the gradients of a mix of the two in x and g, in f32 and
/// f64, contiguous (the loops) and transposed (the tensor-op fallback).
#[test]
fn activation_with_tangent_matches_composed_formula() {
    for (kind, tol) in [(Kind::Float, 2e-6), (Kind::Double, 1e-13)] {
        tch::manual_seed(12);
        let opts = (kind, Device::Cpu);
        let x = Tensor::randn([2048, 64], opts) * 2.5;
        let g = Tensor::randn([2048, 64], opts);
        let (up_a, up_t) = (
            Tensor::randn([2048, 64], opts),
            Tensor::randn([2048, 64], opts),
        );
        let run = |f: &dyn Fn(&Tensor, &Tensor) -> (Tensor, Tensor), x: &Tensor, g: &Tensor| {
            let x = x.detach().set_requires_grad(true);
            let g = g.detach().set_requires_grad(true);
            let (a, t) = f(&x, &g);
            ((&a * &up_a).sum(kind) + (&t * &up_t).sum(kind)).backward();
            [a.detach(), t.detach(), x.grad(), g.grad()]
        };
        let reference = run(&|x, g| (x.gelu("tanh"), composed(x, g)), &x, &g);
        let g_transposed = g.tr().contiguous().tr();
        for (layout, g) in [("contiguous", &g), ("transposed", &g_transposed)] {
            let fused = run(&gelu_tanh_and_tangent, &x, g);
            for (name, a, b) in ["gelu", "tangent", "d/dx", "d/dg"]
                .iter()
                .zip(fused.iter().zip(&reference))
                .map(|(n, (a, b))| (n, a, b))
            {
                let err = rel_err(a, b);
                assert!(err < tol, "{kind:?} {layout} {name}: relative error {err}");
            }
        }
    }
}

/// Without a gradient to carry the pair is the plain values, and nothing requires grad.
#[test]
fn activation_with_tangent_needs_no_graph() {
    let x = Tensor::randn([64, 64], (Kind::Float, Device::Cpu));
    let g = Tensor::randn([64, 64], (Kind::Float, Device::Cpu));
    let (a, t) = gelu_tanh_and_tangent(&x, &g);
    assert!(!a.requires_grad() && !t.requires_grad());
    assert!(rel_err(&a, &x.gelu("tanh")) < 2e-6);
    assert!(rel_err(&t, &x.gelu_backward(&g, "tanh")) < 2e-6);
}
