//! PNG plots for people: sample-density panels, loss curves and image grids.
//!
//! Pure Rust (the `png` crate) with a built-in 5×7 bitmap font for titles and tick labels
//! (capitals, digits, basic punctuation). Functions return `std::io::Result`; bad arguments
//! are `ErrorKind::InvalidInput` errors with a message, never panics.

mod canvas;
pub mod font;

pub use canvas::{Canvas, Rgb, BLACK, GREY, WHITE};

use canvas::invalid;
use std::io;
use std::path::Path;

/// Side of one scatter panel's plotting square, in pixels.
pub const PANEL: usize = 256;
/// Outer margin and gap between panels, in pixels.
pub const MARGIN: usize = 10;
/// Height of the title band above each panel.
pub const TITLE_H: usize = 14;
/// Height of the band below each panel that states the plotted range.
pub const FOOT_H: usize = 14;

/// Plot bounds `(lo, hi)`: `lo = [x_min, y_min]`, `hi = [x_max, y_max]`.
pub type Bounds = ([f64; 2], [f64; 2]);

/// Writes side-by-side density panels of 2-D point sets to a PNG.
///
/// Each panel is a `PANEL × PANEL` heat map of points per pixel, coloured by
/// `ln(1 + count) / ln(1 + max count)` (log scaling keeps both the dense core and sparse tails of
/// 20k-point samples visible; empty pixels stay white). `title` is drawn above each panel, the
/// range below it. `range = None` picks one shared range for all panels from the 0.5 %–99.5 %
/// quantiles of every coordinate plus a 10 % margin, so a few wild samples cannot squash the
/// picture; points outside the range are not drawn.
///
/// Image size: `MARGIN + k·(PANEL + MARGIN)` by `2·MARGIN + TITLE_H + PANEL + FOOT_H`.
pub fn scatter_panels(
    path: impl AsRef<Path>,
    panels: &[(&str, &[f32])],
    range: Option<Bounds>,
) -> io::Result<()> {
    if panels.is_empty() {
        return Err(invalid("scatter_panels: no panels"));
    }
    if let Some((title, pts)) = panels.iter().find(|(_, p)| p.len() % 2 != 0) {
        return Err(invalid(format!(
            "scatter_panels: panel {title:?} has {} values, not 2-D rows",
            pts.len()
        )));
    }
    let (lo, hi) = match range {
        Some(r) => check_bounds(r)?,
        None => auto_bounds(panels),
    };
    let w = MARGIN + panels.len() * (PANEL + MARGIN);
    let h = 2 * MARGIN + TITLE_H + PANEL + FOOT_H;
    let mut cv = Canvas::new(w, h, WHITE);
    for (k, (title, pts)) in panels.iter().enumerate() {
        let (x0, y0) = panel_origin(k);
        draw_density(&mut cv, x0, y0, pts, lo, hi);
        cv.stroke_rect(x0 as i64 - 1, y0 as i64 - 1, PANEL + 2, PANEL + 2, GREY);
        let max_chars = PANEL / font::ADVANCE;
        let t: String = title.chars().take(max_chars).collect();
        cv.text_centered((x0 + PANEL / 2) as i64, (MARGIN + 2) as i64, &t, 1, BLACK);
        let foot = format!(
            "X {}..{}  Y {}..{}",
            fmt_num(lo[0]),
            fmt_num(hi[0]),
            fmt_num(lo[1]),
            fmt_num(hi[1])
        );
        let fy = (y0 + PANEL + 4) as i64;
        cv.text_centered((x0 + PANEL / 2) as i64, fy, &foot, 1, [90, 90, 90]);
    }
    cv.save(path.as_ref())
}

/// Top-left pixel of panel `k`'s plotting square.
fn panel_origin(k: usize) -> (usize, usize) {
    (MARGIN + k * (PANEL + MARGIN), MARGIN + TITLE_H)
}

fn check_bounds((lo, hi): Bounds) -> io::Result<Bounds> {
    let ok = (0..2).all(|k| lo[k].is_finite() && hi[k].is_finite() && hi[k] > lo[k]);
    if ok {
        Ok((lo, hi))
    } else {
        Err(invalid(format!(
            "empty or non-finite plot range {lo:?}..{hi:?}"
        )))
    }
}

/// Shared bounds from the 0.5 %–99.5 % quantiles of all finite coordinates, padded by 10 %.
fn auto_bounds(panels: &[(&str, &[f32])]) -> Bounds {
    let mut lo = [-1.0; 2];
    let mut hi = [1.0; 2];
    for k in 0..2 {
        let mut v: Vec<f64> = panels
            .iter()
            .flat_map(|(_, p)| p.iter().skip(k).step_by(2))
            .filter(|x| x.is_finite())
            .map(|&x| f64::from(x))
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_unstable_by(f64::total_cmp);
        let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
        let (a, b) = (q(0.005), q(0.995));
        let pad = if b > a { 0.1 * (b - a) } else { 1.0 };
        lo[k] = a - pad;
        hi[k] = b + pad;
    }
    (lo, hi)
}

/// Bins `pts` into the panel's pixels and paints the log-scaled counts.
fn draw_density(cv: &mut Canvas, x0: usize, y0: usize, pts: &[f32], lo: [f64; 2], hi: [f64; 2]) {
    let mut counts = vec![0u32; PANEL * PANEL];
    let to_px = |v: f32, k: usize| {
        let t = (f64::from(v) - lo[k]) / (hi[k] - lo[k]);
        (0.0..1.0)
            .contains(&t)
            .then(|| ((t * PANEL as f64) as usize).min(PANEL - 1))
    };
    for p in pts.chunks_exact(2) {
        if let (Some(ix), Some(iy)) = (to_px(p[0], 0), to_px(p[1], 1)) {
            counts[(PANEL - 1 - iy) * PANEL + ix] += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let denom = (1.0 + f64::from(max)).ln();
    for (i, &c) in counts.iter().enumerate() {
        if c > 0 {
            let t = (1.0 + f64::from(c)).ln() / denom;
            cv.set((x0 + i % PANEL) as i64, (y0 + i / PANEL) as i64, heat(t));
        }
    }
}

/// Colour map for densities, light yellow (t → 0) through orange and red to dark purple
/// (t = 1); even the faintest non-empty pixel is clearly distinct from the white background.
pub fn heat(t: f64) -> Rgb {
    const STOPS: [(f64, [f64; 3]); 4] = [
        (0.0, [254.0, 230.0, 150.0]),
        (0.35, [253.0, 160.0, 70.0]),
        (0.7, [210.0, 40.0, 40.0]),
        (1.0, [80.0, 0.0, 60.0]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let k = STOPS.iter().position(|s| s.0 >= t).unwrap_or(3).max(1);
    let ((t0, c0), (t1, c1)) = (STOPS[k - 1], STOPS[k]);
    let f = (t - t0) / (t1 - t0);
    [0, 1, 2].map(|i| (c0[i] + f * (c1[i] - c0[i])).round() as u8)
}

/// Series colours of line charts, in order (cycled).
pub const PALETTE: [Rgb; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

/// Line-chart image width.
pub const CHART_W: usize = 640;
/// Line-chart image height.
pub const CHART_H: usize = 400;
const CHART_L: usize = 64;
const CHART_R: usize = 28;
const CHART_T: usize = 30;
const CHART_B: usize = 28;

/// Writes a `CHART_W × CHART_H` line chart (e.g. loss curves) with a title, grid, tick labels
/// and a legend.
///
/// Points with a non-finite coordinate (or `y ≤ 0` when `log_y`) are skipped, which breaks the
/// line there. With `log_y` the y axis spans whole decades, labelled `1E-3`, `1E-2`, ….
pub fn line_chart(
    path: impl AsRef<Path>,
    title: &str,
    series: &[(&str, &[(f64, f64)])],
    log_y: bool,
) -> io::Result<()> {
    let ty = |y: f64| if log_y { y.log10() } else { y };
    let valid = |&(x, y): &(f64, f64)| x.is_finite() && ty(y).is_finite();
    let pts = || {
        series
            .iter()
            .flat_map(|(_, s)| s.iter().filter(|p| valid(p)))
    };
    let (xlo, xhi) = span(pts().map(|p| p.0));
    let (ylo, yhi) = span(pts().map(|p| ty(p.1)));
    let (xlo, xhi, xt) = nice_axis(xlo, xhi);
    let (ylo, yhi, yt) = if log_y {
        let (a, b) = (ylo.floor(), yhi.ceil().max(ylo.floor() + 1.0));
        (a, b, (a as i64..=b as i64).map(|k| k as f64).collect())
    } else {
        nice_axis(ylo, yhi)
    };
    let (pw, ph) = (CHART_W - CHART_L - CHART_R, CHART_H - CHART_T - CHART_B);
    let sx = |x: f64| CHART_L as f64 + (x - xlo) / (xhi - xlo) * (pw - 1) as f64;
    let sy = |y: f64| (CHART_T + ph - 1) as f64 - (y - ylo) / (yhi - ylo) * (ph - 1) as f64;

    let mut cv = Canvas::new(CHART_W, CHART_H, WHITE);
    let scale = if font::text_width(title, 2) <= CHART_W - 8 {
        2
    } else {
        1
    };
    cv.text_centered((CHART_W / 2) as i64, 8, title, scale, BLACK);
    let (l, t, r, b) = (
        CHART_L as i64,
        CHART_T as i64,
        (CHART_L + pw - 1) as i64,
        (CHART_T + ph - 1) as i64,
    );
    for &v in &xt {
        let x = sx(v).round() as i64;
        cv.line(x, t, x, b, [230, 230, 230]);
        cv.text_centered(x, b + 6, &fmt_num(v), 1, BLACK);
    }
    for &v in &yt {
        let y = sy(v).round() as i64;
        cv.line(l, y, r, y, [230, 230, 230]);
        let label = if log_y {
            format!("1E{}", v as i64)
        } else {
            fmt_num(v)
        };
        let w = font::text_width(&label, 1) as i64;
        cv.text(l - 6 - w, y - 3, &label, 1, BLACK);
    }
    cv.stroke_rect(l, t, pw, ph, BLACK);
    for (k, (_, s)) in series.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let mut prev: Option<(i64, i64)> = None;
        for p in s.iter() {
            if !valid(p) {
                prev = None;
                continue;
            }
            let q = (sx(p.0).round() as i64, sy(ty(p.1)).round() as i64);
            let from = prev.unwrap_or(q);
            cv.line(from.0, from.1, q.0, q.1, c);
            cv.line(from.0, from.1 + 1, q.0, q.1 + 1, c);
            prev = Some(q);
        }
    }
    draw_legend(&mut cv, series, r);
    cv.save(path.as_ref())
}

/// Legend box in the top-right corner of the plot area (right edge at `right`).
fn draw_legend(cv: &mut Canvas, series: &[(&str, &[(f64, f64)])], right: i64) {
    if series.is_empty() {
        return;
    }
    let names: Vec<String> = series
        .iter()
        .map(|(n, _)| n.chars().take(30).collect())
        .collect();
    let tw = names
        .iter()
        .map(|n| font::text_width(n, 1))
        .max()
        .unwrap_or(0);
    let (bw, bh) = (tw + 26, names.len() * 11 + 6);
    let (bx, by) = (right - bw as i64 - 6, CHART_T as i64 + 6);
    cv.fill_rect(bx, by, bw, bh, WHITE);
    cv.stroke_rect(bx, by, bw, bh, GREY);
    for (k, name) in names.iter().enumerate() {
        let y = by + 4 + 11 * k as i64;
        cv.fill_rect(bx + 4, y + 2, 12, 3, PALETTE[k % PALETTE.len()]);
        cv.text(bx + 20, y, name, 1, BLACK);
    }
}

/// (min, max) of finite values; a unit span around the value when they coincide, (0, 1) if none.
fn span(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// Rounds `[lo, hi]` out to multiples of a 1-2-5 step giving about five intervals; returns the
/// new bounds and the tick positions.
pub fn nice_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let (a, b) = ((lo / step).floor(), (hi / step).ceil());
    let ticks = (0..=(b - a) as i64)
        .map(|i| (a + i as f64) * step)
        .collect();
    (a * step, b * step, ticks)
}

/// Short label for a number: plain with up to 3 decimals when moderate, else `1.5E-4` style.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if (1e-2..1e5).contains(&v.abs()) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.to_string();
    }
    let s = format!("{v:.1e}").to_uppercase();
    s.replace(".0E", "E")
}

/// Writes a grid of grey-scale images (e.g. 8×8 digits), `cols` per row, each upscaled by an
/// integer factor to about 64 pixels, with `value_range` (lo, hi) mapped to black..white
/// (values outside are clamped, NaN shows magenta). `images` holds `n · h · w` values.
pub fn image_grid(
    path: impl AsRef<Path>,
    images: &[f32],
    shape: (usize, usize),
    cols: usize,
    value_range: (f32, f32),
) -> io::Result<()> {
    image_grid_chw(path, images, (1, shape.0, shape.1), cols, value_range)
}

/// [`image_grid`] for channel-first images of shape `(c, h, w)` with `c` = 1 (grey) or 3 (RGB),
/// the NCHW layout the trainer uses.
pub fn image_grid_chw(
    path: impl AsRef<Path>,
    images: &[f32],
    shape: (usize, usize, usize),
    cols: usize,
    value_range: (f32, f32),
) -> io::Result<()> {
    let (c, h, w) = shape;
    let per = c * h * w;
    if !(c == 1 || c == 3) || h == 0 || w == 0 || cols == 0 {
        return Err(invalid(format!(
            "image_grid: bad shape {shape:?} or cols {cols}"
        )));
    }
    if images.is_empty() || images.len() % per != 0 {
        return Err(invalid(format!(
            "image_grid: {} values are not whole images of {per}",
            images.len()
        )));
    }
    let (lo, hi) = value_range;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(invalid(format!(
            "image_grid: bad value range {value_range:?}"
        )));
    }
    let n = images.len() / per;
    let s = (64 / h.max(w)).max(1);
    const GAP: usize = 2;
    let (ncols, nrows) = (cols.min(n), n.div_ceil(cols));
    let mut cv = Canvas::new(
        GAP + ncols * (w * s + GAP),
        GAP + nrows * (h * s + GAP),
        [64, 64, 64],
    );
    for (k, img) in images.chunks_exact(per).enumerate() {
        let ox = GAP + (k % cols) * (w * s + GAP);
        let oy = GAP + (k / cols) * (h * s + GAP);
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| img[(ch % c) * h * w + y * w + x];
                let rgb = [0, 1, 2].map(v);
                let px = if rgb.iter().any(|v| v.is_nan()) {
                    [255, 0, 255]
                } else {
                    rgb.map(|v| ((v - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8)
                };
                cv.fill_rect((ox + x * s) as i64, (oy + y * s) as i64, s, s, px);
            }
        }
    }
    cv.save(path.as_ref())
}

#[cfg(test)]
mod tests;
