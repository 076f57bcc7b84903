//! How a batch's noise is paired with its data: the coupling of the interpolant
//! I_t = α_t x0 + β_t x1.
//!
//! The paper draws x0 and x1 independently. Minibatch optimal transport (Pooladian et al. 2023,
//! "Multisample flow matching"; Tong et al. 2024, "Improving and generalizing flow-based
//! generative models with minibatch optimal transport") pairs each data point with a nearby
//! noise point instead, along an entropic OT plan between the batch's two halves. The flow that
//! this coupling defines carries the same base to the same data, but its paths cross less and
//! bend less, so the map X_{s,t} it asks the network to learn is closer to a straight step —
//! what one- and two-step sampling needs. Nothing about the exported model changes: sampling
//! still starts from N(0, σ²I).
//!
//! Exactness: each data row keeps its place and draws its noise partner from its row of the
//! plan, so the data marginal is untouched; the noise marginal is the plan's column sums, which
//! Sinkhorn makes uniform (checked in the tests), so every noise point is used once on average.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// How x0 is paired with x1 within a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coupling {
    /// x0 and x1 drawn independently (the paper's).
    #[default]
    Independent,
    /// Minibatch entropic optimal transport between the batch's noise and data.
    Ot,
}

impl Coupling {
    /// `independent` or `ot`.
    pub fn name(self) -> &'static str {
        match self {
            Coupling::Independent => "independent",
            Coupling::Ot => "ot",
        }
    }
}

/// Entropic regularisation as a fraction of the batch's mean squared distance: small enough
/// that a point's partner is one of its near neighbours, large enough that Sinkhorn converges
/// in a few dozen iterations.
pub const EPSILON: f64 = 0.05;

/// Sinkhorn stops once every column sum of the plan is within this fraction of its target
/// (the noise marginal; the rows are exact by construction)...
pub const TOLERANCE: f64 = 0.01;

/// ... or after this many iterations.
pub const MAX_ITERATIONS: usize = 200;

/// The plan is computed on blocks of at most this many rows, each its own minibatch: the
/// B×B cost matrix of a large GPU batch would not fit (4096² floats are 64 MiB).
pub const MAX_BLOCK: i64 = 4096;

/// Kernel entries are clamped below at e^−60 so that no column of the plan is all zeros in
/// f32 (a noise point far from every data point still gets a partner, and the scalings stay
/// finite); the entries it raises are below 1e−26 of their row's largest.
const MIN_LOG_KERNEL: f64 = -60.0;

/// The noise rows paired with `x1` under `coupling`: `x0` itself (independent) or, for OT, for
/// each data row j a noise row drawn from row j of the entropic plan. Draws from torch's
/// generator, so a seeded step draws the same pairs. No gradient flows through the pairing.
pub fn pair(coupling: Coupling, x0: &Tensor, x1: &Tensor) -> Tensor {
    match coupling {
        Coupling::Independent => x0.shallow_clone(),
        Coupling::Ot => tch::no_grad(|| {
            let n = x1.size()[0];
            let blocks: Vec<Tensor> = (0..n)
                .step_by(MAX_BLOCK as usize)
                .map(|start| {
                    let len = MAX_BLOCK.min(n - start);
                    let (b0, b1) = (x0.narrow(0, start, len), x1.narrow(0, start, len));
                    match ot_partners(&b0, &b1) {
                        Some(idx) => b0.index_select(0, &idx),
                        // A degenerate block (all points equal, or non-finite scalings): keep
                        // the independent pairing rather than fail the step.
                        None => b0,
                    }
                })
                .collect();
            Tensor::cat(&blocks, 0)
        }),
    }
}

/// Flattens [B, ...] to [B, D].
fn rows(x: &Tensor) -> Tensor {
    let b = x.size()[0];
    x.reshape([b, -1])
}

/// Squared distances ‖x1_j − x0_i‖², [B1, B0], as ‖a‖² + ‖b‖² − 2a·b (one matmul; the
/// rounding it adds for near points, ~1e−7 of ‖x‖², is far below the plan's ε), clamped at 0.
/// The matmul accumulates into the broadcast norms: the B×B result is allocated once and
/// passed over twice (at B = 1024 each fresh 4 MiB tensor costs as much as the arithmetic).
pub fn squared_distances(x0: &Tensor, x1: &Tensor) -> Tensor {
    let (a, b) = (rows(x1), rows(x0));
    let kind = a.kind();
    let mut c = a.square().sum_dim_intlist(1, true, kind)
        + b.square().sum_dim_intlist(1, false, kind).unsqueeze(0);
    let _ = c.addmm_(&(a * -2.0), &b.transpose(0, 1));
    c.clamp_min_(0.0)
}

/// The Sinkhorn kernel K and column scalings v of the entropic plan π_ji = u_j K_ji v_i with
/// unit row and column sums (u is implied: each row normalised); `None` when the batch is
/// degenerate. Returns the number of iterations run as well. K is computed in place of
/// `cost`.
pub fn sinkhorn(cost: Tensor) -> Option<(Tensor, Tensor, usize)> {
    let scale = cost.mean(Kind::Float).double_value(&[]);
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    // Shifting each row by its minimum only rescales u, and keeps every row's largest entry 1.
    let row_min = cost.amin(1, true);
    let mut k = cost;
    k -= row_min;
    let _ = k
        .g_mul_scalar_(-1.0 / (EPSILON * scale))
        .clamp_min_(MIN_LOG_KERNEL)
        .exp_();
    let kt = k.transpose(0, 1);
    let mut v = Tensor::ones([k.size()[1]], (Kind::Float, k.device()));
    let check_every = if k.device() == tch::Device::Cpu { 1 } else { 5 };
    for iteration in 1..=MAX_ITERATIONS {
        let u = k.mv(&v).reciprocal();
        let column_sums_over_v = kt.mv(&u);
        // Each check waits for the device: on a GPU, only every 5 iterations.
        if iteration % check_every == 0 {
            let worst = (&column_sums_over_v * &v - 1.0)
                .abs()
                .max()
                .double_value(&[]);
            if !worst.is_finite() {
                return None;
            }
            if worst < TOLERANCE {
                return Some((k, v, iteration));
            }
        }
        v = column_sums_over_v.reciprocal();
    }
    let finite = v.isfinite().all().int64_value(&[]) == 1;
    finite.then_some((k, v, MAX_ITERATIONS))
}

/// For each data row, the index of its noise partner drawn from the plan's row.
fn ot_partners(x0: &Tensor, x1: &Tensor) -> Option<Tensor> {
    let (mut k, v, _) = sinkhorn(squared_distances(x0, x1))?;
    // Row j of the plan is u_j K_j· ⊙ v; drawing by inverse CDF on the row's running sum
    // normalises away u_j (torch's multinomial does the same 15× slower at B = 1024).
    // (In place: K is not needed after this.)
    k *= v.unsqueeze(0);
    let cdf = k.cumsum_(1, Kind::Float);
    let n = cdf.size()[1];
    let total = cdf.narrow(1, n - 1, 1);
    let r = Tensor::rand([cdf.size()[0], 1], (Kind::Float, cdf.device())) * total;
    // "right": the first entry whose running sum exceeds r, so zero-weight entries are never
    // drawn; the clamp covers r rounding up to the total.
    Some(
        r.searchsorted(&cdf, false, true, "right", None::<&Tensor>)
            .squeeze_dim(1)
            .clamp_max(n - 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn batch(n: i64, seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let x0 = Tensor::randn([n, 2], (Kind::Float, Device::Cpu));
        // Data: two tight blobs at (±2, 0).
        let signs = Tensor::randint(2, [n, 1], (Kind::Float, Device::Cpu)) * 4.0 - 2.0;
        let offset = Tensor::cat(
            &[signs, Tensor::zeros([n, 1], (Kind::Float, Device::Cpu))],
            1,
        );
        let x1 = offset + Tensor::randn([n, 2], (Kind::Float, Device::Cpu)) * 0.1;
        (x0, x1)
    }

    #[test]
    fn squared_distances_match_a_hand_computed_pair() {
        let x0 = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0]).reshape([2, 2]);
        let x1 = Tensor::from_slice(&[3.0f32, 4.0]).reshape([1, 2]);
        let d = squared_distances(&x0, &x1);
        assert_eq!(d.size(), vec![1, 2]);
        assert!((d.double_value(&[0, 0]) - 25.0).abs() < 1e-5);
        assert!((d.double_value(&[0, 1]) - 13.0).abs() < 1e-5);
    }

    #[test]
    fn squared_distances_keep_the_inputs_precision() {
        let x0 = Tensor::from_slice(&[0.0f64, 0.0, 1.0, 1.0]).reshape([2, 2]);
        let x1 = Tensor::from_slice(&[3.0f64, 4.0]).reshape([1, 2]);
        let d = squared_distances(&x0, &x1);
        assert_eq!(d.kind(), Kind::Double);
        assert_eq!(d.double_value(&[0, 0]), 25.0);
        assert_eq!(d.double_value(&[0, 1]), 13.0);
    }

    #[test]
    fn the_plan_has_uniform_marginals() {
        let (x0, x1) = batch(512, 3);
        let (k, v, iterations) = sinkhorn(squared_distances(&x0, &x1)).unwrap();
        assert!(iterations < MAX_ITERATIONS, "did not converge");
        // Normalise each row to 1/n (what sampling a partner per data row does); the column
        // sums are then the noise marginal and must be close to 1/n as well.
        let w = &k * v.unsqueeze(0);
        let plan = &w / w.sum_dim_intlist(1, true, Kind::Float) / 512.0;
        let cols = plan.sum_dim_intlist(0, false, Kind::Float) * 512.0;
        let worst = (cols - 1.0).abs().max().double_value(&[]);
        assert!(
            worst < 1.5 * TOLERANCE,
            "column sums off by up to {worst} of 1/n"
        );
    }

    #[test]
    fn ot_pairs_are_much_closer_than_independent_ones() {
        let (x0, x1) = batch(512, 4);
        let mean_cost =
            |x0: &Tensor| (x0 - &x1).square().sum(Kind::Float).double_value(&[]) / 512.0;
        let independent = mean_cost(&pair(Coupling::Independent, &x0, &x1));
        let ot = mean_cost(&pair(Coupling::Ot, &x0, &x1));
        // Independent pairs cost E‖x0 − x1‖² ≈ 2 + 4 + 0.02 ≈ 6 (unit noise in 2-D, blobs at
        // distance 2); the OT plan sends each half-plane of noise to its own blob, so a pair's
        // first coordinates no longer sit ≈ 2 apart on average: well under half of that.
        assert!(independent > 5.0 && independent < 7.0, "{independent}");
        assert!(
            ot < 0.5 * independent,
            "ot {ot} vs independent {independent}"
        );
    }

    #[test]
    fn paired_noise_is_still_standard_normal() {
        // The noise each data row receives, pooled over batches, must still be N(0, I): a
        // nearest-neighbour pairing would pick noise near the blobs at x = ±2 and widen it.
        let n = 256;
        let mut xs = Vec::new();
        for seed in 0..40 {
            let (x0, x1) = batch(n, 100 + seed);
            xs.push(pair(Coupling::Ot, &x0, &x1));
        }
        let all = Tensor::cat(&xs, 0);
        let mean = all.mean_dim(0, false, Kind::Float);
        let var = all.var_dim(0, false, false);
        for d in 0..2 {
            let (m, v) = (mean.double_value(&[d]), var.double_value(&[d]));
            assert!(m.abs() < 0.05, "coordinate {d}: mean {m}");
            assert!((v - 1.0).abs() < 0.06, "coordinate {d}: variance {v}");
        }
        // Sanity of the check itself: nearest-neighbour partners fail it.
        let (x0, x1) = batch(n, 7);
        let nearest = squared_distances(&x0, &x1).argmin(1, false);
        let var_nn = x0
            .index_select(0, &nearest)
            .var_dim(0, false, false)
            .double_value(&[0]);
        assert!(var_nn > 1.5, "nearest-neighbour variance {var_nn}");
    }

    #[test]
    fn degenerate_batches_keep_the_independent_pairing() {
        let x = Tensor::zeros([8, 2], (Kind::Float, Device::Cpu));
        let paired = pair(Coupling::Ot, &x, &x);
        assert!(paired.equal(&x));
    }

    #[test]
    fn a_far_outlier_still_gets_a_finite_partner() {
        // One data point a thousand units away: its row keeps a largest entry of 1 (the row
        // shift) and the clamp keeps every column alive, so the pairing stays finite and is
        // still a selection of the batch's own noise rows.
        let (x0, x1) = batch(128, 6);
        let _ = x1.get(0).fill_(1000.0);
        let paired = pair(Coupling::Ot, &x0, &x1);
        assert_eq!(paired.isfinite().all().int64_value(&[]), 1);
        let d = squared_distances(&x0, &paired);
        let min_per_row = d.amin(1, false);
        assert!(
            min_per_row.max().double_value(&[]) < 1e-5,
            "rows not taken from x0"
        );
    }

    #[test]
    fn independent_is_the_identity() {
        let (x0, x1) = batch(16, 5);
        assert!(pair(Coupling::Independent, &x0, &x1).equal(&x0));
    }
}
