//! Link-time set-up for the benchmark that runs libtorch (dev-dependency `tch`): an rpath to
//! libtorch's lib/ so bench binaries run without LD_LIBRARY_PATH, as trainer/build.rs does
//! (`torch-sys` is a direct dependency so DEP_TCH_LIBTORCH_LIB is visible here).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
