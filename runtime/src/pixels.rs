//! Samples in data space → 8-bit pixels, what a graphics tool needs and would otherwise
//! write itself (and get the clamping, rounding or channel order subtly wrong).

use crate::error::EvalError;
use crate::model::Model;
use crate::schema::Architecture;

impl Model {
    /// The data values that map to pixel 0 and pixel 255: the file's `pixel_range` (format
    /// 2 U-Nets may declare one), else `[0, 1]`.
    pub fn pixel_range(&self) -> [f32; 2] {
        match &self.meta().architecture {
            Architecture::Unet {
                pixel_range: Some(r),
                ..
            } => *r,
            _ => [0.0, 1.0],
        }
    }

    /// Converts samples in data space (`[C, H, W]` each, row-major, as
    /// [`Model::sample`] writes them) to 8-bit pixels, interleaved per pixel (row-major
    /// `[H, W, C]`: grey, grey + alpha, RGB or RGBA), into `out` (`data.len()` bytes).
    ///
    /// A value v becomes `floor(255·clamp((v − lo)/(hi − lo), 0, 1) + 0.5)` with
    /// `[lo, hi]` = [`Model::pixel_range`].
    ///
    /// Errors: the data shape is not `[C, H, W]` with C in 1..=4 ([`EvalError::NotAnImage`]),
    /// `data.len()` is not a multiple of dim ([`EvalError::InputLength`]), `out.len()` ≠
    /// `data.len()` ([`EvalError::OutputLength`]), a NaN or infinite value
    /// ([`EvalError::NonFiniteInput`]); `out` is untouched on error. Never allocates.
    ///
    /// ```
    /// # let bytes = flowmap::write::example_model_bytes();
    /// # let model = flowmap::Model::from_bytes(&bytes)?;
    /// // The example model's data shape is [2]: not an image.
    /// let mut px = [0u8; 2];
    /// assert!(model.to_pixels(&[0.0, 1.0], &mut px).is_err());
    /// # Ok::<(), flowmap::LoadError>(())
    /// ```
    pub fn to_pixels(&self, data: &[f32], out: &mut [u8]) -> Result<(), EvalError> {
        let (c, h, w) = match *self.data_shape() {
            [c, h, w] if (1..=4).contains(&c) => (c, h, w),
            _ => return Err(EvalError::NotAnImage),
        };
        let dim = self.dim();
        if data.len() % dim != 0 {
            return Err(EvalError::InputLength {
                len: data.len(),
                dim,
            });
        }
        if out.len() != data.len() {
            return Err(EvalError::OutputLength {
                expected: data.len(),
                got: out.len(),
            });
        }
        if let Some(index) = data.iter().position(|v| !v.is_finite()) {
            return Err(EvalError::NonFiniteInput { index });
        }
        let [lo, hi] = self.pixel_range();
        let scale = 255.0 / (hi - lo);
        let p = h * w;
        for (img, px) in data.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            for ch in 0..c {
                for q in 0..p {
                    let v = ((img[ch * p + q] - lo) * scale).clamp(0.0, 255.0);
                    // In [0, 255.5): the cast truncates, so this rounds half up.
                    px[q * c + ch] = (v + 0.5) as u8;
                }
            }
        }
        Ok(())
    }
}
