//! The runtime's U-Net against libtorch on the same network and weights, single thread:
//! one-step map X_{0,1}(x) at batch 1 and 64, for a 1×28×28 and a 3×32×32 U-Net (c = 32,
//! channel_mult [1, 2, 2], 2 blocks per level, attention at the 7×7 / 8×8 level and in the
//! middle, 4 heads, 8 groups, E = 128). libtorch runs the reference forward of
//! `common/unet_torch.rs` (tch ops, `no_grad`, `set_num_threads(1)`).
//!
//! The summary (interleaved re-measurement, best of short rounds) gives ms per image,
//! × = libtorch time / runtime time, GFLOP/s (multiply-adds of the convolutions, dense layers
//! and attention, 2 flop each) and the fraction of the measured single-core FMA peak.
//!
//! ```sh
//! OMP_NUM_THREADS=1 cargo bench -p flowmap-benches --bench unet_vs_libtorch -- --summary-only
//! ```

mod common;
#[path = "common/unet_torch.rs"]
mod unet_torch;

use std::hint::black_box;
use std::time::Duration;

use common::interleaved;
use criterion::{BenchmarkId, Criterion, Throughput};
use flowmap::schema::{Step, UnetPlan};
use flowmap::write::{random_unet_builder, WeightDtype};
use flowmap::{Model, NormalRng, Workspace};
use tch::Tensor;

use common::UNET_NETS as NETS;
const BATCHES: [usize; 2] = [1, 64];

struct Case {
    model: Model,
    plan: UnetPlan,
    weights: std::collections::HashMap<String, Tensor>,
    sigma: f32,
}

fn case(shape: [usize; 3], attention_at: usize) -> Case {
    let meta = common::unet_bench_meta(shape, attention_at);
    let plan = UnetPlan::new(&meta.architecture).unwrap().unwrap();
    let builder = random_unet_builder(meta.clone(), 1);
    Case {
        model: Model::from_bytes(&builder.to_bytes()).unwrap(),
        weights: unet_torch::torch_weights(&builder, WeightDtype::F32),
        plan,
        sigma: meta.sigma,
    }
}

/// Flop of one image's forward pass (2 per multiply-add).
fn flops(plan: &UnetPlan) -> f64 {
    let conv = |c: &flowmap::schema::Conv| {
        2.0 * (c.output.0 * c.output.1 * c.cout * c.cin * c.kernel * c.kernel) as f64
    };
    let mut f = conv(&plan.out_conv());
    for s in &plan.steps {
        f += match s {
            Step::Conv(c) | Step::Upsample(c) => conv(c),
            Step::Res(r) => {
                conv(&r.conv1()) + conv(&r.conv2()) + r.skip().map_or(0.0, |s| conv(&s))
            }
            Step::Attention(a) => {
                let p = (a.size.0 * a.size.1) as f64;
                conv(&a.qkv()) + conv(&a.proj()) + 4.0 * p * p * a.channels as f64
            }
            Step::PushSkip | Step::ConcatSkip => 0.0,
        };
    }
    f
}

struct Inputs {
    x: Vec<f32>,
    out: Vec<f32>,
    ws: Workspace,
    xt: Tensor,
}

fn inputs(c: &Case, batch: usize) -> Inputs {
    let dim = c.model.dim();
    let mut x = vec![0.0f32; batch * dim];
    NormalRng::new(3).fill(&mut x);
    let s = c.model.data_shape();
    let xt = Tensor::from_slice(&x).view([batch as i64, s[0] as i64, s[1] as i64, s[2] as i64]);
    Inputs {
        out: vec![0.0; x.len()],
        ws: c.model.workspace(batch),
        x,
        xt,
    }
}

fn runtime_map(c: &Case, i: &mut Inputs) {
    c.model
        .map(&mut i.ws, 0.0, 1.0, black_box(&i.x), &mut i.out)
        .unwrap();
}

/// What a libtorch user does: tensor in, `Vec<f32>` out (mean 0, std 1 here).
fn torch_map(c: &Case, i: &mut Inputs) {
    let y = tch::no_grad(|| unet_torch::torch_map(&c.plan, &c.weights, c.sigma, 0.0, 1.0, &i.xt));
    let n = i.out.len();
    y.view([-1]).copy_data(&mut i.out, n);
}

fn fmt_ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

fn summary() {
    let peaks = common::peak::measure();
    let peak = common::peak::fma_peak(&peaks);
    println!("\n## U-Net map X_(0,1), single thread (best of interleaved rounds; × = libtorch / runtime)\n");
    println!("FMA peak (measured): {peak:.1} GFLOP/s\n");
    println!("| net | MFLOP/image | batch | libtorch per image | runtime per image | × vs libtorch | runtime GFLOP/s | % FMA peak |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, shape, att) in NETS {
        let c = case(shape, att);
        let f = flops(&c.plan);
        for batch in BATCHES {
            let mut a = inputs(&c, batch);
            let mut b = inputs(&c, batch);
            let budget = Duration::from_millis(if batch == 1 { 1500 } else { 4000 });
            let t = interleaved(
                &mut [&mut || torch_map(&c, &mut a), &mut || {
                    runtime_map(&c, &mut b)
                }],
                budget,
            );
            let per = |s: f64| s / batch as f64;
            let gf = f * batch as f64 / t[1] / 1e9;
            println!(
                "| {name} | {:.1} | {batch} | {} | {} | {:.2}× | {:.1} | {:.0} % |",
                f / 1e6,
                fmt_ms(per(t[0])),
                fmt_ms(per(t[1])),
                t[0] / t[1],
                gf,
                100.0 * gf / peak
            );
        }
    }
}

fn criterion_benches(cr: &mut Criterion) {
    for (name, shape, att) in NETS {
        let c = case(shape, att);
        let f = flops(&c.plan);
        for batch in BATCHES {
            let mut g = cr.benchmark_group(format!("unet_{name}/map"));
            g.throughput(Throughput::Elements((f * batch as f64) as u64));
            let mut a = inputs(&c, batch);
            g.bench_function(
                BenchmarkId::new("runtime_f32", format!("batch_{batch}")),
                |bn| bn.iter(|| runtime_map(&c, &mut a)),
            );
            let mut b = inputs(&c, batch);
            g.bench_function(
                BenchmarkId::new("libtorch", format!("batch_{batch}")),
                |bn| bn.iter(|| torch_map(&c, &mut b)),
            );
            g.finish();
        }
    }
}

fn main() {
    tch::set_num_threads(1);
    tch::set_num_interop_threads(1);
    let summary_only = std::env::args().any(|a| a == "--summary-only");
    if !summary_only {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(10)
            .configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
    if !std::env::args().any(|a| a == "--list") {
        summary();
    }
}
