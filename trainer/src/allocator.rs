//! How the C allocator treats the memory libtorch frees.
//!
//! A training step makes and drops dozens of tensors of one to a few MB (a default 2-D step:
//! 1024 × 256 activations, the OT coupling's 1024 × 1024 plan). glibc serves blocks that large
//! with fresh `mmap` pages and unmaps them when they are freed, so every step faults its whole
//! working set in again and the kernel zeroes it page by page: about 1 900 page faults per
//! default 2-D step, 10 % of the run's CPU time in the kernel (measured with `perf stat` on
//! 300 steps, docs/performance.md). Raising the `mmap` threshold and the trim threshold keeps
//! freed blocks in the heap for the next step to reuse. Nothing numerical changes: only where
//! the tensors live.

/// Blocks up to this size come from the heap: glibc's largest allowed `mmap` threshold on
/// 64-bit targets (half its 64 MiB heap size). Larger blocks (big image batches) keep `mmap`.
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of the heap is returned to the system only beyond this: the heap
/// then stays at the step's peak instead of shrinking and faulting back in every step.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Makes glibc keep freed blocks for reuse (see the module docs). Returns whether both
/// settings took; elsewhere than glibc it does nothing and returns false. Process-wide: call it
/// once, before training.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes two allocator parameters; glibc serialises it with
        // its own lock, and both values are in the ranges it documents (it returns 0 and
        // changes nothing otherwise).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_both_settings() {
        assert!(keep_freed_memory());
    }
}
