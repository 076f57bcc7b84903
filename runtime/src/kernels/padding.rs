//! The input layout of a 3×3 convolution: an `(h + 2) × (w + 2)` position-major (HWC) map of
//! `ch` channels, a ring of zeros around the interior. Padding, GroupNorm and up-sampling all
//! write it; this is the one place that knows the ring.

/// Zeroes the ring of the padded `size` map in `dst` and hands each interior row to
/// `interior(y, row)` (`w·ch` values) to fill.
#[inline(always)]
pub(crate) fn write_padded(
    dst: &mut [f32],
    ch: usize,
    size: (usize, usize),
    mut interior: impl FnMut(usize, &mut [f32]),
) {
    let (h, w) = size;
    let wp = w + 2;
    let dst = &mut dst[..(h + 2) * wp * ch];
    dst[..wp * ch].fill(0.0);
    dst[(h + 1) * wp * ch..].fill(0.0);
    for y in 0..h {
        let row = &mut dst[(y + 1) * wp * ch..(y + 2) * wp * ch];
        row[..ch].fill(0.0);
        row[(w + 1) * ch..].fill(0.0);
        interior(y, &mut row[ch..(w + 1) * ch]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_zero_and_the_interior_is_what_was_written() {
        // A 2×3 map of 2 channels, padded to 4×5; the destination starts dirty.
        let mut dst = [7.0f32; 4 * 5 * 2];
        write_padded(&mut dst, 2, (2, 3), |y, row| {
            for (i, v) in row.iter_mut().enumerate() {
                *v = (10 * (y + 1) + i) as f32;
            }
        });
        for py in 0..4 {
            for px in 0..5 {
                for c in 0..2 {
                    let v = dst[(py * 5 + px) * 2 + c];
                    let inside = (1..=2).contains(&py) && (1..=3).contains(&px);
                    let want = if inside {
                        (10 * py + (px - 1) * 2 + c) as f32
                    } else {
                        0.0
                    };
                    assert_eq!(v, want, "at ({py}, {px}, {c})");
                }
            }
        }
    }
}
