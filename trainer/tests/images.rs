//! All five methods train a tiny U-Net on 8×8 images for a few steps: the losses (LSD's ∂_t
//! and ESD's ∂_s and spatial JVPs through forward-mode AD included) are finite, gradients reach
//! every parameter and to the learned loss weight w(s, t), and the steps change the network.

use flowmap::schema::Interpolant;
use flowmap_train::flownet::FlowNet;
use flowmap_train::objective::{self, LossConfig, LossWeight, Method, Teacher};
use flowmap_train::optim::RAdam;
use flowmap_train::unet::{Preset, UNet};
use tch::{Device, Kind, Tensor};

/// 8×8 "digits": a bright bar at a random row or column on a dark background, in [−1, 1].
fn bars(n: i64) -> Tensor {
    let mut data = vec![-1.0f32; (n * 64) as usize];
    for i in 0..n as usize {
        let k = (i * 5) % 8;
        for j in 0..8 {
            let (r, c) = if i % 2 == 0 { (k, j) } else { (j, k) };
            data[i * 64 + r * 8 + c] = 1.0;
        }
    }
    Tensor::from_slice(&data).view([n, 64])
}

#[test]
fn every_method_trains_a_tiny_unet_on_8x8_images() {
    tch::set_num_threads(1);
    let data = bars(64);
    for method in Method::ALL {
        tch::manual_seed(5);
        let net = UNet::new(Preset::Tiny.config([1, 8, 8]), 0.5, Device::Cpu);
        // Start away from the identity so every term has a gradient.
        tch::no_grad(|| {
            let w = &net.params["out.conv.weight"];
            w.shallow_clone().copy_(&(w.randn_like() * 0.05));
        });
        // The network and its learned loss weight w(s, t), which starts at 0.
        let params: Vec<&Tensor> = net
            .params
            .values()
            .chain(net.loss_weight.values())
            .collect();
        let s0 = Tensor::from_slice(&[0.2f32, 0.0]).view([2, 1]);
        let w0 = net.loss_weight(&s0, &(&s0 + 0.5));
        assert_eq!(w0.abs().sum(Kind::Float).double_value(&[]), 0.0);
        let before: Vec<Tensor> = params.iter().map(|p| p.detach().copy()).collect();
        let mut opt = RAdam::new(&params);
        let cfg = LossConfig {
            method,
            stopgrad: method.default_stopgrad(),
            interpolant: Interpolant::Linear,
            diag_fraction: 0.75,
            loss_weight: LossWeight::Learned,
            teacher_cap: 0.0,
        };
        for step in 0..3 {
            let x1 = data.narrow(0, step * 16, 16);
            let x0 = x1.randn_like() * 0.5;
            let times = objective::sample_times(16, 0.75, 0.0, method, Device::Cpu);
            let out = objective::loss(&net, &Teacher::SelfDistill, &cfg, &x0, &x1, &times);
            let loss = out.loss.double_value(&[]);
            assert!(loss.is_finite(), "{}: loss {loss}", method.name());
            let norm = opt.backward_step(&out.loss, 1.0, 1e-3).unwrap();
            assert!(norm > 0.0, "{}: no gradient", method.name());
            if method != Method::Fm {
                assert!(out.off_err.double_value(&[]) > 0.0, "{}", method.name());
            }
        }
        let moved = params
            .iter()
            .zip(&before)
            .filter(|(p, b)| !p.equal(b))
            .count();
        assert!(
            moved * 2 > params.len(),
            "{}: only {moved} of {} tensors changed",
            method.name(),
            params.len()
        );
        let w = &net.loss_weight["loss_weight.1.weight"];
        assert!(
            w.abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "{}: the loss weight did not learn",
            method.name()
        );
        // The trained net still maps images to images.
        let s = Tensor::zeros([2, 1], (Kind::Float, Device::Cpu));
        let t = Tensor::ones([2, 1], (Kind::Float, Device::Cpu));
        let x = FlowNet::map(&net, &s, &t, &(data.narrow(0, 0, 2).randn_like() * 0.5));
        assert_eq!(x.size(), vec![2, 64]);
        assert!(x.isfinite().all().int64_value(&[]) == 1);
    }
}

/// The trainer's U-Net and the runtime's, on the exported file: the same flow map within
/// 1e-5 relative (RGB 7×5 images, attention at two levels, odd sizes).
#[test]
fn exported_unet_maps_like_the_trainer_in_the_runtime() {
    use flowmap::schema::{Interpolant, ModelMeta, Normalization, Provenance};
    tch::manual_seed(21);
    let mut cfg = Preset::Tiny.config([3, 7, 5]);
    cfg.attention = vec![7, 4];
    let net = UNet::new(cfg, 0.5, Device::Cpu);
    tch::no_grad(|| {
        // Non-trivial weights everywhere, the output layer and the norms included.
        for (name, p) in &net.params {
            let scale = if name.contains("norm") { 0.1 } else { 0.05 };
            p.shallow_clone().copy_(&(p + p.randn_like() * scale));
        }
    });
    let named: Vec<(String, Tensor)> = net
        .params
        .iter()
        .map(|(n, p)| (n.clone(), p.detach()))
        .collect();
    let meta = ModelMeta {
        format_version: 2,
        architecture: net.architecture(Some([-1.0, 1.0])),
        interpolant: Interpolant::Linear,
        sigma: 0.5,
        normalization: Normalization {
            mean: vec![0.0; 105],
            std: vec![1.0; 105],
        },
        provenance: Provenance {
            method: "test".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "test".into(),
            dataset: String::new(),
        },
    };
    let bytes =
        flowmap_train::export::to_model_bytes(&named, &meta, flowmap::write::WeightDtype::F32)
            .unwrap();
    let model = flowmap::Model::from_bytes(&bytes).unwrap();
    let x = Tensor::randn([3, 105], (Kind::Float, Device::Cpu));
    let (s, t) = (0.15f32, 0.8f32);
    let st = |v: f32| Tensor::full([3, 1], f64::from(v), (Kind::Float, Device::Cpu));
    let want = tch::no_grad(|| FlowNet::map(&net, &st(s), &st(t), &x));
    let xs: Vec<f32> = Vec::try_from(x.view([-1])).unwrap();
    let mut got = vec![0.0f32; xs.len()];
    let mut ws = model.workspace(3);
    model.map(&mut ws, s, t, &xs, &mut got).unwrap();
    let want: Vec<f32> = Vec::try_from(want.view([-1])).unwrap();
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = want
        .iter()
        .zip(&got)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err <= 1e-5 * scale, "max error {err} vs scale {scale}");
    // And the map moved the points (the comparison is not of two identities).
    let moved = xs
        .iter()
        .zip(&got)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(moved > 1e-2, "{moved}");
}
