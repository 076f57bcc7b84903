//! The runtime in a real browser: builds the page's WebAssembly module
//! (examples/web/build.sh, wasm32-unknown-unknown), serves examples/web/www from a local
//! static server on 127.0.0.1, loads the page in headless Chromium with `?selftest` (the page
//! samples the bundled model with seed 42 in one and two steps, writes the samples' bits into
//! the DOM and draws the default picture), and checks the bits equal the host's and that the
//! picture has content.
//!
//! Bit-identical, for the reason given in targets_qemu.rs: compiled only without the `std`
//! feature, the host runs the portable kernel, and WebAssembly has the same IEEE f32
//! operations and no fused multiply-add.
//!
//! Needs `chromium` (or the browser named by $CHROMIUM) and the `wasm32-unknown-unknown` Rust
//! target (scripts/setup.sh installs both); without them it says so and skips, except under
//! `CI=true`, where it fails.
#![cfg(not(feature = "std"))]

mod targets;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use targets::*;

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A static file server for `root` on 127.0.0.1 (any free port). It stops when the returned
/// flag is set or after `limit`, whichever comes first, so it can never outlive the test
/// by much.
fn serve(root: PathBuf, limit: Duration) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("local address").port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !flag.load(Ordering::Relaxed) && start.elapsed() < limit {
            match listener.accept() {
                Ok((stream, _)) => answer(&root, stream),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, stop)
}

/// Answers one GET request (one request per connection: `Connection: close`).
fn answer(root: &Path, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = String::new();
    if BufReader::new(&stream).read_line(&mut request).is_err() {
        return;
    }
    // "GET /path?query HTTP/1.1": only plain relative paths inside `root` are served.
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let safe = rel
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..");
    let (status, kind, body) = match std::fs::read(root.join(rel)) {
        Ok(body) if safe => ("200 OK", content_type(rel), body),
        _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[test]
fn page_in_headless_chromium_matches_host_bits() {
    let name = "page_in_headless_chromium_matches_host_bits";
    if !require(name, missing_program(&chromium(), "--version"))
        || !require(name, missing_rust_target("wasm32-unknown-unknown"))
    {
        return;
    }
    let web = repo().join("examples/web");
    let mut build = std::process::Command::new("bash");
    build.arg(web.join("build.sh"));
    for v in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        build.env_remove(v);
    }
    build.env("CARGO_TARGET_DIR", web.join("target"));
    run_ok(
        "building the page's wasm module (examples/web/build.sh)",
        &mut build,
        Duration::from_secs(900),
    );

    let (port, stop) = serve(web.join("www"), Duration::from_secs(120));
    let profile = std::env::temp_dir().join(format!("flowmap-chromium-{}", std::process::id()));
    let (ok, dom) = run_limited(
        std::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox", // root in containers
                "--disable-gpu",
                "--no-first-run",
                "--virtual-time-budget=30000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("http://127.0.0.1:{port}/index.html?selftest")),
        Duration::from_secs(90),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&profile);
    assert!(ok, "headless Chromium failed:\n{dom}");
    assert!(
        dom.lines().any(|l| l.trim() == "done"),
        "the page's self-test did not finish; page:\n{dom}"
    );

    for steps in [1, 2] {
        let (dim, want) = host_bits(steps);
        let got = parse_samples(&dom, steps, dim);
        assert_same_bits("wasm in Chromium", steps, dim, &got, &want);
    }
    let lit: usize = dom
        .lines()
        .find_map(|l| l.trim().strip_prefix("canvas lit_pixels="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no canvas report in:\n{dom}"));
    assert!(
        lit > 1000,
        "the density picture is (nearly) empty: {lit} lit pixels"
    );
    say(&format!(
        "page in headless Chromium: samples bit-identical to the host's portable kernel; \
         density picture has {lit} lit pixels"
    ));
}
