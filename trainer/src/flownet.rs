//! What the objectives need from a flow-map network, whichever family it is: the velocity
//! v_{s,t}(z) on flattened rows [B, d] and its exact directional derivative. The MLP propagates
//! tangents by hand ([`Mlp::velocity_jvp`]); the U-Net uses forward-mode AD
//! ([`UNet::velocity_jvp`]) on rows reshaped to images.

use crate::net::{Mlp, Tangent};
use crate::unet::UNet;
use tch::Tensor;

/// A flow-map network on flattened rows.
pub trait FlowNet {
    /// v_{s,t}(z) for s, t: [B, 1] and z: [B, d] (normalised space).
    fn velocity(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor;

    /// v_{s,t}(z) and its directional derivative along `tangent`, both differentiable in θ.
    fn velocity_jvp(
        &self,
        s: &Tensor,
        t: &Tensor,
        z: &Tensor,
        tangent: &Tangent,
    ) -> (Tensor, Tensor);

    /// The learned loss weight w(s, t) per row ([B]), or `None` for the paper's constant
    /// w = 1 (its MLP runs).
    fn loss_weight(&self, _s: &Tensor, _t: &Tensor) -> Option<Tensor> {
        None
    }

    /// The flow map X_{s,t}(z) = z + (t − s)·v_{s,t}(z).
    fn map(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        z + (t - s) * self.velocity(s, t, z)
    }
}

impl FlowNet for Mlp {
    fn velocity(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        Mlp::velocity(self, s, t, z)
    }

    fn velocity_jvp(
        &self,
        s: &Tensor,
        t: &Tensor,
        z: &Tensor,
        tangent: &Tangent,
    ) -> (Tensor, Tensor) {
        Mlp::velocity_jvp(self, s, t, z, tangent)
    }

    fn loss_weight(&self, s: &Tensor, t: &Tensor) -> Option<Tensor> {
        Mlp::loss_weight(self, s, t)
    }
}

impl UNet {
    fn image_shape(&self, rows: i64) -> [i64; 4] {
        let [c, h, w] = self.config.data_shape;
        [rows, c as i64, h as i64, w as i64]
    }
}

impl FlowNet for UNet {
    fn velocity(&self, s: &Tensor, t: &Tensor, z: &Tensor) -> Tensor {
        let rows = z.size()[0];
        UNet::velocity(self, s, t, &z.view(self.image_shape(rows))).view([rows, -1])
    }

    fn velocity_jvp(
        &self,
        s: &Tensor,
        t: &Tensor,
        z: &Tensor,
        tangent: &Tangent,
    ) -> (Tensor, Tensor) {
        let rows = z.size()[0];
        let shape = self.image_shape(rows);
        let dz = tangent.dz.map(|d| d.view(shape));
        let (v, dv) = UNet::velocity_jvp(
            self,
            s,
            t,
            &z.view(shape),
            (tangent.ds, tangent.dt, dz.as_ref()),
        );
        (v.view([rows, -1]), dv.view([rows, -1]))
    }

    fn loss_weight(&self, s: &Tensor, t: &Tensor) -> Option<Tensor> {
        Some(UNet::loss_weight(self, s, t))
    }
}
