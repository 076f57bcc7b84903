//! Optimisation: RAdam, global-norm clipping, the paper's learning-rate schedule and EMA.
//!
//! libtorch ships no RAdam, so it is written here (Liu et al. 2020, in the form optax uses:
//! ρ threshold 5, ε added outside the square root).

use std::collections::BTreeMap;
use tch::Tensor;

/// lr(step) = lr0 / √max(step / decay_steps, 1): constant, then 1/√step decay (the paper's
/// schedule, Boffi et al. 2025, released configs).
pub fn learning_rate(lr0: f64, step: u64, decay_steps: u64) -> f64 {
    let ratio = step as f64 / decay_steps.max(1) as f64;
    lr0 / ratio.max(1.0).sqrt()
}

/// The shape of the learning rate over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The paper's: constant, then 1/√step after `lr_decay_steps`.
    InvSqrt,
    /// Linear warm-up over `lr_warmup` steps, then a half cosine from lr0 down to
    /// `lr_final`·lr0 at the last step.
    Cosine,
}

impl std::str::FromStr for LrSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inv-sqrt" => Ok(LrSchedule::InvSqrt),
            "cosine" => Ok(LrSchedule::Cosine),
            _ => Err(format!("unknown schedule '{s}': use cosine or inv-sqrt")),
        }
    }
}

/// lr(step) for a run of `total` steps: warm-up (cosine only), then the schedule's decay.
pub fn scheduled_lr(
    schedule: LrSchedule,
    lr0: f64,
    step: u64,
    total: u64,
    decay_steps: u64,
    warmup: u64,
    final_fraction: f64,
) -> f64 {
    match schedule {
        LrSchedule::InvSqrt => learning_rate(lr0, step, decay_steps),
        LrSchedule::Cosine => {
            if step < warmup {
                return lr0 * (step + 1) as f64 / warmup as f64;
            }
            let span = total.saturating_sub(warmup).max(1) as f64;
            let progress = ((step - warmup) as f64 / span).min(1.0);
            let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            lr0 * (final_fraction + (1.0 - final_fraction) * cos)
        }
    }
}

/// Scales `grads` in place so their global L2 norm is at most `max_norm`; returns the norm
/// before clipping (g ← g·max_norm/max(‖g‖, max_norm)).
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> f64 {
    let total: f64 = tch::no_grad(|| {
        grads
            .iter()
            .map(|g| g.square().sum(tch::Kind::Double).double_value(&[]))
            .sum::<f64>()
    });
    let norm = total.sqrt();
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / norm;
        tch::no_grad(|| {
            for g in grads.iter_mut() {
                let _ = g.g_mul_scalar_(scale);
            }
        });
    }
    norm
}

/// Rectified Adam that owns (handles to) the parameters it updates, as candle's `Optimizer`
/// and tch's `nn::Optimizer` do: [`RAdam::backward_step`] is the whole update of the paper's
/// algorithm box (g ← ∇θ L, clip, θ ← RAdam(θ, g, lr)).
///
/// The handles share storage with the network's tensors, so updating them in place updates
/// the network.
pub struct RAdam {
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// ε added to √v̂.
    pub eps: f64,
    /// Steps taken so far.
    pub count: u64,
    /// First moments, one per parameter.
    pub m: Vec<Tensor>,
    /// Second moments, one per parameter.
    pub v: Vec<Tensor>,
    /// The parameters (shallow handles: same storage as the network's).
    params: Vec<Tensor>,
}

/// A gradient with a NaN or infinite norm: the step was not taken.
#[derive(Debug, Clone, Copy)]
pub struct NonFiniteGradient(pub f64);

/// RAdam switches from momentum SGD to the rectified adaptive step once ρ_t exceeds this.
const RHO_THRESHOLD: f64 = 5.0;

impl RAdam {
    /// Zero moments shaped like `params`, with the paper's β1 = 0.9, β2 = 0.999, ε = 1e-8. The
    /// optimiser keeps handles to `params` and updates them in place.
    pub fn new(params: &[&Tensor]) -> RAdam {
        RAdam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            count: 0,
            m: params.iter().map(|p| p.detach().zeros_like()).collect(),
            v: params.iter().map(|p| p.detach().zeros_like()).collect(),
            params: params.iter().map(|p| p.shallow_clone()).collect(),
        }
    }

    /// g ← ∇θ `loss`; g clipped to global norm `clip`; θ ← θ − lr·u(g). Returns the gradient
    /// norm before clipping; a non-finite norm leaves every parameter and moment untouched.
    pub fn backward_step(
        &mut self,
        loss: &Tensor,
        clip: f64,
        lr: f64,
    ) -> Result<f64, NonFiniteGradient> {
        for p in &mut self.params {
            p.zero_grad();
        }
        loss.backward();
        // A parameter the loss does not reach (the loss-weight head under a constant weight)
        // has no gradient at all: it takes a zero one, so its moments decay and it stays put.
        let mut grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                if g.defined() {
                    g.detach()
                } else {
                    p.zeros_like()
                }
            })
            .collect();
        let norm = clip_global_norm(&mut grads, clip);
        if !norm.is_finite() {
            return Err(NonFiniteGradient(norm));
        }
        self.step(&grads, lr);
        Ok(norm)
    }

    /// The scalar factors of step `count` (1-based): (bias-corrected momentum scale,
    /// Some(rectification r, second-moment correction) once rectified, else None).
    pub fn step_factors(&self, count: u64) -> (f64, Option<(f64, f64)>) {
        let (b1, b2) = (self.beta1, self.beta2);
        let n = count as f64;
        let b2t = b2.powf(n);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho = rho_inf - 2.0 * n * b2t / (1.0 - b2t);
        let m_scale = 1.0 / (1.0 - b1.powf(n));
        if rho >= RHO_THRESHOLD {
            let r = ((rho - 4.0) * (rho - 2.0) * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
                .sqrt();
            (m_scale, Some((r, 1.0 / (1.0 - b2t))))
        } else {
            (m_scale, None)
        }
    }

    /// One update θ ← θ − lr·u(g) of every parameter, in place.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) {
        self.count += 1;
        let (m_scale, rect) = self.step_factors(self.count);
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        tch::no_grad(|| {
            for ((p, g), (m, v)) in self
                .params
                .iter_mut()
                .zip(grads)
                .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            {
                // m ← β1·m + (1 − β1)·g and v ← β2·v + (1 − β2)·g² as one lerp each, and the
                // step as one addcdiv: each op is a full pass over the parameters, and the
                // unfused form took twice as many.
                let _ = m.lerp_(g, 1.0 - b1);
                let _ = v.lerp_(&g.square(), 1.0 - b2);
                match rect {
                    Some((r, v_scale)) => {
                        let mut denom = &*v * v_scale;
                        let _ = denom.sqrt_();
                        let _ = denom.g_add_scalar_(eps);
                        let _ = p.addcdiv_(&(&*m * (-lr * m_scale * r)), &denom);
                    }
                    None => {
                        let _ = p.g_add_(&(&*m * (-lr * m_scale)));
                    }
                }
            }
        });
    }
}

/// Exponential moving average of the parameters with the usual warm-up:
/// decay_n = min(β, (1 + n)/(10 + n)), so early averages are not dominated by the random
/// initialisation (a plain 0.999 EMA still carries ~25 % of it after 1400 steps). Copies are
/// kept by parameter name, so nothing depends on the order parameters are listed in.
pub struct Ema {
    /// Target decay β.
    pub beta: f64,
    /// Averaged parameters by name.
    pub params: BTreeMap<String, Tensor>,
}

impl Ema {
    /// An average that starts at `params` (name, tensor).
    pub fn new(beta: f64, params: &[(String, &Tensor)]) -> Ema {
        Ema {
            beta,
            params: params
                .iter()
                .map(|(n, p)| (n.clone(), p.detach().copy()))
                .collect(),
        }
    }

    /// The decay used for update number `n` (0-based).
    pub fn decay(beta: f64, n: u64) -> f64 {
        beta.min((1.0 + n as f64) / (10.0 + n as f64))
    }

    /// ema ← d·ema + (1 − d)·θ for each named parameter, with d = [`Ema::decay`] for update `n`.
    ///
    /// # Panics
    /// If a name has no average (the average and the network were built from different
    /// architectures: a programming error).
    pub fn update(&mut self, params: &[(String, &Tensor)], n: u64) {
        let d = Ema::decay(self.beta, n);
        tch::no_grad(|| {
            for (name, p) in params {
                let e = self
                    .params
                    .get_mut(name)
                    .unwrap_or_else(|| panic!("no EMA copy of parameter {name}"));
                // d·e + (1 − d)·θ in one pass.
                let _ = e.lerp_(&p.detach(), 1.0 - d);
            }
        });
    }

    /// The averaged tensor of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.params.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn schedule_is_constant_then_inverse_sqrt() {
        assert_eq!(learning_rate(1e-3, 0, 35_000), 1e-3);
        assert_eq!(learning_rate(1e-3, 35_000, 35_000), 1e-3);
        assert!((learning_rate(1e-3, 140_000, 35_000) - 5e-4).abs() < 1e-15);
    }

    #[test]
    fn cosine_warms_up_then_falls_to_the_final_fraction() {
        let lr = |step| scheduled_lr(LrSchedule::Cosine, 1e-2, step, 1100, 0, 100, 0.01);
        assert!((lr(0) - 1e-4).abs() < 1e-15); // 1/100 of the way up
        assert!((lr(99) - 1e-2).abs() < 1e-15);
        assert!((lr(100) - 1e-2).abs() < 1e-15); // top of the cosine
        assert!((lr(600) - 1e-2 * (0.01 + 0.99 * 0.5)).abs() < 1e-12); // half way down
        assert!((lr(1100) - 1e-4).abs() < 1e-15); // the final fraction
        let paper = scheduled_lr(LrSchedule::InvSqrt, 1e-3, 140_000, 200_000, 35_000, 0, 0.0);
        assert!((paper - 5e-4).abs() < 1e-15);
    }

    #[test]
    fn clipping_scales_to_max_norm_and_leaves_small_gradients() {
        let mut g = vec![Tensor::from_slice(&[3.0f32, 4.0])];
        let n = clip_global_norm(&mut g, 1.0);
        assert!((n - 5.0).abs() < 1e-6);
        let v: Vec<f32> = Vec::try_from(&g[0]).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut g = vec![Tensor::from_slice(&[0.3f32]), Tensor::from_slice(&[0.4f32])];
        assert!((clip_global_norm(&mut g, 1.0) - 0.5).abs() < 1e-6);
        assert!((g[1].double_value(&[0]) - 0.4).abs() < 1e-6);
    }

    /// Hand-computed: the first RAdam steps are bias-corrected momentum SGD
    /// (ρ_1 = 1, ρ_2 ≈ 1.999, ... below 5), so with a constant gradient g the update is
    /// exactly lr·g each step; rectification starts at step 6 where
    /// ρ_5 = 4.996 < 5 and ρ_6 = 1999 − 12·0.999⁶/(1 − 0.999⁶) = 5.9942, r_6 = 0.025821
    #[test]
    fn a_parameter_the_loss_does_not_reach_stays_put() {
        let used = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
        let unused = Tensor::from_slice(&[5.0f32]).set_requires_grad(true);
        let mut opt = RAdam::new(&[&used, &unused]);
        for _ in 0..3 {
            let loss = (&used * &used).sum(Kind::Float);
            let norm = opt.backward_step(&loss, 10.0, 0.1).unwrap();
            assert!(norm > 0.0);
        }
        assert_eq!(unused.double_value(&[0]), 5.0);
        assert!(used.double_value(&[0]) < 2.0);
    }

    #[test]
    fn radam_matches_hand_computed_steps() {
        let p = Tensor::from_slice(&[1.0f64]).to_kind(Kind::Double);
        let g = vec![Tensor::from_slice(&[0.5f64])];
        let mut opt = RAdam::new(&[&p]);
        opt.step(&g, 0.1);
        assert!((p.double_value(&[0]) - 0.95).abs() < 1e-12);
        for _ in 0..4 {
            opt.step(&g, 0.1);
        }
        assert!((p.double_value(&[0]) - 0.75).abs() < 1e-12);
        // Step 6: ρ = 5.99416, r = sqrt((ρ−4)(ρ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ)) with ρ∞ = 1999.
        let (_, rect) = opt.step_factors(6);
        let (r, _) = rect.expect("rectified at step 6");
        assert!((r - 0.025_821_11).abs() < 1e-7, "r = {r}");
        // With a constant gradient m̂ = g and v̂ = g², so the step is lr·r·g/(|g| + ε).
        opt.step(&g, 0.1);
        let expected = 0.75 - 0.1 * r * 0.5 / (0.5 + 1e-8);
        assert!((p.double_value(&[0]) - expected).abs() < 1e-12);
    }

    #[test]
    fn ema_warm_up_and_update() {
        assert!((Ema::decay(0.999, 0) - 0.1).abs() < 1e-15);
        assert_eq!(Ema::decay(0.999, 100_000), 0.999);
        let p = Tensor::from_slice(&[2.0f32]);
        let mut e = Ema::new(0.999, &[("w".into(), &p)]);
        let q = Tensor::from_slice(&[12.0f32]);
        e.update(&[("w".into(), &q)], 0); // 0.1·2 + 0.9·12 = 11
        assert!((e.params["w"].double_value(&[0]) - 11.0).abs() < 1e-5);
    }

    #[test]
    fn backward_step_updates_the_owned_parameters_and_refuses_a_non_finite_gradient() {
        // L = 0.5·θ² → g = θ = 2; the first RAdam step is lr·g (bias-corrected momentum).
        let theta = Tensor::from_slice(&[2.0f64]).set_requires_grad(true);
        let mut opt = RAdam::new(&[&theta]);
        let loss = (&theta * &theta * 0.5).sum(Kind::Double);
        let norm = opt.backward_step(&loss, 10.0, 0.1).unwrap();
        assert!((norm - 2.0).abs() < 1e-12);
        assert!(
            (theta.double_value(&[0]) - 1.8).abs() < 1e-12,
            "the network's tensor moved"
        );
        // An infinite gradient: nothing changes, the count included.
        let bad = (&theta * f64::INFINITY).sum(Kind::Double);
        assert!(opt.backward_step(&bad, 10.0, 0.1).is_err());
        assert!((theta.double_value(&[0]) - 1.8).abs() < 1e-12);
        assert_eq!(opt.count, 1);
    }
}
