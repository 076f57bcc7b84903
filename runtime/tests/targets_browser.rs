//! The runtime in a real browser: builds the page's WebAssembly module
//! (examples/web/build.sh, wasm32-unknown-unknown), serves examples/web/www from a local
//! static server on 127.0.0.1, opens the page in headless Chromium with `?selftest` (the page
//! samples the bundled model with seed 42 in one and two steps, writes the samples' bits into
//! the DOM, draws the default picture and counts its lit pixels, and POSTs that text back to
//! the server), and checks the bits equal the host's and that the picture has content. Then
//! the same with a tiny image-shaped test model (`?model=`), which takes the sprite-sheet
//! painter and the Fourier-embedding and exact-GELU math paths.
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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use targets::*;

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Serialises the tests of this file (they share examples/web/www).
static PAGE: Mutex<()> = Mutex::new(());

/// What the page POSTed to `/report`, once it has.
type Report = Arc<Mutex<Option<String>>>;

/// A static file server for `root` on 127.0.0.1 (any free port) that also accepts the
/// page's `POST /report`. It stops when the returned flag is set or after `limit`,
/// whichever comes first, so it never outlives the test by much.
fn serve(root: PathBuf, limit: Duration) -> (u16, Arc<AtomicBool>, Report) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("local address").port();
    let stop = Arc::new(AtomicBool::new(false));
    let report: Report = Arc::default();
    let (flag, rep) = (stop.clone(), report.clone());
    std::thread::spawn(move || {
        let start = Instant::now();
        while !flag.load(Ordering::Relaxed) && start.elapsed() < limit {
            match listener.accept() {
                Ok((stream, _)) => answer(&root, stream, &rep),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, stop, report)
}

/// Answers one request (one per connection: `Connection: close`): GET of a file under
/// `root`, or the page's POST of its report.
fn answer(root: &Path, mut stream: TcpStream, report: &Report) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    // "/path?query": only plain relative paths inside `root` are served.
    let path = parts.next().unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let (status, kind, body) = if method == "POST" && rel == "report" {
        let mut body = vec![0u8; length.min(1 << 20)];
        let got = reader.read_exact(&mut body).is_ok();
        if got {
            *report.lock().expect("report lock") = Some(String::from_utf8_lossy(&body).into());
        }
        ("204 No Content", "text/plain", Vec::new())
    } else {
        let safe = rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
        match std::fs::read(root.join(rel)) {
            Ok(body) if safe && method == "GET" => ("200 OK", content_type(rel), body),
            _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Opens `url` in headless Chromium and waits (at most `limit`) for the page to POST its
/// report; then closes the browser. Returns the report, or why there is none.
fn run_page(url: &str, report: &Report, limit: Duration) -> Result<String, String> {
    let profile = std::env::temp_dir().join(format!("flowmap-chromium-{}", std::process::id()));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox", // root in containers
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium()))?;
    let start = Instant::now();
    let result = loop {
        if let Some(r) = report.lock().expect("report lock").take() {
            break Ok(r);
        }
        if let Ok(Some(st)) = child.try_wait() {
            break Err(format!("Chromium exited ({st}) before the page reported"));
        }
        if start.elapsed() > limit {
            break Err(format!(
                "no report from the page within {} s",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    let _ = std::fs::remove_dir_all(&profile);
    result.map_err(|e| format!("{e}; Chromium's log:\n{log}"))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Builds the page's module into examples/web/www (examples/web/build.sh); returns
/// examples/web.
///
/// The tests in this file hold [`PAGE`] while they build and serve, so that one never serves
/// a module the other is rewriting.
fn build_page() -> PathBuf {
    let web = repo().join("examples/web");
    let mut build = Command::new("bash");
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
    web
}

/// Opens the built page with `?selftest` (plus `query`) and checks its samples against the
/// host's for `model` and that the picture it drew has at least `min_lit` lit pixels.
fn check_page(web: &Path, query: &str, model: &Path, min_lit: usize) -> String {
    let (port, stop, report) = serve(web.join("www"), Duration::from_secs(180));
    let url = format!("http://127.0.0.1:{port}/index.html?selftest{query}");
    let page = run_page(&url, &report, Duration::from_secs(120));
    stop.store(true, Ordering::Relaxed);
    let page = page.unwrap_or_else(|e| panic!("headless Chromium: {e}"));
    assert!(
        page.lines().any(|l| l.trim() == "done"),
        "the page's self-test did not finish; it reported:\n{page}"
    );
    for steps in [1, 2] {
        let (dim, want) = host_bits_of(model, steps);
        let got = parse_samples(&page, steps, dim);
        assert_same_bits("wasm in Chromium", steps, dim, &got, &want);
    }
    let lit: usize = page
        .lines()
        .find_map(|l| l.trim().strip_prefix("canvas lit_pixels="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no canvas report in:\n{page}"));
    assert!(
        lit >= min_lit,
        "the picture is (nearly) empty: {lit} lit pixels"
    );
    format!("samples bit-identical to the host's portable kernel; picture has {lit} lit pixels")
}

#[test]
fn page_in_headless_chromium_matches_host_bits() {
    let name = "page_in_headless_chromium_matches_host_bits";
    let _page = PAGE.lock().unwrap_or_else(|e| e.into_inner());
    if !require(name, missing_program(&chromium(), "--version"))
        || !require(name, missing_rust_target("wasm32-unknown-unknown"))
    {
        return;
    }
    let web = build_page();
    // The bundled 2-D model: the density painter.
    let msg = check_page(&web, "", &repo().join(MODEL), 1000);
    say(&format!("page in headless Chromium, bundled model: {msg}"));

    // An image-shaped model ([1, 2, 2]; Fourier time embedding, exact-erf GELU: the other
    // software math paths): the sprite-sheet painter. A tiny fixed test model from the
    // fuzzing seeds, served from a scratch folder inside www/models (ignored by git).
    let image = repo().join("fuzz/seeds/image_gelu_erf_f32.safetensors");
    let dir = web.join("www/models/test");
    std::fs::create_dir_all(&dir).expect("create www/models/test");
    std::fs::copy(&image, dir.join("image.safetensors")).expect("copy the image model");
    let msg = check_page(&web, "&model=models/test/image.safetensors", &image, 1000);
    say(&format!(
        "page in headless Chromium, image model [1, 2, 2]: {msg}"
    ));
}

/// Not a check but a report, run on demand (it asserts nothing about speed):
///
///   cargo test -p flowmap --no-default-features --test targets_browser -- --ignored --nocapture
///
/// One-step generation of `BENCH_N` samples of the bundled model: median and fastest of
/// `BENCH_REPEATS` runs in headless Chromium (the page's `?bench`), then the same natively
/// (examples/web/examples/native_timing.rs, release build): with the portable kernel (the
/// same arithmetic as the wasm module) and with the `std` build's AVX2/AVX-512 kernels.
#[test]
#[ignore = "timing report: run on demand with --ignored --nocapture"]
fn page_timing_vs_native() {
    const BENCH_N: usize = 16384;
    const BENCH_REPEATS: usize = 50;
    let name = "page_timing_vs_native";
    let _page = PAGE.lock().unwrap_or_else(|e| e.into_inner());
    if !require(name, missing_program(&chromium(), "--version"))
        || !require(name, missing_rust_target("wasm32-unknown-unknown"))
    {
        return;
    }
    let web = build_page();
    let (port, stop, report) = serve(web.join("www"), Duration::from_secs(300));
    let url = format!("http://127.0.0.1:{port}/index.html?bench={BENCH_REPEATS}&n={BENCH_N}");
    let page = run_page(&url, &report, Duration::from_secs(240));
    stop.store(true, Ordering::Relaxed);
    let page = page.unwrap_or_else(|e| panic!("headless Chromium: {e}"));
    let line = page
        .lines()
        .find(|l| l.starts_with("bench "))
        .unwrap_or_else(|| panic!("no bench line in:\n{page}"));
    say(&format!("wasm in headless Chromium: {line}"));

    // Native: the same `Session::sample` call in a release build (the test profile keeps
    // debug assertions, which would slow the host down), portable kernel then std kernels.
    let (n, r) = (BENCH_N.to_string(), BENCH_REPEATS.to_string());
    for features in [None, Some("native-std")] {
        let mut cmd = nested_cargo(&web);
        cmd.args(["run", "--release", "--example", "native_timing"]);
        if let Some(f) = features {
            cmd.args(["--features", f]);
        }
        cmd.arg("--").arg(repo().join(MODEL)).args([&n, "1", &r]);
        let out = run_ok("native timing", &mut cmd, Duration::from_secs(900));
        say(out.trim());
    }
}
