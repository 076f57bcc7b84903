//! The C and C++ recipes of README.md and docs/languages.md, run exactly as written.
//!
//! Each recipe is a fenced block after a `<!-- recipe: NAME -->` marker; this test takes the
//! block's text from the document (so the docs cannot drift from what is tested) and runs it
//! with `bash -e` as a user would: `make install PREFIX=$HOME/.local` from the repository,
//! then `cc`/`c++` with pkg-config and `./app model.safetensors` in a project directory, with
//! `LD_LIBRARY_PATH` unset. `HOME` is a fresh directory, so `$HOME/.local` is a temporary
//! prefix. Two things differ from a user's shell, neither in the commands: cargo and rustup
//! keep their real homes, and `make` reuses this test run's target directory and profile
//! (`CARGO_TARGET_DIR`, `PROFILE`) instead of building a second, release copy of the library.
//!
//! Also: a program linked straight from cargo's build directory runs (issue 10: the SONAME
//! libflowmap.so.0 must exist there; ffi/build.rs makes it).
//!
//! Needs bash, make, cc, c++, pkg-config and readelf (scripts/setup.sh installs them);
//! `FLOWMAP_SKIP_C_TESTS=1` skips everything here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use flowmap::{Grid, Model};

fn skip() -> bool {
    let skip = std::env::var_os("FLOWMAP_SKIP_C_TESTS").is_some();
    if skip {
        eprintln!("FLOWMAP_SKIP_C_TESTS is set: skipping");
    }
    skip
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command, panicking with its output if it cannot start or fails.
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ---- the recipes, from the documents -------------------------------------------------------

fn document(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The fenced block after `<!-- recipe: NAME -->` in `doc`, if there is one.
fn block_in(doc: &str, name: &str) -> Option<String> {
    let marker = format!("<!-- recipe: {name} -->");
    let start = doc.find(&marker)? + marker.len();
    let rest = doc[start..].trim_start();
    assert!(
        rest.starts_with("```"),
        "`{marker}` is not followed by a code block"
    );
    let body = &rest[rest.find('\n').unwrap() + 1..];
    let end = body
        .find("\n```")
        .unwrap_or_else(|| panic!("`{marker}`: unterminated code block"));
    Some(body[..=end].to_string())
}

/// The recipe NAME: from README.md and/or docs/languages.md, identical wherever it appears.
fn recipe(name: &str) -> String {
    let found: Vec<(&str, String)> = ["README.md", "docs/languages.md"]
        .into_iter()
        .filter_map(|rel| block_in(&document(rel), name).map(|b| (rel, b)))
        .collect();
    let (first_doc, first) = found
        .first()
        .unwrap_or_else(|| panic!("no recipe `{name}` in README.md or docs/languages.md"));
    for (doc, text) in &found[1..] {
        assert_eq!(
            text, first,
            "recipe `{name}` differs between {first_doc} and {doc}"
        );
    }
    first.clone()
}

// ---- the user's environment ----------------------------------------------------------------

/// This run's cargo target directory and profile (`dev` for target/debug), from the path of
/// this test binary (`<target>/<profile dir>/deps/recipes-…`).
fn target_and_profile() -> (PathBuf, String, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    assert_eq!(
        profile_dir.parent().unwrap(),
        target,
        "recipes.rs does not support --target builds"
    );
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    (target, profile, profile_dir)
}

/// A fresh directory for this test run, under the target's tmp dir (earlier runs' are
/// removed once their process is gone).
fn work() -> &'static Path {
    static WORK: OnceLock<PathBuf> = OnceLock::new();
    WORK.get_or_init(|| {
        const PREFIX: &str = "flowmap-c-recipes-";
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        dir
    })
}

/// `bash -e -c SCRIPT` in `dir`, as the user with `HOME=work()/home` (see the module docs).
fn user_shell(script: &str, dir: &Path) -> Output {
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let (target, profile, _) = target_and_profile();
    let out = run(Command::new("bash")
        .args(["-e", "-u", "-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env("HOME", work().join("home"))
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_TARGET_DIR", target)
        .env("PROFILE", profile)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PKG_CONFIG_PATH")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS"));
    eprintln!(
        "$ {script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The prefix `$HOME/.local`, installed once by the `install` recipe from the repository.
fn installed() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        user_shell(&recipe("install"), &repo_root());
        let prefix = work().join("home/.local");
        for f in [
            "lib/libflowmap.so.0",
            "lib/libflowmap.a",
            "include/flowmap.h",
            "lib/pkgconfig/flowmap.pc",
            "lib/pkgconfig/flowmap-static.pc",
        ] {
            assert!(prefix.join(f).exists(), "the install recipe made no {f}");
        }
        prefix
    })
}

/// A project directory holding the recipe's source file and `model.safetensors`.
fn project(name: &str, source: &str) -> PathBuf {
    let dir = work().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(source), recipe(source)).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        flowmap::write::example_model_bytes(),
    )
    .unwrap();
    dir
}

/// What `app` prints for model.safetensors: 4 samples, seed 42, one step, from the runtime.
fn expected_samples() -> Vec<f32> {
    let model = Model::from_bytes(&flowmap::write::example_model_bytes()).unwrap();
    let mut ws = model.workspace(4);
    let mut out = vec![0.0f32; 4 * model.dim()];
    model
        .sample_seeded(&mut ws, 42, Grid::Uniform(1), &mut out)
        .unwrap();
    out
}

/// Checks the program's output: one sample per line, equal to the runtime's bit for bit
/// (`%.9g` round-trips an f32).
fn check_samples(out: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{what}: expected 4 lines, got:\n{stdout}");
    let got: Vec<f32> = lines
        .iter()
        .flat_map(|l| l.split(' ').map(|v| v.parse::<f32>().unwrap()))
        .collect();
    let want = expected_samples();
    assert_eq!(got.len(), want.len(), "{what}: {stdout}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: {got:?} != {want:?}");
    }
}

/// The dynamic section of an executable (`readelf -d`).
fn dynamic_section(exe: &Path) -> String {
    String::from_utf8_lossy(&run(Command::new("readelf").arg("-d").arg(exe)).stdout).into_owned()
}

/// Runs the recipe's `./app` once more on a broken model file: it must fail with exit
/// status 1 and the library's message, not crash.
fn check_bad_model(dir: &Path) {
    std::fs::write(dir.join("broken.safetensors"), b"not a model").unwrap();
    let out = Command::new(dir.join("app"))
        .arg("broken.safetensors")
        .current_dir(dir)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.safetensors: "), "{stderr}");
}

// ---- the tests -------------------------------------------------------------------------------

#[test]
fn readme_c_recipe_shared_library_runs_from_a_user_prefix() {
    if skip() {
        return;
    }
    let prefix = installed();
    let dir = project("c-shared", "app.c");
    let out = user_shell(&recipe("build-shared"), &dir);
    check_samples(&out, "C, shared");
    let dynamic = dynamic_section(&dir.join("app"));
    assert!(
        dynamic.contains("Shared library: [libflowmap.so.0]"),
        "{dynamic}"
    );
    // It runs because the link line carried the prefix as run-time search path.
    assert!(
        dynamic.contains(&format!("[{}]", prefix.join("lib").display())),
        "no rpath/runpath to {}/lib:\n{dynamic}",
        prefix.display()
    );
    check_bad_model(&dir);
}

#[test]
fn readme_c_recipe_static_library_needs_no_shared_libflowmap() {
    if skip() {
        return;
    }
    installed();
    let dir = project("c-static", "app.c");
    let out = user_shell(&recipe("build-static"), &dir);
    check_samples(&out, "C, static");
    let dynamic = dynamic_section(&dir.join("app"));
    assert!(!dynamic.contains("libflowmap"), "{dynamic}");
    check_bad_model(&dir);
}

#[test]
fn docs_cxx_recipe_runs_from_a_user_prefix() {
    if skip() {
        return;
    }
    installed();
    let dir = project("cxx-shared", "app.cpp");
    let out = user_shell(&recipe("build-cxx"), &dir);
    check_samples(&out, "C++");
    check_bad_model(&dir);
}

/// The Libs of flowmap.pc installed with `make install ARGS` into a staging directory.
fn pc_libs(prefix: &str, extra: &[&str]) -> String {
    let (_, _, profile_dir) = target_and_profile();
    installed(); // the library is built
    let stage = work().join(format!("stage{}", prefix.replace('/', "_")));
    run(Command::new("make")
        .arg("-C")
        .arg(repo_root())
        .args(["--no-print-directory", "install", "NO_BUILD=1"])
        .arg(format!("LIB_DIR={}", profile_dir.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg(format!("DESTDIR={}", stage.display()))
        .args(extra)
        .env_remove("MAKEFLAGS"));
    let pc =
        std::fs::read_to_string(stage.join(&prefix[1..]).join("lib/pkgconfig/flowmap.pc")).unwrap();
    let libs = pc.lines().find(|l| l.starts_with("Libs:")).unwrap();
    libs.to_string()
}

#[test]
fn pkg_config_rpath_only_outside_the_loaders_directories() {
    if skip() {
        return;
    }
    let rpath = "-Wl,-rpath,${libdir}";
    assert!(pc_libs("/opt/flowmap", &[]).ends_with(rpath));
    assert!(pc_libs("/usr/local", &[]).ends_with(rpath));
    assert_eq!(pc_libs("/usr", &[]), "Libs: -L${libdir} -lflowmap");
    assert_eq!(
        pc_libs("/srv/no-rpath", &["RPATH=no"]),
        "Libs: -L${libdir} -lflowmap"
    );
    assert!(pc_libs("/usr/x", &["RPATH=yes"]).ends_with(rpath));
}

/// Issue 10: `cargo build -p flowmap-ffi`, then
/// `cc x.c -Ltarget/<profile> -lflowmap -Wl,-rpath,$PWD/target/<profile>`, then run it.
#[test]
fn program_linked_from_the_cargo_build_directory_runs() {
    if skip() {
        return;
    }
    let (target, profile, profile_dir) = target_and_profile();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .args(["build", "-p", "flowmap-ffi", "--lib", "--profile", &profile])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(repo_root()));
    let link = profile_dir.join("libflowmap.so.0");
    assert_eq!(
        std::fs::read_link(&link).ok().as_deref(),
        Some(Path::new("libflowmap.so")),
        "{} is not a link to libflowmap.so",
        link.display()
    );

    let dir = project("build-dir", "app.c");
    let lib = profile_dir.display().to_string();
    run(Command::new("cc")
        .arg("-I")
        .arg(repo_root().join("include"))
        .arg("app.c")
        .arg(format!("-L{lib}"))
        .arg("-lflowmap")
        .arg(format!("-Wl,-rpath,{lib}"))
        .args(["-o", "app"])
        .current_dir(&dir));
    let out = run(Command::new(dir.join("app"))
        .arg("model.safetensors")
        .current_dir(&dir)
        .env_remove("LD_LIBRARY_PATH"));
    check_samples(&out, "build directory");
}
