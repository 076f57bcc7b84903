//! Native counterpart of the page's timing: the same `Session::sample` call the wasm module
//! makes, on this machine, so browser and native numbers can be put side by side.
//!
//!   cargo run --release --example native_timing -- [MODEL] [SAMPLES] [STEPS] [REPEATS]
//!   cargo run --release --example native_timing --features native-std -- ...   # AVX kernels
//!
//! Defaults: the bundled checkerboard model, 16384 samples, 1 step, 50 repeats. Prints the
//! median and the fastest generation in ms (the page reports the same two figures).
use std::time::Instant;

use flowmap_web::Session;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let path = arg(
        0,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/checkerboard.safetensors"
        ),
    );
    let num = |i: usize, default: &str| -> Result<usize, String> {
        arg(i, default)
            .parse()
            .map_err(|e| format!("argument {}: {e}", i + 1))
    };
    let (n, steps, repeats) = (num(1, "16384")?, num(2, "1")?, num(3, "50")?.max(1));
    let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut s = Session::default();
    s.load(&bytes)?;
    s.sample(1, n, steps)?; // warm-up: sizes the buffers
    let mut ms: Vec<f64> = (0..repeats)
        .map(|r| {
            let t = Instant::now();
            let out = s.sample(r as u64, n, steps).map(|o| o[0]);
            std::hint::black_box(out).expect("sampling worked in the warm-up");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let kernel = if cfg!(feature = "native-std") {
        "std build (AVX2/AVX-512 kernels where the CPU has them)"
    } else {
        "portable kernel (same arithmetic as wasm)"
    };
    println!(
        "native, {kernel}: {n} samples, {steps} step(s): median {:.3} ms, min {:.3} ms over {repeats} runs",
        ms[repeats / 2],
        ms[0]
    );
    Ok(())
}
