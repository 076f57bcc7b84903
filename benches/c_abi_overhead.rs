//! The per-call cost of the C ABI: `flowmap_map` / `flowmap_sample_seeded` called through
//! libflowmap.so (dlopen + dlsym, i.e. what a C program pays: an indirect call, the handle,
//! pointer and size checks, the overlap test, `catch_unwind`, status mapping) against calling
//! the runtime's `Model::map` / `Model::sample_seeded` directly, on the same weights, same
//! thread, same run. Batch 1, where fixed costs show most, and batch 64.
//!
//! Networks: a tiny 2→2×16→2 (a few hundred flops, so the overhead is a visible share) and the
//! 2→3×256→2 reference net. Both paths must give the same bits (checked before timing).
//!
//! After criterion, a summary table (interleaved re-measurement, minimum of short rounds)
//! prints the C/Rust time ratio and the absolute overhead per call.
//!
//! The library is the release build next to the bench binary; build it first:
//!
//! ```sh
//! export CARGO_TARGET_DIR=target-perf
//! cargo build --release -p flowmap-ffi
//! cargo bench -p flowmap-benches --bench c_abi_overhead
//! # only the summary:  ... --bench c_abi_overhead -- --summary-only
//! # another library:   FLOWMAP_LIB=/path/to/libflowmap.so cargo bench ...
//! ```

mod common;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::hint::black_box;
use std::path::PathBuf;
use std::ptr;
use std::time::Duration;

use common::{inputs, interleaved, Net, DIM};
use criterion::{BenchmarkId, Criterion};
use flowmap::write::WeightDtype;
use flowmap::{Grid, Model, Workspace};

const BATCHES: [usize; 2] = [1, 64];
const FLOWMAP_OK: i32 = 0;

// glibc ≥ 2.34 has these in libc itself, which std already links.
extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;

type LoadBytesFn = unsafe extern "C" fn(*const u8, usize, *mut *mut c_void) -> i32;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type WorkspaceNewFn = unsafe extern "C" fn(*const c_void, usize, *mut *mut c_void) -> i32;
type MapFn =
    unsafe extern "C" fn(*const c_void, *mut c_void, f32, f32, *const f32, usize, *mut f32) -> i32;
type SampleSeededFn =
    unsafe extern "C" fn(*const c_void, *mut c_void, usize, u64, usize, *mut f32) -> i32;

/// The functions of include/flowmap.h this bench calls; handles are opaque pointers and
/// `flowmap_status` is a C enum (an int).
struct CApi {
    load_bytes: LoadBytesFn,
    model_free: FreeFn,
    workspace_new: WorkspaceNewFn,
    workspace_free: FreeFn,
    map: MapFn,
    sample_seeded: SampleSeededFn,
}

impl CApi {
    fn library_path() -> PathBuf {
        if let Some(p) = std::env::var_os("FLOWMAP_LIB") {
            return p.into();
        }
        // The bench runs from <target>/release/deps/; the library is in <target>/release/.
        let exe = std::env::current_exe().expect("bench binary path");
        exe.parent()
            .and_then(|deps| deps.parent())
            .expect("bench binary in <target>/release/deps")
            .join("libflowmap.so")
    }

    fn open() -> CApi {
        let path = Self::library_path();
        if !path.exists() {
            eprintln!(
                "error: {} not found. Build it first: cargo build --release -p flowmap-ffi \
                 (with the same CARGO_TARGET_DIR), or set FLOWMAP_LIB.",
                path.display()
            );
            std::process::exit(2);
        }
        let c_path = CString::new(path.to_string_lossy().as_bytes()).expect("no NUL in path");
        // SAFETY: a NUL-terminated path; loading libflowmap runs no initialisers of note.
        let lib = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW) };
        if lib.is_null() {
            // SAFETY: dlerror returns a NUL-terminated message after a failed dlopen.
            let why = unsafe { CStr::from_ptr(dlerror()) };
            panic!("dlopen {}: {}", path.display(), why.to_string_lossy());
        }
        let sym = |name: &str| -> *mut c_void {
            let c_name = CString::new(name).expect("no NUL in name");
            // SAFETY: `lib` is a live handle, `c_name` NUL-terminated.
            let p = unsafe { dlsym(lib, c_name.as_ptr()) };
            assert!(!p.is_null(), "{name} missing from {}", path.display());
            p
        };
        // SAFETY: each symbol is the exported function of that name, whose C signature in
        // include/flowmap.h is the field's type; the library stays loaded (never dlclosed).
        unsafe {
            CApi {
                load_bytes: std::mem::transmute::<*mut c_void, LoadBytesFn>(sym(
                    "flowmap_model_load_bytes",
                )),
                model_free: std::mem::transmute::<*mut c_void, FreeFn>(sym("flowmap_model_free")),
                workspace_new: std::mem::transmute::<*mut c_void, WorkspaceNewFn>(sym(
                    "flowmap_workspace_new",
                )),
                workspace_free: std::mem::transmute::<*mut c_void, FreeFn>(sym(
                    "flowmap_workspace_free",
                )),
                map: std::mem::transmute::<*mut c_void, MapFn>(sym("flowmap_map")),
                sample_seeded: std::mem::transmute::<*mut c_void, SampleSeededFn>(sym(
                    "flowmap_sample_seeded",
                )),
            }
        }
    }
}

/// One network and batch, reachable both ways.
struct Case<'a> {
    api: &'a CApi,
    model: Model,
    ws: Workspace,
    c_model: *mut c_void,
    c_ws: *mut c_void,
    x: Vec<f32>,
    out: Vec<f32>,
    batch: usize,
}

impl<'a> Case<'a> {
    fn new(api: &'a CApi, net: &Net, batch: usize) -> Case<'a> {
        let bytes = net.runtime_bytes(WeightDtype::F32);
        let model = Model::from_bytes(&bytes).expect("valid model");
        let ws = model.workspace(batch);
        let mut c_model = ptr::null_mut();
        let mut c_ws = ptr::null_mut();
        // SAFETY: `bytes` is valid for its length; the out-pointers point at locals.
        unsafe {
            assert_eq!(
                (api.load_bytes)(bytes.as_ptr(), bytes.len(), &mut c_model),
                FLOWMAP_OK
            );
            assert_eq!((api.workspace_new)(c_model, batch, &mut c_ws), FLOWMAP_OK);
        }
        Case {
            api,
            model,
            ws,
            c_model,
            c_ws,
            x: inputs(batch),
            out: vec![0.0; batch * DIM],
            batch,
        }
    }

    fn rust_map(&mut self) {
        self.model
            .map(&mut self.ws, 0.0, 1.0, black_box(&self.x), &mut self.out)
            .unwrap();
    }

    fn c_map(&mut self) {
        // SAFETY: live handles from `new`; `x` and `out` hold batch * DIM floats.
        let status = unsafe {
            (self.api.map)(
                self.c_model,
                self.c_ws,
                0.0,
                1.0,
                black_box(self.x.as_ptr()),
                self.batch,
                self.out.as_mut_ptr(),
            )
        };
        assert_eq!(status, FLOWMAP_OK);
    }

    fn rust_sample(&mut self) {
        self.model
            .sample_seeded(&mut self.ws, black_box(7), Grid::Uniform(1), &mut self.out)
            .unwrap();
    }

    fn c_sample(&mut self) {
        // SAFETY: live handles from `new`; `out` holds batch * DIM floats.
        let status = unsafe {
            (self.api.sample_seeded)(
                self.c_model,
                self.c_ws,
                1,
                black_box(7),
                self.batch,
                self.out.as_mut_ptr(),
            )
        };
        assert_eq!(status, FLOWMAP_OK);
    }

    /// Both paths give the same bits: otherwise the comparison would be meaningless.
    fn check_same(&mut self) {
        self.rust_map();
        let a = self.out.clone();
        self.c_map();
        assert_eq!(a, self.out, "C and Rust map differ");
        self.rust_sample();
        let a = self.out.clone();
        self.c_sample();
        assert_eq!(a, self.out, "C and Rust sample differ");
    }
}

impl Drop for Case<'_> {
    fn drop(&mut self) {
        // SAFETY: handles from `new`, freed once, used by nobody after this.
        unsafe {
            (self.api.workspace_free)(self.c_ws);
            (self.api.model_free)(self.c_model);
        }
    }
}

fn nets() -> Vec<Net> {
    vec![
        Net::new("2x16", &[16, 16]),
        Net::new("3x256", &[256, 256, 256]),
    ]
}

fn criterion_benches(c: &mut Criterion, api: &CApi) {
    for net in nets() {
        for batch in BATCHES {
            let mut case = Case::new(api, &net, batch);
            case.check_same();
            let id = |path: &str| BenchmarkId::new(path, format!("batch_{batch}"));
            let mut g = c.benchmark_group(format!("{}/map", net.name));
            g.bench_function(id("rust"), |b| b.iter(|| case.rust_map()));
            g.bench_function(id("c_abi"), |b| b.iter(|| case.c_map()));
            g.finish();
            let mut g = c.benchmark_group(format!("{}/sample_seeded_1step", net.name));
            g.bench_function(id("rust"), |b| b.iter(|| case.rust_sample()));
            g.bench_function(id("c_abi"), |b| b.iter(|| case.c_sample()));
            g.finish();
        }
    }
}

fn summary(api: &CApi) {
    println!("\n## C ABI per-call overhead (minimum of interleaved rounds)\n");
    println!("| net | op | batch | Rust | C ABI | C/Rust | overhead/call |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for net in nets() {
        for batch in BATCHES {
            let case = std::cell::RefCell::new(Case::new(api, &net, batch));
            case.borrow_mut().check_same();
            for op in ["map", "sample_seeded_1step"] {
                let budget = Duration::from_millis(1500);
                let t = if op == "map" {
                    interleaved(
                        &mut [&mut || case.borrow_mut().rust_map(), &mut || {
                            case.borrow_mut().c_map()
                        }],
                        budget,
                    )
                } else {
                    interleaved(
                        &mut [&mut || case.borrow_mut().rust_sample(), &mut || {
                            case.borrow_mut().c_sample()
                        }],
                        budget,
                    )
                };
                println!(
                    "| {} | {op} | {batch} | {:.1} ns | {:.1} ns | {:.3} | {:+.1} ns |",
                    net.name,
                    t[0] * 1e9,
                    t[1] * 1e9,
                    t[1] / t[0],
                    (t[1] - t[0]) * 1e9
                );
            }
        }
    }
}

fn main() {
    let api = CApi::open();
    let summary_only = std::env::args().any(|a| a == "--summary-only");
    if !summary_only {
        let mut c = Criterion::default()
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500))
            .configure_from_args();
        criterion_benches(&mut c, &api);
        c.final_summary();
    }
    if !std::env::args().any(|a| a == "--list") {
        summary(&api);
    }
}
