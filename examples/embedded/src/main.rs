//! flowmap on a Cortex-M4F: load the embedded model, sample one and two steps from a fixed
//! seed, print every sample's f32 bits in hex over semihosting (the host test compares them
//! with the host's portable kernel bit for bit), then the heap's figures, then exit.
//!
//! Output (one item per line; `runtime/tests/targets_qemu.rs` parses it):
//!
//! ```text
//! model bytes=<file size> dim=<d> params=<n>
//! sample steps=<1|2> row=<i> <hex bits of x[0]> <hex bits of x[1]> ...
//! heap size=<bytes> peak=<bytes> model=<bytes> buffers=<bytes> sampling_allocations=<n>
//! stack peak=<bytes>
//! done
//! ```
#![no_std]
#![no_main]

extern crate alloc;

mod heap;
mod stack;

use alloc::vec;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprint, hprintln};
use flowmap::{Grid, Model};
use panic_semihosting as _;

use heap::{MeteredHeap, HEAP_SIZE};

#[global_allocator]
static HEAP: MeteredHeap = MeteredHeap::empty();

/// A real model exported by flowmap-train (see examples/models/README.md).
static MODEL: &[u8] = include_bytes!("../../models/checkerboard.safetensors");
/// Noise seed (the host test uses the same).
const SEED: u64 = 42;
/// Samples drawn per step count.
const BATCH: usize = 8;

#[entry]
fn main() -> ! {
    stack::paint();
    HEAP.init();
    let code = match run() {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    debug::exit(code);
    // Only reached when no debugger/semihosting host ended the session.
    loop {
        cortex_m::asm::wfi();
    }
}

fn run() -> Result<(), ()> {
    let model = Model::from_bytes(MODEL).map_err(|e| hprintln!("error: load: {}", e))?;
    let resident_model = HEAP.usage().in_use;
    let dim = model.dim();
    hprintln!(
        "model bytes={} dim={} params={}",
        MODEL.len(),
        dim,
        model.num_parameters()
    );

    let mut ws = model.workspace(BATCH);
    let mut out = vec![0.0f32; BATCH * dim];
    let before_sampling = HEAP.usage();
    for steps in [1usize, 2] {
        model
            .sample_seeded(&mut ws, SEED, Grid::Uniform(steps), &mut out)
            .map_err(|e| hprintln!("error: sample: {}", e))?;
        for (row, x) in out.chunks_exact(dim).enumerate() {
            hprint!("sample steps={} row={}", steps, row);
            for v in x {
                hprint!(" {:08x}", v.to_bits());
            }
            hprintln!();
        }
    }
    let after = HEAP.usage();
    hprintln!(
        "heap size={} peak={} model={} buffers={} sampling_allocations={}",
        HEAP_SIZE,
        after.peak,
        resident_model,
        before_sampling.in_use - resident_model,
        after.allocations - before_sampling.allocations
    );
    hprintln!("stack peak={}", stack::high_water());
    hprintln!("done");
    Ok(())
}
