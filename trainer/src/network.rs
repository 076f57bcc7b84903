//! The network a run trains: the paper's MLP (2-D points, vectors) or the U-Net (images).
//! Training, checkpoints and EMA copies see parameters by name and the objectives see a
//! [`FlowNet`], so they do not care which.

use crate::flownet::FlowNet;
use crate::net::Mlp;
use crate::unet::UNet;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Which network family a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// The paper's MLP on flattened rows (`--hidden`, `--activation`).
    #[default]
    Mlp,
    /// The U-Net of format v2 for [C, H, W] images (`--unet-preset`).
    Unet,
}

impl Arch {
    /// `mlp` or `unet`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Unet => "unet",
        }
    }

    /// The family called `name`.
    pub fn from_name(name: &str) -> Option<Arch> {
        [Arch::Mlp, Arch::Unet]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// A network of either family.
pub enum Network {
    /// The MLP.
    Mlp(Mlp),
    /// The U-Net.
    UNet(UNet),
}

impl From<Mlp> for Network {
    fn from(m: Mlp) -> Self {
        Network::Mlp(m)
    }
}

impl From<UNet> for Network {
    fn from(u: UNet) -> Self {
        Network::UNet(u)
    }
}

impl Network {
    /// (model-file name, parameter) pairs, in a fixed order.
    pub fn named_parameters(&self) -> Vec<(String, &Tensor)> {
        match self {
            Network::Mlp(m) => m.named_parameters(),
            Network::UNet(u) => u
                .params
                .iter()
                .chain(&u.loss_weight)
                .map(|(n, p)| (n.clone(), p))
                .collect(),
        }
    }

    /// The parameters, in [`Network::named_parameters`] order.
    pub fn parameters(&self) -> Vec<&Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The parameter names, in [`Network::named_parameters`] order.
    pub fn parameter_names(&self) -> Vec<String> {
        self.named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Base scale σ (normalised space).
    pub fn sigma(&self) -> f64 {
        match self {
            Network::Mlp(m) => m.sigma,
            Network::UNet(u) => u.sigma,
        }
    }

    /// The network as the objectives see it.
    pub fn flow(&self) -> &dyn FlowNet {
        match self {
            Network::Mlp(m) => m,
            Network::UNet(u) => u,
        }
    }

    /// X_{s,t}(z) on flattened rows.
    pub fn map(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        self.flow().map(s, t, z)
    }

    /// The MLP, if this is one.
    pub fn as_mlp(&self) -> Option<&Mlp> {
        match self {
            Network::Mlp(m) => Some(m),
            Network::UNet(_) => None,
        }
    }
}
