//! Draws every built-in toy distribution, a demo loss chart and a metric table.
//!
//! `cargo run -p flowmap-eval --release --example toys -- [OUT_DIR]` (default: current directory).

use flowmap_eval::metrics::{Report, ReportConfig};
use flowmap_eval::plot::{image_grid, line_chart, scatter_panels};
use flowmap_eval::Toy;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&out)?;
    let samples: Vec<(&str, Vec<f32>)> = Toy::all()
        .iter()
        .map(|t| (t.name(), t.sample(20_000, 0)))
        .collect();
    let panels: Vec<(&str, &[f32])> = samples.iter().map(|(n, s)| (*n, s.as_slice())).collect();
    scatter_panels(out.join("toys.png"), &panels, None)?;
    scatter_panels(
        out.join("checker.png"),
        &panels[..1],
        Some(([-1.1, -1.1], [1.1, 1.1])),
    )?;

    let curve = |a: f64, b: f64| -> Vec<(f64, f64)> {
        (1..=500)
            .map(|i| (f64::from(i) * 100.0, a / f64::from(i).powf(b) + 0.01))
            .collect()
    };
    let (lsd, psd) = (curve(2.0, 0.8), curve(1.0, 0.5));
    line_chart(
        out.join("loss.png"),
        "Demo loss (log y)",
        &[("lsd", &lsd), ("psd-m", &psd)],
        true,
    )?;

    let digits: Vec<f32> = (0..16 * 64)
        .map(|i| ((i % 64) as f32 / 63.0) * ((i / 64) as f32 / 15.0))
        .collect();
    image_grid(out.join("grid.png"), &digits, (8, 8), 8, (0.0, 1.0))?;

    let reference = Toy::Checkerboard.sample(20_000, 1);
    let reference2 = Toy::Checkerboard.sample(20_000, 2);
    println!("{}", Report::table_header());
    for t in Toy::all() {
        let s = t.sample(20_000, 3);
        let r = Report::compute(&s, &reference, &reference2, 2, &ReportConfig::checker());
        println!("{}", r.table_row(t.name()));
    }
    Ok(())
}
