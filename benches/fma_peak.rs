//! Single-core floating-point peak of this CPU (FMA and unfused multiply + add), the
//! reference the other benchmarks are read against.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-perf cargo bench -p flowmap-benches --bench fma_peak
//! ```

mod common;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let peaks = common::peak::measure();
    if peaks.is_empty() {
        println!("no vector peak measured on this architecture");
    }
    for p in &peaks {
        println!("{:32} {:8.1} GFLOP/s", p.what, p.gflops);
    }
}
