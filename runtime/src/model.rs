//! The loaded model, its scratch workspace, and evaluation (map, velocity, sampling).

use alloc::vec::Vec;
use core::fmt;

use crate::error::EvalError;
use crate::kernels::{self, Dense, PanelDtype};
use crate::rng::NormalRng;
use crate::schema::{Activation, Architecture, ModelMeta, TimeEmbedding, UnetPlan};
use crate::unet::{Unet, UnetScratch};

/// The time grid for [`Model::sample`]: sampling steps x ← X_{t_k, t_{k+1}}(x).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grid<'a> {
    /// N uniform steps, t_k = k / N for k = 0..=N (N ≥ 1).
    Uniform(usize),
    /// Explicit points t_0, …, t_N: at least 2, finite, within [0, 1], non-decreasing.
    /// Steps with t_{k+1} = t_k are the identity (X_{s,s} = id) and are skipped.
    Custom(&'a [f32]),
}

/// One dense layer, in the kernel layout.
#[derive(Clone)]
struct Layer {
    /// The weight columns that multiply the layer input (for layer 0: the state columns
    /// `E..n_in`; the time-embedding columns are in [`Model::emb_weight`]).
    /// In the file's dtype: 16-bit files keep 16-bit panels (see [`Dense`]).
    packed: Dense,
    /// Bias, zero-padded to [`Dense::padded_n`].
    bias: Vec<f32>,
    #[cfg_attr(not(test), allow(dead_code))]
    n_in: usize,
    n_out: usize,
}

/// A loaded flow-map model: immutable, `Send + Sync`, shareable between threads (each thread
/// uses its own [`Workspace`]).
///
/// Weights are copied into the compute layout at load time and owned by the model, so the
/// file buffer need not outlive it. An MLP's layer weights keep the file's dtype (f16 /
/// bf16 files: 16-bit panels widened exactly in the kernel, the same bits as decoding to
/// f32 at half the memory traffic); everything else is f32.
///
/// ```
/// use flowmap::{Grid, Model};
/// # let bytes = flowmap::write::example_model_bytes();
/// // `bytes`: the contents of a model file written by flowmap-train.
/// let model = Model::from_bytes(&bytes)?;
/// let dim = model.dim();
/// let mut ws = model.workspace(16);
/// let mut samples = vec![0.0f32; 16 * dim];
/// model.sample_seeded(&mut ws, 42, Grid::Uniform(2), &mut samples)?;
/// assert!(samples.iter().all(|x| x.is_finite()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Model {
    meta: ModelMeta,
    dim: usize,
    activation: Activation,
    /// Fourier frequencies (empty for the raw embedding).
    frequencies: Vec<f32>,
    /// State-embedding frequencies (empty: layer 0 reads u = x/σ itself).
    state_frequencies: Vec<f32>,
    /// Number of time-embedding features E (the first E columns of layer 0).
    embed_features: usize,
    layers: Vec<Layer>,
    /// Columns `0..E` of layer 0's weight, row-major `[n_out0, E]`: folded into the bias
    /// once per (s, t).
    emb_weight: Vec<f32>,
    mean: Vec<f32>,
    std: Vec<f32>,
    sigma: f32,
    /// Widest activation row: max(layer-0 input, hidden widths).
    width: usize,
    /// The network, for the `unet` family (the fields above from `activation` to `width`
    /// describe the `mlp` family and are empty then).
    unet: Option<Unet>,
    /// Total number of weights and biases.
    parameters: usize,
}

/// Scratch memory for evaluation. Create it with [`Model::workspace`] and reuse it: calls
/// whose batch fits its capacity allocate nothing. A larger batch grows it (the only time
/// evaluation allocates); it never shrinks. A workspace is not tied to one model (it grows
/// to fit whichever model uses it), but it is `&mut`: one per thread.
#[derive(Clone, Default)]
pub struct Workspace {
    /// Normalised state, batch × dim.
    z: Vec<f32>,
    /// Ping-pong activation buffers, batch × width each.
    a: Vec<f32>,
    b: Vec<f32>,
    /// Time embedding of the current (s, t).
    emb: Vec<f32>,
    /// Layer-0 bias with the embedding columns folded in.
    bias0: Vec<f32>,
    /// The U-Net's buffers (empty for an MLP).
    unet: UnetScratch,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field(
                "floats",
                &(self.z.len() + self.a.len() + self.b.len() + self.unet.floats()),
            )
            .finish()
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("dim", &self.dim)
            .field("family", &if self.unet.is_some() { "unet" } else { "mlp" })
            .field("parameters", &self.num_parameters())
            .field("meta", &self.meta)
            .finish()
    }
}

/// Grows `v` to at least `len` elements (zero-filled), reporting allocation failure.
fn grow(v: &mut Vec<f32>, len: usize) -> Result<(), ()> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len()).map_err(|_| ())?;
        v.resize(len, 0.0);
    }
    Ok(())
}

impl Workspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// Makes sure the buffers fit `batch` rows of `model`.
    fn ensure(&mut self, model: &Model, batch: usize) -> Result<(), EvalError> {
        let oom = EvalError::OutOfMemory { batch };
        let zl = batch.checked_mul(model.dim).ok_or(oom.clone())?;
        if let Some(unet) = &model.unet {
            let r = grow(&mut self.z, zl)
                .and_then(|_| grow(&mut self.a, zl))
                .and_then(|_| unet.ensure(&mut self.unet));
            return r.map_err(|_| oom);
        }
        let al = batch.checked_mul(model.width).ok_or(oom.clone())?;
        let r = grow(&mut self.z, zl)
            .and_then(|_| grow(&mut self.a, al))
            .and_then(|_| grow(&mut self.b, al))
            .and_then(|_| grow(&mut self.emb, model.embed_features))
            .and_then(|_| grow(&mut self.bias0, model.layers[0].packed.padded_n()));
        r.map_err(|_| oom)
    }
}

/// Checks that every element is finite.
fn check_finite(xs: &[f32]) -> Result<(), EvalError> {
    match xs.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(EvalError::NonFiniteInput { index }),
        None => Ok(()),
    }
}

fn check_time(which: &'static str, value: f32) -> Result<(), EvalError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(EvalError::NonFiniteTime { which, value })
    }
}

/// Checks `res` for non-finite values, then copies it to `out` (untouched on error).
fn finish(res: &[f32], out: &mut [f32]) -> Result<(), EvalError> {
    if let Some(index) = res.iter().position(|v| !v.is_finite()) {
        return Err(EvalError::NonFiniteOutput { index });
    }
    out.copy_from_slice(res);
    Ok(())
}

fn validate_grid(grid: Grid<'_>) -> Result<(), EvalError> {
    match grid {
        Grid::Uniform(0) => Err(EvalError::InvalidGrid {
            reason: "Uniform needs at least 1 step",
        }),
        Grid::Uniform(_) => Ok(()),
        Grid::Custom(ts) => {
            if ts.len() < 2 {
                return Err(EvalError::InvalidGrid {
                    reason: "a custom grid needs at least 2 points",
                });
            }
            if ts
                .iter()
                .any(|t| !t.is_finite() || !(0.0..=1.0).contains(t))
            {
                return Err(EvalError::InvalidGrid {
                    reason: "grid points must be finite and within [0, 1]",
                });
            }
            if ts.windows(2).any(|w| w[1] < w[0]) {
                return Err(EvalError::InvalidGrid {
                    reason: "grid points must be non-decreasing",
                });
            }
            Ok(())
        }
    }
}

impl Model {
    /// The model of validated metadata and its tensors decoded to f32, in the order of
    /// [`Architecture::tensors`] (the loader checked every shape), with the dtype each was
    /// stored as: packs the dense layers into the kernel layout, the MLP's in their file
    /// dtype (the decoded values narrow back exactly).
    pub(crate) fn from_weights(
        meta: ModelMeta,
        weights: Vec<Vec<f32>>,
        dtypes: &[PanelDtype],
    ) -> Model {
        let parameters = weights.iter().map(Vec::len).sum();
        let (hidden, activation, time_embedding, state_embedding) = match &meta.architecture {
            Architecture::Mlp {
                hidden,
                activation,
                time_embedding,
                state_embedding,
                ..
            } => (hidden, activation, time_embedding, state_embedding),
            Architecture::Unet { .. } => {
                let plan = match UnetPlan::new(&meta.architecture) {
                    Some(Ok(plan)) => plan,
                    _ => unreachable!("the loader validated the architecture"),
                };
                return Model {
                    dim: meta.architecture.dim(),
                    activation: Activation::Silu,
                    embed_features: 0,
                    frequencies: Vec::new(),
                    state_frequencies: Vec::new(),
                    layers: Vec::new(),
                    emb_weight: Vec::new(),
                    mean: meta.normalization.mean.clone(),
                    std: meta.normalization.std.clone(),
                    sigma: meta.sigma,
                    width: 0,
                    unet: Some(Unet::new(plan, weights)),
                    parameters,
                    meta,
                };
            }
        };
        let e = time_embedding.features();
        let shape = meta.architecture.mlp_layers();
        let mut layers = Vec::with_capacity(shape.len());
        let mut emb_weight = Vec::new();
        let mut tensors = weights.into_iter();
        for (i, &(n_in, n_out)) in shape.iter().enumerate() {
            let (weight, mut bias) = match (tensors.next(), tensors.next()) {
                (Some(w), Some(b)) => (w, b),
                _ => unreachable!("the loader passes one weight and one bias per layer"),
            };
            let off = if i == 0 { e } else { 0 };
            if i == 0 {
                emb_weight = Vec::with_capacity(n_out * e);
                for row in weight.chunks_exact(n_in) {
                    emb_weight.extend_from_slice(&row[..e]);
                }
            }
            // Tensors come as (weight, bias) per layer: the weight's dtype is entry 2·i.
            let dtype = dtypes.get(2 * i).copied().unwrap_or(PanelDtype::F32);
            let packed = Dense::new(dtype, &weight, n_out, n_in, off, n_in - off);
            bias.resize(packed.padded_n(), 0.0);
            layers.push(Layer {
                packed,
                bias,
                n_in,
                n_out,
            });
        }
        let frequencies = match time_embedding {
            TimeEmbedding::Raw => Vec::new(),
            TimeEmbedding::Fourier { frequencies } => frequencies.clone(),
        };
        let dim = meta.architecture.dim();
        let width = hidden
            .iter()
            .copied()
            .fold(state_embedding.features(dim), usize::max);
        Model {
            dim,
            activation: *activation,
            embed_features: e,
            frequencies,
            state_frequencies: state_embedding.frequencies().to_vec(),
            layers,
            emb_weight,
            mean: meta.normalization.mean.clone(),
            std: meta.normalization.std.clone(),
            sigma: meta.sigma,
            width,
            unet: None,
            parameters,
            meta,
        }
    }

    /// The file's metadata (architecture, σ, normalisation, provenance).
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Number of data dimensions (product of [`Model::data_shape`]).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Shape of one data point.
    pub fn data_shape(&self) -> &[usize] {
        self.meta.architecture.data_shape()
    }

    /// The file's format version (always a version this runtime supports).
    pub fn format_version(&self) -> u32 {
        self.meta.format_version
    }

    fn raw_embedding(&self) -> bool {
        matches!(
            &self.meta.architecture,
            Architecture::Mlp {
                time_embedding: TimeEmbedding::Raw,
                ..
            }
        )
    }

    /// Total number of weights and biases.
    pub fn num_parameters(&self) -> usize {
        self.parameters
    }

    /// A workspace sized for batches of up to `max_batch` rows of this model. If that much
    /// memory cannot be reserved, the workspace is returned smaller and the evaluation call
    /// that needs it reports [`EvalError::OutOfMemory`].
    pub fn workspace(&self, max_batch: usize) -> Workspace {
        let mut ws = Workspace::new();
        if ws.ensure(self, max_batch).is_err() {
            ws = Workspace::new();
        }
        ws
    }

    /// The layer tensors in file order (weight, bias, weight, …) reconstructed from the
    /// kernel layout, for tests.
    #[cfg(test)]
    pub(crate) fn weights_for_tests(&self) -> Vec<Vec<f32>> {
        let e = self.embed_features;
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let off = if i == 0 { e } else { 0 };
            let mut w = alloc::vec![0.0f32; l.n_out * l.n_in];
            for j in 0..l.n_out {
                for p in 0..l.n_in {
                    w[j * l.n_in + p] = if p < off {
                        self.emb_weight[j * e + p]
                    } else {
                        l.packed.get(j, p - off)
                    };
                }
            }
            out.push(w);
            out.push(l.bias[..l.n_out].to_vec());
        }
        out
    }

    /// Batch size of an input of length `len` (a multiple of dim).
    fn batch_of(&self, len: usize) -> Result<usize, EvalError> {
        if len % self.dim != 0 {
            return Err(EvalError::InputLength { len, dim: self.dim });
        }
        Ok(len / self.dim)
    }

    /// Rows of a row-major input whose output buffer must have the same length.
    fn rows_in_out(&self, x: &[f32], out: &[f32]) -> Result<usize, EvalError> {
        let batch = self.batch_of(x.len())?;
        if out.len() != x.len() {
            return Err(EvalError::OutputLength {
                expected: x.len(),
                got: out.len(),
            });
        }
        Ok(batch)
    }

    /// The argument checks of [`Model::map`], in its order; returns the batch. Shared with
    /// the thread pool (src/pool.rs) so that both report the same error for the same call.
    pub(crate) fn check_map(
        &self,
        s: f32,
        t: f32,
        x: &[f32],
        out: &[f32],
    ) -> Result<usize, EvalError> {
        let batch = self.rows_in_out(x, out)?;
        check_time("s", s)?;
        check_time("t", t)?;
        check_finite(x)?;
        Ok(batch)
    }

    /// The argument checks of [`Model::velocity`]; returns the batch.
    pub(crate) fn check_velocity(
        &self,
        t: f32,
        x: &[f32],
        out: &[f32],
    ) -> Result<usize, EvalError> {
        let batch = self.rows_in_out(x, out)?;
        check_time("t", t)?;
        check_finite(x)?;
        Ok(batch)
    }

    /// The argument checks of [`Model::sample`]; returns the batch.
    pub(crate) fn check_sample(
        &self,
        noise: &[f32],
        grid: Grid<'_>,
        out: &[f32],
    ) -> Result<usize, EvalError> {
        let batch = self.batch_of(noise.len())?;
        if out.len() != noise.len() {
            return Err(EvalError::OutputLength {
                expected: noise.len(),
                got: out.len(),
            });
        }
        validate_grid(grid)?;
        check_finite(noise)?;
        Ok(batch)
    }

    /// The argument checks of [`Model::sample_seeded`]; returns the batch.
    pub(crate) fn check_sample_seeded(
        &self,
        grid: Grid<'_>,
        out: &[f32],
    ) -> Result<usize, EvalError> {
        if out.len() % self.dim != 0 {
            return Err(EvalError::OutputLength {
                expected: out.len() / self.dim * self.dim,
                got: out.len(),
            });
        }
        validate_grid(grid)?;
        Ok(out.len() / self.dim)
    }

    /// The network output MLP(embed(s,t), z/σ) (before the σ scaling) for the `batch` rows
    /// of `ws.z`; returns which buffer holds it (`false`: `ws.a`, `true`: `ws.b`).
    fn net(&self, ws: &mut Workspace, batch: usize, s: f32, t: f32) -> bool {
        if let Some(unet) = &self.unet {
            unet.forward(&mut ws.unet, batch, self.sigma, (s, t), &ws.z, &mut ws.a);
            return false;
        }
        let e = self.embed_features;
        let emb = &mut ws.emb[..e];
        embed(self.raw_embedding(), &self.frequencies, s, t, emb);
        // Fold the embedding columns of layer 0 into its bias (same for every row).
        let l0 = &self.layers[0];
        let bias0 = &mut ws.bias0[..l0.packed.padded_n()];
        bias0.fill(0.0);
        for (j, b) in bias0[..l0.n_out].iter_mut().enumerate() {
            *b = l0.bias[j] + kernels::dot(&self.emb_weight[j * e..(j + 1) * e], emb);
        }
        // Layer-0 input: u = z / σ, embedded.
        let n = batch * self.dim;
        if self.state_frequencies.is_empty() {
            for (u, z) in ws.a[..n].iter_mut().zip(&ws.z[..n]) {
                *u = z / self.sigma;
            }
        } else {
            let row = self.layers[0].n_in - e;
            for (out, z) in ws.a[..batch * row]
                .chunks_exact_mut(row)
                .zip(ws.z[..n].chunks_exact(self.dim))
            {
                embed_state(&self.state_frequencies, self.sigma, z, out);
            }
        }
        let (mut src, mut dst) = (&mut ws.a, &mut ws.b);
        let mut in_b = false;
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let bias = if i == 0 { &*bias0 } else { &l.bias[..] };
            let act = if i == last {
                None
            } else {
                Some(self.activation)
            };
            kernels::linear_dense(&l.packed, bias, batch, src, act, dst);
            core::mem::swap(&mut src, &mut dst);
            in_b = !in_b;
        }
        in_b
    }

    /// One step in normalised space: ws.z ← ws.z + (t − s)·σ·MLP(s, t, ws.z).
    fn step(&self, ws: &mut Workspace, batch: usize, s: f32, t: f32) {
        let in_b = self.net(ws, batch, s, t);
        let n = batch * self.dim;
        let o = if in_b { &ws.b[..n] } else { &ws.a[..n] };
        let h = t - s;
        for (z, o) in ws.z[..n].iter_mut().zip(o) {
            let v = self.sigma * o;
            *z += h * v;
        }
    }

    /// (mean, std) of data element `i` of a row: per dimension, per channel (format 2,
    /// `[C, H, W]` row-major) or one value (format 2).
    #[inline(always)]
    fn norm_at(&self, i: usize) -> (f32, f32) {
        let at = |v: &[f32]| match v.len() {
            1 => v[0],
            n if n == self.dim => v[i],
            n => v[i / (self.dim / n)],
        };
        (at(&self.mean), at(&self.std))
    }

    /// ws.z ← (x − mean) / std.
    fn normalize(&self, ws: &mut Workspace, x: &[f32]) {
        for (zr, xr) in ws.z[..x.len()]
            .chunks_exact_mut(self.dim)
            .zip(x.chunks_exact(self.dim))
        {
            if self.mean.len() == self.dim && self.std.len() == self.dim {
                for (((z, x), m), s) in zr.iter_mut().zip(xr).zip(&self.mean).zip(&self.std) {
                    *z = (x - m) / s;
                }
            } else {
                for (i, (z, x)) in zr.iter_mut().zip(xr).enumerate() {
                    let (m, s) = self.norm_at(i);
                    *z = (x - m) / s;
                }
            }
        }
    }

    /// ws.z[..n] ← mean + std ⊙ ws.z[..n].
    fn denormalize(&self, ws: &mut Workspace, n: usize) {
        for zr in ws.z[..n].chunks_exact_mut(self.dim) {
            if self.mean.len() == self.dim && self.std.len() == self.dim {
                for ((z, m), s) in zr.iter_mut().zip(&self.mean).zip(&self.std) {
                    *z = m + s * *z;
                }
            } else {
                for (i, z) in zr.iter_mut().enumerate() {
                    let (m, s) = self.norm_at(i);
                    *z = m + s * *z;
                }
            }
        }
    }

    /// Applies the flow map in data space: `out = mean + std ⊙ X_{s,t}((x − mean) / std)` for
    /// each row of `x` (row-major, batch × dim).
    ///
    /// `s` and `t` may be any finite times (the model was trained on 0 ≤ s ≤ t ≤ 1).
    /// `out.len()` must equal `x.len()`. Non-finite `s`, `t` or inputs are errors; on any
    /// error `out` is untouched. Allocates only if the batch exceeds the workspace capacity.
    ///
    /// ```
    /// # let bytes = flowmap::write::example_model_bytes();
    /// let model = flowmap::Model::from_bytes(&bytes)?;
    /// let mut ws = model.workspace(1);
    /// let x = vec![0.5f32; model.dim()];
    /// let mut y = vec![0.0f32; model.dim()];
    /// model.map(&mut ws, 0.3, 0.3, &x, &mut y)?; // X_{s,s} is the identity
    /// for (a, b) in x.iter().zip(&y) {
    ///     assert!((a - b).abs() < 1e-6);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map(
        &self,
        ws: &mut Workspace,
        s: f32,
        t: f32,
        x: &[f32],
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = self.check_map(s, t, x, out)?;
        if batch == 0 {
            return Ok(());
        }
        ws.ensure(self, batch)?;
        self.normalize(ws, x);
        self.step(ws, batch, s, t);
        self.denormalize(ws, x.len());
        finish(&ws.z[..x.len()], out)
    }

    /// The velocity of the flow in data space: `out = std ⊙ v_{t,t}((x − mean) / std)`, i.e.
    /// b_t(x) = ∂_t X_{s,t}(x) at s = t, for each row of `x`.
    ///
    /// Same rules as [`Model::map`]: lengths checked, non-finite inputs rejected, `out`
    /// untouched on error.
    pub fn velocity(
        &self,
        ws: &mut Workspace,
        t: f32,
        x: &[f32],
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = self.check_velocity(t, x, out)?;
        if batch == 0 {
            return Ok(());
        }
        ws.ensure(self, batch)?;
        self.normalize(ws, x);
        let in_b = self.net(ws, batch, t, t);
        let n = x.len();
        let o = if in_b { &ws.b[..n] } else { &ws.a[..n] };
        for (zr, or) in ws.z[..n]
            .chunks_exact_mut(self.dim)
            .zip(o.chunks_exact(self.dim))
        {
            for (i, (z, o)) in zr.iter_mut().zip(or).enumerate() {
                let sd = if self.std.len() == self.dim {
                    self.std[i]
                } else {
                    self.norm_at(i).1
                };
                let v = self.sigma * o;
                *z = sd * v;
            }
        }
        finish(&ws.z[..n], out)
    }

    /// Runs the sampling steps over `grid` from ws.z (normalised) and writes data-space
    /// results to `out`.
    fn run_grid(
        &self,
        ws: &mut Workspace,
        batch: usize,
        grid: Grid<'_>,
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        match grid {
            Grid::Uniform(steps) => {
                let nf = steps as f32;
                for k in 0..steps {
                    let s = k as f32 / nf;
                    let t = (k + 1) as f32 / nf;
                    if t != s {
                        self.step(ws, batch, s, t);
                    }
                }
            }
            Grid::Custom(ts) => {
                for w in ts.windows(2) {
                    if w[1] != w[0] {
                        self.step(ws, batch, w[0], w[1]);
                    }
                }
            }
        }
        self.denormalize(ws, out.len());
        finish(&ws.z[..out.len()], out)
    }

    /// Generates samples from standard-normal `noise` (row-major, batch × dim): starting at
    /// z_0 = σ·noise in normalised space, applies x ← X_{t_k, t_{k+1}}(x) along `grid`, and
    /// writes the data-space result to `out` (same length as `noise`).
    ///
    /// Deterministic: on one machine, the same model, noise and grid give bit-identical
    /// output, and a row's result does not depend on the batch it is in or its position in
    /// the batch (every sum is evaluated in the same order). Across machines it can differ
    /// by rounding: the AVX2 + FMA and AVX-512 kernels fuse each multiply-add, the portable
    /// kernel (no_std, other architectures, x86-64 without FMA) does not. Non-finite noise
    /// is an error; `out` is untouched on error.
    pub fn sample(
        &self,
        ws: &mut Workspace,
        noise: &[f32],
        grid: Grid<'_>,
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = self.check_sample(noise, grid, out)?;
        if batch == 0 {
            return Ok(());
        }
        ws.ensure(self, batch)?;
        for (z, e) in ws.z[..noise.len()].iter_mut().zip(noise) {
            *z = self.sigma * e;
        }
        self.run_grid(ws, batch, grid, out)
    }

    /// Like [`Model::sample`] with noise drawn from [`NormalRng::new(seed)`](NormalRng),
    /// row-major (row 0's dim values first). The batch is `out.len() / dim`; `out.len()`
    /// must be a multiple of dim (else [`EvalError::OutputLength`] with `expected` the
    /// nearest smaller multiple).
    ///
    /// ```
    /// use flowmap::{Grid, Model, NormalRng};
    /// # let bytes = flowmap::write::example_model_bytes();
    /// let model = Model::from_bytes(&bytes)?;
    /// let mut ws = model.workspace(4);
    /// let mut a = vec![0.0f32; 4 * model.dim()];
    /// model.sample_seeded(&mut ws, 7, Grid::Uniform(1), &mut a)?;
    /// // Same as drawing the noise yourself:
    /// let mut noise = vec![0.0f32; a.len()];
    /// NormalRng::new(7).fill(&mut noise);
    /// let mut b = vec![0.0f32; a.len()];
    /// model.sample(&mut ws, &noise, Grid::Uniform(1), &mut b)?;
    /// assert_eq!(a, b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sample_seeded(
        &self,
        ws: &mut Workspace,
        seed: u64,
        grid: Grid<'_>,
        out: &mut [f32],
    ) -> Result<(), EvalError> {
        let batch = self.check_sample_seeded(grid, out)?;
        if batch == 0 {
            return Ok(());
        }
        ws.ensure(self, batch)?;
        let z = &mut ws.z[..out.len()];
        NormalRng::new(seed).fill(z);
        for v in z.iter_mut() {
            *v *= self.sigma;
        }
        self.run_grid(ws, batch, grid, out)
    }
}

/// Writes the state embedding of one normalised row `z` (d values) to `out` ((1 + 2K)·d
/// values): `[u, sin(w_1 u), …, sin(w_K u), cos(w_1 u), …, cos(w_K u)]` with u = z/σ and
/// `w_k = 2π·f_k` computed in f32 (`TAU * f_k`), element-wise.
pub(crate) fn embed_state(frequencies: &[f32], sigma: f32, z: &[f32], out: &mut [f32]) {
    let d = z.len();
    let k = frequencies.len();
    let (u, rest) = out.split_at_mut(d);
    for (u, z) in u.iter_mut().zip(z) {
        *u = z / sigma;
    }
    let (sines, cosines) = rest.split_at_mut(k * d);
    for ((&f, sin), cos) in frequencies
        .iter()
        .zip(sines.chunks_exact_mut(d))
        .zip(cosines.chunks_exact_mut(d))
    {
        let w = core::f32::consts::TAU * f;
        for ((s, c), &u) in sin.iter_mut().zip(cos.iter_mut()).zip(&*u) {
            let a = w * u;
            *s = libm::sinf(a);
            *c = libm::cosf(a);
        }
    }
}

/// Writes the time embedding of (s, t) to `emb` (length 2, or 2 + 4·frequencies.len()).
///
/// Raw: `[s, t]`. Fourier: `[s, t − s]` then, for each f_k, with `w = 2π·f_k` computed in
/// f32 (`TAU * f_k`): `sin(w·s), cos(w·s), sin(w·(t − s)), cos(w·(t − s))`.
pub(crate) fn embed(raw: bool, frequencies: &[f32], s: f32, t: f32, emb: &mut [f32]) {
    emb[0] = s;
    if raw {
        emb[1] = t;
        return;
    }
    let d = t - s;
    emb[1] = d;
    for (k, &f) in frequencies.iter().enumerate() {
        let w = core::f32::consts::TAU * f;
        let (a, b) = (w * s, w * d);
        emb[2 + 4 * k] = libm::sinf(a);
        emb[3 + 4 * k] = libm::cosf(a);
        emb[4 + 4 * k] = libm::sinf(b);
        emb[5 + 4 * k] = libm::cosf(b);
    }
}
