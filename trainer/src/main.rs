//! `flowmap-train`: the command line (trainer/src/cli.rs) and one link-time setting for libtorch's
//! BLAS, which has to live in the executable (see below).

use std::os::raw::c_int;
use std::sync::OnceLock;

fn main() {
    std::process::exit(flowmap_train::cli::main());
}

/// Tell oneMKL, which libtorch links into libtorch_cpu.so, that it may pick its kernels by the
/// CPU's instruction sets whatever the vendor.
///
/// MKL asks these two functions whether the CPU is Intel's; where the answer is no, it runs its
/// generic code path even where the CPU has AVX-512 (on AMD Zen 4: `mkl_blas_def_sgemm_kernel_0_zen`
/// instead of `mkl_blas_avx512_sgemm_kernel_0`). It takes both answers: replacing only
/// `mkl_serv_intel_cpu` gives its SSE2 path, only `mkl_serv_intel_cpu_true` changes nothing
/// (measured with `MKL_VERBOSE=1`, whose first line names the path; the test
/// `mkl_picks_kernels_by_instruction_set` checks it). MKL still reads the CPU's feature flags
/// before it picks a kernel, so a CPU only gets kernels it supports. These definitions win
/// because the executable exports them (trainer/build.rs) and the dynamic linker looks in the
/// executable before libtorch_cpu.so. On Zen 4 they cut the trainer's CPU time per step by
/// 13–18 % (docs/performance.md, "MKL's kernels on AMD"); on Intel CPUs nothing changes.
///
/// `FLOWMAP_MKL_VENDOR_CHECK=1` keeps MKL's own answer, e.g. to repeat a run made before this
/// setting bit for bit on an AMD CPU (another kernel rounds differently).
#[no_mangle]
pub extern "C" fn mkl_serv_intel_cpu_true() -> c_int {
    mkl_may_use_every_instruction_set()
}

/// See [`mkl_serv_intel_cpu_true`].
#[no_mangle]
pub extern "C" fn mkl_serv_intel_cpu() -> c_int {
    mkl_may_use_every_instruction_set()
}

fn mkl_may_use_every_instruction_set() -> c_int {
    static ANSWER: OnceLock<c_int> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        if std::env::var_os("FLOWMAP_MKL_VENDOR_CHECK").is_some_and(|v| v == "1") {
            mkl_own_answer()
        } else {
            1
        }
    })
}

/// What MKL would have answered: the CPU's vendor string is "GenuineIntel".
fn mkl_own_answer() -> c_int {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `cpuid` leaf 0 exists on every x86-64 CPU and only reads identification
        // registers. (The intrinsic is safe from Rust 1.87; the workspace supports 1.85.)
        #[allow(unused_unsafe)]
        let id = unsafe { std::arch::x86_64::__cpuid(0) };
        let vendor = [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat();
        c_int::from(vendor == b"GenuineIntel")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}
