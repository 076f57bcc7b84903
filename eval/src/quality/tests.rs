//! Tests of the quality measurements: the ODE integrators against closed forms, shared base
//! noise, chunking, the NFE equivalence and the histogram grid.

use super::*;
use crate::metrics::Grid2;
use flowmap::schema::*;
use std::path::Path;
/// A 2-D model (σ = 1, mean 0, std 1, ReLU) whose network is given by its layers
/// `(n_out, n_in, weight, bias)`; layer 0's inputs are `[s, t, x0, x1]`.
fn model(hidden: Vec<usize>, layers: &[(usize, usize, Vec<f32>, Vec<f32>)]) -> Model {
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![2],
            hidden,
            activation: Activation::Relu,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: vec![0.0, 0.0],
            std: vec![1.0, 1.0],
        },
        provenance: Provenance {
            method: "test".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "test".into(),
            dataset: String::new(),
        },
    };
    // The schema derives names and shapes; the layers give the values in file order.
    let mut values = layers.iter().flat_map(|(n_out, n_in, w, b)| {
        [(vec![*n_out, *n_in], w.clone()), (vec![*n_out], b.clone())]
    });
    let bytes = flowmap::write::ModelBuilder::new(meta, |spec| {
        let (shape, v) = values.next().expect("one value set per tensor");
        assert_eq!(spec.shape, shape, "{}", spec.name);
        v
    })
    .to_bytes();
    Model::from_bytes(&bytes).unwrap()
}

/// v_{s,t}(x) = a·relu(t): the diagonal velocity is b_t = a·t, independent of x.
fn time_model(a: [f32; 2]) -> Model {
    model(
        vec![1],
        &[
            (1, 4, vec![0.0, 1.0, 0.0, 0.0], vec![0.0]),
            (2, 1, a.to_vec(), vec![0.0, 0.0]),
        ],
    )
}

/// v(x) = λ·x (via relu(x) − relu(−x)), independent of time.
fn linear_model(lambda: f32) -> Model {
    #[rustfmt::skip]
    let w0 = vec![
        0.0, 0.0, 1.0, 0.0,
        0.0, 0.0, -1.0, 0.0,
        0.0, 0.0, 0.0, 1.0,
        0.0, 0.0, 0.0, -1.0,
    ];
    #[rustfmt::skip]
    let w1 = vec![
        lambda, -lambda, 0.0, 0.0,
        0.0, 0.0, lambda, -lambda,
    ];
    model(
        vec![4],
        &[(4, 4, w0, vec![0.0; 4]), (2, 4, w1, vec![0.0; 2])],
    )
}

#[test]
fn euler_and_heun_on_a_time_dependent_velocity() {
    // b_t = a·t: exact x1 = x0 + a/2; Euler with N steps gives x0 + a·(N−1)/(2N);
    // Heun (trapezoid) is exact for a velocity linear in t.
    let a = [1.0f32, -2.0];
    let m = time_model(a);
    let x0 = base_sample(&m, 10, 3);
    for nfe in [1usize, 2, 4, 8] {
        let e = ode_sample(&m, Solver::Euler, nfe, 10, 3).unwrap();
        let f = (nfe as f32 - 1.0) / (2.0 * nfe as f32);
        for (i, (x, y)) in x0.iter().zip(&e).enumerate() {
            assert!((y - (x + a[i % 2] * f)).abs() < 1e-5, "euler {nfe}");
        }
    }
    for nfe in [2usize, 4, 16] {
        let h = ode_sample(&m, Solver::Heun, nfe, 10, 3).unwrap();
        for (i, (x, y)) in x0.iter().zip(&h).enumerate() {
            assert!((y - (x + a[i % 2] * 0.5)).abs() < 1e-5, "heun {nfe}");
        }
    }
}

#[test]
fn euler_and_heun_growth_factors_on_a_linear_velocity() {
    // b(x) = λx: Euler gives (1 + λ/N)^N x0, Heun (1 + λh + (λh)²/2)^M x0 with h = 1/M.
    let lambda = 0.8f32;
    let m = linear_model(lambda);
    let x0 = base_sample(&m, 50, 11);
    for nfe in [1usize, 2, 4, 32] {
        let g = (1.0 + f64::from(lambda) / nfe as f64).powi(nfe as i32);
        let e = ode_sample(&m, Solver::Euler, nfe, 50, 11).unwrap();
        for (x, y) in x0.iter().zip(&e) {
            assert!(
                (f64::from(*y) - g * f64::from(*x)).abs() < 1e-4,
                "euler {nfe}"
            );
        }
    }
    for nfe in [2usize, 8, 64] {
        let steps = nfe / 2;
        let lh = f64::from(lambda) / steps as f64;
        let g = (1.0 + lh + lh * lh / 2.0).powi(steps as i32);
        let e = ode_sample(&m, Solver::Heun, nfe, 50, 11).unwrap();
        for (x, y) in x0.iter().zip(&e) {
            assert!(
                (f64::from(*y) - g * f64::from(*x)).abs() < 1e-4,
                "heun {nfe}"
            );
        }
    }
    // More evaluations: closer to e^λ.
    let exact = f64::from(lambda).exp();
    let err = |s, n| {
        let y = ode_sample(&m, s, n, 1, 11).unwrap();
        let x = base_sample(&m, 1, 11);
        (f64::from(y[0]) - exact * f64::from(x[0])).abs()
    };
    assert!(err(Solver::Euler, 64) < err(Solver::Euler, 8));
    assert!(err(Solver::Heun, 16) < err(Solver::Euler, 16));
}

#[test]
fn ode_and_flow_map_share_the_base_noise() {
    // One map step from t = 0: X_{0,1}(x0) = x0 + v_{0,1}(x0) = x0 + a·relu(1);
    // one Euler step: x0 + b_0(x0) = x0. Same noise → they differ by exactly a.
    let a = [0.5f32, 2.0];
    let m = time_model(a);
    let map = sample(&m, 7, 1, 9).unwrap();
    let ode = ode_sample(&m, Solver::Euler, 1, 7, 9).unwrap();
    for (i, (p, q)) in map.iter().zip(&ode).enumerate() {
        assert!((p - q - a[i % 2]).abs() < 1e-6);
    }
    // Chunking does not change results: more rows than one runtime call.
    let big = ode_sample(&m, Solver::Heun, 4, CHUNK + 3, 9).unwrap();
    let small = ode_sample(&m, Solver::Heun, 4, 7, 9).unwrap();
    assert_eq!(&big[..14], &small[..]);
}

#[test]
fn the_first_rows_of_a_draw_do_not_depend_on_its_size() {
    // plot_images shows the first rows of the scored samples; that is what a smaller
    // draw with the same seed gives, so the picture is the scored samples.
    let m = linear_model(0.8);
    let drawn = draw_steps(&m, &[1, 2], 50, 3).unwrap();
    for d in &drawn {
        let small = sample(&m, 16, d.steps, 3).unwrap();
        assert_eq!(&d.samples[..32], &small[..]);
        assert_eq!(d.samples.len(), 100);
    }
    let reference = sample(&m, 40, 1, 4).unwrap();
    let second = sample(&m, 40, 1, 5).unwrap();
    let rows = step_table(&m, &drawn, &reference, &second, 3);
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["1 step", "2 steps", "base noise", "floor (ref vs ref)"]
    );
}

#[test]
fn heun_rejects_odd_evaluation_counts() {
    let m = time_model([1.0, 1.0]);
    let mut x = base_sample(&m, 2, 0);
    assert!(integrate(&m, Solver::Heun, 3, &mut x).is_err());
    assert!(integrate(&m, Solver::Euler, 0, &mut x).is_err());
}

#[test]
fn smallest_matching_nfe_picks_the_cheapest_good_enough() {
    let curve = [(1, 0.5), (2, 0.3), (4, 0.1), (8, 0.05)];
    assert_eq!(smallest_matching_nfe(0.3, &curve), Some(2));
    assert_eq!(smallest_matching_nfe(0.29, &curve), Some(4));
    assert_eq!(smallest_matching_nfe(1.0, &curve), Some(1));
    assert_eq!(smallest_matching_nfe(0.01, &curve), None);
    // Not monotone, any order: still the smallest NFE that qualifies.
    let noisy = [(8, 0.04), (2, 0.06), (1, 0.5), (4, 0.09)];
    assert_eq!(smallest_matching_nfe(0.07, &noisy), Some(2));
    assert_eq!(smallest_matching_nfe(0.07, &[]), None);
}

fn row(label: &str, nfe: usize, v: f64) -> Row {
    Row {
        label: label.into(),
        nfe,
        energy: v,
        energy_u: v,
        sliced_w2: v,
        js: Some(v),
        fd: None,
        coverage: None,
    }
}

#[test]
fn equivalences_use_one_and_two_step_rows_and_ignore_the_floor() {
    let flow = vec![
        row("1 step", 1, 0.2),
        row("2 steps", 2, 0.1),
        row("4 steps", 4, 0.05),
        row("floor", 0, 0.0),
    ];
    let euler = vec![
        row("e1", 1, 0.9),
        row("e4", 4, 0.15),
        row("e16", 16, 0.08),
        row("floor", 0, 0.0),
    ];
    let heun = vec![row("h2", 2, 0.3), row("h8", 8, 0.09), row("floor", 0, 0.0)];
    let eq = equivalences(&flow, &euler, &heun);
    assert_eq!(eq.len(), 6);
    let one = eq
        .iter()
        .find(|e| e.steps == 1 && e.metric == "js")
        .unwrap();
    assert_eq!((one.euler_nfe, one.heun_nfe), (Some(4), Some(8)));
    let two = eq
        .iter()
        .find(|e| e.steps == 2 && e.metric == "energy_u")
        .unwrap();
    assert_eq!((two.euler_nfe, two.heun_nfe), (Some(16), Some(8)));
    let mut noisy = flow.clone();
    noisy[0].js = None;
    noisy[1].energy_u = 0.01;
    let eq = equivalences(&noisy, &euler, &heun);
    assert_eq!(eq.len(), 5, "no JS row when the flow map has none");
    let two = eq
        .iter()
        .find(|e| e.steps == 2 && e.metric == "energy_u")
        .unwrap();
    assert_eq!((two.euler_nfe, two.heun_nfe), (None, None));
}

#[test]
fn histogram_grid_follows_the_reference() {
    let checker = crate::Toy::Checkerboard.sample(500, 1);
    assert_eq!(hist_grid(&checker, 2), Some(Grid2::checker_reference()));
    let rings = crate::Toy::Rings.sample(500, 1);
    let g = hist_grid(&rings, 2).unwrap();
    assert!(g.lo[0] < -3.0 && g.hi[1] > 3.0 && g.bins == 64);
    assert_eq!(hist_grid(&rings, 1), None);
}

/// A 1×28×28 image model (σ = 0.5, data space = pixel space): a random 16-unit MLP.
fn image_model() -> Model {
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![1, 28, 28],
            hidden: vec![16],
            activation: Activation::Relu,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 0.5,
        normalization: Normalization {
            mean: vec![0.0; 784],
            std: vec![1.0; 784],
        },
        provenance: Provenance {
            method: "test".into(),
            steps: 0,
            seed: 0,
            weights: "raw".into(),
            trainer: "test".into(),
            dataset: String::new(),
        },
    };
    Model::from_bytes(&flowmap::write::ModelBuilder::random(meta, 4).to_bytes()).unwrap()
}

/// An IDX file of `n` 28×28 images: a square of pixel value `hi`, random size and place, on a
/// background of `lo` (so files can be told apart by their values).
fn write_idx(path: &Path, n: usize, seed: u64, lo: u8, hi: u8) {
    let mut rng = crate::Rng::new(seed);
    let mut b = vec![0u8, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    for _ in 0..n {
        let (s, y0, x0) = (
            4 + rng.below(10) as usize,
            rng.below(14) as usize,
            rng.below(14) as usize,
        );
        for y in 0..28 {
            for x in 0..28 {
                let inside = (y0..y0 + s).contains(&y) && (x0..x0 + s).contains(&x);
                b.push(if inside { hi } else { lo });
            }
        }
    }
    std::fs::write(path, b).unwrap();
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flowmap-quality-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_explicit_reference_is_scored_against_and_the_floor_is_data_vs_it() {
    let d = temp("refsets");
    let (train, test) = (d.join("train-ubyte"), d.join("t10k-ubyte"));
    // Train pixels 0/100 (values < 0), test pixels 155/255 (values > 0).
    write_idx(&train, 50, 1, 0, 100);
    write_idx(&test, 12, 2, 155, 255);
    let (reference, second) = reference_and_floor_sets(
        train.to_str().unwrap(),
        None,
        Some(test.to_str().unwrap()),
        20,
    )
    .unwrap();
    assert_eq!(
        reference.len(),
        12 * 784,
        "all of a reference smaller than n"
    );
    assert_eq!(
        second.len(),
        12 * 784,
        "the floor set has the reference's size"
    );
    assert!(
        reference.iter().all(|&v| v > 0.0),
        "the reference is the test file"
    );
    assert!(
        second.iter().all(|&v| v < 0.0),
        "the floor set is the data file"
    );
    let (r5, s5) = reference_and_floor_sets(
        train.to_str().unwrap(),
        None,
        Some(test.to_str().unwrap()),
        5,
    )
    .unwrap();
    assert_eq!((r5.len(), s5.len()), (5 * 784, 5 * 784));
    // Rows of another shape are refused with both names.
    let e = reference_and_floor_sets(train.to_str().unwrap(), None, Some("checkerboard"), 5)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checkerboard") && e.contains("train-ubyte"),
        "{e}"
    );
}

#[test]
fn image_rows_carry_fd_and_coverage_with_a_train_vs_test_floor() {
    let d = temp("imgeval");
    let (train, test) = (d.join("train-ubyte"), d.join("t10k-ubyte"));
    write_idx(&train, 300, 1, 0, 255);
    write_idx(&test, 200, 2, 0, 255);
    let spec = EvalSpec {
        data: train.display().to_string(),
        data_key: None,
        reference: Some(test.display().to_string()),
        steps: vec![1, 2],
        n: 150,
        seed: 3,
        ode_nfe: Some(vec![2]),
    };
    let eval = evaluate(&image_model(), "tiny", &spec).unwrap();
    let r = &eval.report;
    assert_eq!((r.n, r.dim), (150, 784));
    assert_eq!(r.reference.as_deref(), Some(test.to_str().unwrap()));
    assert_eq!(r.classifier_accuracy, Some(0.9027));
    let labels: Vec<&str> = r.flow_map.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["1 step", "2 steps", "base noise", HELD_OUT_FLOOR_LABEL]
    );
    for row in r.flow_map.iter().chain(&r.euler).chain(&r.heun) {
        let fd = row.fd.unwrap();
        assert!(fd.is_finite() && fd >= 0.0, "{}: {fd}", row.label);
        let c = row.coverage.as_ref().unwrap();
        assert!((c.fractions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(row.js.is_none(), "no histogram JS for images");
    }
    // Squares from the same generator are much closer to each other than noise is to them.
    let fd = |label: &str| {
        r.flow_map
            .iter()
            .find(|r| r.label == label)
            .unwrap()
            .fd
            .unwrap()
    };
    assert!(fd(HELD_OUT_FLOOR_LABEL) < 0.5 * fd("base noise"), "{r:?}");
    assert!(r
        .euler
        .iter()
        .chain(&r.heun)
        .all(|r| r.label != FLOOR_LABEL));
    assert!(r.equivalence.iter().any(|e| e.metric == "fd"));
    // 2-D data: no classifier metrics.
    let spec2 = EvalSpec {
        data: "checkerboard".into(),
        reference: None,
        n: 50,
        ode_nfe: None,
        ..spec
    };
    let eval = evaluate(&time_model([1.0, 0.0]), "2d", &spec2).unwrap();
    assert!(eval
        .report
        .flow_map
        .iter()
        .all(|r| r.fd.is_none() && r.coverage.is_none()));
    assert_eq!(eval.report.classifier_accuracy, None);
}
