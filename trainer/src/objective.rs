//! The training objectives of the paper (§2): the diagonal flow-matching term shared by all
//! methods, plus one off-diagonal self-distillation term — Lagrangian (LSD), Eulerian (ESD) or
//! progressive (PSD, uniform or midpoint). With a frozen teacher velocity b̂ the same terms
//! become teacher distillation (LMD / EMD / progressive with a b̂-regressed diagonal).

use crate::flownet::FlowNet;
use crate::interpolant;
use crate::net::Tangent;
use flowmap::schema::Interpolant;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Which off-diagonal term trains the map (the diagonal term is always present).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Flow matching only: learns the velocity b_t = v_{t,t}; the baseline.
    Fm,
    /// Lagrangian self-distillation: ∂_t X_{s,t}(I_s) = b_t(X_{s,t}(I_s)). The paper's best.
    Lsd,
    /// Eulerian self-distillation: ∂_s X_{s,t}(I_s) + ∇X_{s,t}(I_s)·b_s(I_s) = 0.
    Esd,
    /// Progressive self-distillation, u = h·s + (1−h)·t with h ~ U[0,1].
    PsdUniform,
    /// Progressive self-distillation at the midpoint u = (s+t)/2 (shortcut models).
    PsdMidpoint,
}

impl Method {
    /// The name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Fm => "fm",
            Method::Lsd => "lsd",
            Method::Esd => "esd",
            Method::PsdUniform => "psd-uniform",
            Method::PsdMidpoint => "psd-midpoint",
        }
    }

    /// Every method, in the order the help lists them.
    pub const ALL: [Method; 5] = [
        Method::Fm,
        Method::Lsd,
        Method::Esd,
        Method::PsdUniform,
        Method::PsdMidpoint,
    ];

    /// The method called `name` ([`Method::name`]).
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The released stop-gradient placement for this method (paper §2.3–2.5).
    pub fn default_stopgrad(self) -> StopGrad {
        match self {
            Method::Esd => StopGrad::Full,
            _ => StopGrad::Convex,
        }
    }
}

/// Where the off-diagonal term stops gradients (paper §2.3–2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopGrad {
    /// No stop-gradient: pure residual minimisation.
    None,
    /// The teacher (velocity, or PSD's two short steps) is detached — LSD/PSD's default.
    Convex,
    /// ESD only: the whole advective term ∇X·b is detached — ESD's default.
    Full,
}

impl StopGrad {
    /// Every placement.
    pub const ALL: [StopGrad; 3] = [StopGrad::None, StopGrad::Convex, StopGrad::Full];

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            StopGrad::None => "none",
            StopGrad::Convex => "convex",
            StopGrad::Full => "full",
        }
    }

    /// The placement called `name` ([`StopGrad::name`]).
    pub fn from_name(name: &str) -> Option<StopGrad> {
        StopGrad::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Times of one batch. Rows 0..B_d are diagonal (s = t), the rest off-diagonal.
pub struct TimeBatch {
    /// Number of diagonal rows B_d.
    pub n_diag: i64,
    /// Diagonal times, [B_d, 1], t ~ U[0,1].
    pub t_diag: Tensor,
    /// Off-diagonal (s, t), [B_o, 1] each, uniform on the triangle 0 ≤ s ≤ t ≤ 1.
    pub s_off: Tensor,
    /// See `s_off`.
    pub t_off: Tensor,
    /// PSD's h, [B_o, 1]: U[0,1] (uniform) or ½ (midpoint).
    pub h_off: Tensor,
}

/// Number of diagonal rows: max(1, ⌊B·fraction⌋), everything for flow matching.
pub fn diagonal_rows(batch: i64, fraction: f64, method: Method) -> i64 {
    if method == Method::Fm {
        return batch;
    }
    ((batch as f64 * fraction).floor() as i64).clamp(1, batch)
}

/// The step counts whose grid times k/N a grid-started row may start from (see
/// [`sample_times`]): the N of the one-, two- and four-step samplers people use.
pub const GRID_STEP_COUNTS: [i64; 3] = [1, 2, 4];

/// Draws the times of a batch with torch's generator (paper §2.6).
///
/// Off-diagonal rows are uniform on the triangle 0 ≤ s ≤ t ≤ 1, except a fraction
/// `grid_start` of them (0 = the paper's sampling, and the same random draws) whose start s is a
/// time the N-step sampler starts a step from: N drawn from [`GRID_STEP_COUNTS`], s = k/N with k
/// uniform in 0..N, and t uniform on (s, 1]. An N-step sample evaluates X_{k/N,(k+1)/N} only,
/// and the Lagrangian loss at (s, t) trains ∂_t X_{s,t}; these rows put more of the batch on the
/// maps the samplers use (s = 0, the one-step map's start, gets 7/12 of them).
pub fn sample_times(
    batch: i64,
    diag_fraction: f64,
    grid_start: f64,
    method: Method,
    device: Device,
) -> TimeBatch {
    let opts = (Kind::Float, device);
    let n_diag = diagonal_rows(batch, diag_fraction, method);
    let n_off = batch - n_diag;
    let t_diag = Tensor::rand([n_diag, 1], opts);
    let a = Tensor::rand([n_off, 1], opts);
    let b = Tensor::rand([n_off, 1], opts);
    let h_off = match method {
        Method::PsdMidpoint => Tensor::full([n_off, 1], 0.5, opts),
        _ => Tensor::rand([n_off, 1], opts),
    };
    let mut s_off = a.minimum(&b);
    let mut t_off = a.maximum(&b);
    let n_grid = grid_rows(n_off, grid_start);
    if n_grid > 0 {
        let (s_grid, t_grid) = grid_start_times(n_grid, device);
        s_off = Tensor::cat(&[s_grid, s_off.narrow(0, n_grid, n_off - n_grid)], 0);
        t_off = Tensor::cat(&[t_grid, t_off.narrow(0, n_grid, n_off - n_grid)], 0);
    }
    TimeBatch {
        n_diag,
        t_diag,
        s_off,
        t_off,
        h_off,
    }
}

/// Off-diagonal rows that start on a sampler's grid: n_off·fraction, rounded to the nearest
/// row (a fraction of 1 takes every row, 0 none).
pub fn grid_rows(n_off: i64, fraction: f64) -> i64 {
    ((n_off as f64 * fraction).round() as i64).clamp(0, n_off)
}

/// `n` grid-started (s, t) pairs, [n, 1] each: N uniform over [`GRID_STEP_COUNTS`], s = k/N
/// with k uniform in 0..N, t = s + u·(1 − s) with u uniform in (0, 1].
fn grid_start_times(n: i64, device: Device) -> (Tensor, Tensor) {
    let opts = (Kind::Float, device);
    let counts = Tensor::from_slice(&GRID_STEP_COUNTS.map(|c| c as f32)).to_device(device);
    let which = Tensor::randint(GRID_STEP_COUNTS.len() as i64, [n, 1], (Kind::Int64, device));
    let steps = counts.index_select(0, &which.view([-1])).view([n, 1]);
    // k = ⌊v·N⌋ for v uniform in [0, 1): uniform in 0..N (clamped against rounding to N).
    let k = (Tensor::rand([n, 1], opts) * &steps)
        .floor()
        .minimum(&(&steps - 1.0));
    let s = k / steps;
    // 1 − U[0,1) is in (0, 1], so t > s.
    let u = 1.0 - Tensor::rand([n, 1], opts);
    let t = &s + u * (1.0 - &s);
    (s, t)
}

/// Everything the loss needs besides the network.
pub struct LossConfig {
    /// Objective.
    pub method: Method,
    /// Stop-gradient placement.
    pub stopgrad: StopGrad,
    /// The interpolant.
    pub interpolant: Interpolant,
    /// Fraction of diagonal rows (0.75 in the paper).
    pub diag_fraction: f64,
    /// The per-sample loss weight.
    pub loss_weight: LossWeight,
    /// LSD: the teacher velocity's rows capped at this many times their median norm
    /// ([`cap_rows`]); 0 = off.
    pub teacher_cap: f64,
}

/// How each sample's error is weighted (paper.md §2.1).
///
/// The default is the constant weight for every network. The paper's image runs learn w(s,t),
/// but on our (GroupNorm, not magnitude-preserving) U-Net that made LSD and PSD-M diverge on
/// Fashion-MNIST: the raw diagonal error rose from ≈ 500 to 10⁴ within 900 steps and the 1-step
/// sliced W2 from 0.27 to 4.0 (noise: ≈ 0.6), while the off-diagonal errors, small, took the
/// weight (exp(−w) ≈ 1/err) and with it the clipped gradient. With the constant weight the
/// same LSD run fell steadily (diagonal error 316 → 112, 1-step sliced W2 0.27 → 0.16 by
/// step 400), as flow matching does either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossWeight {
    /// exp(−w(s,t))·err + w(s,t) with the network's learned w (the paper's image runs; our
    /// MLPs get the same head). Networks without a weight head fall back to the constant.
    Learned,
    /// e^{−1}·err + 1 for every sample (the paper's MLP runs).
    #[default]
    Constant,
}

impl LossWeight {
    /// `learned` or `constant`.
    pub fn name(self) -> &'static str {
        match self {
            LossWeight::Learned => "learned",
            LossWeight::Constant => "constant",
        }
    }
}

/// The loss of one batch and its raw parts (for logging; detached).
pub struct LossOutput {
    /// (B_d·mean ℓ_diag + B_o·mean ℓ_off)/B, with ℓ = e^{−w}·err + w (w = 1, or learned).
    pub loss: Tensor,
    /// Mean raw diagonal error (sum over dimensions), detached.
    pub diag_err: Tensor,
    /// Mean raw off-diagonal error, detached (0 for flow matching).
    pub off_err: Tensor,
}

/// The paper's per-sample weighting exp(−w)·err + w (§2.1): the constant w = 1 its MLP uses,
/// or a learned w(s, t) per row.
fn weighted(err: &Tensor, w: Option<Tensor>) -> Tensor {
    match w {
        None => err * (-1.0f64).exp() + 1.0,
        Some(w) => err * (-&w).exp() + w,
    }
}

/// Each row of `b` ([B, d]) whose norm exceeds `k` times the median row norm, scaled down to
/// that norm (direction kept); the others unchanged. The scale is computed without gradient
/// (a capped row still passes gradient through `b` itself, scaled).
///
/// Why: in the one LSD divergence studied (`arcs`, 8000 steps), single off-diagonal rows whose
/// teacher velocity b_t(X) was 4–31× the batch's typical norm, at ordinary positions, made
/// the residual spike and then run away within 20 steps; a lower gradient clip did not stop it,
/// this cap (k = 5) did (docs/training.md, "When a run diverges").
pub fn cap_rows(b: &Tensor, k: f64) -> Tensor {
    let scale = tch::no_grad(|| {
        let norm = b.square().sum_dim_intlist(1, true, Kind::Float).sqrt();
        let cap = norm.median() * k;
        // Rows at or under the cap (zero rows among them) keep scale 1; their quotient,
        // possibly 0/0, is discarded.
        (&cap / &norm).where_self(&norm.gt_tensor(&cap), &norm.ones_like())
    });
    b * scale
}

/// Per-sample squared error summed over dimensions, [B].
fn sq_err(a: &Tensor, b: &Tensor) -> Tensor {
    (a - b).square().sum_dim_intlist(1, false, Kind::Float)
}

/// The velocity the off-diagonal terms distil from: the network's own diagonal under
/// stop-gradient (self-distillation), or a frozen pretrained model (teacher distillation).
pub enum Teacher<'a> {
    /// v_{t,t} of the current parameters, detached.
    SelfDistill,
    /// A frozen flow-matching model's velocity b̂_t.
    Frozen(&'a dyn FlowNet),
}

/// Computes the loss for data `x1` ([B, d], normalised) and base noise `x0` ([B, d], already
/// scaled by σ), with times `tb`.
pub fn loss(
    net: &dyn FlowNet,
    teacher: &Teacher,
    cfg: &LossConfig,
    x0: &Tensor,
    x1: &Tensor,
    tb: &TimeBatch,
) -> LossOutput {
    let batch = x1.size()[0];
    let nd = tb.n_diag;
    let no = batch - nd;
    let teacher_velocity = |t: &Tensor, x: &Tensor| -> Tensor {
        tch::no_grad(|| match teacher {
            Teacher::SelfDistill => net.velocity(t, t, x),
            Teacher::Frozen(b) => b.velocity(t, t, x),
        })
    };

    // Diagonal term: v_{t,t}(I_t) regresses İ_t (or b̂_t(I_t) when a teacher is given).
    let (x0d, x1d) = (x0.narrow(0, 0, nd), x1.narrow(0, 0, nd));
    let (it, it_dot) = interpolant::point_and_velocity(cfg.interpolant, &tb.t_diag, &x0d, &x1d);
    let target = match teacher {
        Teacher::SelfDistill => it_dot,
        Teacher::Frozen(_) => teacher_velocity(&tb.t_diag, &it),
    };
    let err_diag = sq_err(&net.velocity(&tb.t_diag, &tb.t_diag, &it), &target);
    let loss_weight = |s: &Tensor, t: &Tensor| match cfg.loss_weight {
        LossWeight::Learned => net.loss_weight(s, t),
        LossWeight::Constant => None,
    };
    let mut total = weighted(&err_diag, loss_weight(&tb.t_diag, &tb.t_diag)).mean(Kind::Float)
        * (nd as f64 / batch as f64);
    let diag_err = err_diag.mean(Kind::Float).detach();
    if no == 0 {
        let off_err = Tensor::zeros([], (Kind::Float, x1.device()));
        return LossOutput {
            loss: total,
            diag_err,
            off_err,
        };
    }

    let (x0o, x1o) = (x0.narrow(0, nd, no), x1.narrow(0, nd, no));
    let (s, t) = (&tb.s_off, &tb.t_off);
    let is = interpolant::point(cfg.interpolant, s, &x0o, &x1o);
    let one = Tensor::ones([1, 1], (Kind::Float, x1.device()));
    let err_off = match cfg.method {
        Method::Fm => unreachable!("flow matching has no off-diagonal rows"),
        Method::Lsd => {
            // ∂_t X_{s,t}(I_s) = v + (t−s)·∂_t v, matched to b_t(X) at the detached point X.
            let (v, dv) = net.velocity_jvp(
                s,
                t,
                &is,
                &Tangent {
                    dt: Some(&one),
                    ..Default::default()
                },
            );
            let x = &is + (t - s) * &v;
            let dxdt = &v + (t - s) * dv;
            let b = match (cfg.stopgrad, teacher) {
                (StopGrad::None, Teacher::SelfDistill) => net.velocity(t, t, &x),
                _ => teacher_velocity(t, &x.detach()),
            };
            let b = if cfg.teacher_cap > 0.0 {
                cap_rows(&b, cfg.teacher_cap)
            } else {
                b
            };
            sq_err(&dxdt, &b)
        }
        Method::Esd => {
            // ∂_s X_{s,t}(I_s) = −v + (t−s)·∂_s v; advective term ∇X·b = b + (t−s)·(∇v·b).
            let (v, dv) = net.velocity_jvp(
                s,
                t,
                &is,
                &Tangent {
                    ds: Some(&one),
                    ..Default::default()
                },
            );
            let dxds = -&v + (t - s) * dv;
            let b = match (cfg.stopgrad, teacher) {
                (StopGrad::None, Teacher::SelfDistill) => net.velocity(s, s, &is),
                _ => teacher_velocity(s, &is),
            };
            let advect = |b: &Tensor| {
                let (_, dvb) = net.velocity_jvp(
                    s,
                    t,
                    &is,
                    &Tangent {
                        dz: Some(b),
                        ..Default::default()
                    },
                );
                b + (t - s) * dvb
            };
            let adv = match cfg.stopgrad {
                StopGrad::Full => tch::no_grad(|| advect(&b)),
                _ => advect(&b),
            };
            sq_err(&dxds, &adv.neg())
        }
        Method::PsdUniform | Method::PsdMidpoint => {
            // v_{s,t}(I_s) ≈ (1−h)·v_{s,u}(I_s) + h·v_{u,t}(X_{s,u}(I_s)), u = h·s + (1−h)·t.
            let h = &tb.h_off;
            let u = h * s + (1.0 - h) * t;
            let student = net.velocity(s, t, &is);
            let two_steps = || {
                let v_su = net.velocity(s, &u, &is);
                let x_su = &is + (&u - s) * &v_su;
                let v_ut = net.velocity(&u, t, &x_su);
                (1.0 - h) * v_su + h * v_ut
            };
            let target = match cfg.stopgrad {
                StopGrad::None => two_steps(),
                _ => tch::no_grad(two_steps),
            };
            sq_err(&student, &target)
        }
    };
    total += weighted(&err_off, loss_weight(s, t)).mean(Kind::Float) * (no as f64 / batch as f64);
    let off_err = err_off.mean(Kind::Float).detach();
    LossOutput {
        loss: total,
        diag_err,
        off_err,
    }
}
