//! Link settings for libflowmap.so: the SONAME, so that programs linked against
//! `libflowmap.so` record `libflowmap.so.0` (the major ABI version) as their dependency.
//! Only `flowmap_*` symbols are exported: rustc already limits a cdylib's exports to its
//! `#[no_mangle] pub extern` functions (tests/c_suite.rs checks this with `nm -D`).
//!
//! Because of that SONAME, a program linked straight from the build directory
//! (`cc app.c -Ltarget/release -lflowmap -Wl,-rpath,$PWD/target/release`) asks the loader for
//! `libflowmap.so.0`, so this script also puts the link `libflowmap.so.0 -> libflowmap.so`
//! next to the library cargo builds, as an installation has it. It is done here rather than
//! in the Makefile so that a plain `cargo build` gives a build directory that works; cargo
//! has no other hook for files next to its artifacts (tests/recipes.rs checks it).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libflowmap.so.0");
        link_soname_in_profile_dir();
    }
}

/// The directory cargo puts `libflowmap.so` in: OUT_DIR is
/// `<target>[/<triple>]/<profile>/build/flowmap-ffi-<hash>/out` in cargo's layout.
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    let build = out.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None; // a layout we do not know (e.g. a separate `build-dir`): leave it alone
    }
    Some(build.parent()?.to_path_buf())
}

/// Creates `libflowmap.so.0 -> libflowmap.so` (relative, so the target directory can move).
/// The link dangles until cargo writes the library, moments later.
fn link_soname_in_profile_dir() {
    let Some(dir) = profile_dir() else {
        println!(
            "cargo:warning=unknown target directory layout: not creating libflowmap.so.0; \
             link from an installation (`make install`) instead"
        );
        return;
    };
    let link = dir.join("libflowmap.so.0");
    if is_our_link(&link) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    if let Err(e) = symlink("libflowmap.so", &link) {
        println!(
            "cargo:warning=cannot create {}: {e}; programs linked from this directory will not find libflowmap.so.0",
            link.display()
        );
    }
}

fn is_our_link(link: &Path) -> bool {
    std::fs::read_link(link).is_ok_and(|t| t == Path::new("libflowmap.so"))
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Cross-building for Linux from a host without symlinks: nothing to link from here.
#[cfg(not(unix))]
fn symlink(_target: &str, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("symbolic links need a Unix host"))
}
