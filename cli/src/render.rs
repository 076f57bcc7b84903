//! Plain-text tables of an evaluation report.

use flowmap_eval::quality::{Equivalence, EvalReport, Row};

/// A plain-text table of rows.
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<20} {:>5} {:>12} {:>12} {:>10} {:>8}\n",
        "samples", "NFE", "energy(U)", "energy(V)", "sliced W2", "JS"
    );
    for r in rows {
        let js =
            r.js.map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into());
        s += &format!(
            "{:<20} {:>5} {:>12.6} {:>12.6} {:>10.5} {:>8}\n",
            r.label, r.nfe, r.energy_u, r.energy, r.sliced_w2, js
        );
    }
    s
}

/// A plain-text table of [`Equivalence`]s.
pub fn render_equivalence(eq: &[Equivalence]) -> String {
    let nfe = |v: Option<usize>| v.map_or_else(|| "> max".to_string(), |n| n.to_string());
    let mut s = format!(
        "{:<10} {:<10} {:>12} {:>10} {:>10}\n",
        "flow map", "metric", "value", "Euler NFE", "Heun NFE"
    );
    for e in eq {
        s += &format!(
            "{:<10} {:<10} {:>12.6} {:>10} {:>10}\n",
            format!("{} step{}", e.steps, if e.steps == 1 { "" } else { "s" }),
            e.metric,
            e.flow_map,
            nfe(e.euler_nfe),
            nfe(e.heun_nfe)
        );
    }
    s
}

/// The whole `eval` report as text: the flow-map table, then (when measured) the ODE
/// baseline and the NFE equivalence.
pub fn render_report(report: &EvalReport) -> String {
    let n = report.n;
    let mut s = format!(
        "Flow map {} on {} ({n} samples vs {n} reference; floor = a second reference):\n",
        report.model, report.data
    );
    s += &render(&report.flow_map);
    if !report.euler.is_empty() || !report.heun.is_empty() {
        s += "\nODE baseline on the same model's diagonal velocity b_t = v_(t,t), same noise:\n";
        s += &render(&report.euler);
        s += &render(&report.heun);
        s += "\nSmallest ODE NFE whose metric is <= the flow map's:\n";
        s += &render_equivalence(&report.equivalence);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmatched_equivalence_reads_more_than_max() {
        let eq = [Equivalence {
            steps: 2,
            metric: "energy_u".into(),
            flow_map: 0.01,
            euler_nfe: None,
            heun_nfe: Some(8),
        }];
        let text = render_equivalence(&eq);
        assert!(text.contains("> max"), "{text}");
        assert!(text.contains("2 steps"), "{text}");
    }
}
