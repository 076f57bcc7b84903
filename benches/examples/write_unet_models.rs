//! Writes the two benchmark U-Nets of `unet_vs_libtorch` (same metadata, same random
//! weights, seed 1) as model files, `OUTDIR/unet_1x28x28.safetensors` and
//! `OUTDIR/unet_3x32x32.safetensors`, for the ONNX Runtime comparison in `benches/onnx/`
//! (which exports the same network to ONNX from the file and times both in one process).
//!
//! ```sh
//! cargo run --release -p flowmap-benches --example write_unet_models -- OUTDIR
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use flowmap::write::random_unet_builder;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write_unet_models OUTDIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, shape, attention_at) in common::UNET_NETS {
        let builder = random_unet_builder(common::unet_bench_meta(shape, attention_at), 1);
        let path = dir.join(format!("unet_{name}.safetensors"));
        // Round-trip through the loader so a file the runtime would refuse is never written.
        let bytes = builder.to_bytes();
        if let Err(e) = flowmap::Model::from_bytes(&bytes) {
            eprintln!("{name}: the runtime refuses the model: {e}");
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
