//! Handlers of the model subcommands: argument checks with flag names, then the runtime or
//! `flowmap_eval::quality`, then printing.

use crate::args::{EvalArgs, InspectArgs, SampleArgs};
use crate::render::render_report;
use anyhow::bail;
use flowmap_eval::datasets::{write_csv, write_npy, Dataset, Toy};
use flowmap_eval::quality::{self, EvalSpec};
use std::path::Path;

/// Writes `text` to stdout. A reader that went away (`flowmap inspect m | head`) ends the
/// output quietly instead of panicking as `println!` would.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Loads a model file, naming it in the error.
pub fn load_model(path: &Path) -> anyhow::Result<flowmap::Model> {
    flowmap::Model::from_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `sample`: draws through the runtime and writes .csv or .npy.
pub fn cmd_sample(a: SampleArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model)?;
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    let grid = match &a.grid {
        Some(g) => flowmap::Grid::Custom(g),
        None => flowmap::Grid::Uniform(a.steps),
    };
    let mut ws = model.workspace(a.n.min(quality::CHUNK));
    let mut out = vec![0.0f32; a.n * model.dim()];
    model.sample_seeded(&mut ws, a.seed, grid, &mut out)?;
    let ds = Dataset::new(out, model.data_shape().to_vec())?;
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("npy") => write_npy(&a.out, &ds)?,
        Some("csv") => write_csv(&a.out, &ds)?,
        _ => bail!("--out must end in .csv or .npy"),
    }
    eprintln!("wrote {} samples to {}", a.n, a.out.display());
    Ok(())
}

/// `eval`: the quality tables (or JSON) and, with `--plot`, a picture.
pub fn cmd_eval(a: EvalArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model)?;
    if a.steps.contains(&0) {
        bail!("--steps must be positive");
    }
    if a.ode_nfe.contains(&0) {
        bail!("--ode-nfe must be positive");
    }
    let spec = EvalSpec {
        data: a.data.clone(),
        data_key: a.data_key.clone(),
        reference: a.reference.clone(),
        steps: a.steps.clone(),
        n: a.n,
        seed: a.seed,
        ode_nfe: (!a.no_ode).then(|| a.ode_nfe.clone()),
    };
    let eval =
        quality::evaluate(&model, &a.model.display().to_string(), &spec).map_err(|e| match e {
            quality::QualityError::Spec(s) if a.reference.is_some() => {
                anyhow::anyhow!("--data/--reference: {s}")
            }
            quality::QualityError::Spec(s) => anyhow::anyhow!("--data: {s}"),
            other => anyhow::Error::new(other),
        })?;
    if a.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&eval.report)?
        ))?;
    } else {
        emit(&render_report(&eval.report))?;
    }
    if let Some(path) = &a.plot {
        if eval.plot(path, &model)? {
            eprintln!("wrote {}", path.display());
        } else {
            eprintln!(
                "--plot: data shape {:?} is neither 2-D points nor images; no plot",
                model.data_shape()
            );
        }
    }
    Ok(())
}

/// `inspect`: metadata and tensors of a model file.
pub fn cmd_inspect(a: InspectArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model)?;
    let mut text = format!(
        "{}\nformat version {}; dim {}; data shape {:?}\n{}\n",
        a.model.display(),
        model.format_version(),
        model.dim(),
        model.data_shape(),
        serde_json::to_string_pretty(model.meta())?
    );
    let bytes = std::fs::read(&a.model)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let mut names = st.names();
    names.sort();
    for n in names {
        let t = st.tensor(n)?;
        text += &format!("  {n:<20} {:?} {:?}\n", t.dtype(), t.shape());
    }
    emit(&text)
}

/// `datasets`: the built-in data sets and the file formats.
pub fn cmd_datasets() -> anyhow::Result<()> {
    let mut text = String::from("Built-in datasets (use with --data NAME):\n");
    for t in Toy::all() {
        text += &format!("  {:<16} {}\n", t.name(), t.description());
    }
    text += "\nFiles: .npy (C order, f32/f64/i32/i64), .csv (numeric, optional header), \
             .safetensors (--data-key); images: IDX (-ubyte, .idx, optionally .gz), a folder of \
             PNG files, or a [N, C, H, W] .npy/.safetensors\n";
    emit(&text)
}
