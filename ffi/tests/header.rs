//! The committed `include/flowmap.h` must be exactly what the pinned cbindgen generates from
//! `ffi/src` with `ffi/cbindgen.toml` (plus the version macros, taken from Cargo.toml).
//!
//! Regenerate it with:
//!     FLOWMAP_BLESS=1 cargo test -p flowmap-ffi --test header

use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    manifest_dir().join("../include/flowmap.h")
}

/// The version macros, from the package version (the workspace version in Cargo.toml).
fn version_macros() -> String {
    format!(
        "\n/* Version of this header; flowmap_version() gives the library's. */\n\
         #define FLOWMAP_VERSION_MAJOR {}\n\
         #define FLOWMAP_VERSION_MINOR {}\n\
         #define FLOWMAP_VERSION_PATCH {}\n\
         #define FLOWMAP_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

fn generate() -> String {
    let dir = manifest_dir();
    let mut config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml parses");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

fn relative(p: &Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

#[test]
fn committed_header_is_up_to_date() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("FLOWMAP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/flowmap.h");
        eprintln!("wrote {}", relative(&path));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "{} is stale (first difference at line {}).\n\
             The C API changed; regenerate the header with:\n\
             \n    FLOWMAP_BLESS=1 cargo test -p flowmap-ffi --test header\n\n\
             and commit include/flowmap.h.",
            relative(&path),
            first + 1
        );
    }
}

/// Parses `#define NAME VALUE` from the committed header.
fn define(header: &str, name: &str) -> Option<String> {
    header.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next() == Some("#define") && parts.next() == Some(name))
            .then(|| parts.collect::<Vec<_>>().join(" "))
    })
}

#[test]
fn version_macros_match_cargo_toml() {
    let header = std::fs::read_to_string(header_path()).expect("read include/flowmap.h");
    // The version as written in the workspace's Cargo.toml ([workspace.package] version).
    let toml = std::fs::read_to_string(manifest_dir().join("../Cargo.toml")).unwrap();
    let version = toml
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("[workspace.package] version in Cargo.toml");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(
        define(&header, "FLOWMAP_VERSION_MAJOR").as_deref(),
        Some(parts[0])
    );
    assert_eq!(
        define(&header, "FLOWMAP_VERSION_MINOR").as_deref(),
        Some(parts[1])
    );
    let patch = parts[2].split(['-', '+']).next().unwrap();
    assert_eq!(
        define(&header, "FLOWMAP_VERSION_PATCH").as_deref(),
        Some(patch)
    );
    assert_eq!(
        define(&header, "FLOWMAP_VERSION_STRING"),
        Some(format!("\"{version}\""))
    );
}

#[test]
fn header_declares_the_whole_api() {
    let header = std::fs::read_to_string(header_path()).expect("read include/flowmap.h");
    let lib = std::fs::read_to_string(manifest_dir().join("src/lib.rs")).unwrap();
    // Every exported function of the crate appears in the header.
    for line in lib.lines() {
        if let Some(rest) = line.split("extern \"C\" fn ").nth(1) {
            let name = rest.split('(').next().unwrap();
            assert!(
                header.contains(&format!("{name}(")),
                "{name} missing from include/flowmap.h"
            );
        }
    }
    for status in [
        "FLOWMAP_OK = 0",
        "FLOWMAP_ERR_PANIC = 14",
        "typedef int32_t flowmap_status",
    ] {
        assert!(
            header.contains(status),
            "`{status}` missing from include/flowmap.h"
        );
    }
}
