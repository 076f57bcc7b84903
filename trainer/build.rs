//! Link-time set-up for libtorch:
//! * an rpath to libtorch's lib/ so binaries and tests run without LD_LIBRARY_PATH;
//! * with a CUDA libtorch, force libtorch_cuda.so to be NEEDED — rustc links with
//!   --as-needed and nothing references its symbols directly, so tch would otherwise never
//!   see the GPU (libtorch-notes.md).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let cuda = std::path::Path::new(&lib).join("libtorch_cuda.so");
        if cuda.exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
