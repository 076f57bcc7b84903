//! An RGB pixel buffer with the few drawing primitives the plots need, and PNG output.

use super::font;
use std::io;
use std::path::Path;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// White.
pub const WHITE: Rgb = [255, 255, 255];
/// Black.
pub const BLACK: Rgb = [0, 0, 0];
/// Light grey for frames and grid lines.
pub const GREY: Rgb = [200, 200, 200];

/// A `w × h` RGB image, row-major, origin at the top left. Drawing outside is clipped.
#[derive(Clone, Debug)]
pub struct Canvas {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// Pixels, `w * h` of them.
    pub px: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with `bg`.
    pub fn new(w: usize, h: usize, bg: Rgb) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![bg; w * h],
        }
    }

    /// Sets one pixel; coordinates outside the canvas are ignored.
    pub fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = c;
        }
    }

    /// The pixel at (x, y).
    ///
    /// # Panics
    /// If (x, y) is outside the canvas.
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        self.px[y * self.w + x]
    }

    /// Fills the rectangle `[x, x+w) × [y, y+h)`.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: usize, h: usize, c: Rgb) {
        for yy in y..y + h as i64 {
            for xx in x..x + w as i64 {
                self.set(xx, yy, c);
            }
        }
    }

    /// Outlines the rectangle `[x, x+w) × [y, y+h)` one pixel wide.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: usize, h: usize, c: Rgb) {
        let (r, b) = (x + w as i64 - 1, y + h as i64 - 1);
        self.line(x, y, r, y, c);
        self.line(x, b, r, b, c);
        self.line(x, y, x, b, c);
        self.line(r, y, r, b, c);
    }

    /// A one-pixel line from (x0, y0) to (x1, y1) inclusive (Bresenham).
    pub fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        // Bound the walk so absurd coordinates cannot loop for long.
        for _ in 0..=(dx - dy).min(1 << 16) {
            self.set(x, y, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel a `scale × scale` block.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, c: Rgb) {
        for (k, ch) in text.chars().enumerate() {
            let ox = x + (k * font::ADVANCE * scale) as i64;
            for row in 0..font::GLYPH_H {
                for col in 0..font::GLYPH_W {
                    if font::pixel(ch, col, row) {
                        let (px, py) = (ox + (col * scale) as i64, y + (row * scale) as i64);
                        self.fill_rect(px, py, scale, scale, c);
                    }
                }
            }
        }
    }

    /// Draws `text` horizontally centred on `cx`.
    pub fn text_centered(&mut self, cx: i64, y: i64, text: &str, scale: usize, c: Rgb) {
        let w = font::text_width(text, scale) as i64;
        self.text(cx - w / 2, y, text, scale, c);
    }

    /// Encodes the canvas as an 8-bit RGB PNG.
    pub fn to_png(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, dim_u32(self.w)?, dim_u32(self.h)?);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        let raw: Vec<u8> = self.px.iter().flatten().copied().collect();
        writer.write_image_data(&raw)?;
        writer.finish()?;
        Ok(out)
    }

    /// Writes the canvas to `path` as PNG.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.to_png()?)
    }
}

fn dim_u32(v: usize) -> io::Result<u32> {
    u32::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| invalid(format!("image dimension {v} out of range")))
}

/// An `InvalidInput` I/O error, the plots' error for bad arguments.
pub fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}
