//! Cost of the exact tangent through the U-Net: forward + ∂_t tangent (forward-mode AD)
//! against the forward pass alone, same net, same inputs, same process, interleaved rounds
//! (minimum of each), one thread. The ratio is what LSD pays per network call for its JVP.
//!
//! ```sh
//! OMP_NUM_THREADS=1 cargo run -p flowmap-train --example unet_jvp_cost -- [PRESET] [BATCH] [ROUNDS]
//! ```
//! PRESET is tiny (1×8×8), cpu (1×28×28, default) or gpu (1×28×28); BATCH default 32.

use flowmap_train::unet::{Preset, UNet};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("cpu", String::as_str);
    let batch: i64 = args.get(1).map_or(32, |b| b.parse().expect("BATCH"));
    let rounds: usize = args.get(2).map_or(5, |r| r.parse().expect("ROUNDS"));
    let p = Preset::from_name(preset).expect("preset: tiny, cpu or gpu");
    let side = if p == Preset::Tiny { 8 } else { 28 };
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let cfg = p.config([1, side, side]);
    println!(
        "U-Net preset {preset} on 1x{side}x{side}: {} parameters, {:.1} MFLOP per image forward; batch {batch}",
        cfg.num_parameters(),
        cfg.flops_per_image() as f64 / 1e6
    );
    let net = UNet::new(cfg, 0.5, Device::Cpu);
    tch::no_grad(|| {
        let w = &net.params["out.conv.weight"];
        w.shallow_clone().copy_(&(w.randn_like() * 0.1));
    });
    let x = Tensor::randn(
        [batch, 1, side as i64, side as i64],
        (Kind::Float, Device::Cpu),
    );
    let s = Tensor::rand([batch, 1], (Kind::Float, Device::Cpu)) * 0.5;
    let t = &s + 0.5;
    let one = t.ones_like();
    let time = |f: &dyn Fn() -> Tensor| {
        let t0 = Instant::now();
        let y = f();
        let _ = y.sum(Kind::Float).double_value(&[]);
        t0.elapsed().as_secs_f64()
    };
    let fwd = || tch::no_grad(|| net.velocity(&s, &t, &x));
    let jvp = || tch::no_grad(|| net.velocity_jvp(&s, &t, &x, (None, Some(&one), None)).1);
    let (_, _) = (time(&fwd), time(&jvp)); // warm-up
    let (mut best_f, mut best_j) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        best_f = best_f.min(time(&fwd));
        best_j = best_j.min(time(&jvp));
    }
    println!(
        "forward {:.1} ms, forward + tangent {:.1} ms: ratio {:.2} (min of {rounds} interleaved rounds)",
        best_f * 1e3,
        best_j * 1e3,
        best_j / best_f
    );
}
