//! flowmap for the browser: one loaded model, sampled on demand, behind plain
//! `extern "C"` exports that JavaScript calls through `WebAssembly.instantiate`.
//!
//! Why plain exports rather than wasm-bindgen: the interface is a few numbers and two byte
//! buffers, so generated glue buys nothing, while wasm-bindgen would need its CLI at exactly
//! the crate's version on every build machine. Here `cargo build` alone makes the module and
//! www/app.js is the whole JavaScript side.
//!
//! Memory protocol (all buffers belong to the module; JavaScript only reads and writes
//! through the pointers it is given, and re-creates its views after every call, because
//! memory growth detaches them):
//! 1. `fm_input(len)` → pointer to `len` writable bytes; JS copies the model file there;
//! 2. `fm_load()` → 0 on success, else 1 with the message at `fm_text_ptr()`/`fm_text_len()`;
//! 3. `fm_sample(seed, n, steps)` → pointer to `n × fm_dim()` f32 samples (null on error).
//!
//! The `std` feature of the runtime stays off: on wasm32 it would only add file loading,
//! and the kernel is the portable one either way (wasm has no fused multiply-add), so the
//! page's samples equal the host's portable-kernel samples bit for bit.

use std::cell::RefCell;

use flowmap::{Grid, Model, Workspace};

/// Everything the page works with: the model file's bytes, the loaded model, scratch and
/// output buffers, and the last text (model info or error message) for JS to read.
#[derive(Default)]
pub struct Session {
    input: Vec<u8>,
    model: Option<Model>,
    ws: Workspace,
    out: Vec<f32>,
    text: String,
}

/// Largest batch the page may ask for (the output buffer is `n × dim` floats).
pub const MAX_SAMPLES: usize = 1 << 20;

impl Session {
    /// Loads `bytes` as the current model (the previous one stays on error).
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let model = Model::from_bytes(bytes).map_err(|e| format!("cannot load the model: {e}"))?;
        self.text = serde_json::to_string(model.meta()).map_err(|e| e.to_string())?;
        self.model = Some(model);
        Ok(())
    }

    /// The loaded model, if any.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// Draws `n` samples in `steps` uniform steps from noise seeded with `seed`; returns
    /// them row-major (n × dim). Allocates only when `n` exceeds every earlier request.
    pub fn sample(&mut self, seed: u64, n: usize, steps: usize) -> Result<&[f32], String> {
        let model = self.model.as_ref().ok_or("no model loaded")?;
        if n == 0 || n > MAX_SAMPLES {
            return Err(format!("samples must be 1..={MAX_SAMPLES}, got {n}"));
        }
        let len = n * model.dim();
        if self.out.len() < len {
            self.out.resize(len, 0.0);
        }
        let out = &mut self.out[..len];
        model
            .sample_seeded(&mut self.ws, seed, Grid::Uniform(steps), out)
            .map_err(|e| format!("cannot sample: {e}"))?;
        Ok(out)
    }
}

thread_local! {
    // wasm32-unknown-unknown runs one thread: this is the module's single session.
    static SESSION: RefCell<Session> = RefCell::new(Session::default());
}

fn with<R>(f: impl FnOnce(&mut Session) -> R) -> R {
    SESSION.with(|s| f(&mut s.borrow_mut()))
}

/// Makes the input buffer `len` bytes long and returns where JS should write the file.
#[no_mangle]
pub extern "C" fn fm_input(len: usize) -> *mut u8 {
    with(|s| {
        s.input.clear();
        s.input.resize(len, 0);
        s.input.as_mut_ptr()
    })
}

/// Loads the input buffer as the model: 0 on success (info JSON in the text buffer), 1 on
/// error (message in the text buffer).
#[no_mangle]
pub extern "C" fn fm_load() -> u32 {
    with(|s| {
        let bytes = std::mem::take(&mut s.input);
        let r = s.load(&bytes);
        s.input = bytes;
        match r {
            Ok(()) => 0,
            Err(e) => {
                s.text = e;
                1
            }
        }
    })
}

/// Data dimension of the loaded model (0 when none is loaded).
#[no_mangle]
pub extern "C" fn fm_dim() -> usize {
    with(|s| s.model().map_or(0, Model::dim))
}

/// Samples (see [`Session::sample`]); null on error, with the message in the text buffer.
#[no_mangle]
pub extern "C" fn fm_sample(seed: u64, n: usize, steps: usize) -> *const f32 {
    with(|s| match s.sample(seed, n, steps) {
        Ok(out) => out.as_ptr(),
        Err(e) => {
            s.text = e;
            std::ptr::null()
        }
    })
}

/// Start of the text buffer (UTF-8): the model's metadata JSON after a load, or the last
/// error message.
#[no_mangle]
pub extern "C" fn fm_text_ptr() -> *const u8 {
    with(|s| s.text.as_ptr())
}

/// Length in bytes of the text buffer.
#[no_mangle]
pub extern "C" fn fm_text_len() -> usize {
    with(|s| s.text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_and_bad_sizes() {
        let mut s = Session::default();
        assert!(s.load(b"not a model").unwrap_err().contains("cannot load"));
        assert!(s.sample(1, 8, 1).unwrap_err().contains("no model"));
        let bytes = flowmap::write::example_model_bytes();
        s.load(&bytes).unwrap();
        assert!(s.text.contains("\"format_version\""));
        assert!(s.sample(1, 0, 1).is_err());
        assert!(s.sample(1, MAX_SAMPLES + 1, 1).is_err());
        assert!(s.sample(1, 4, 0).is_err());
        assert_eq!(
            s.sample(1, 4, 2).unwrap().len(),
            4 * s.model().unwrap().dim()
        );
    }
}
