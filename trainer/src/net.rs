//! The flow-map network v_θ(s, t, z) — the paper's MLP — with exact forward-mode tangents.
//!
//! X_{s,t}(z) = z + (t − s)·v_{s,t}(z), with v_{s,t}(z) = σ·MLP([s, t, φ(z/σ)]) (DESIGN.md §2),
//! φ the state embedding: the identity, or Fourier features of each coordinate
//! ([`StateEmbedding::Fourier`]).
//! LSD and ESD need directional derivatives of X with respect to t, s or z that are themselves
//! differentiable in θ. For an MLP, propagating a tangent alongside the activations is exact and
//! costs one extra matrix product per layer, and because it is built from tensor ops whose
//! derivatives autograd knows, `backward()` differentiates through it (forward-over-reverse;
//! the tanh-GELU's tangent is fused, [`crate::gelu_tangent`]).

use crate::gelu_tangent::{gelu_tanh_and_tangent, gelu_tanh_tangent};
use crate::loss_weight;
use flowmap::schema::{Activation, Architecture, StateEmbedding, TimeEmbedding};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// The tensor names of an MLP model file (file order: layers.0.weight, layers.0.bias, …), from
/// the runtime's schema ([`Architecture::tensors`]).
pub fn mlp_tensor_names(dim: usize, hidden: Vec<usize>, activation: Activation) -> Vec<String> {
    // The names do not depend on the embeddings (only layer 0's width does).
    Architecture::Mlp {
        data_shape: vec![dim],
        hidden,
        activation,
        time_embedding: TimeEmbedding::Raw,
        state_embedding: StateEmbedding::Raw,
    }
    .tensors()
    .into_iter()
    .map(|spec| spec.name)
    .collect()
}

/// Tangent direction of the network inputs (s, t, z). Fields left `None` are zero.
#[derive(Default)]
pub struct Tangent<'a> {
    /// ds, a per-row scalar ([B, 1]) or a broadcastable scalar tensor.
    pub ds: Option<&'a Tensor>,
    /// dt, like `ds`.
    pub dt: Option<&'a Tensor>,
    /// dz, [B, d], in normalised data space.
    pub dz: Option<&'a Tensor>,
}

/// The paper's MLP: Linear → act → … → Linear, weights [out, in] as in the model file.
pub struct Mlp {
    /// `layers.{i}.weight`, shape [out, in].
    pub weights: Vec<Tensor>,
    /// `layers.{i}.bias`, shape [out].
    pub biases: Vec<Tensor>,
    /// Base scale σ: inputs are z/σ, outputs σ·MLP.
    pub sigma: f64,
    /// Hidden-layer activation.
    pub activation: Activation,
    /// Data dimension d.
    pub dim: usize,
    /// State-embedding frequencies f_k (empty: the raw state).
    pub state_frequencies: Vec<f32>,
    /// The learned loss weight's head ([`crate::loss_weight`], at
    /// [`loss_weight::MLP_FREQUENCIES`]); empty when the run weighs every row alike. Trained
    /// and checkpointed, never exported.
    pub loss_weight: BTreeMap<String, Tensor>,
}

impl Mlp {
    /// A freshly initialised network: LeCun-normal weights (truncated normal, variance
    /// 1/fan_in, as Flax's Dense default that the paper used) and zero biases.
    /// Uses torch's global generator, so seed it first.
    pub fn new(
        dim: usize,
        hidden: &[usize],
        sigma: f64,
        activation: Activation,
        device: Device,
    ) -> Mlp {
        Mlp::with_state_embedding(dim, hidden, sigma, activation, &[], device)
    }

    /// [`Mlp::new`] with the state embedded at `state_frequencies` (empty: raw).
    pub fn with_state_embedding(
        dim: usize,
        hidden: &[usize],
        sigma: f64,
        activation: Activation,
        state_frequencies: &[f32],
        device: Device,
    ) -> Mlp {
        let state = state_embedding(state_frequencies);
        let mut widths = vec![2 + state.features(dim)];
        widths.extend_from_slice(hidden);
        widths.push(dim);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in widths.windows(2) {
            let (fan_in, fan_out) = (w[0] as i64, w[1] as i64);
            let std = (1.0 / fan_in as f64).sqrt() / TRUNCATED_NORMAL_STD;
            let weight = truncated_normal(&[fan_out, fan_in], device) * std;
            weights.push(weight.set_requires_grad(true));
            biases.push(Tensor::zeros([fan_out], (Kind::Float, device)).set_requires_grad(true));
        }
        Mlp {
            weights,
            biases,
            sigma,
            activation,
            dim,
            state_frequencies: state_frequencies.to_vec(),
            loss_weight: BTreeMap::new(),
        }
    }

    /// Adds a fresh learned-loss-weight head (w(s, t) = 0 at the start; torch's global
    /// generator).
    pub fn with_loss_weight_head(mut self, device: Device) -> Mlp {
        self.loss_weight = loss_weight::init(loss_weight::MLP_FREQUENCIES.len(), device);
        self
    }

    /// w(s, t) per row, [B], if the network has a loss-weight head.
    pub fn loss_weight(&self, s: &Tensor, t: &Tensor) -> Option<Tensor> {
        (!self.loss_weight.is_empty())
            .then(|| loss_weight::forward(&self.loss_weight, &loss_weight::MLP_FREQUENCIES, s, t))
    }

    /// Builds a network from existing tensors (a checkpoint or a model file) whose layer 0
    /// reads the state embedded at `state_frequencies` (empty: raw).
    pub fn from_tensors(
        weights: Vec<Tensor>,
        biases: Vec<Tensor>,
        sigma: f64,
        activation: Activation,
        state_frequencies: &[f32],
    ) -> Mlp {
        let dim = weights.last().map(|w| w.size()[0] as usize).unwrap_or(0);
        Mlp {
            weights,
            biases,
            sigma,
            activation,
            dim,
            state_frequencies: state_frequencies.to_vec(),
            loss_weight: BTreeMap::new(),
        }
    }

    /// How layer 0 sees the state, as the model file declares it.
    pub fn state_embedding(&self) -> StateEmbedding {
        state_embedding(&self.state_frequencies)
    }

    /// φ(u) for u = z/σ: [B, d] → [B, (1 + 2K)·d], as the runtime computes it
    /// (`[u, sin(w_k u)…, cos(w_k u)…]`, w_k = 2π·f_k rounded to f32 first).
    fn embed_state(&self, u: &Tensor) -> Tensor {
        if self.state_frequencies.is_empty() {
            return u.shallow_clone();
        }
        let a = u.unsqueeze(1) * self.angular_frequencies(u);
        let rows = u.size()[0];
        Tensor::cat(
            &[
                u,
                &a.sin().reshape([rows, -1]),
                &a.cos().reshape([rows, -1]),
            ],
            1,
        )
    }

    /// The tangent of [`Mlp::embed_state`] at u along du.
    fn embed_state_tangent(&self, u: &Tensor, du: &Tensor) -> Tensor {
        if self.state_frequencies.is_empty() {
            return du.shallow_clone();
        }
        let w = self.angular_frequencies(u);
        let a = u.unsqueeze(1) * &w;
        let wdu = du.unsqueeze(1) * &w;
        let rows = u.size()[0];
        Tensor::cat(
            &[
                du,
                &(a.cos() * &wdu).reshape([rows, -1]),
                &(-a.sin() * wdu).reshape([rows, -1]),
            ],
            1,
        )
    }

    /// w_k = 2π·f_k (computed in f32, as the runtime does), shaped [1, K, 1] on u's device.
    fn angular_frequencies(&self, u: &Tensor) -> Tensor {
        let w: Vec<f32> = self
            .state_frequencies
            .iter()
            .map(|f| std::f32::consts::TAU * f)
            .collect();
        Tensor::from_slice(&w)
            .to_device(u.device())
            .view([1, -1, 1])
    }

    /// Hidden-layer widths.
    pub fn hidden(&self) -> Vec<usize> {
        self.weights[..self.weights.len() - 1]
            .iter()
            .map(|w| w.size()[0] as usize)
            .collect()
    }

    /// All parameters in file order: layers.0.weight, layers.0.bias, layers.1.weight, ...
    pub fn parameters(&self) -> Vec<&Tensor> {
        self.weights
            .iter()
            .zip(&self.biases)
            .flat_map(|(w, b)| [w, b])
            .collect()
    }

    /// Parameter names matching [`Mlp::parameters`]: the model-file tensor names, as the
    /// runtime's schema derives them (one place spells the format).
    pub fn parameter_names(&self) -> Vec<String> {
        mlp_tensor_names(self.dim, self.hidden(), self.activation)
    }

    /// (name, parameter) pairs in file order, then the loss-weight head's (if any).
    pub fn named_parameters(&self) -> Vec<(String, &Tensor)> {
        self.parameter_names()
            .into_iter()
            .zip(self.parameters())
            .chain(self.loss_weight.iter().map(|(n, p)| (n.clone(), p)))
            .collect()
    }

    /// Overwrites this network's weights with `other`'s (a warm start from a model file). The
    /// two must compute the same kind of function: dimension, widths, activation, state
    /// embedding and σ. The learned loss weight's head, which model files do not hold, keeps
    /// its own initialisation.
    pub fn copy_weights_from(&self, other: &Mlp) -> Result<(), String> {
        let what = |name: &str, mine: String, theirs: String| {
            format!("the file's {name}: {theirs}; the run's: {mine}")
        };
        if self.dim != other.dim {
            return Err(what(
                "dimension",
                self.dim.to_string(),
                other.dim.to_string(),
            ));
        }
        if self.hidden() != other.hidden() {
            return Err(what(
                "hidden widths (--hidden)",
                format!("{:?}", self.hidden()),
                format!("{:?}", other.hidden()),
            ));
        }
        if self.activation != other.activation {
            return Err(what(
                "activation (--activation)",
                format!("{:?}", self.activation),
                format!("{:?}", other.activation),
            ));
        }
        if self.state_frequencies != other.state_frequencies {
            return Err(what(
                "state embedding (--state-frequencies)",
                format!("{:?}", self.state_frequencies),
                format!("{:?}", other.state_frequencies),
            ));
        }
        if self.sigma != other.sigma {
            return Err(what(
                "σ (--sigma)",
                self.sigma.to_string(),
                other.sigma.to_string(),
            ));
        }
        tch::no_grad(|| {
            for (mine, theirs) in self.parameters().into_iter().zip(other.parameters()) {
                mine.shallow_clone().copy_(theirs);
            }
        });
        Ok(())
    }

    /// A copy of the network detached from autograd (for EMA copies and teachers).
    pub fn detached_copy(&self) -> Mlp {
        Mlp {
            weights: self.weights.iter().map(|w| w.detach().copy()).collect(),
            biases: self.biases.iter().map(|b| b.detach().copy()).collect(),
            sigma: self.sigma,
            activation: self.activation,
            dim: self.dim,
            state_frequencies: self.state_frequencies.clone(),
            loss_weight: BTreeMap::new(),
        }
    }

    /// v_{s,t}(z) for s, t: [B, 1] and z: [B, d].
    pub fn velocity(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        let mut h = Tensor::cat(&[s, t, &self.embed_state(&(z / self.sigma))], 1);
        let last = self.weights.len() - 1;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.linear(w, Some(b));
            if i < last {
                h = activate(self.activation, &h);
            }
        }
        h * self.sigma
    }

    /// The flow map X_{s,t}(z) = z + (t − s)·v_{s,t}(z).
    pub fn map(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        z + (t - s) * self.velocity(s, t, z)
    }

    /// v_{s,t}(z) and its directional derivative along `tangent`, both differentiable in θ.
    pub fn velocity_jvp(
        &self,
        s: &Tensor,
        t: &Tensor,
        z: &Tensor,
        tangent: &Tangent,
    ) -> (Tensor, Tensor) {
        let u = z / self.sigma;
        let mut h = Tensor::cat(&[s, t, &self.embed_state(&u)], 1);
        let zeros_col = || Tensor::zeros_like(s);
        let dz = match tangent.dz {
            Some(dz) => self.embed_state_tangent(&u, &(dz / self.sigma)),
            // No state tangent: φ's tangent is zero too.
            None => Tensor::zeros_like(&h).narrow(1, 2, h.size()[1] - 2),
        };
        let ds = tangent.ds.map(|d| d.expand_as(s)).unwrap_or_else(zeros_col);
        let dt = tangent.dt.map(|d| d.expand_as(t)).unwrap_or_else(zeros_col);
        let mut dh = Tensor::cat(&[&ds, &dt, &dz], 1);
        let last = self.weights.len() - 1;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.linear(w, Some(b));
            dh = dh.linear::<&Tensor>(w, None);
            if i < last {
                (h, dh) = activate_with_tangent(self.activation, &h, &dh);
            }
        }
        (h * self.sigma, dh * self.sigma)
    }

    /// Moves all parameters to `device` (keeping requires_grad).
    pub fn to_device(&self, device: Device) -> Mlp {
        let mv = |x: &Tensor| {
            let r = x.detach().to_device(device);
            r.set_requires_grad(x.requires_grad())
        };
        Mlp {
            weights: self.weights.iter().map(mv).collect(),
            biases: self.biases.iter().map(mv).collect(),
            sigma: self.sigma,
            activation: self.activation,
            dim: self.dim,
            state_frequencies: self.state_frequencies.clone(),
            loss_weight: self
                .loss_weight
                .iter()
                .map(|(n, p)| (n.clone(), mv(p)))
                .collect(),
        }
    }
}

/// The model-file form of a state embedding at `frequencies` (empty: raw).
pub fn state_embedding(frequencies: &[f32]) -> StateEmbedding {
    if frequencies.is_empty() {
        StateEmbedding::Raw
    } else {
        StateEmbedding::Fourier {
            frequencies: frequencies.to_vec(),
        }
    }
}

/// Standard deviation of a unit normal truncated to [−2, 2]; dividing by it gives the
/// truncated draw the intended variance (as Flax's variance-scaling initialisers do).
const TRUNCATED_NORMAL_STD: f64 = 0.879_625_661_034_239_8;

/// Standard normal samples truncated to [−2, 2] by redrawing the rejects.
fn truncated_normal(shape: &[i64], device: Device) -> Tensor {
    let mut x = Tensor::randn(shape, (Kind::Float, device));
    for _ in 0..64 {
        let bad = x.abs().gt(2.0);
        if bad.any().int64_value(&[]) == 0 {
            break;
        }
        let fresh = Tensor::randn(shape, (Kind::Float, device));
        x = x.where_self(&bad.logical_not(), &fresh);
    }
    x.clamp(-2.0, 2.0)
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_CUBIC: f64 = 0.044_715;

/// The hidden-layer activation.
pub fn activate(act: Activation, x: &Tensor) -> Tensor {
    match act {
        Activation::GeluTanh => x.gelu("tanh"),
        Activation::GeluErf => x.gelu("none"),
        Activation::Silu => x.silu(),
        Activation::Relu => x.relu(),
    }
}

/// The tangent of [`activate`] at `x` along `dx`, act'(x)·dx, differentiable in both (first
/// order). The tanh-GELU, the paper's and the default activation, takes the fused path of
/// [`gelu_tanh_tangent`]; the others multiply by [`activation_derivative`].
pub fn activation_tangent(act: Activation, x: &Tensor, dx: &Tensor) -> Tensor {
    match act {
        Activation::GeluTanh => gelu_tanh_tangent(x, dx),
        _ => dx * activation_derivative(act, x),
    }
}

/// ([`activate`], [`activation_tangent`]) at `x` along `dx`: the tanh-GELU computes both from
/// one tanh per element ([`gelu_tanh_and_tangent`]).
pub fn activate_with_tangent(act: Activation, x: &Tensor, dx: &Tensor) -> (Tensor, Tensor) {
    match act {
        Activation::GeluTanh => gelu_tanh_and_tangent(x, dx),
        _ => (activate(act, x), activation_tangent(act, x, dx)),
    }
}

/// The derivative of [`activate`] at `x`, written with differentiable ops.
pub fn activation_derivative(act: Activation, x: &Tensor) -> Tensor {
    match act {
        Activation::GeluTanh => {
            // d/dx ½x(1 + tanh k), k = c(x + 0.044715x³)
            let x2 = x * x;
            let k = (x + x * &x2 * GELU_CUBIC) * SQRT_2_OVER_PI;
            let th = k.tanh();
            let dk = (x2 * (3.0 * GELU_CUBIC) + 1.0) * SQRT_2_OVER_PI;
            (&th + 1.0) * 0.5 + x * 0.5 * (1.0 - &th * &th) * dk
        }
        Activation::GeluErf => {
            // Φ(x) + x·φ(x)
            let cdf = ((x * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
            let pdf = (x * x * -0.5).exp()
                * (0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
            cdf + x * pdf
        }
        Activation::Silu => {
            let sg = x.sigmoid();
            &sg * (x * (1.0 - &sg) + 1.0)
        }
        Activation::Relu => x.gt(0.0).to_kind(x.kind()),
    }
}
