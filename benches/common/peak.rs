//! Single-core floating-point peak of this CPU, measured: independent chains of vector
//! FMAs (and, for comparison, separate multiplies and adds), so that kernel throughput can
//! be read as a fraction of what the core can do.

use std::time::Instant;

/// Independent accumulator chains: enough to cover FMA latency (4–5 cycles) × 2 pipes.
const CHAINS: usize = 12;

/// One measured peak.
pub struct Peak {
    pub what: &'static str,
    pub gflops: f64,
}

/// Runs `f(iters)` (which performs `flops_per_iter · iters` flops) a few times and returns
/// the best rate in GFLOP/s.
fn best(flops_per_iter: f64, f: impl Fn(u64) -> f32) -> f64 {
    // Short runs, many of them: the best one is the uncontended rate even on a busy machine.
    let iters = 100_000u64;
    let mut best = 0.0f64;
    let mut sink = 0.0f32;
    for _ in 0..60 {
        let t0 = Instant::now();
        sink += f(iters);
        let dt = t0.elapsed().as_secs_f64();
        best = best.max(flops_per_iter * iters as f64 / dt / 1e9);
    }
    std::hint::black_box(sink);
    best
}

/// The peaks this CPU supports: AVX-512 FMA (zmm), AVX2 FMA (ymm), AVX mul + add (ymm,
/// not fused), SSE mul + add (xmm, the portable baseline).
pub fn measure() -> Vec<Peak> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            let g = best((CHAINS * 16 * 2) as f64, |n| unsafe { x86::fma512(n) });
            out.push(Peak {
                what: "AVX-512 FMA (zmm)",
                gflops: g,
            });
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            let g = best((CHAINS * 16 * 2) as f64, |n| unsafe { x86::muladd512(n) });
            out.push(Peak {
                what: "AVX-512 mul+add, not fused (zmm)",
                gflops: g,
            });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were just detected.
            let g = best((CHAINS * 8 * 2) as f64, |n| unsafe { x86::fma256(n) });
            out.push(Peak {
                what: "AVX2 FMA (ymm)",
                gflops: g,
            });
        }
        if is_x86_feature_detected!("avx") {
            // SAFETY: AVX was just detected.
            let g = best((CHAINS * 8 * 2) as f64, |n| unsafe { x86::muladd256(n) });
            out.push(Peak {
                what: "AVX mul+add, not fused (ymm)",
                gflops: g,
            });
        }
    }
    out
}

/// The FMA peak: the best of the measured FMA rates.
pub fn fma_peak(peaks: &[Peak]) -> f64 {
    peaks
        .iter()
        .filter(|p| p.what.contains("FMA"))
        .map(|p| p.gflops)
        .fold(0.0, f64::max)
}

// The AVX-512 intrinsics need rustc ≥ 1.89 (the benches are dev-only; the runtime itself
// gates its AVX-512 kernel on the compiler version).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use super::CHAINS;
    use core::arch::x86_64::*;

    /// `n` rounds of `CHAINS` independent zmm FMAs; returns a value depending on all of
    /// them so nothing is optimised away.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma512(n: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// Separate multiply and add on zmm registers (see [`muladd256`]).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn muladd512(n: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); 2 * CHAINS];
        for _ in 0..n / 2 {
            for v in acc.iter_mut() {
                *v = _mm512_add_ps(_mm512_mul_ps(*v, a), b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// As [`fma512`] with ymm registers.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma256(n: u64) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    /// Separate multiply and add (`acc = acc·a + b` in two instructions): what a kernel
    /// that never fuses can reach.
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[target_feature(enable = "avx")]
    pub unsafe fn muladd256(n: u64) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        // Twice the chains: each step is two dependent instructions.
        let mut acc = [_mm256_set1_ps(1.0); 2 * CHAINS];
        for _ in 0..n / 2 {
            for v in acc.iter_mut() {
                *v = _mm256_add_ps(_mm256_mul_ps(*v, a), b);
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }
}
