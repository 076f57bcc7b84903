//! The exact tangents behind LSD and ESD against f64 central differences.

use flowmap::schema::Activation;
use flowmap_train::net::{activate, activation_derivative, Mlp, Tangent};
use tch::{Device, Kind, Tensor};

/// Frequencies of the Fourier state embedding the tests use besides the raw state.
const STATE_FREQUENCIES: [f32; 2] = [0.5, 2.0];

fn double_net(act: Activation, dim: usize, state_frequencies: &[f32]) -> Mlp {
    tch::manual_seed(3);
    let net = Mlp::with_state_embedding(dim, &[16, 16], 0.7, act, state_frequencies, Device::Cpu);
    let w = net
        .weights
        .iter()
        .map(|w| w.detach().to_kind(Kind::Double))
        .collect();
    let b = net
        .biases
        .iter()
        .map(|b| b.detach().to_kind(Kind::Double) + 0.1)
        .collect();
    Mlp::from_tensors(w, b, 0.7, act, state_frequencies)
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

const ACTS: [Activation; 4] = [
    Activation::GeluTanh,
    Activation::GeluErf,
    Activation::Silu,
    Activation::Relu,
];

#[test]
fn activation_derivatives_match_central_differences() {
    let x = Tensor::linspace(-4.0, 4.0, 101, (Kind::Double, Device::Cpu)) + 0.013;
    let h = 1e-6;
    for act in ACTS {
        let fd = (activate(act, &(&x + h)) - activate(act, &(&x - h))) / (2.0 * h);
        let err = max_abs(&(activation_derivative(act, &x) - fd));
        assert!(err < 1e-7, "{act:?}: derivative off by {err}");
    }
}

/// dX/dt, dX/ds and ∇_z X·b from the tangent pass, vs central differences of X, with the raw
/// and the Fourier state embedding.
#[test]
fn map_tangents_match_central_differences() {
    let opts = (Kind::Double, Device::Cpu);
    let embeddings: [&[f32]; 2] = [&[], &STATE_FREQUENCIES];
    for (act, freqs) in ACTS
        .into_iter()
        .flat_map(|a| embeddings.into_iter().map(move |f| (a, f)))
    {
        let net = double_net(act, 3, freqs);
        let b = 5;
        let s = Tensor::rand([b, 1], opts) * 0.5;
        let t = &s + Tensor::rand([b, 1], opts) * 0.5;
        let z = Tensor::randn([b, 3], opts);
        let dir = Tensor::randn([b, 3], opts);
        let one = Tensor::ones([1, 1], opts);
        let h = 1e-6;
        let x = |s: &Tensor, t: &Tensor, z: &Tensor| net.map(s, t, z);

        // ∂_t X = v + (t − s)·∂_t v
        let (v, dv) = net.velocity_jvp(
            &s,
            &t,
            &z,
            &Tangent {
                dt: Some(&one),
                ..Default::default()
            },
        );
        let exact = &v + (&t - &s) * dv;
        let fd = (x(&s, &(&t + h), &z) - x(&s, &(&t - h), &z)) / (2.0 * h);
        let tol = if act == Activation::Relu { 1e-5 } else { 1e-7 };
        assert!(max_abs(&(&exact - fd)) < tol, "{act:?} {freqs:?} d/dt");

        // ∂_s X = −v + (t − s)·∂_s v
        let (v, dv) = net.velocity_jvp(
            &s,
            &t,
            &z,
            &Tangent {
                ds: Some(&one),
                ..Default::default()
            },
        );
        let exact = -&v + (&t - &s) * dv;
        let fd = (x(&(&s + h), &t, &z) - x(&(&s - h), &t, &z)) / (2.0 * h);
        assert!(max_abs(&(&exact - fd)) < tol, "{act:?} {freqs:?} d/ds");

        // ∇_z X·dir = dir + (t − s)·∇_z v·dir
        let (_, dv) = net.velocity_jvp(
            &s,
            &t,
            &z,
            &Tangent {
                dz: Some(&dir),
                ..Default::default()
            },
        );
        let exact = &dir + (&t - &s) * dv;
        let fd = (x(&s, &t, &(&z + &dir * h)) - x(&s, &t, &(&z - &dir * h))) / (2.0 * h);
        assert!(max_abs(&(&exact - fd)) < tol, "{act:?} {freqs:?} spatial");
    }
}

/// The tangent is differentiable in θ: the gradient of a loss on ∂_t X matches central
/// differences in one weight (forward-over-reverse works).
#[test]
fn tangent_is_differentiable_in_parameters() {
    let opts = (Kind::Double, Device::Cpu);
    let net = double_net(Activation::GeluTanh, 2, &STATE_FREQUENCIES);
    let s = Tensor::from_slice(&[0.1f64, 0.3]).view([2, 1]);
    let t = Tensor::from_slice(&[0.7f64, 0.9]).view([2, 1]);
    let z = Tensor::randn([2, 2], opts);
    let one = Tensor::ones([1, 1], opts);
    let objective = |net: &Mlp| {
        let (v, dv) = net.velocity_jvp(
            &s,
            &t,
            &z,
            &Tangent {
                dt: Some(&one),
                ..Default::default()
            },
        );
        (&v + (&t - &s) * dv).square().sum(Kind::Double)
    };
    let w = net.weights[1].detach().set_requires_grad(true);
    let mut weights: Vec<Tensor> = net.weights.iter().map(|w| w.shallow_clone()).collect();
    weights[1] = w.shallow_clone();
    let with = |weights: Vec<Tensor>| {
        Mlp::from_tensors(
            weights,
            net.biases.iter().map(|b| b.shallow_clone()).collect(),
            0.7,
            Activation::GeluTanh,
            &STATE_FREQUENCIES,
        )
    };
    objective(&with(weights)).backward();
    let analytic = w.grad().double_value(&[3, 5]);
    let h = 1e-6;
    let bump = |d: f64| {
        let mut ws: Vec<Tensor> = net.weights.iter().map(|w| w.detach().copy()).collect();
        let e = Tensor::zeros_like(&ws[1]);
        let _ = e.get(3).get(5).fill_(d);
        ws[1] = &ws[1] + e;
        objective(&with(ws)).double_value(&[])
    };
    let fd = (bump(h) - bump(-h)) / (2.0 * h);
    assert!(
        (analytic - fd).abs() < 1e-6 * (1.0 + fd.abs()),
        "analytic {analytic} vs fd {fd}"
    );
}
