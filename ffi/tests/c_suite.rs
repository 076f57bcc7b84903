//! Drives the C side of the ABI: builds libflowmap, writes model files and the outputs the
//! Rust runtime computes for them, then compiles `tests/c/test_flowmap.c` as C99 and as C++17,
//! links it against the shared and the static library, and runs it (once under valgrind, when
//! installed). Also checks the exported symbols and SONAME, `make install` + pkg-config, and
//! the examples in examples/c and examples/cpp.
//!
//! Needs a C and a C++ compiler (`CC`, `CXX`; default `cc`, `c++`), `make`, `pkg-config`, `nm`
//! and `readelf`. Set `FLOWMAP_SKIP_C_TESTS=1` to skip everything here on a machine without
//! them (CI has them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use flowmap::schema::{
    Activation, Architecture, Interpolant, ModelMeta, Normalization, Provenance, StateEmbedding,
    TimeEmbedding, FORMAT_VERSION,
};
use flowmap::{Grid, Model, NormalRng};

mod c_malformed;

// ---- constants shared with tests/c/test_flowmap.c ----------------------------------------
const MAP_S: f32 = 0.25;
const MAP_T: f32 = 0.75;
const VEL_T: f32 = 0.5;
const SEED: u64 = 7;
const THREADS: u64 = 8;
const THREAD_SEED_BASE: u64 = 1000;
const THREAD_STEPS: usize = 2;
const GRID: [f32; 4] = [0.0, 0.4, 0.4, 1.0];
/// (file prefix, batch) of the two test models; dims 2 and 6 are fixed by `models()`.
const CASES: [(&str, usize); 2] = [("a", 37), ("b", 5)];

fn skip() -> bool {
    if std::env::var_os("FLOWMAP_SKIP_C_TESTS").is_some() {
        eprintln!("FLOWMAP_SKIP_C_TESTS is set: skipping");
        return true;
    }
    false
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    manifest_dir().parent().unwrap().to_path_buf()
}

/// Runs a command, panicking with its output if it cannot start or fails.
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    if !out.status.success() {
        panic!(
            "{shown} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn tool_exists(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

/// Where the built library is: the cdylib/staticlib are not built by `cargo test` (the test
/// links none of them), so build them with the same cargo, profile and target directory as
/// this test binary (`<target>/<profile>/deps/c_suite-…`). Done once per test binary.
struct Built {
    /// `<target>/<profile>`: holds libflowmap.so and libflowmap.a.
    profile_dir: PathBuf,
    /// A private directory for this run under the target's tmp dir.
    work: PathBuf,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "flowmap-ffi", "--lib", "--profile", &profile])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(repo_root());
        // Built with `--target TRIPLE`: the profile dir is <target>/<TRIPLE>/<profile>.
        let under = profile_dir.parent().unwrap();
        if under != target_dir {
            cmd.arg("--target").arg(under.file_name().unwrap());
        }
        run(&mut cmd);
        for lib in ["libflowmap.so", "libflowmap.a"] {
            assert!(
                profile_dir.join(lib).exists(),
                "{} missing after cargo build",
                profile_dir.join(lib).display()
            );
        }
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        prune_old_runs(&tmp);
        let work = tmp.join(format!("flowmap-ffi-c-suite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        Built { profile_dir, work }
    })
}

/// Removes the work directories of earlier runs whose process is gone.
fn prune_old_runs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("flowmap-ffi-c-suite-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A directory with the shared library under its SONAME (libflowmap.so.0) and the link name
/// (libflowmap.so), as an installation would have it.
fn shared_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let b = built();
        let dir = b.work.join("lib");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            b.profile_dir.join("libflowmap.so"),
            dir.join("libflowmap.so.0"),
        )
        .unwrap();
        std::os::unix::fs::symlink("libflowmap.so.0", dir.join("libflowmap.so")).unwrap();
        dir
    })
}

// ---- test models and expected outputs ------------------------------------------------------

fn meta(
    data_shape: Vec<usize>,
    hidden: Vec<usize>,
    activation: Activation,
    time_embedding: TimeEmbedding,
    sigma: f32,
    mean: Vec<f32>,
    std: Vec<f32>,
) -> ModelMeta {
    ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape,
            hidden,
            activation,
            time_embedding,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma,
        normalization: Normalization { mean, std },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 123,
            seed: 9,
            weights: "raw".into(),
            trainer: "flowmap-ffi c_suite".into(),
            dataset: "test \"quoted\" ünïcode".into(),
        },
    }
}

/// Named tensors: (name, shape, row-major data).
type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Deterministic weights for `meta`'s MLP, in layer order (the runtime's fixture builder).
fn weights(meta: &ModelMeta, seed: u64) -> Tensors {
    flowmap::write::ModelBuilder::random(meta.clone(), seed)
        .tensors()
        .iter()
        .map(|(spec, d)| (spec.name.clone(), spec.shape.clone(), d.clone()))
        .collect()
}

fn file_bytes(meta: &ModelMeta, tensors: &Tensors) -> Vec<u8> {
    let t: Vec<(&str, Vec<usize>, &[f32])> = tensors
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.clone(), d.as_slice()))
        .collect();
    flowmap::write::to_safetensors_bytes(meta, &t)
}

/// Model a: 2-D, GELU-tanh, raw time embedding. Model b: data shape [1, 2, 3], SiLU, Fourier
/// time embedding, sigma ≠ 1.
fn models() -> [(ModelMeta, Tensors); 2] {
    let a = meta(
        vec![2],
        vec![16, 16],
        Activation::GeluTanh,
        TimeEmbedding::Raw,
        1.0,
        vec![0.5, -1.0],
        vec![2.0, 0.5],
    );
    let b = meta(
        vec![1, 2, 3],
        vec![8],
        Activation::Silu,
        TimeEmbedding::Fourier {
            frequencies: vec![1.0, 3.0],
        },
        0.8,
        vec![0.0, 0.1, -0.2, 0.3, 1.0, -1.0],
        vec![1.0, 0.5, 2.0, 1.5, 0.25, 1.0],
    );
    let wa = weights(&a, 11);
    let wb = weights(&b, 22);
    [(a, wa), (b, wb)]
}

fn write_f32(path: &Path, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Writes every fixture tests/c/test_flowmap.c reads; returns the directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = built().work.join("fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        let models = models();
        for ((prefix, batch), (meta, tensors)) in CASES.iter().zip(&models) {
            let bytes = file_bytes(meta, tensors);
            std::fs::write(dir.join(format!("{prefix}_model.safetensors")), &bytes).unwrap();
            let model = Model::from_bytes(&bytes).expect("test model loads");
            let dim = model.dim();
            let n = batch * dim;
            let f = |name: &str| dir.join(format!("{prefix}_{name}"));
            std::fs::write(f("meta.json"), serde_json::to_string(model.meta()).unwrap()).unwrap();

            let mut x = vec![0.0f32; n];
            NormalRng::new(31).fill(&mut x);
            x.iter_mut().for_each(|v| *v *= 1.5);
            let mut noise = vec![0.0f32; n];
            NormalRng::new(32).fill(&mut noise);
            write_f32(&f("x.f32"), &x);
            write_f32(&f("noise.f32"), &noise);

            let mut ws = model.workspace(*batch);
            let mut out = vec![0.0f32; n];
            model.map(&mut ws, MAP_S, MAP_T, &x, &mut out).unwrap();
            write_f32(&f("map.f32"), &out);
            model.velocity(&mut ws, VEL_T, &x, &mut out).unwrap();
            write_f32(&f("velocity.f32"), &out);
            for steps in [1, 2] {
                model
                    .sample(&mut ws, &noise, Grid::Uniform(steps), &mut out)
                    .unwrap();
                write_f32(&f(&format!("sample{steps}.f32")), &out);
                model
                    .sample_seeded(&mut ws, SEED, Grid::Uniform(steps), &mut out)
                    .unwrap();
                write_f32(&f(&format!("seeded{steps}.f32")), &out);
            }
            model
                .sample(&mut ws, &noise, Grid::Custom(&GRID), &mut out)
                .unwrap();
            write_f32(&f("sample_grid.f32"), &out);
            model
                .sample_seeded(&mut ws, SEED, Grid::Custom(&GRID), &mut out)
                .unwrap();
            write_f32(&f("seeded_grid.f32"), &out);
            for i in 0..THREADS {
                let grid = Grid::Uniform(THREAD_STEPS);
                model
                    .sample_seeded(&mut ws, THREAD_SEED_BASE + i, grid, &mut out)
                    .unwrap();
                write_f32(&f(&format!("thread{i}.f32")), &out);
            }
        }

        // A small RGB U-Net (format 2) for the sprite-sheet example.
        let unet = flowmap::write::example_unet_meta([3, 8, 8], &[1, 2], &[4]);
        std::fs::write(
            dir.join("unet_model.safetensors"),
            flowmap::write::random_unet_builder(unet, 12).to_bytes(),
        )
        .unwrap();

        // Broken files, all variations of model a.
        let (meta_a, tensors_a) = &models[0];
        let good = file_bytes(meta_a, tensors_a);
        let bad = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
        bad("malformed.bin", b"this is not a safetensors file at all");
        bad("empty.bin", b"");
        bad("truncated.safetensors", &good[..good.len() / 2]);
        let mut m = meta_a.clone();
        m.format_version = 999;
        bad(
            "unsupported_version.safetensors",
            &file_bytes(&m, tensors_a),
        );
        let mut m = meta_a.clone();
        m.sigma = -1.0;
        bad("invalid_model.safetensors", &file_bytes(&m, tensors_a));
        let mut t = tensors_a.clone();
        t[0].1 = vec![t[0].1[1], t[0].1[0]]; // transposed layers.0.weight
        bad("shape_mismatch.safetensors", &file_bytes(meta_a, &t));
        let mut t = tensors_a.clone();
        t[3].2[1] = f32::NAN; // layers.1.bias
        bad("nonfinite_weight.safetensors", &file_bytes(meta_a, &t));
        // A valid safetensors file without the "flowmap" metadata key.
        let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut plain = (header.len() as u64).to_le_bytes().to_vec();
        plain.extend_from_slice(header);
        plain.extend_from_slice(&1.0f32.to_le_bytes());
        bad("no_metadata.safetensors", &plain);
        // Hostile files for test_malformed_corpus (tests/c_malformed/mod.rs).
        let t: Vec<(&str, Vec<usize>, &[f32])> = tensors_a
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.clone(), d.as_slice()))
            .collect();
        let good_f16 =
            flowmap::write::to_safetensors_bytes_as(meta_a, &t, flowmap::write::WeightDtype::F16);
        assert!(c_malformed::write(&dir, &good, &good_f16) >= 200);
        dir
    })
}

// ---- compiling and running the C suite -------------------------------------------------------

const C_FLAGS: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const CXX_FLAGS: [&str; 5] = ["-x", "c++", "-std=c++17", "-Wall", "-Wextra"];

/// Compiles the suite; `link` are the arguments that bring in libflowmap.
fn compile(compiler: &str, flags: &[&str], link: &[String], out_name: &str) -> PathBuf {
    let b = built();
    let exe = b.work.join(out_name);
    let mut cmd = Command::new(compiler);
    cmd.args(flags)
        .args(["-Werror", "-O1", "-g", "-pthread"])
        .arg("-I")
        .arg(repo_root().join("include"))
        .arg(manifest_dir().join("tests/c/test_flowmap.c"));
    if flags.contains(&"-x") {
        cmd.args(["-x", "none"]); // libraries after this are not C++ sources
    }
    cmd.args(link).arg("-lm").arg("-o").arg(&exe);
    run(&mut cmd);
    exe
}

fn shared_link() -> Vec<String> {
    vec![
        format!("-L{}", shared_lib_dir().display()),
        "-lflowmap".into(),
    ]
}

/// Runs the suite binary (with the shared library on the loader path) and checks its report.
fn run_suite(exe: &Path, wrapper: &[&str]) {
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg(fixtures()).env("LD_LIBRARY_PATH", shared_lib_dir());
    let out = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(" passed, 0 failed"),
        "unexpected report: {stdout}"
    );
}

#[test]
fn c99_suite_shared_library() {
    if skip() {
        return;
    }
    let exe = compile(&cc(), &C_FLAGS, &shared_link(), "test_flowmap_c");
    run_suite(&exe, &[]);
}

#[test]
fn cxx17_suite_shared_library() {
    if skip() {
        return;
    }
    let exe = compile(&cxx(), &CXX_FLAGS, &shared_link(), "test_flowmap_cxx");
    run_suite(&exe, &[]);
}

#[test]
fn c99_suite_static_library() {
    if skip() {
        return;
    }
    let lib = built().profile_dir.join("libflowmap.a");
    // The system libraries a Rust staticlib needs (`--print native-static-libs`); also in
    // flowmap.pc's Libs.private.
    let mut link = vec![lib.display().to_string()];
    link.extend(["-lpthread", "-ldl", "-lrt", "-lutil"].map(String::from));
    let exe = compile(&cc(), &C_FLAGS, &link, "test_flowmap_static");
    // Make sure it really is static: no libflowmap.so dependency.
    let dyn_section = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(!String::from_utf8_lossy(&dyn_section.stdout).contains("libflowmap"));
    run_suite(&exe, &[]);
}

#[test]
fn c99_suite_under_valgrind() {
    if skip() {
        return;
    }
    if !tool_exists("valgrind") {
        eprintln!("valgrind not installed: skipping");
        return;
    }
    let exe = compile(&cc(), &C_FLAGS, &shared_link(), "test_flowmap_valgrind");
    run_suite(
        &exe,
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect,possible",
        ],
    );
}

// ---- the shared object --------------------------------------------------------------------

/// The function names the header declares.
fn header_functions() -> Vec<String> {
    let header = std::fs::read_to_string(repo_root().join("include/flowmap.h")).unwrap();
    let mut names = Vec::new();
    let mut rest = header.as_str();
    while let Some(i) = rest.find("flowmap_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let preceded_by_ident = rest[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded_by_ident && tail[end..].starts_with('(') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn exports_exactly_the_header_functions_and_has_a_soname() {
    if skip() {
        return;
    }
    let so = built().profile_dir.join("libflowmap.so");
    let nm = run(Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&so));
    let mut exported: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| s.split('@').next().unwrap().to_string())
        .collect();
    exported.sort();
    exported.dedup();
    let stray: Vec<&String> = exported
        .iter()
        .filter(|s| !s.starts_with("flowmap_"))
        .collect();
    assert!(stray.is_empty(), "non-flowmap symbols exported: {stray:?}");
    assert_eq!(
        exported,
        header_functions(),
        "exports differ from include/flowmap.h"
    );

    let dynamic = run(Command::new("readelf").arg("-d").arg(&so));
    let dynamic = String::from_utf8_lossy(&dynamic.stdout);
    assert!(
        dynamic.contains("Library soname: [libflowmap.so.0]"),
        "no SONAME libflowmap.so.0:\n{dynamic}"
    );
}

// ---- install, pkg-config and the examples ----------------------------------------------------

fn installed_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let b = built();
        let prefix = b.work.join("prefix");
        run(Command::new("make")
            .arg("-C")
            .arg(repo_root())
            .arg("--no-print-directory")
            .arg("install")
            .arg(format!("PREFIX={}", prefix.display()))
            .arg(format!("LIB_DIR={}", b.profile_dir.display()))
            .arg("NO_BUILD=1"));
        prefix
    })
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = run(Command::new("pkg-config")
        .args(args)
        .arg("flowmap")
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Parses a CSV written by the examples (header line, then one sample per row).
fn read_csv(path: &Path) -> (String, Vec<f32>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let values = lines
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    (header, values)
}

/// Runs examples/c/flowmap_sprites on a 3×8×8 U-Net: the sheet has the right size, holds
/// exactly the runtime's samples as pixels, is the same for the same seed and differs for
/// another (and, for the C one, with --threads 2 and 3).
fn check_sprites(exe: &Path, name: &str) {
    let model = fixtures().join("unet_model.safetensors");
    let sheet_with = |seed: &str, file: &str, extra: &[&str]| {
        let path = built().work.join(format!("{name}_{file}"));
        let out = run(Command::new(exe)
            .arg(&model)
            .args(["--n", "10", "--cols", "4", "--seed", seed])
            .args(extra)
            .arg("--out")
            .arg(&path)
            .env_remove("LD_LIBRARY_PATH"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            stdout.contains("10 sprites of 8x8 (3 channels)") && stdout.contains("time per image"),
            "{stdout}"
        );
        std::fs::read(path).unwrap()
    };
    let sheet = |seed: &str, file: &str| sheet_with(seed, file, &[]);
    let a = sheet("5", "sprites_a.ppm");
    let head = b"P6\n32 24\n255\n"; // 4 columns × 8, 3 rows × 8
    assert!(a.starts_with(head));
    assert_eq!(a.len(), head.len() + 32 * 24 * 3);
    let px = &a[head.len()..];
    // The runtime's own samples, as pixels, at sprite 5 (row 1, column 1).
    let m = Model::from_bytes(&std::fs::read(&model).unwrap()).unwrap();
    let mut x = vec![0.0f32; 10 * m.dim()];
    m.sample_seeded(&mut m.workspace(10), 5, Grid::Uniform(1), &mut x)
        .unwrap();
    let mut want = vec![0u8; x.len()];
    m.to_pixels(&x, &mut want).unwrap();
    for y in 0..8 {
        for xx in 0..8 {
            let got = &px[((8 + y) * 32 + 8 + xx) * 3..][..3];
            let w = &want[5 * 192 + (y * 8 + xx) * 3..][..3];
            assert_eq!(got, w, "sprite 5 pixel ({y}, {xx})");
        }
    }
    // The 2 empty cells of the last row stay black; the sprites are not flat.
    assert!(px[(16 * 32 + 16) * 3..(16 * 32 + 32) * 3]
        .iter()
        .all(|&v| v == 0));
    let (lo, hi) = (px.iter().min().unwrap(), px.iter().max().unwrap());
    assert!(hi - lo > 50, "pixel range {lo}..{hi}");
    assert_eq!(a, sheet("5", "sprites_b.ppm"), "same seed, same sheet");
    if name == "c" {
        // The C example samples with a flowmap_pool for --threads > 1: the same sheet.
        for threads in ["2", "3"] {
            let file = format!("sprites_t{threads}.ppm");
            assert_eq!(
                a,
                sheet_with("5", &file, &["--threads", threads]),
                "--threads {threads}"
            );
        }
    }
    assert_ne!(
        a,
        sheet("6", "sprites_c.ppm"),
        "another seed, another sheet"
    );
}

/// Runs an example on model a and checks its files against the runtime, bit for bit. Runs
/// without LD_LIBRARY_PATH: flowmap.pc's rpath lets the program find the installed library.
fn check_example(exe: &Path, name: &str) {
    let out_dir = built().work.join(format!("{name}-out"));
    let model = fixtures().join("a_model.safetensors");
    let n = 500;
    let out = run(Command::new(exe)
        .arg(&model)
        .args([
            "--n",
            &n.to_string(),
            "--steps",
            "1,2",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&out_dir)
        .args(["--size", "64"])
        .env_remove("LD_LIBRARY_PATH"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dim 2"), "{stdout}");

    let bytes = std::fs::read(&model).unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    let mut ws = m.workspace(n);
    for steps in [1, 2] {
        let (header, got) = read_csv(&out_dir.join(format!("samples_{steps}step.csv")));
        assert_eq!(header, "x0,x1");
        let mut want = vec![0.0f32; n * 2];
        m.sample_seeded(&mut ws, 7, Grid::Uniform(steps), &mut want)
            .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: {steps}-step CSV differs from the runtime"
        );
        let ppm = std::fs::read(out_dir.join(format!("density_{steps}step.ppm"))).unwrap();
        let head = b"P6\n64 64\n255\n";
        assert!(ppm.starts_with(head));
        assert_eq!(ppm.len(), head.len() + 64 * 64 * 3);
        assert!(
            ppm[head.len()..].iter().any(|&p| p > 100),
            "{name}: empty density picture"
        );
    }

    // Bad usage and a bad model file fail cleanly.
    let status = Command::new(exe)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(2), "{name} without arguments");
    let bad = Command::new(exe)
        .arg(fixtures().join("unsupported_version.safetensors"))
        .arg("--out")
        .arg(&out_dir)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{name} with a bad model");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("FLOWMAP_ERR_UNSUPPORTED_VERSION"),
        "{stderr}"
    );
}

#[test]
fn make_install_pkg_config_and_examples() {
    if skip() {
        return;
    }
    let prefix = installed_prefix();
    for f in [
        "lib/libflowmap.so",
        "lib/libflowmap.so.0",
        "lib/libflowmap.a",
        "include/flowmap.h",
        "lib/pkgconfig/flowmap.pc",
        "lib/pkgconfig/flowmap-static.pc",
    ] {
        assert!(prefix.join(f).exists(), "make install did not create {f}");
    }
    assert_eq!(
        pkg_config(prefix, &["--modversion"]),
        vec![env!("CARGO_PKG_VERSION").to_string()]
    );
    let cflags = pkg_config(prefix, &["--cflags"]);
    let libs = pkg_config(prefix, &["--libs"]);

    // `cc app.c $(pkg-config --cflags --libs flowmap)` for the C example...
    let c_exe = built().work.join("flowmap_sample");
    run(Command::new(cc())
        .args([
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .arg(repo_root().join("examples/c/flowmap_sample.c"))
        .args(&cflags)
        .args(&libs)
        .arg("-lm")
        .arg("-o")
        .arg(&c_exe));
    check_example(&c_exe, "c-example");

    // The sprite-sheet example on a small RGB U-Net (format 2).
    let sprites = built().work.join("flowmap_sprites");
    run(Command::new(cc())
        .args([
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .arg(repo_root().join("examples/c/flowmap_sprites.c"))
        .args(&cflags)
        .args(&libs)
        .arg("-o")
        .arg(&sprites));
    check_sprites(&sprites, "c");

    // ...and the C++ one.
    let cxx_exe = built().work.join("flowmap_sample_cpp");
    run(Command::new(cxx())
        .args(["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(repo_root().join("examples/cpp/flowmap_sample.cpp"))
        .args(&cflags)
        .args(&libs)
        .arg("-o")
        .arg(&cxx_exe));
    check_example(&cxx_exe, "cpp-example");
    let sprites_cpp = built().work.join("flowmap_sprites_cpp");
    run(Command::new(cxx())
        .args(["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(repo_root().join("examples/cpp/flowmap_sprites.cpp"))
        .args(&cflags)
        .args(&libs)
        .arg("-o")
        .arg(&sprites_cpp));
    check_sprites(&sprites_cpp, "cpp");
}
