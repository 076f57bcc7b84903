//! The Rust recipes of docs/languages.md: each is the text between `// recipe: NAME` and
//! `// end recipe` below (indentation removed), checked to equal the document's block after
//! `<!-- recipe: NAME -->`, and run on a model file. The C and C++ recipes are run by
//! ffi/tests/recipes.rs.
#![cfg(feature = "std")] // the recipes load files (`Model::from_file`)

mod slices {
    // recipe: rust-slices
    use flowmap::{Grid, Model};

    /// Four samples in one step: rows of `model.dim()` floats, one after another.
    pub fn four_samples(path: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let model = Model::from_file(path)?;
        let mut ws = model.workspace(4); // scratch, reused: sampling allocates nothing
        let mut x = vec![0.0f32; 4 * model.dim()];
        model.sample_seeded(&mut ws, 42, Grid::Uniform(1), &mut x)?;
        Ok(x)
    }
    // end recipe
}

#[cfg(feature = "ndarray")]
mod arrays {
    // recipe: rust-ndarray
    use flowmap::ndarray::{Array2, ArrayD};
    use flowmap::{Grid, Model};
    use std::error::Error;

    /// Four samples in one step as a [4, dim] array, and the flow's velocity there at t = 1.
    pub fn four_samples(path: &str) -> Result<(Array2<f32>, Array2<f32>), Box<dyn Error>> {
        let model = Model::from_file(path)?;
        let mut ws = model.workspace(4);
        let mut x: Array2<f32> = model.zeros_array(4)?; // [4, dim]
        model.sample_seeded_array(&mut ws, 42, Grid::Uniform(1), &mut x)?; // in place
        let mut v = Array2::zeros(x.raw_dim());
        model.velocity_array(&mut ws, 1.0, &x.view(), &mut v)?;
        Ok((x, v))
    }

    /// The same samples shaped like the model's data: [4, C, H, W] for [C, H, W] images.
    pub fn four_shaped(path: &str) -> Result<ArrayD<f32>, Box<dyn Error>> {
        let model = Model::from_file(path)?;
        let mut ws = model.workspace(4);
        let mut x: ArrayD<f32> = model.zeros_array(4)?; // [4, ..data_shape]
        model.sample_seeded_array(&mut ws, 42, Grid::Uniform(1), &mut x)?;
        Ok(x)
    }
    // end recipe
}

/// The recipe NAME from this file, without its indentation.
fn source_recipe(name: &str) -> String {
    let src = include_str!("recipes.rs");
    let start_marker = format!("// recipe: {name}\n");
    let start = src.find(&start_marker).unwrap() + start_marker.len();
    let end = start + src[start..].find("// end recipe").unwrap();
    src[start..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
        + "\n"
}

/// The block after `<!-- recipe: NAME -->` in docs/languages.md.
fn doc_recipe(name: &str) -> String {
    let doc = include_str!("../../docs/languages.md");
    let marker = format!("<!-- recipe: {name} -->");
    let start = doc.find(&marker).expect("recipe in docs/languages.md") + marker.len();
    let rest = doc[start..].trim_start();
    assert!(rest.starts_with("```rust\n"), "{marker}: not a rust block");
    let body = &rest["```rust\n".len()..];
    body[..body.find("\n```").unwrap() + 1].to_string()
}

#[test]
fn docs_rust_recipes_are_the_tested_code() {
    for name in ["rust-slices", "rust-ndarray"] {
        assert_eq!(doc_recipe(name), source_recipe(name), "recipe {name}");
    }
}

fn model_file(name: &str, bytes: &[u8]) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("flowmap-rust-recipes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// What the recipes must return: the runtime's 4 samples for seed 42, one step.
fn expected(bytes: &[u8]) -> Vec<f32> {
    let model = flowmap::Model::from_bytes(bytes).unwrap();
    let mut ws = model.workspace(4);
    let mut x = vec![0.0f32; 4 * model.dim()];
    let mut noise = vec![0.0f32; x.len()];
    flowmap::NormalRng::new(42).fill(&mut noise);
    model
        .sample(&mut ws, &noise, flowmap::Grid::Uniform(1), &mut x)
        .unwrap();
    x
}

#[test]
fn rust_slices_recipe_runs() {
    let bytes = flowmap::write::example_model_bytes();
    let got = slices::four_samples(&model_file("slices.safetensors", &bytes)).unwrap();
    assert_eq!(got, expected(&bytes));
    assert!(slices::four_samples("no/such/model.safetensors").is_err());
}

#[cfg(feature = "ndarray")]
#[test]
fn rust_ndarray_recipe_runs() {
    let bytes = flowmap::write::example_model_bytes();
    let path = model_file("ndarray.safetensors", &bytes);
    let (x, v) = arrays::four_samples(&path).unwrap();
    assert_eq!(x.shape(), &[4, 2]);
    assert_eq!(x.as_slice().unwrap(), expected(&bytes).as_slice());
    let model = flowmap::Model::from_bytes(&bytes).unwrap();
    let mut ws = model.workspace(4);
    let mut want = vec![0.0f32; 8];
    model
        .velocity(&mut ws, 1.0, x.as_slice().unwrap(), &mut want)
        .unwrap();
    assert_eq!(v.as_slice().unwrap(), want.as_slice());
    assert!(arrays::four_samples("no/such/model.safetensors").is_err());
    let shaped = arrays::four_shaped(&path).unwrap();
    assert_eq!(shaped.shape(), &[4, 2]); // data shape [2]
    assert_eq!(shaped.as_slice().unwrap(), x.as_slice().unwrap());
}
