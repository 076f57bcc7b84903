//! NFE equivalence: how many ODE evaluations match the flow map's 1- and 2-step quality.

use super::score::Row;

/// The smallest NFE in `curve` (pairs NFE → metric, any order) whose metric is ≤ `target`.
pub fn smallest_matching_nfe(target: f64, curve: &[(usize, f64)]) -> Option<usize> {
    curve
        .iter()
        .filter(|(_, m)| *m <= target)
        .map(|(nfe, _)| *nfe)
        .min()
}

/// How many ODE evaluations match the flow map's quality at one step count, for one metric.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Equivalence {
    /// Flow-map steps (= its NFE).
    pub steps: usize,
    /// `energy_u`, `sliced_w2`, `js` (2-D) or `fd` (28×28 images).
    pub metric: String,
    /// The flow map's value.
    pub flow_map: f64,
    /// Smallest Euler NFE at least as good (`None`: none of those tried).
    pub euler_nfe: Option<usize>,
    /// Smallest Heun NFE at least as good.
    pub heun_nfe: Option<usize>,
}

/// Reads one metric of a row (`None`: not computed).
type MetricFn = fn(&Row) -> Option<f64>;

/// Metric accessors by name, in table order.
fn metric_fns() -> [(&'static str, MetricFn); 4] {
    [
        ("energy_u", |r| Some(r.energy_u)),
        ("sliced_w2", |r| Some(r.sliced_w2)),
        ("js", |r| r.js),
        ("fd", |r| r.fd),
    ]
}

/// For the flow map's 1- and 2-step rows (those present in `flow`), each metric: the smallest
/// Euler and Heun NFE whose value is ≤ the flow map's. Rows with NFE 0 (floor, base) are
/// ignored everywhere.
pub fn equivalences(flow: &[Row], euler: &[Row], heun: &[Row]) -> Vec<Equivalence> {
    let curve = |rows: &[Row], f: MetricFn| -> Vec<(usize, f64)> {
        rows.iter()
            .filter(|r| r.nfe > 0)
            .filter_map(|r| f(r).map(|v| (r.nfe, v)))
            .collect()
    };
    let mut out = Vec::new();
    for steps in [1, 2] {
        let Some(row) = flow.iter().find(|r| r.nfe == steps) else {
            continue;
        };
        for (name, f) in metric_fns() {
            let Some(target) = f(row) else { continue };
            out.push(Equivalence {
                steps,
                metric: name.into(),
                flow_map: target,
                euler_nfe: smallest_matching_nfe(target, &curve(euler, f)),
                heun_nfe: smallest_matching_nfe(target, &curve(heun, f)),
            });
        }
    }
    out
}
