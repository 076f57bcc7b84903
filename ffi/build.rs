//! Link settings for libflowmap.so: the SONAME, so that programs linked against
//! `libflowmap.so` record `libflowmap.so.0` (the major ABI version) as their dependency.
//! Only `flowmap_*` symbols are exported: rustc already limits a cdylib's exports to its
//! `#[no_mangle] pub extern` functions (tests/c_suite.rs checks this with `nm -D`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libflowmap.so.0");
    }
}
