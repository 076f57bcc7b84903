//! ndarray arrays in and out of a [`Model`] (feature `ndarray`; works without `std`).
//!
//! An array of points is `[batch, dim]` (e.g. [`Array2<f32>`](ndarray::Array2)) or
//! `[batch, ..data_shape]`: `[batch, C, H, W]` ([`Array4<f32>`](ndarray::Array4)) for a
//! model whose [`data_shape`](Model::data_shape) is `[C, H, W]`. The methods take
//! `&ArrayRef` / `&mut ArrayRef`, so owned arrays and views pass alike (`&x`, `&mut out`,
//! `&x.view()`, `&mut out.slice_mut(..)`), and the model reads and writes their memory in
//! place: no copy, and no allocation once the workspace is large enough.
//!
//! In-place access needs standard layout (row-major and contiguous, as arrays are created).
//! Anything else (a transposed or strided view) is refused with [`ArrayError::Layout`]
//! rather than copied behind your back: `x.as_standard_layout()` makes the copy explicitly
//! for an input; for an output, sample into a fresh array and `assign` it.
//!
//! ```
//! use flowmap::ndarray::{s, Array2, Ix4};
//! use flowmap::{ArrayError, Grid, Model};
//! # let bytes = flowmap::write::example_model_bytes();
//! let model = Model::from_bytes(&bytes)?; // or Model::from_file("model.safetensors")
//! let mut ws = model.workspace(8);
//! let mut x: Array2<f32> = model.zeros_array(8)?; // [8, dim]
//! model.sample_seeded_array(&mut ws, 42, Grid::Uniform(2), &mut x)?; // 8 samples, 2 steps
//!
//! // Views work in place: X_{0.5,1} of the first 4 rows of x, written into rows 2..6 of y.
//! let mut y = Array2::<f32>::zeros((10, model.dim()));
//! model.map_array(&mut ws, 0.5, 1.0, &x.slice(s![..4, ..]), &mut y.slice_mut(s![2..6, ..]))?;
//! assert!(y.row(0).iter().all(|&v| v == 0.0) && y.row(2).iter().any(|&v| v != 0.0));
//!
//! // A strided view (every other row) cannot be read in place: a typed error, not a copy.
//! let every_other = x.slice(s![..;2, ..]);
//! let mut z = Array2::<f32>::zeros((4, model.dim()));
//! let err = model.map_array(&mut ws, 0.5, 1.0, &every_other, &mut z).unwrap_err();
//! assert_eq!(err, ArrayError::Layout { which: "x" });
//! model.map_array(&mut ws, 0.5, 1.0, &every_other.as_standard_layout(), &mut z)?; // copy
//!
//! // A model of 2-D points has no [batch, C, H, W] form.
//! assert!(model.zeros_array::<Ix4>(8).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::vec::Vec;
use core::fmt;

use ndarray::{Array, ArrayRef, Dimension};

use crate::{EvalError, Grid, Model, Workspace};

/// Why an array call was rejected. On any error the output array is untouched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ArrayError {
    /// The array's shape is neither `[batch, dim]` nor `[batch, ..data_shape]`.
    Shape {
        /// Which argument: `"x"`, `"noise"` or `"out"`.
        which: &'static str,
        /// The array's shape.
        shape: Vec<usize>,
        /// The model's data shape.
        data_shape: Vec<usize>,
    },
    /// [`Model::zeros_array`] was asked for an array type whose number of axes is neither 2
    /// nor 1 + the rank of the data shape (e.g. an `Array4` for a model of 2-D points).
    Rank {
        /// The number of axes asked for.
        ndim: usize,
        /// The model's data shape.
        data_shape: Vec<usize>,
    },
    /// The array is not in standard layout (row-major and contiguous), so it cannot be
    /// read or written in place.
    Layout {
        /// Which argument: `"x"`, `"noise"` or `"out"`.
        which: &'static str,
    },
    /// The model rejected the call (non-finite input, bad grid, unequal batches, ...).
    Eval(EvalError),
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::Shape {
                which,
                shape,
                data_shape,
            } => {
                let dim: usize = data_shape.iter().product();
                write!(
                    f,
                    "array `{which}` has shape {shape:?}; this model needs [batch, {dim}] or [batch, ..{data_shape:?}]"
                )
            }
            ArrayError::Rank { ndim, data_shape } => write!(
                f,
                "a {ndim}-axis array cannot hold points of shape {data_shape:?}: use 2 axes [batch, dim] or {} [batch, ..data_shape]",
                1 + data_shape.len()
            ),
            ArrayError::Layout { which } => write!(
                f,
                "array `{which}` is not in standard (row-major, contiguous) layout; \
                 use .as_standard_layout() to make a contiguous copy"
            ),
            ArrayError::Eval(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for ArrayError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ArrayError::Eval(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EvalError> for ArrayError {
    fn from(e: EvalError) -> Self {
        ArrayError::Eval(e)
    }
}

impl Model {
    /// Checks that `shape` is `[batch, dim]` or `[batch, ..data_shape]`.
    fn check_points_shape(&self, which: &'static str, shape: &[usize]) -> Result<(), ArrayError> {
        match shape.split_first() {
            Some((_, rest)) if rest == self.data_shape() || rest == [self.dim()] => Ok(()),
            _ => Err(ArrayError::Shape {
                which,
                shape: shape.to_vec(),
                data_shape: self.data_shape().to_vec(),
            }),
        }
    }

    fn points<'a, D: Dimension>(
        &self,
        which: &'static str,
        a: &'a ArrayRef<f32, D>,
    ) -> Result<&'a [f32], ArrayError> {
        self.check_points_shape(which, a.shape())?;
        a.as_slice().ok_or(ArrayError::Layout { which })
    }

    fn points_mut<'a, D: Dimension>(
        &self,
        which: &'static str,
        a: &'a mut ArrayRef<f32, D>,
    ) -> Result<&'a mut [f32], ArrayError> {
        self.check_points_shape(which, a.shape())?;
        a.as_slice_mut().ok_or(ArrayError::Layout { which })
    }

    /// A zero array for `batch` points: `[batch, dim]` when `D` has 2 axes (`Array2`),
    /// `[batch, ..data_shape]` when it has 1 + rank axes (`Array4` for `[C, H, W]` data) or
    /// is dynamic (`ArrayD`). Errors: [`ArrayError::Rank`] for another number of axes;
    /// [`EvalError::OutOfMemory`] when the array is too large to allocate.
    pub fn zeros_array<D: Dimension>(&self, batch: usize) -> Result<Array<f32, D>, ArrayError> {
        let data_shape = self.data_shape();
        let mut shape = Vec::with_capacity(1 + data_shape.len());
        shape.push(batch);
        match D::NDIM {
            Some(2) => shape.push(self.dim()),
            Some(n) if n != 1 + data_shape.len() => {
                return Err(ArrayError::Rank {
                    ndim: n,
                    data_shape: data_shape.to_vec(),
                })
            }
            _ => shape.extend_from_slice(data_shape),
        }
        let too_big = ArrayError::Eval(EvalError::OutOfMemory { batch });
        let len = batch
            .checked_mul(self.dim())
            .filter(|n| n.checked_mul(4).is_some_and(|b| b <= isize::MAX as usize))
            .ok_or_else(|| too_big.clone())?;
        // try_reserve: an absurd batch is an error, not an allocation failure abort.
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| too_big)?;
        data.resize(len, 0.0f32);
        let mut dim = D::zeros(shape.len());
        dim.slice_mut().copy_from_slice(&shape);
        Array::from_shape_vec(dim, data).map_err(|_| ArrayError::Shape {
            which: "out",
            shape,
            data_shape: data_shape.to_vec(),
        })
    }

    /// [`Model::map`] on arrays: `out = X_{s,t}(x)` in data space, for each point of `x`.
    /// `x` and `out` hold the same number of points, each `[batch, dim]` or
    /// `[batch, ..data_shape]` in standard layout.
    pub fn map_array<D: Dimension, E: Dimension>(
        &self,
        ws: &mut Workspace,
        s: f32,
        t: f32,
        x: &ArrayRef<f32, D>,
        out: &mut ArrayRef<f32, E>,
    ) -> Result<(), ArrayError> {
        let x = self.points("x", x)?;
        let out = self.points_mut("out", out)?;
        Ok(self.map(ws, s, t, x, out)?)
    }

    /// [`Model::velocity`] on arrays (same rules as [`Model::map_array`]).
    pub fn velocity_array<D: Dimension, E: Dimension>(
        &self,
        ws: &mut Workspace,
        t: f32,
        x: &ArrayRef<f32, D>,
        out: &mut ArrayRef<f32, E>,
    ) -> Result<(), ArrayError> {
        let x = self.points("x", x)?;
        let out = self.points_mut("out", out)?;
        Ok(self.velocity(ws, t, x, out)?)
    }

    /// [`Model::sample`] on arrays: samples from standard-normal `noise` into `out` (same
    /// number of points; same rules as [`Model::map_array`]).
    pub fn sample_array<D: Dimension, E: Dimension>(
        &self,
        ws: &mut Workspace,
        noise: &ArrayRef<f32, D>,
        grid: Grid<'_>,
        out: &mut ArrayRef<f32, E>,
    ) -> Result<(), ArrayError> {
        let noise = self.points("noise", noise)?;
        let out = self.points_mut("out", out)?;
        Ok(self.sample(ws, noise, grid, out)?)
    }

    /// [`Model::sample_seeded`] on arrays: fills `out` (`[batch, dim]` or
    /// `[batch, ..data_shape]`, standard layout) with `batch` samples; bit-identical to
    /// `sample_seeded` on a slice of the same length.
    pub fn sample_seeded_array<E: Dimension>(
        &self,
        ws: &mut Workspace,
        seed: u64,
        grid: Grid<'_>,
        out: &mut ArrayRef<f32, E>,
    ) -> Result<(), ArrayError> {
        let out = self.points_mut("out", out)?;
        Ok(self.sample_seeded(ws, seed, grid, out)?)
    }
}
