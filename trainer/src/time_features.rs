//! Fourier features of a time pair (s, t): the U-Net's time embedding (docs/format.md §8) and the
//! input of the learned loss weight ([`crate::loss_weight`]).

use tch::Tensor;

/// [sin 2πf_k s, cos 2πf_k s]_k ++ [sin 2πf_k d, cos 2πf_k d]_k with d = t − s (pairs per
/// frequency), [B, 4F].
pub fn time_features(frequencies: &[f64], s: &Tensor, t: &Tensor) -> Tensor {
    let f = Tensor::from_slice(frequencies)
        .to_kind(s.kind())
        .to_device(s.device())
        .unsqueeze(0)
        * (2.0 * std::f64::consts::PI);
    let (ps, pd) = (s * &f, (t - s) * &f);
    let pairs = |a: &Tensor| Tensor::stack(&[a.sin(), a.cos()], 2).flatten(1, 2);
    Tensor::cat(&[pairs(&ps), pairs(&pd)], 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_features_are_hand_computed_values() {
        // f = 1: s = 0.25 → (sin π/2, cos π/2) = (1, 0); d = 0.5 → (sin π, cos π) = (0, −1).
        let s = Tensor::from_slice(&[0.25f64]).view([1, 1]);
        let t = Tensor::from_slice(&[0.75f64]).view([1, 1]);
        let f = time_features(&[1.0], &s, &t);
        let got: Vec<f64> = f.view([-1]).try_into().unwrap();
        let want = [1.0, 0.0, 0.0, -1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }
}
