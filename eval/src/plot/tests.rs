use super::*;
use crate::datasets::Toy;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowmap-eval-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Decodes an 8-bit RGB PNG into (width, height, pixels).
fn decode(path: &Path) -> (usize, usize, Vec<Rgb>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, info.height as usize, px)
}

#[test]
fn scatter_panels_draws_points_where_they_are() {
    let p = tmp("scatter.png");
    let checker = Toy::Checkerboard.sample(20_000, 1);
    let gauss = Toy::Gaussian.sample(5_000, 2);
    let range = ([-1.1, -1.1], [1.1, 1.1]);
    scatter_panels(
        &p,
        &[("checker", &checker), ("gaussian 2", &gauss)],
        Some(range),
    )
    .unwrap();
    let (w, h, px) = decode(&p);
    assert_eq!(
        (w, h),
        (
            MARGIN + 2 * (PANEL + MARGIN),
            2 * MARGIN + TITLE_H + PANEL + FOOT_H
        )
    );
    // Pixel of data point (x, y) in panel k.
    let at = |k: usize, x: f64, y: f64| {
        let (x0, y0) = panel_origin(k);
        let ix = ((x + 1.1) / 2.2 * PANEL as f64) as usize;
        let iy = PANEL - 1 - ((y + 1.1) / 2.2 * PANEL as f64) as usize;
        px[(y0 + iy) * w + x0 + ix]
    };
    // White cell (0,0) centred at (−0.75, −0.75) is dense; black cell (1,0) at (−0.25, −0.75)
    // is empty; the margin outside [−1, 1] is empty.
    // ~0.7 points per pixel: about half the pixels of a white cell are painted.
    let window = |cx: f64, cy: f64| {
        let offs = (0..20).map(|d| f64::from(d) * 0.01 - 0.1);
        offs.clone()
            .flat_map(|dx| offs.clone().map(move |dy| (dx, dy)))
            .filter(|&(dx, dy)| at(0, cx + dx, cy + dy) != WHITE)
            .count()
    };
    assert!(window(-0.75, -0.75) > 100, "{}", window(-0.75, -0.75));
    assert_eq!(window(-0.25, -0.75), 0);
    assert_eq!(at(0, 1.05, 0.0), WHITE);
    // The title band holds dark text pixels above each panel.
    let title_dark = |k: usize| {
        let (x0, _) = panel_origin(k);
        (MARGIN..MARGIN + TITLE_H)
            .flat_map(|y| (x0..x0 + PANEL).map(move |x| (x, y)))
            .filter(|&(x, y)| px[y * w + x] == BLACK)
            .count()
    };
    assert!(title_dark(0) > 20 && title_dark(1) > 20);
    // Auto range works and bad input is an error, not a panic.
    scatter_panels(&p, &[("auto", &gauss)], None).unwrap();
    assert!(scatter_panels(&p, &[], None).is_err());
    assert!(scatter_panels(&p, &[("odd", &[1.0, 2.0, 3.0])], None).is_err());
    assert!(scatter_panels(&p, &[("r", &gauss)], Some(([0.0, 0.0], [0.0, 1.0]))).is_err());
}

#[test]
fn line_chart_has_size_axes_and_series_colours() {
    let p = tmp("loss.png");
    let a: Vec<(f64, f64)> = (1..=200)
        .map(|i| (f64::from(i), 1.0 / f64::from(i)))
        .collect();
    let b: Vec<(f64, f64)> = (1..=200)
        .map(|i| (f64::from(i), 0.5 / f64::from(i).sqrt()))
        .collect();
    line_chart(&p, "training loss", &[("lsd", &a), ("psd", &b)], true).unwrap();
    let (w, h, px) = decode(&p);
    assert_eq!((w, h), (CHART_W, CHART_H));
    let count = |c: Rgb| px.iter().filter(|&&p| p == c).count();
    assert!(count(PALETTE[0]) > 200 && count(PALETTE[1]) > 200);
    assert!(count(BLACK) > 1000);
    // Linear axes, NaN points and an empty series are fine too.
    let c = [(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0)];
    line_chart(&p, "linear", &[("c", &c), ("empty", &[])], false).unwrap();
    line_chart(&p, "nothing", &[], true).unwrap();
}

#[test]
fn image_grid_layout_and_values() {
    let p = tmp("grid.png");
    // Three 8×8 images: black, white, and a left-dark/right-bright split.
    let mut imgs = vec![0.0f32; 64];
    imgs.extend(vec![1.0f32; 64]);
    imgs.extend((0..64).map(|i| if i % 8 < 4 { 0.0 } else { 1.0 }));
    image_grid(&p, &imgs, (8, 8), 2, (0.0, 1.0)).unwrap();
    let (w, h, px) = decode(&p);
    let tile = 8 * 8; // 8×8 upscaled by 8
    assert_eq!((w, h), (2 + 2 * (tile + 2), 2 + 2 * (tile + 2)));
    let at = |x: usize, y: usize| px[y * w + x];
    assert_eq!(at(2 + 10, 2 + 10), [0, 0, 0]);
    assert_eq!(at(2 + tile + 2 + 10, 2 + 10), [255, 255, 255]);
    assert_eq!(at(2 + 5, 2 + tile + 2 + 5), [0, 0, 0]);
    assert_eq!(at(2 + tile - 5, 2 + tile + 2 + 5), [255, 255, 255]);
    assert_eq!(at(0, 0), [64, 64, 64]);
    // RGB channel-first and argument errors.
    let rgb: Vec<f32> = [1.0, 0.0, 0.0].iter().flat_map(|&v| vec![v; 16]).collect();
    image_grid_chw(&p, &rgb, (3, 4, 4), 4, (0.0, 1.0)).unwrap();
    let (_, _, px) = decode(&p);
    assert!(px.contains(&[255, 0, 0]));
    assert!(image_grid(&p, &imgs[..10], (8, 8), 2, (0.0, 1.0)).is_err());
    assert!(image_grid(&p, &imgs, (8, 8), 2, (1.0, 1.0)).is_err());
    assert!(image_grid_chw(&p, &rgb, (2, 4, 6), 4, (0.0, 1.0)).is_err());
}

#[test]
fn helpers() {
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(1.1), "1.1");
    assert_eq!(fmt_num(-250.0), "-250");
    assert_eq!(fmt_num(0.00015), "1.5E-4");
    assert_eq!(fmt_num(2e6), "2E6");
    let (lo, hi, t) = nice_axis(0.13, 0.97);
    assert_eq!((lo, hi), (0.0, 1.0));
    assert_eq!(t.len(), 6);
    assert_ne!(heat(0.0), WHITE);
    assert_eq!(heat(1.0), [80, 0, 60]);
    assert_eq!(heat(f64::NAN), heat(0.0));
}
