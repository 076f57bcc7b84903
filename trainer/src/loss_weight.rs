//! The learned loss weight w(s, t) of the paper (§2.1): a row's loss becomes e^{−w}·err + w.
//! A small training-only head — Fourier features of (s, t − s) → one hidden SiLU layer → one
//! value — shared by both network families and never exported (checkpoints keep it under
//! [`PREFIX`]).

use crate::time_features::time_features;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// Name prefix of the head's tensors in checkpoints.
pub const PREFIX: &str = "loss_weight.";

/// Width of the head's hidden layer.
const HIDDEN: i64 = 64;

/// Time frequencies (cycles per unit of time) of an MLP's head. (s, t − s) lie in [0, 1] and the
/// weight only needs to follow how the error's scale varies over them, so a few low
/// frequencies suffice; U-Nets reuse their time-embedding frequencies.
pub const MLP_FREQUENCIES: [f64; 4] = [0.5, 1.0, 2.0, 4.0];

/// The head's tensor names (with [`PREFIX`]) and shapes for `n_freq` time frequencies.
pub fn shapes(n_freq: usize) -> BTreeMap<String, Vec<i64>> {
    let f4 = 4 * n_freq as i64;
    [
        ("0.weight", vec![HIDDEN, f4]),
        ("0.bias", vec![HIDDEN]),
        ("1.weight", vec![1, HIDDEN]),
        ("1.bias", vec![1]),
    ]
    .into_iter()
    .map(|(n, s)| (format!("{PREFIX}{n}"), s))
    .collect()
}

/// A fresh head: LeCun-normal first layer, zero biases and a zero output layer, so w(s, t) = 0
/// at the start. Uses torch's global generator.
pub fn init(n_freq: usize, device: Device) -> BTreeMap<String, Tensor> {
    shapes(n_freq)
        .into_iter()
        .map(|(name, shape)| {
            let opts = (Kind::Float, device);
            let t = if name == format!("{PREFIX}0.weight") {
                Tensor::randn(&shape[..], opts) * (1.0 / shape[1] as f64).sqrt()
            } else {
                Tensor::zeros(&shape[..], opts)
            };
            (name, t.set_requires_grad(true))
        })
        .collect()
}

/// w(s, t) per row, [B], for s, t: [B, 1].
pub fn forward(
    head: &BTreeMap<String, Tensor>,
    frequencies: &[f64],
    s: &Tensor,
    t: &Tensor,
) -> Tensor {
    let p = |n: &str| &head[&format!("{PREFIX}{n}")];
    time_features(frequencies, s, t)
        .linear(p("0.weight"), Some(p("0.bias")))
        .silu()
        .linear(p("1.weight"), Some(p("1.bias")))
        .view([-1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_head_weights_every_row_by_zero() {
        tch::manual_seed(3);
        let head = init(4, Device::Cpu);
        let s = Tensor::from_slice(&[0.0f32, 0.2, 0.7]).view([3, 1]);
        let t = Tensor::from_slice(&[0.5f32, 0.2, 1.0]).view([3, 1]);
        let w = forward(&head, &MLP_FREQUENCIES, &s, &t);
        assert_eq!(w.size(), [3]);
        assert_eq!(w.abs().max().double_value(&[]), 0.0);
        // ...but the first layer is random, so the gradient reaches the output layer.
        let norm = head[&format!("{PREFIX}0.weight")].norm().double_value(&[]);
        assert!(norm > 1.0, "first layer norm {norm}");
    }
}
