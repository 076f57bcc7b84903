//! Link-time set-up for libtorch:
//! * an rpath to libtorch's lib/ so binaries and tests run without LD_LIBRARY_PATH;
//! * with a CUDA libtorch, force libtorch_cuda.so to be NEEDED — rustc links with
//!   --as-needed and nothing references its symbols directly, so tch would otherwise never
//!   see the GPU (libtorch-notes.md);
//! * the `flowmap-train` executable exports `mkl_serv_intel_cpu` and `mkl_serv_intel_cpu_true`
//!   (trainer/src/main.rs) so libtorch's MKL binds to them. ld would export them anyway, as
//!   libtorch_cpu.so refers to them; saying it here keeps that from resting on a side effect.
fn main() {
    for symbol in ["mkl_serv_intel_cpu", "mkl_serv_intel_cpu_true"] {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={symbol}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let cuda = std::path::Path::new(&lib).join("libtorch_cuda.so");
        if cuda.exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
