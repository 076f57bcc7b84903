//! The U-Net of docs/format.md §8 in libtorch ops, built from the schema's plan
//! (`UnetPlan`, the function that also names the runtime's tensors): the reference of the
//! parity test (tests/unet_parity.rs) and the baseline of the U-Net benchmark.
#![allow(dead_code)]

use std::collections::HashMap;

use flowmap::schema::{Step, UnetPlan};
use flowmap::write::{ModelBuilder, WeightDtype};
use tch::{Kind, Tensor};

/// The tensors of a builder as libtorch tensors (rounded as `dtype` stores them).
pub fn torch_weights(b: &ModelBuilder, dtype: WeightDtype) -> HashMap<String, Tensor> {
    b.tensors()
        .iter()
        .map(|(spec, data)| {
            let v: Vec<f32> = data
                .iter()
                .map(|&x| match dtype {
                    WeightDtype::F32 => x,
                    WeightDtype::F16 => half::f16::from_f32(x).to_f32(),
                    WeightDtype::BF16 => half::bf16::from_f32(x).to_f32(),
                })
                .collect();
            let shape: Vec<i64> = spec.shape.iter().map(|&d| d as i64).collect();
            (
                spec.name.clone(),
                Tensor::from_slice(&v).view(shape.as_slice()),
            )
        })
        .collect()
}

/// The libtorch forward of docs/format.md §2: X_{s,t}(z) for normalised z `[B, C, H, W]`.
pub fn torch_map(
    plan: &UnetPlan,
    w: &HashMap<String, Tensor>,
    sigma: f32,
    s: f32,
    t: f32,
    z: &Tensor,
) -> Tensor {
    let g = |n: &str| &w[n];
    let conv = |h: &Tensor, p: &str, stride: i64, k: i64| {
        h.conv2d(
            g(&format!("{p}.weight")),
            Some(g(&format!("{p}.bias"))),
            [stride, stride],
            [k / 2, k / 2],
            [1, 1],
            1,
        )
    };
    let gn = |h: &Tensor, p: &str| {
        h.group_norm(
            plan.groups as i64,
            Some(g(&format!("{p}.weight"))),
            Some(g(&format!("{p}.bias"))),
            plan.norm_eps as f64,
            false,
        )
    };
    // Time embedding: the same f32 arguments as the runtime (ω = 2π·f in f32).
    let d = t - s;
    let mut fs = Vec::new();
    let mut fd = Vec::new();
    for &f in &plan.frequencies {
        let om = std::f32::consts::TAU * f;
        fs.extend([(om * s).sin(), (om * s).cos()]);
        fd.extend([(om * d).sin(), (om * d).cos()]);
    }
    fs.extend(fd);
    let feat = Tensor::from_slice(&fs).view([1, -1]);
    let emb = feat
        .linear(g("time.0.weight"), Some(g("time.0.bias")))
        .silu()
        .linear(g("time.1.weight"), Some(g("time.1.bias")));
    let se = emb.silu();
    let b = z.size()[0];
    let mut h = z / sigma as f64;
    let mut skips: Vec<Tensor> = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Conv(c) => h = conv(&h, &c.prefix, c.stride as i64, c.kernel as i64),
            Step::Upsample(c) => {
                let (hh, ww) = (h.size()[2], h.size()[3]);
                let up = h.upsample_nearest2d([2 * hh, 2 * ww], None, None);
                let up = up
                    .narrow(2, 0, c.output.0 as i64)
                    .narrow(3, 0, c.output.1 as i64);
                h = conv(&up, &c.prefix, 1, 3);
            }
            Step::Res(r) => {
                let p = &r.prefix;
                let co = r.cout as i64;
                let x = conv(
                    &gn(&h, &format!("{p}.norm1")).silu(),
                    &format!("{p}.conv1"),
                    1,
                    3,
                );
                let ss = se.linear(
                    g(&format!("{p}.emb.weight")),
                    Some(g(&format!("{p}.emb.bias"))),
                );
                let scale = ss.narrow(1, 0, co).view([1, co, 1, 1]);
                let shift = ss.narrow(1, co, co).view([1, co, 1, 1]);
                let x = gn(&x, &format!("{p}.norm2")) * (scale + 1.0) + shift;
                let x = conv(&x.silu(), &format!("{p}.conv2"), 1, 3);
                let skip = if r.cin != r.cout {
                    conv(&h, &format!("{p}.skip"), 1, 1)
                } else {
                    h.shallow_clone()
                };
                h = skip + x;
            }
            Step::Attention(a) => {
                let p = &a.prefix;
                let (ch, heads) = (a.channels as i64, a.heads as i64);
                let dh = ch / heads;
                let pp = (a.size.0 * a.size.1) as i64;
                let qkv = conv(&gn(&h, &format!("{p}.norm")), &format!("{p}.qkv"), 1, 1).view([
                    b,
                    3 * ch,
                    pp,
                ]);
                let q = qkv.narrow(1, 0, ch).view([b, heads, dh, pp]);
                let k = qkv.narrow(1, ch, ch).view([b, heads, dh, pp]);
                let v = qkv.narrow(1, 2 * ch, ch).view([b, heads, dh, pp]);
                let scores = q.transpose(-1, -2).matmul(&k) / (dh as f64).sqrt();
                let att = scores.softmax(-1, Kind::Float);
                let o = v.matmul(&att.transpose(-1, -2)).view([
                    b,
                    ch,
                    a.size.0 as i64,
                    a.size.1 as i64,
                ]);
                h = &h + conv(&o, &format!("{p}.proj"), 1, 1);
            }
            Step::PushSkip => skips.push(h.shallow_clone()),
            Step::ConcatSkip => {
                let s = skips.pop().expect("a skip to concatenate");
                h = Tensor::cat(&[&h, &s], 1);
            }
        }
    }
    let v = conv(&gn(&h, "out.norm").silu(), "out.conv", 1, 3) * sigma as f64;
    z + v * (t - s) as f64
}
