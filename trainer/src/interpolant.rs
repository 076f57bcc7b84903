//! The stochastic interpolant I_t = α_t x0 + β_t x1 and its time derivative (paper §1.1).

use flowmap::schema::Interpolant;
use std::f64::consts::FRAC_PI_2;
use tch::Tensor;

/// (α_t, β_t, α̇_t, β̇_t) for times `t` (any shape).
pub fn coefficients(kind: Interpolant, t: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
    match kind {
        Interpolant::Linear => (
            1.0 - t,
            t.shallow_clone(),
            t.ones_like() * -1.0,
            t.ones_like(),
        ),
        Interpolant::Trig => {
            let a = t * FRAC_PI_2;
            (a.cos(), a.sin(), a.sin() * -FRAC_PI_2, a.cos() * FRAC_PI_2)
        }
    }
}

/// I_t = α_t x0 + β_t x1 (t: [B, 1], x0, x1: [B, d]).
pub fn point(kind: Interpolant, t: &Tensor, x0: &Tensor, x1: &Tensor) -> Tensor {
    let (a, b, _, _) = coefficients(kind, t);
    a * x0 + b * x1
}

/// (I_t, İ_t).
pub fn point_and_velocity(
    kind: Interpolant,
    t: &Tensor,
    x0: &Tensor,
    x1: &Tensor,
) -> (Tensor, Tensor) {
    let (a, b, da, db) = coefficients(kind, t);
    (a * x0 + b * x1, da * x0 + db * x1)
}
