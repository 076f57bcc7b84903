//! Stack high-water mark by painting: fill the unused stack with a pattern at start-up, and
//! later find the lowest word that was overwritten.
//!
//! The stack grows down from `_stack_start` (top of RAM) towards `__sheap` (the end of the
//! statics, where cortex-m-rt's memory layout leaves free RAM); both symbols come from
//! cortex-m-rt's link.x.

const PAINT: u32 = 0xC0FF_EE5A;
/// Bytes below the current stack pointer left unpainted (the painting code's own frame).
const MARGIN: usize = 256;

extern "C" {
    static mut __sheap: u32;
    static mut _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the symbols' addresses are taken, never their values.
    (
        &raw const __sheap as usize,
        &raw const _stack_start as usize,
    )
}

/// Paints the free stack. Call once, first thing in `main`.
pub fn paint() {
    let (low, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = low;
    while p + 4 <= sp - MARGIN {
        // SAFETY: [__sheap, sp − MARGIN) is RAM below every live stack frame (the stack grows
        // down from the top of RAM and is at `sp` now) and above every static (`__sheap` is
        // the end of .bss/.uninit), so nothing else uses it; `p` is word-aligned
        // (`__sheap` is 4-aligned by link.x).
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The most stack used since [`paint`], in bytes (at least the unpainted margin's worth).
pub fn high_water() -> usize {
    let (low, top) = bounds();
    let mut p = low;
    // SAFETY: reads words of RAM between the end of the statics and the top of the stack.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
