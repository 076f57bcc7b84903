//! The runtime against libtorch on the reference MLPs (2→3×256→2 and the paper's 2-D net
//! 2→5×512→2, tanh-GELU), single thread, same weights, same run.
//!
//! Scenarios (criterion ids `<net>/<op>/<impl>/batch_<B>`): `map` through the runtime with
//! f32 and f16 weights and through libtorch (tch, `no_grad`, `set_num_threads(1)`, the
//! trainer's `Mlp::map`); `sample` with 1 and 2 steps through the runtime. Throughput is in
//! flop (2 per weight per row per network evaluation), so criterion's "elem/s" reads as
//! flop/s. After criterion, a summary table (interleaved re-measurement: medians, GFLOP/s,
//! runtime/libtorch ratios, fraction of the measured FMA peak) is printed.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-perf cargo bench -p flowmap-benches --bench runtime_vs_libtorch
//! # only the summary:  ... --bench runtime_vs_libtorch -- --summary-only
//! ```

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{inputs, interleaved, nets, Net};
use criterion::{BenchmarkId, Criterion, Throughput};
use flowmap::write::WeightDtype;
use flowmap::{Grid, Model};
use flowmap_train::net::Mlp;
use tch::{Device, Kind, Tensor};

const BATCHES: [usize; 3] = [1, 64, 1024];

fn torch_net(net: &Net) -> Mlp {
    let (ws, bs) = net
        .layers
        .iter()
        .map(|(w, b)| {
            let n = b.len() as i64;
            (
                Tensor::from_slice(w).view([n, w.len() as i64 / n]),
                Tensor::from_slice(b),
            )
        })
        .unzip();
    Mlp::from_tensors(
        ws,
        bs,
        net.sigma as f64,
        flowmap::schema::Activation::GeluTanh,
        &[],
    )
}

/// One libtorch `map` call as a user would write it: tensors in, `Vec<f32>` out.
struct TorchCase {
    mlp: Mlp,
    s: Tensor,
    t: Tensor,
    z: Tensor,
}

impl TorchCase {
    fn new(net: &Net, batch: usize) -> TorchCase {
        let b = batch as i64;
        TorchCase {
            mlp: torch_net(net),
            s: Tensor::full([b, 1], 0.0, (Kind::Float, Device::Cpu)),
            t: Tensor::full([b, 1], 1.0, (Kind::Float, Device::Cpu)),
            z: Tensor::from_slice(&inputs(batch)).view([b, 2]),
        }
    }

    fn run(&self, out: &mut [f32]) {
        let y = tch::no_grad(|| self.mlp.map(&self.s, &self.t, &self.z));
        y.view([-1]).copy_data(out, out.len());
    }
}

struct RtCase {
    model: Model,
    ws: flowmap::Workspace,
    x: Vec<f32>,
    out: Vec<f32>,
}

impl RtCase {
    fn new(net: &Net, dtype: WeightDtype, batch: usize) -> RtCase {
        let model = net.runtime(dtype);
        let ws = model.workspace(batch);
        RtCase {
            model,
            ws,
            x: inputs(batch),
            out: vec![0.0; batch * 2],
        }
    }
    fn map(&mut self) {
        self.model
            .map(&mut self.ws, 0.0, 1.0, black_box(&self.x), &mut self.out)
            .unwrap();
    }
    fn sample(&mut self, steps: usize) {
        self.model
            .sample(
                &mut self.ws,
                black_box(&self.x),
                Grid::Uniform(steps),
                &mut self.out,
            )
            .unwrap();
    }
}

fn criterion_benches(c: &mut Criterion) {
    for net in nets() {
        let flops = net.flops_per_row();
        for batch in BATCHES {
            let mut g = c.benchmark_group(format!("{}/map", net.name));
            g.throughput(Throughput::Elements(flops * batch as u64));
            for (name, dtype) in [
                ("runtime_f32", WeightDtype::F32),
                ("runtime_f16", WeightDtype::F16),
            ] {
                let mut case = RtCase::new(&net, dtype, batch);
                g.bench_function(BenchmarkId::new(name, format!("batch_{batch}")), |b| {
                    b.iter(|| case.map())
                });
            }
            let torch = TorchCase::new(&net, batch);
            let mut out = vec![0.0f32; batch * 2];
            g.bench_function(
                BenchmarkId::new("libtorch", format!("batch_{batch}")),
                |b| b.iter(|| torch.run(&mut out)),
            );
            g.finish();
            for steps in [1usize, 2] {
                let mut g = c.benchmark_group(format!("{}/sample_{steps}step", net.name));
                g.throughput(Throughput::Elements(flops * (batch * steps) as u64));
                for (name, dtype) in [
                    ("runtime_f32", WeightDtype::F32),
                    ("runtime_f16", WeightDtype::F16),
                ] {
                    let mut case = RtCase::new(&net, dtype, batch);
                    g.bench_function(BenchmarkId::new(name, format!("batch_{batch}")), |b| {
                        b.iter(|| case.sample(steps))
                    });
                }
                g.finish();
            }
        }
    }
}

fn fmt_time(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn summary() {
    let peaks = common::peak::measure();
    let peak = common::peak::fma_peak(&peaks);
    println!("\n## Single-core peak (measured)\n");
    for p in &peaks {
        println!("- {}: {:.1} GFLOP/s", p.what, p.gflops);
    }
    println!(
        "\n## map and sample, single thread (best of interleaved rounds; × = libtorch time / runtime time)\n"
    );
    println!("| net | batch | libtorch map | runtime map f32 | runtime map f16 | f16/f32 | × vs libtorch | runtime GFLOP/s | % FMA peak | sample 1 step | sample 2 steps |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for net in nets() {
        for batch in BATCHES {
            let torch = TorchCase::new(&net, batch);
            let mut tout = vec![0.0f32; batch * 2];
            let mut f32c = RtCase::new(&net, WeightDtype::F32, batch);
            let mut f16c = RtCase::new(&net, WeightDtype::F16, batch);
            let mut s1 = RtCase::new(&net, WeightDtype::F32, batch);
            let mut s2 = RtCase::new(&net, WeightDtype::F32, batch);
            let budget = Duration::from_millis(if batch == 1024 { 3000 } else { 1500 });
            let t = interleaved(
                &mut [
                    &mut || torch.run(&mut tout),
                    &mut || f32c.map(),
                    &mut || f16c.map(),
                    &mut || s1.sample(1),
                    &mut || s2.sample(2),
                ],
                budget,
            );
            let gf = net.flops_per_row() as f64 * batch as f64 / t[1] / 1e9;
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.1}× | {:.1} | {:.0} % | {} | {} |",
                net.name,
                batch,
                fmt_time(t[0]),
                fmt_time(t[1]),
                fmt_time(t[2]),
                t[2] / t[1],
                t[0] / t[1],
                gf,
                100.0 * gf / peak,
                fmt_time(t[3]),
                fmt_time(t[4]),
            );
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
            .measurement_time(Duration::from_secs(1))
            .sample_size(10)
            .configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
    if !std::env::args().any(|a| a == "--list") {
        summary();
    }
}
