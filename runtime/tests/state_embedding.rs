//! The MLP's Fourier state embedding (format 2, docs/format.md §9): the file it makes (format
//! version, layer-0 width), the versions and values the loader refuses, and that a model with
//! it runs (the forward pass itself is checked against an f64 reference in the crate's unit
//! tests).

use flowmap::schema::*;
use flowmap::write::ModelBuilder;
use flowmap::{Grid, LoadError, Model};

fn meta(state_embedding: StateEmbedding) -> ModelMeta {
    let architecture = Architecture::Mlp {
        data_shape: vec![3],
        hidden: vec![8, 8],
        activation: Activation::GeluTanh,
        time_embedding: TimeEmbedding::Raw,
        state_embedding,
    };
    ModelMeta {
        format_version: architecture.format_version(),
        architecture,
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 1,
            seed: 0,
            weights: "raw".into(),
            trainer: "test".into(),
            dataset: String::new(),
        },
    }
}

fn fourier(frequencies: &[f32]) -> StateEmbedding {
    StateEmbedding::Fourier {
        frequencies: frequencies.to_vec(),
    }
}

#[test]
fn a_fourier_state_is_format_2_with_a_wider_first_layer() {
    let raw = meta(StateEmbedding::Raw);
    assert_eq!(raw.format_version, 1, "a raw-state MLP stays format 1");
    let m = meta(fourier(&[0.5, 2.0]));
    assert_eq!(m.format_version, 2);
    // E = 2 time features + (1 + 2·2)·3 state features.
    assert_eq!(m.architecture.mlp_layers()[0], (2 + 15, 8));
    let model = Model::from_bytes(&ModelBuilder::random(m, 1).to_bytes()).unwrap();
    let mut ws = model.workspace(4);
    let mut out = vec![0.0f32; 4 * 3];
    model
        .sample_seeded(&mut ws, 3, Grid::Uniform(2), &mut out)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn the_raw_state_is_not_written_and_reads_back_the_same() {
    let json = serde_json::to_string(&meta(StateEmbedding::Raw)).unwrap();
    assert!(!json.contains("state_embedding"), "{json}");
    let back = ModelMeta::from_json(&json).unwrap();
    assert_eq!(back, meta(StateEmbedding::Raw));
}

#[test]
fn a_state_embedding_in_a_format_1_file_is_refused() {
    let mut m = meta(fourier(&[1.0]));
    m.format_version = 1;
    let json = serde_json::to_string(&m).unwrap();
    let err = ModelMeta::from_json(&json).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::ArchitectureNeedsVersion {
                needs: 2,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_state_frequencies_get_typed_errors() {
    // A literal beyond f32 becomes infinite.
    let json = serde_json::to_string(&meta(fourier(&[1.0, 2.0])))
        .unwrap()
        .replace("[1.0,2.0]", "[1.0,1e39]");
    let m = ModelMeta::from_json(&json).unwrap();
    assert!(
        matches!(
            m.validate(),
            Err(LoadError::InvalidFrequency { index: 1, .. })
        ),
        "{:?}",
        m.validate()
    );
    // (1 + 2K)·dim beyond MAX_DIM: refused before any size is derived from it.
    let mut wide = meta(fourier(&[1.0; 8]));
    if let Architecture::Mlp { data_shape, .. } = &mut wide.architecture {
        *data_shape = vec![MAX_DIM / 4];
    }
    wide.normalization = Normalization {
        mean: vec![0.0; MAX_DIM / 4],
        std: vec![1.0; MAX_DIM / 4],
    };
    assert!(
        matches!(
            wide.validate(),
            Err(LoadError::InvalidFrequency { index: 8, .. })
        ),
        "{:?}",
        wide.validate()
    );
    // An unknown embedding kind is a schema error, not a silent raw state.
    let json = serde_json::to_string(&meta(fourier(&[1.0])))
        .unwrap()
        .replace("\"kind\":\"fourier\"", "\"kind\":\"gabor\"");
    assert!(matches!(
        ModelMeta::from_json(&json),
        Err(LoadError::MetadataJson(_))
    ));
}
