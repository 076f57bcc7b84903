//! The firmware's heap: a fixed static arena managed by a linked-list first-fit allocator
//! (`embedded-alloc`), metered so the firmware can report what the model really needed.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Bytes of RAM set aside for the heap (of the part's 128 KiB; the rest is stack and statics).
pub const HEAP_SIZE: usize = 96 * 1024;

/// A first-fit heap that counts the bytes in use, the high-water mark and the number of
/// allocations (so the firmware can show that sampling allocates nothing).
pub struct MeteredHeap {
    heap: LlffHeap,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    allocations: AtomicUsize,
}

/// What the heap has seen so far.
#[derive(Clone, Copy)]
pub struct Usage {
    /// Bytes allocated and not yet freed (as requested; allocator overhead not included).
    pub in_use: usize,
    /// Largest `in_use` so far.
    pub peak: usize,
    /// Number of successful allocations so far.
    pub allocations: usize,
}

impl MeteredHeap {
    /// An empty heap; [`MeteredHeap::init`] gives it its memory.
    pub const fn empty() -> Self {
        MeteredHeap {
            heap: LlffHeap::empty(),
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
        }
    }

    /// Hands the static arena to the allocator. Call once, before the first allocation.
    pub fn init(&self) {
        static mut ARENA: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
        // SAFETY: called once at start-up (from `main`, before anything allocates), so the
        // arena is handed over exactly once and nothing else ever touches it.
        unsafe { self.heap.init(&raw mut ARENA as usize, HEAP_SIZE) }
    }

    /// The counters now.
    pub fn usage(&self) -> Usage {
        Usage {
            in_use: self.in_use.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            allocations: self.allocations.load(Ordering::Relaxed),
        }
    }
}

// SAFETY: every call is forwarded unchanged to `LlffHeap`, a correct `GlobalAlloc`; the
// wrapper only updates counters after the inner call.
unsafe impl GlobalAlloc for MeteredHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on as is.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let now = self.in_use.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
            self.allocations.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract (ptr came from `alloc` with layout).
        unsafe { self.heap.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}
