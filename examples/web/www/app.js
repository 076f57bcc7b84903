// The page's logic: load flowmap_web.wasm (see ../src/lib.rs for its exports and memory
// protocol), load a model (the bundled one or the user's file), sample on demand, draw.
//
// URL switches for automated checks (runtime/tests/targets_browser.rs):
//   ?selftest          seed 42, 8 samples, 1 and 2 steps: bits written into #selftest
//   ?bench=R&n=N       R timed one-step generations of N samples, median/min into #selftest
//   ?model=URL         start with the model at URL (same origin) instead of the bundled one
// In both modes the #selftest text is also POSTed to ./report, where the test's server
// waits for it (more robust than a timed DOM dump: wasm compiles at its own pace).

const $ = (id) => document.getElementById(id);
const BUNDLED = "models/checkerboard.safetensors";
let wasm = null; // the module's exports
let model = null; // { name, meta, dim, shape }

function text() {
  const bytes = new Uint8Array(wasm.memory.buffer, wasm.fm_text_ptr(), wasm.fm_text_len());
  return new TextDecoder().decode(bytes);
}

function loadModel(bytes, name) {
  const p = wasm.fm_input(bytes.length);
  new Uint8Array(wasm.memory.buffer, p, bytes.length).set(bytes);
  if (wasm.fm_load() !== 0) throw new Error(`${name}: ${text()}`);
  const meta = JSON.parse(text());
  model = { name, meta, dim: wasm.fm_dim(), shape: meta.architecture.data_shape };
  const a = meta.architecture, pv = meta.provenance || {};
  $("info").textContent =
    `${name}: data shape [${model.shape}], hidden [${a.hidden}], ${a.activation}, ` +
    `σ = ${meta.sigma}; trained with ${pv.method ?? "?"} for ${pv.steps ?? "?"} steps`;
  $("generate").disabled = false;
}

// Returns the samples (a copy: memory growth would detach a view) and the time taken.
function sample(seed, n, steps) {
  const t0 = performance.now();
  const p = wasm.fm_sample(BigInt(seed), n, steps);
  const ms = performance.now() - t0;
  if (p === 0) throw new Error(text());
  return { xs: new Float32Array(wasm.memory.buffer, p, n * model.dim).slice(), ms };
}

// ---- drawing: one painter per kind of data shape -------------------------------------

// 2-D points: a log-density histogram on a square window around the bulk of the points.
function drawDensity(ctx, xs) {
  const { width: w, height: h } = ctx.canvas;
  const n = xs.length / 2;
  const q = (arr, f) => arr[Math.min(arr.length - 1, Math.floor(f * arr.length))];
  const xsx = Float32Array.from({ length: n }, (_, i) => xs[2 * i]).sort();
  const xsy = Float32Array.from({ length: n }, (_, i) => xs[2 * i + 1]).sort();
  const cx = (q(xsx, 0.005) + q(xsx, 0.995)) / 2, cy = (q(xsy, 0.005) + q(xsy, 0.995)) / 2;
  const half = 0.55 * Math.max(q(xsx, 0.995) - q(xsx, 0.005), q(xsy, 0.995) - q(xsy, 0.005), 1e-6);
  const bins = 256, counts = new Uint32Array(bins * bins);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const bx = Math.floor(((xs[2 * i] - cx) / half + 1) / 2 * bins);
    const by = Math.floor((1 - ((xs[2 * i + 1] - cy) / half + 1) / 2) * bins);
    if (bx >= 0 && bx < bins && by >= 0 && by < bins) max = Math.max(max, ++counts[by * bins + bx]);
  }
  const img = ctx.createImageData(w, h), scale = Math.log1p(max);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = counts[Math.floor(y * bins / h) * bins + Math.floor(x * bins / w)];
      const v = c ? 0.15 + 0.85 * Math.log1p(c) / scale : 0; // empty bins stay black
      const o = 4 * (y * w + x);
      img.data[o] = 255 * Math.min(1, 1.6 * v);
      img.data[o + 1] = 255 * Math.max(0, Math.min(1, 2 * v - 0.6));
      img.data[o + 2] = 255 * Math.max(0, 3 * v - 2) + 90 * v * (1 - v);
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

// Images [C, H, W] (C = 1, 3 or 4): a sprite sheet. Pixel values are in whatever range the
// data had (0..255, 0..1, ...), so the sheet stretches the batch's own min..max to 0..255.
function drawSprites(ctx, xs, shape) {
  const [c, h, w] = shape, per = c * h * w, n = Math.floor(xs.length / per);
  const cols = Math.ceil(Math.sqrt(n)), rows = Math.ceil(n / cols);
  let lo = Infinity, hi = -Infinity;
  for (const v of xs) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const k = 255 / Math.max(hi - lo, 1e-12);
  const sheet = new ImageData(cols * (w + 1), rows * (h + 1));
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * (w + 1), oy = Math.floor(i / cols) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = 4 * ((oy + y) * sheet.width + ox + x);
        for (let ch = 0; ch < 3; ch++) {
          sheet.data[o + ch] = (xs[i * per + Math.min(ch, c - 1) * h * w + y * w + x] - lo) * k;
        }
        sheet.data[o + 3] = c === 4 ? (xs[i * per + 3 * h * w + y * w + x] - lo) * k : 255;
      }
    }
  }
  // Scale the sheet to the canvas with nearest-neighbour sampling.
  const tmp = new OffscreenCanvas(sheet.width, sheet.height);
  tmp.getContext("2d").putImageData(sheet, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  const s = Math.min(ctx.canvas.width / sheet.width, ctx.canvas.height / sheet.height);
  ctx.drawImage(tmp, 0, 0, sheet.width * s, sheet.height * s);
}

const PAINTERS = [
  { fits: (s) => s.length === 1 && s[0] === 2, paint: drawDensity },
  { fits: (s) => s.length === 3 && [1, 3, 4].includes(s[0]), paint: drawSprites },
];

function draw(xs) {
  const ctx = $("view").getContext("2d");
  const painter = PAINTERS.find((p) => p.fits(model.shape));
  if (!painter) {
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    throw new Error(`no picture for data shape [${model.shape}] (yet); the samples were generated`);
  }
  painter.paint(ctx, xs, model.shape);
}

// Canvas pixels that are not the black background (the self-test reports it).
function litPixels() {
  const ctx = $("view").getContext("2d");
  const d = ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height).data;
  let lit = 0;
  for (let o = 0; o < d.length; o += 4) if (d[o] | d[o + 1] | d[o + 2]) lit++;
  return lit;
}

// ---- the page ------------------------------------------------------------------------

function status(msg, error = false) {
  $("status").textContent = msg;
  $("status").className = error ? "error" : "";
}

function generate() {
  const steps = Number($("steps").value), n = Number($("n").value), seed = Number($("seed").value);
  const { xs, ms } = sample(seed, n, steps);
  $("timing").textContent =
    `${n} samples in ${steps} step${steps > 1 ? "s" : ""}: ${ms.toFixed(2)} ms ` +
    `(${(1000 * ms / n).toFixed(3)} µs per sample)`;
  draw(xs);
  status(`${model.name}: ready`);
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function report(lines) {
  $("selftest").hidden = false;
  $("selftest").textContent = "\n" + lines.join("\n") + "\n";
  fetch("report", { method: "POST", body: $("selftest").textContent }).catch(() => {});
}

function selftest() {
  const lines = [];
  for (const steps of [1, 2]) {
    const { xs } = sample(42, 8, steps);
    const bits = new Uint32Array(xs.buffer);
    for (let row = 0; row < 8; row++) {
      const hex = Array.from(bits.slice(row * model.dim, (row + 1) * model.dim),
        (b) => b.toString(16).padStart(8, "0"));
      lines.push(`sample steps=${steps} row=${row} ${hex.join(" ")}`);
    }
  }
  generate(); // the default picture, so the check also covers drawing
  lines.push(`canvas lit_pixels=${litPixels()}`, "done");
  report(lines);
}

function bench(repeats, n) {
  sample(1, n, 1); // warm-up: sizes the buffers
  const ms = [];
  for (let r = 0; r < repeats; r++) ms.push(sample(r, n, 1).ms);
  ms.sort((a, b) => a - b);
  report([`bench steps=1 n=${n} repeats=${repeats} median_ms=${ms[repeats >> 1].toFixed(3)} ` +
    `min_ms=${ms[0].toFixed(3)}`, "done"]);
}

async function main() {
  const params = new URLSearchParams(location.search);
  try {
    const { instance } = await WebAssembly.instantiate(await fetchBytes("flowmap_web.wasm"), {});
    wasm = instance.exports;
    const url = params.get("model");
    loadModel(await fetchBytes(url || BUNDLED), url || "bundled checkerboard");
    status("ready: press Generate, or pick your own model file");
    if (params.has("selftest")) selftest();
    else if (params.has("bench")) bench(Number(params.get("bench")) || 20, Number(params.get("n")) || 16384);
    else generate();
  } catch (e) {
    status(String(e.message || e), true);
    if (params.has("selftest") || params.has("bench")) report([`error: ${e.message || e}`]);
  }
}

$("generate").addEventListener("click", () => {
  try { generate(); } catch (e) { status(String(e.message || e), true); }
});
$("bundled").addEventListener("click", async () => {
  try { loadModel(await fetchBytes(BUNDLED), "bundled checkerboard"); generate(); }
  catch (e) { status(String(e.message || e), true); }
});
$("file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  if (!f) return;
  try { loadModel(new Uint8Array(await f.arrayBuffer()), f.name); generate(); }
  catch (e) { status(String(e.message || e), true); }
});
main();
