//! A cheap quality figure while training. The weighted loss sits near the flow-matching
//! variance for a whole run and says little about the samples; this probe draws 1- and 2-step
//! samples from the current (raw) weights and scores them by sliced W2 against a fixed sample
//! of the training rows, so the log and the loss plot show whether longer training pays.
//!
//! Everything random here (which rows, the base noise, the projection directions) comes from
//! the evaluation crate's own generator, never libtorch's: probing must not change a single bit
//! of the training run, with or without it, resumed or not.

use crate::data::TrainingData;
use crate::network::Network;
use flowmap_eval::{metrics, Rng};
use tch::{Device, Kind, Tensor};

/// Projection directions of the probe's sliced W2 (the full evaluation uses 512).
const DIRECTIONS: usize = 128;

/// Fixed rows and base noise, scored at each probe.
pub struct QualityProbe {
    /// Normalised data rows, [n, dim] row-major.
    reference: Vec<f32>,
    /// σ·N(0, I) base noise, [n, dim], on the training device.
    noise: Tensor,
    dim: usize,
}

/// Sliced W2 of 1- and 2-step samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeScores {
    /// After one step X_{0,1}.
    pub one_step: f64,
    /// After two steps X_{1/2,1} ∘ X_{0,1/2}.
    pub two_steps: f64,
}

/// Probe size for data of dimension `dim`: 2 000 points for low-dimensional data, fewer for
/// images (each a full U-Net evaluation), at least a few hundred so the figure is stable.
pub fn probe_size(dim: usize) -> usize {
    if dim <= 64 {
        2000
    } else {
        256
    }
}

impl QualityProbe {
    /// A probe over `n` rows of `data` (capped at its size) and `n` base draws of scale
    /// `sigma`, both fixed by `seed`.
    pub fn new(data: &TrainingData, n: usize, sigma: f64, seed: u64, device: Device) -> Self {
        let dim = data.data_shape.iter().product::<usize>();
        let n = n.min(data.n).max(1);
        let mut rng = Rng::new(seed ^ 0x0050_524f_4245); // "PROBE": a stream of its own
        let mut rows: Vec<usize> = (0..data.n).collect();
        rng.shuffle(&mut rows);
        rows.truncate(n);
        let index = Tensor::from_slice(&rows.iter().map(|&r| r as i64).collect::<Vec<_>>())
            .to_device(data.normalized.device());
        let picked = data
            .normalized
            .index_select(0, &index)
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
            .contiguous();
        let reference = Vec::<f32>::try_from(picked.view([-1])).expect("f32 rows");
        let noise: Vec<f32> = (0..n * dim)
            .map(|_| (sigma * rng.normal()) as f32)
            .collect();
        let noise = Tensor::from_slice(&noise)
            .view([n as i64, dim as i64])
            .to_device(device);
        QualityProbe {
            reference,
            noise,
            dim,
        }
    }

    /// Scores the network's 1- and 2-step samples from the fixed noise.
    pub fn measure(&self, net: &Network) -> ProbeScores {
        let _no_grad = tch::no_grad_guard();
        let n = self.noise.size()[0];
        let at = |v: f64| Tensor::full([n, 1], v, (Kind::Float, self.noise.device()));
        let one = net.map(&at(0.0), &at(1.0), &self.noise);
        let half = net.map(&at(0.0), &at(0.5), &self.noise);
        let two = net.map(&at(0.5), &at(1.0), &half);
        let score = |x: &Tensor| {
            let rows = x.to_kind(Kind::Float).to_device(Device::Cpu).contiguous();
            let rows = Vec::<f32>::try_from(rows.view([-1])).expect("f32 samples");
            metrics::sliced_w2(&rows, &self.reference, self.dim, DIRECTIONS, 0)
        };
        ProbeScores {
            one_step: score(&one),
            two_steps: score(&two),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Mlp;
    use flowmap::schema::Activation;

    fn toy_data(n: usize) -> TrainingData {
        let rows: Vec<f32> = (0..n * 2)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        TrainingData {
            normalized: Tensor::from_slice(&rows).view([n as i64, 2]),
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
            data_shape: vec![2],
            n,
            coordinate_std: 0.6,
        }
    }

    #[test]
    fn sizes_follow_the_dimension() {
        assert_eq!(probe_size(2), 2000);
        assert_eq!(probe_size(784), 256);
    }

    // That probing leaves the training bit-identical is a whole-run test (its own process, so
    // no other test shares libtorch's global generator): trainer/tests/cli.rs
    // `quality_probe_shows_in_the_log_and_changes_nothing`.
    #[test]
    fn the_same_weights_and_noise_give_the_same_figure() {
        let data = toy_data(500);
        let net = Network::Mlp(Mlp::new(
            2,
            &[16, 16],
            0.6,
            Activation::GeluTanh,
            Device::Cpu,
        ));
        let probe = QualityProbe::new(&data, 300, 0.6, 1, Device::Cpu);
        let a = probe.measure(&net);
        assert_eq!(a, probe.measure(&net));
        assert_eq!(
            a,
            QualityProbe::new(&data, 300, 0.6, 1, Device::Cpu).measure(&net)
        );
        assert!(a.one_step.is_finite() && a.one_step > 0.0);
    }

    #[test]
    fn a_map_nearer_the_data_scores_lower() {
        // An untrained map moves the base noise little, so the probe mostly measures noise vs
        // data: noise of the data's own scale scores better than noise ten times too wide.
        let data = toy_data(1000);
        let net = Network::Mlp(Mlp::new(2, &[8], 0.6, Activation::GeluTanh, Device::Cpu));
        let near = QualityProbe::new(&data, 1000, 0.6, 2, Device::Cpu).measure(&net);
        let far = QualityProbe::new(&data, 1000, 6.0, 2, Device::Cpu).measure(&net);
        assert!(near.one_step < far.one_step / 3.0, "{near:?} vs {far:?}");
        assert!(near.two_steps < far.two_steps / 3.0, "{near:?} vs {far:?}");
    }
}
