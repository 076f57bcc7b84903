//! flowmap: run learned flow maps in one or two steps.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod schema;
