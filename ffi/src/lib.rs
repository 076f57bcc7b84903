//! C ABI for flowmap.
