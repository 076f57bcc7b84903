//! Activations: branch-free, vectorisable, the same bits on every instruction set.

use crate::schema::Activation;

/// √(2/π), the GELU-tanh constant.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// 1/√2.
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;

/// Applies one activation to a scalar.
///
/// GELU-tanh and SiLU go through [`exp_approx`] and the identity
/// `½·(1 + tanh u) = 1 / (1 + e^(−2u))`, so `gelu(x) = x / (1 + e^(−2u))`: branch-free,
/// vectorisable, no cancellation for negative inputs, and within a few ulps of the f64
/// formula (see the tests). Everything is plain IEEE multiply/add/divide (never fused, as
/// Rust never contracts `a * b + c`), so every build and instruction set gives the same
/// bits.
#[inline(always)]
pub(crate) fn activate(act: Activation, x: f32) -> f32 {
    match act {
        // −2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²).
        Activation::GeluTanh => x / (1.0 + exp_approx(x * (GELU_C1 + GELU_C3 * (x * x)))),
        Activation::GeluErf => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        Activation::Silu => x / (1.0 + exp_approx(-x)),
        // NaN propagates (as in PyTorch), so overflow is reported, not hidden.
        Activation::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
    }
}

/// −2·√(2/π).
const GELU_C1: f32 = -2.0 * SQRT_2_OVER_PI;
/// −2·√(2/π)·0.044715.
const GELU_C3: f32 = -2.0 * SQRT_2_OVER_PI * 0.044_715;

const LOG2E: f32 = core::f32::consts::LOG2_E;
// ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so k·LN2_HI is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
// 1.5·2²³: adding it rounds to an integer (ulp 1) and leaves k in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;

/// `e^y` for activations and the attention softmax: branch-free and vectorisable (no table, no libm call), relative
/// error below 2·10⁻⁷ (≈ 2 ulp) on the whole clamped range (tested against f64).
///
/// `y` is clamped to [−87, 88] so that the result stays a normal float. Callers form
/// `1 + e^y`, where the clamp changes nothing of note (`x / (1 + e^88)` is below 10⁻³⁸·|x|),
/// or softmax weights, where e^−87 in place of 0 is far below rounding;
/// NaN propagates. Reduction `y = k·ln 2 + r`, |r| ≤ ½ ln 2, with ln 2 split in two
/// (Cody–Waite: `k·LN2_HI` is exact), then the degree-7 Taylor polynomial of `e^r`
/// (truncation error < 6·10⁻⁹), then the exponent `k` added to the bits.
#[inline(always)]
pub(crate) fn exp_approx(y: f32) -> f32 {
    // Comparisons are false for NaN, which passes through.
    let y = if y > 88.0 { 88.0 } else { y };
    let y = if y < -87.0 { -87.0 } else { y };
    let t = y * LOG2E + ROUND;
    let k = t - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // t's bits are ROUND's bits + k (|k| ≤ 127); 2^k has bits (k + 127) << 23.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    p * scale
}

/// Elements per block of [`activate_slice`]'s GELU-tanh / SiLU pass.
const BLOCK: usize = 64;

/// [`exp_approx`] of every element of a block, in place: the same operations on each
/// element (so the same bits), but written step by step over the whole block so that the
/// compiler emits each step for all of the block's vectors before the next step. One
/// element's `e^y` is a chain of ~25 dependent operations; issued vector after vector, the
/// chains of several vectors are in flight at once instead of one after the other, which is
/// what bounds a one-vector-at-a-time loop (the scheduler holds only a few such chains).
// Index loops over fixed-length arrays: each becomes a few full-width vector instructions.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn exp_block(y: &mut [f32; BLOCK]) {
    let mut t = [0.0f32; BLOCK];
    let mut k = [0.0f32; BLOCK];
    for i in 0..BLOCK {
        let v = if y[i] > 88.0 { 88.0 } else { y[i] };
        y[i] = if v < -87.0 { -87.0 } else { v };
    }
    for i in 0..BLOCK {
        t[i] = y[i] * LOG2E + ROUND;
    }
    for i in 0..BLOCK {
        k[i] = t[i] - ROUND;
    }
    // y becomes r.
    for i in 0..BLOCK {
        y[i] = (y[i] - k[i] * LN2_HI) - k[i] * LN2_LO;
    }
    // Horner, innermost first, exactly as in `exp_approx`.
    let mut p = [1.0f32 / 5040.0; BLOCK];
    for c in [
        1.0f32 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        for i in 0..BLOCK {
            p[i] = c + y[i] * p[i];
        }
    }
    for i in 0..BLOCK {
        let scale = f32::from_bits(t[i].to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
        y[i] = p[i] * scale;
    }
}

/// GELU-tanh ([`activate`]) of a block, in place, step by step as in [`exp_block`].
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn gelu_tanh_block(x: &mut [f32; BLOCK]) {
    let mut y = [0.0f32; BLOCK];
    for i in 0..BLOCK {
        y[i] = x[i] * (GELU_C1 + GELU_C3 * (x[i] * x[i]));
    }
    exp_block(&mut y);
    for i in 0..BLOCK {
        x[i] /= 1.0 + y[i];
    }
}

/// SiLU ([`activate`]) of a block, in place, step by step as in [`exp_block`].
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn silu_block(x: &mut [f32; BLOCK]) {
    let mut y = [0.0f32; BLOCK];
    for i in 0..BLOCK {
        y[i] = -x[i];
    }
    exp_block(&mut y);
    for i in 0..BLOCK {
        x[i] /= 1.0 + y[i];
    }
}

/// Applies `act` in place (inlined into each instruction-set build, where it vectorises:
/// every step of [`activate`] is a lane-wise operation). GELU-tanh and SiLU run in blocks
/// of [`BLOCK`] elements ([`gelu_tanh_block`]), the rest element by element: the same bits
/// either way.
#[inline(always)]
pub(crate) fn activate_slice(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::GeluTanh => {
            let mut blocks = xs.chunks_exact_mut(BLOCK);
            for b in &mut blocks {
                gelu_tanh_block(b.try_into().expect("BLOCK elements"));
            }
            for x in blocks.into_remainder() {
                *x = activate(Activation::GeluTanh, *x);
            }
        }
        Activation::GeluErf => {
            for x in xs.iter_mut() {
                *x = activate(Activation::GeluErf, *x);
            }
        }
        Activation::Silu => {
            let mut blocks = xs.chunks_exact_mut(BLOCK);
            for b in &mut blocks {
                silu_block(b.try_into().expect("BLOCK elements"));
            }
            for x in blocks.into_remainder() {
                *x = activate(Activation::Silu, *x);
            }
        }
        Activation::Relu => {
            for x in xs.iter_mut() {
                *x = activate(Activation::Relu, *x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn activations_match_hand_values() {
        // Reference values computed in f64 from the formulas.
        let cases: [(Activation, f32, f64); 13] = [
            (Activation::GeluTanh, 1.0, 0.841_191_990_608_276_8),
            (Activation::GeluTanh, -1.0, -0.158_808_009_391_723_24),
            (Activation::GeluTanh, 3.0, 2.996_362_607_918_227),
            (Activation::GeluTanh, 0.0, 0.0),
            (Activation::GeluErf, 1.0, 0.841_344_746_068_542_9),
            (Activation::GeluErf, -1.0, -0.158_655_253_931_457_07),
            (Activation::GeluErf, 2.0, 1.954_499_736_103_641_6),
            (Activation::Silu, 1.0, 0.731_058_578_630_004_9),
            (Activation::Silu, -2.0, -0.238_405_844_044_234),
            (Activation::Silu, 0.0, 0.0),
            (Activation::Relu, 1.5, 1.5),
            (Activation::Relu, -1.5, 0.0),
            (Activation::Relu, 0.0, 0.0),
        ];
        assert!(activate(Activation::Relu, f32::NAN).is_nan());
        for (act, x, want) in cases {
            let got = activate(act, x) as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{act:?}({x}) = {got}, want {want}"
            );
        }
    }

    /// Largest relative error of `exp_approx` over a dense grid of the clamped range,
    /// against f64.
    #[test]
    fn exp_approx_is_within_2e_7_relative() {
        let mut worst = 0.0f64;
        let n = 2_000_000;
        for i in 0..=n {
            let y = -87.0 + 175.0 * (i as f64 / n as f64);
            let y = y as f32;
            let want = (y as f64).exp();
            let got = exp_approx(y) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-7, "max relative error {worst:e}");
        assert!(exp_approx(f32::NAN).is_nan());
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(exp_approx(1000.0) > 1e38 && exp_approx(-1000.0) < 1e-37);
    }

    /// GELU-tanh against the f64 formula on a dense grid. Forming `2u` in f32 costs a few
    /// ulps of `2u`, which the factor `e^(−2u)` turns into a relative error ∝ |2u| (the
    /// problem's own conditioning), so the bound is `3·10⁻⁷·(1 + |2u|)` relative for
    /// |x| ≤ 8 (≈ 2·10⁻⁷ near 0, 2·10⁻⁶ at x = −5), and 10⁻¹² absolute further out (there
    /// the result is x or ≈ 0). (The former `½x(1 + tanhf u)` loses ~4 digits to
    /// cancellation at x = −5.)
    #[test]
    fn gelu_tanh_matches_f64() {
        let (mut worst_rel, mut worst_abs) = (0.0f64, 0.0f64);
        let n = 2_000_000;
        for i in 0..=n {
            let x = (-40.0 + 80.0 * (i as f64 / n as f64)) as f32;
            let xd = x as f64;
            let u = (2.0 / core::f64::consts::PI).sqrt() * (xd + 0.044_715 * xd * xd * xd);
            // ½x(1 + tanh u) = x / (1 + e^(−2u)); the latter has no cancellation in f64
            // either (tanh u rounds to −1 for u < −19).
            let want = xd / (1.0 + (-2.0 * u).exp());
            let got = activate(Activation::GeluTanh, x) as f64;
            let err = (got - want).abs();
            if xd.abs() <= 8.0 {
                let rel = err / want.abs().max(1e-30);
                worst_rel = worst_rel.max(rel / (1.0 + 2.0 * u.abs()));
            } else {
                worst_abs = worst_abs.max(err);
            }
        }
        assert!(
            worst_rel < 3e-7,
            "max relative error / (1 + |2u|) {worst_rel:e}"
        );
        assert!(worst_abs < 1e-12, "max absolute error {worst_abs:e}");
        assert!(activate(Activation::GeluTanh, f32::NAN).is_nan());
        assert_eq!(activate(Activation::GeluTanh, f32::INFINITY), f32::INFINITY);
        assert_eq!(activate(Activation::GeluTanh, 0.0), 0.0);
    }

    /// The blocked pass of `activate_slice` gives the bits of `activate` element by element
    /// (normal values over the whole range, subnormals, ±0, ±inf, NaN, the clamp edges), at
    /// lengths with and without a remainder.
    #[test]
    fn blocked_activation_equals_scalar_bitwise() {
        let mut xs: Vec<f32> = (0..=400_000)
            .map(|i| (-100.0 + 200.0 * (i as f64 / 400_000.0)) as f32)
            .collect();
        let mut h = 0x9E37_79B9u32;
        for _ in 0..100_000 {
            h ^= h << 13;
            h ^= h >> 17;
            h ^= h << 5;
            xs.push(f32::from_bits(h));
        }
        xs.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-40,
            -1e-40,
            f32::MAX,
            f32::MIN,
            43.5,
            -43.5,
            88.0,
            -87.0,
        ]);
        for act in [Activation::GeluTanh, Activation::Silu] {
            for len in [xs.len(), 63, 64, 65, 130] {
                let mut got = xs[..len].to_vec();
                activate_slice(act, &mut got);
                for (x, g) in xs[..len].iter().zip(&got) {
                    let want = activate(act, *x);
                    assert!(
                        g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                        "{act:?}({x:e}): blocked {g:e}, scalar {want:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn silu_matches_f64() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = (-80.0 + 160.0 * (i as f64 / 200_000.0)) as f32;
            let xd = x as f64;
            let want = xd / (1.0 + (-xd).exp());
            let got = activate(Activation::Silu, x) as f64;
            worst = worst.max((got - want).abs() / want.abs().max(1e-30));
        }
        assert!(worst < 1e-6, "max relative error {worst:e}");
    }
}
