//! Enables the AVX-512 kernel (`cfg(flowmap_avx512)`) on compilers whose AVX-512
//! intrinsics are stable (rustc ≥ 1.89); older compilers down to the MSRV build the AVX2
//! and portable kernels only.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(flowmap_avx512)");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .and_then(|v| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=flowmap_avx512");
    }
}
