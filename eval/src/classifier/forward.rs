//! One image through the classifier: convolutions, ReLU, max-pooling and the two linear layers,
//! written plainly for one core.
//!
//! A 3×3 convolution with padding 1 is computed on a zero-bordered copy of its input,
//! `(h + 2) × (w + 2)`, stored flat: output pixel `(y, x)` of tap `(ky, kx)` reads flat index
//! `(y + ky)·(w + 2) + x + kx`, so every tap is one long contiguous `acc[i] += w · in[i + off]`
//! over a grid `w + 2` wide (the compiler vectorises it); the two extra columns per row are
//! garbage and never read. Two spare values at the end keep the last tap inside the buffer.

use super::{Classifier, CLASSES, FEATURES, FLAT, SIDE};

/// Reusable buffers (sized on first use).
#[derive(Default)]
pub(super) struct Scratch {
    pad1: Vec<f32>,
    conv1: Vec<f32>,
    pad2: Vec<f32>,
    conv2: Vec<f32>,
    flat: Vec<f32>,
}

/// Padded plane length for an `h × w` input (two spare values, see the module docs).
const fn padded(h: usize, w: usize) -> usize {
    (h + 2) * (w + 2) + 2
}

/// 3×3 convolution, padding 1: `input` holds `c_in` padded planes of `h × w` images, `out`
/// receives `c_out` planes of `h` rows `w + 2` wide (the last two columns unused).
fn conv3x3(
    input: &[f32],
    c_in: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let (plane_in, wp) = (padded(h, w), w + 2);
    let plane_out = h * wp;
    for (o, acc) in out.chunks_exact_mut(plane_out).enumerate() {
        acc.fill(bias[o]);
        for c in 0..c_in {
            let src = &input[c * plane_in..(c + 1) * plane_in];
            let taps = &weight[(o * c_in + c) * 9..(o * c_in + c + 1) * 9];
            for (k, &wk) in taps.iter().enumerate() {
                let off = (k / 3) * wp + k % 3;
                for (a, &v) in acc.iter_mut().zip(&src[off..off + plane_out]) {
                    *a += wk * v;
                }
            }
        }
    }
}

/// ReLU then 2×2 max-pool of `c` conv planes (`h` rows, `w + 2` wide); each pooled value goes
/// through `put(channel, y, x, value)`.
fn relu_pool(
    conv: &[f32],
    c: usize,
    h: usize,
    w: usize,
    mut put: impl FnMut(usize, usize, usize, f32),
) {
    let wp = w + 2;
    for ch in 0..c {
        let plane = &conv[ch * h * wp..(ch + 1) * h * wp];
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                let i = 2 * y * wp + 2 * x;
                let m = plane[i]
                    .max(plane[i + 1])
                    .max(plane[i + wp])
                    .max(plane[i + wp + 1]);
                put(ch, y, x, m.max(0.0));
            }
        }
    }
}

/// Dot product with eight partial sums (so the loop vectorises without reordering a single
/// f32 chain, which the compiler may not do on its own).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Features and logits of one 28×28 image.
pub(super) fn image(
    net: &Classifier,
    img: &[f32],
    s: &mut Scratch,
    features: &mut [f32],
    logits: &mut [f32],
) {
    let (h1, h2) = (SIDE, SIDE / 2);
    let (c1, c2) = (net.conv1_b.len(), net.conv2_b.len());
    s.pad1.resize(padded(h1, h1), 0.0);
    s.conv1.resize(c1 * h1 * (h1 + 2), 0.0);
    s.pad2.resize(c1 * padded(h2, h2), 0.0);
    s.conv2.resize(c2 * h2 * (h2 + 2), 0.0);
    s.flat.resize(FLAT, 0.0);
    // Borders stay zero: only interiors are ever written.
    for (y, row) in img.chunks_exact(h1).enumerate() {
        let at = (y + 1) * (h1 + 2) + 1;
        s.pad1[at..at + h1].copy_from_slice(row);
    }
    conv3x3(&s.pad1, 1, h1, h1, &net.conv1_w, &net.conv1_b, &mut s.conv1);
    let pad2 = &mut s.pad2;
    relu_pool(&s.conv1, c1, h1, h1, |c, y, x, v| {
        pad2[c * padded(h2, h2) + (y + 1) * (h2 + 2) + x + 1] = v;
    });
    conv3x3(
        &s.pad2,
        c1,
        h2,
        h2,
        &net.conv2_w,
        &net.conv2_b,
        &mut s.conv2,
    );
    let (flat, h3) = (&mut s.flat, h2 / 2);
    // libtorch flattens [32, 7, 7] channel-major.
    relu_pool(&s.conv2, c2, h2, h2, |c, y, x, v| {
        flat[(c * h3 + y) * h3 + x] = v
    });
    for ((f, w), b) in features
        .iter_mut()
        .zip(net.fc1_w.chunks_exact(FLAT))
        .zip(&net.fc1_b)
    {
        *f = (dot(flat, w) + b).max(0.0);
    }
    for ((l, w), b) in logits
        .iter_mut()
        .zip(net.fc2_w.chunks_exact(FEATURES))
        .zip(&net.fc2_b)
    {
        *l = dot(features, w) + b;
    }
    debug_assert_eq!(logits.len(), CLASSES);
}
