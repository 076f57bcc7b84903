//! The ODE baseline: the model's diagonal velocity b_t = v_{t,t} integrated by Euler or Heun
//! from the same base noise as the flow map.

use super::draw::CHUNK;
use super::error::QualityError;
use super::features::FeatureScorer;
use super::score::{floor_row, score, Row};
use flowmap::{Model, NormalRng};

/// The base samples `mean + std ⊙ σ·ε` in data space, with ε from [`NormalRng::new(seed)`]
/// — exactly the starting points of [`Model::sample_seeded`] with the same seed.
pub fn base_sample(model: &Model, n: usize, seed: u64) -> Vec<f32> {
    let dim = model.dim();
    let norm = &model.meta().normalization;
    let sigma = model.meta().sigma;
    let mut x = vec![0.0f32; n * dim];
    NormalRng::new(seed).fill(&mut x);
    for row in x.chunks_exact_mut(dim) {
        for ((v, m), s) in row.iter_mut().zip(&norm.mean).zip(&norm.std) {
            *v = m + s * (sigma * *v);
        }
    }
    x
}

/// ODE integrator for the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// Explicit Euler: one velocity evaluation per step.
    Euler,
    /// Heun (explicit trapezoidal, 2nd order): two velocity evaluations per step.
    Heun,
}

impl Solver {
    /// Velocity evaluations per step.
    pub fn evals_per_step(self) -> usize {
        match self {
            Solver::Euler => 1,
            Solver::Heun => 2,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Euler => "euler",
            Solver::Heun => "heun",
        }
    }
}

/// Integrates dx/dt = b_t(x) (the model's diagonal velocity, data space) from t = 0 to 1 on a
/// uniform grid, for every row of `x` in place, spending exactly `nfe` velocity evaluations
/// (Heun: `nfe` must be even).
pub fn integrate(
    model: &Model,
    solver: Solver,
    nfe: usize,
    x: &mut [f32],
) -> Result<(), QualityError> {
    let per = solver.evals_per_step();
    if nfe == 0 || nfe % per != 0 {
        return Err(QualityError::Spec(format!(
            "{} needs a positive multiple of {per} evaluations, got {nfe}",
            solver.name()
        )));
    }
    let failed = |source| QualityError::Sample {
        what: format!("{} with {nfe} evaluations", solver.name()),
        source,
    };
    let steps = nfe / per;
    let dim = model.dim();
    let rows = (x.len() / dim).clamp(1, CHUNK);
    let mut ws = model.workspace(rows);
    let mut v1 = vec![0.0f32; rows * dim];
    let mut v2 = vec![0.0f32; rows * dim];
    let mut y = vec![0.0f32; rows * dim];
    let h = 1.0 / steps as f32;
    for chunk in x.chunks_mut(rows * dim) {
        let len = chunk.len();
        for k in 0..steps {
            let t = k as f32 / steps as f32;
            model
                .velocity(&mut ws, t, chunk, &mut v1[..len])
                .map_err(failed)?;
            match solver {
                Solver::Euler => {
                    for (z, v) in chunk.iter_mut().zip(&v1[..len]) {
                        *z += h * v;
                    }
                }
                Solver::Heun => {
                    let t1 = (k + 1) as f32 / steps as f32;
                    for ((y, z), v) in y[..len].iter_mut().zip(chunk.iter()).zip(&v1[..len]) {
                        *y = z + h * v;
                    }
                    model
                        .velocity(&mut ws, t1, &y[..len], &mut v2[..len])
                        .map_err(failed)?;
                    for ((z, a), b) in chunk.iter_mut().zip(&v1[..len]).zip(&v2[..len]) {
                        *z += 0.5 * h * (a + b);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `n` ODE samples (from the same base noise as [`super::draw::sample`] with `seed`).
pub fn ode_sample(
    model: &Model,
    solver: Solver,
    nfe: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<f32>, QualityError> {
    let mut x = base_sample(model, n, seed);
    integrate(model, solver, nfe, &mut x)?;
    Ok(x)
}

/// ODE rows for each usable NFE count (Heun skips odd counts), then the floor row; with
/// classifier features where `features` is given.
#[allow(clippy::too_many_arguments)] // one table: the model, what to run, what to score against
pub fn ode_table(
    model: &Model,
    solver: Solver,
    nfes: &[usize],
    reference: &[f32],
    second_reference: &[f32],
    n: usize,
    seed: u64,
    features: Option<&FeatureScorer>,
) -> Result<Vec<Row>, QualityError> {
    let dim = model.dim();
    let mut rows = Vec::new();
    for &nfe in nfes {
        if nfe == 0 || nfe % solver.evals_per_step() != 0 {
            continue;
        }
        let s = ode_sample(model, solver, nfe, n, seed)?;
        let mut row = score(format!("{} {nfe}", solver.name()), nfe, &s, reference, dim);
        row.add_features(features, &s)?;
        rows.push(row);
    }
    let mut floor = floor_row(second_reference, reference, dim);
    floor.add_features(features, second_reference)?;
    rows.push(floor);
    Ok(rows)
}
