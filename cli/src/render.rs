//! Plain-text tables of an evaluation report.

use flowmap_eval::classifier::CLASS_NAMES;
use flowmap_eval::quality::{is_floor, Equivalence, EvalReport, Row};

/// A plain-text table of rows (JS for 2-D data, FD for 28×28 images, `-` where not measured).
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<20} {:>5} {:>12} {:>12} {:>10} {:>8} {:>10}\n",
        "samples", "NFE", "energy(U)", "energy(V)", "sliced W2", "JS", "FD"
    );
    let opt = |v: Option<f64>, digits: usize| {
        v.map(|v| format!("{v:.digits$}"))
            .unwrap_or_else(|| "-".into())
    };
    for r in rows {
        s += &format!(
            "{:<20} {:>5} {:>12.6} {:>12.6} {:>10.5} {:>8} {:>10}\n",
            r.label,
            r.nfe,
            r.energy_u,
            r.energy,
            r.sliced_w2,
            opt(r.js, 4),
            opt(r.fd, 4)
        );
    }
    s
}

/// Class coverage of the rows that have it: total variation to uniform, smallest and largest
/// class fraction, then each class's percentage. Empty when no row has coverage.
pub fn render_coverage(rows: &[&Row]) -> String {
    let rows: Vec<(&str, &flowmap_eval::classifier::Coverage)> = rows
        .iter()
        .filter_map(|r| r.coverage.as_ref().map(|c| (r.label.as_str(), c)))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!("{:<20} {:>6} {:>6} {:>6}", "samples", "TV", "min", "max");
    for name in CLASS_NAMES {
        s += &format!(" {:>8}", name);
    }
    s.push('\n');
    for (label, c) in rows {
        s += &format!(
            "{label:<20} {:>6.3} {:>6.3} {:>6.3}",
            c.tv_to_uniform, c.min_fraction, c.max_fraction
        );
        for f in &c.fractions {
            s += &format!(" {:>7.1}%", 100.0 * f);
        }
        s.push('\n');
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
    let mut s = match &report.reference {
        None => format!(
            "Flow map {} on {} ({n} samples vs {n} reference; floor = a second reference):\n",
            report.model, report.data
        ),
        Some(r) => format!(
            "Flow map {} ({n} samples vs {n} of {r}; floor = {n} of {} vs that reference):\n",
            report.model, report.data
        ),
    };
    s += &render(&report.flow_map);
    if let Some(acc) = report.classifier_accuracy {
        s += &format!(
            "FD: Frechet distance of the Fashion-MNIST classifier's 128-d features \
             (test accuracy {:.2}%) to the reference's.\n",
            100.0 * acc
        );
    }
    if !report.euler.is_empty() || !report.heun.is_empty() {
        s += "\nODE baseline on the same model's diagonal velocity b_t = v_(t,t), same noise:\n";
        s += &render(&report.euler);
        s += &render(&report.heun);
        s += "\nSmallest ODE NFE whose metric is <= the flow map's:\n";
        s += &render_equivalence(&report.equivalence);
    }
    // One floor row: the ODE tables repeat the flow map's.
    let rows: Vec<&Row> = report
        .flow_map
        .iter()
        .chain(
            report
                .euler
                .iter()
                .chain(&report.heun)
                .filter(|r| !is_floor(r)),
        )
        .collect();
    let coverage = render_coverage(&rows);
    if !coverage.is_empty() {
        s += "\nClass coverage (the classifier's predicted classes; uniform = 10% each, TV = \
              total variation to uniform):\n";
        s += &coverage;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmap_eval::classifier::class_coverage;
    use flowmap_eval::quality::FLOOR_LABEL;

    #[test]
    fn image_rows_show_fd_and_a_coverage_table() {
        let row = |label: &str, fd: Option<f64>| Row {
            label: label.into(),
            nfe: 1,
            energy: 0.5,
            energy_u: 0.4,
            sliced_w2: 0.1,
            js: None,
            fd,
            coverage: fd.map(|_| class_coverage(&[0, 0, 9, 9], 10)),
        };
        let rows = [row("1 step", Some(12.345678)), row(FLOOR_LABEL, Some(0.5))];
        let table = render(&rows);
        assert!(table.lines().next().unwrap().ends_with("FD"), "{table}");
        assert!(
            table.contains("12.3457") && table.contains("0.5000"),
            "{table}"
        );
        let cov = render_coverage(&rows.iter().collect::<Vec<_>>());
        // Classes 0 and 9 at 50 %: TV = ½ (2·0.4 + 8·0.1) = 0.8, min 0, max 0.5.
        assert!(cov.contains("top") && cov.contains("boot"), "{cov}");
        let line = cov.lines().nth(1).unwrap();
        assert!(
            line.starts_with("1 step") && line.contains("0.800  0.000  0.500"),
            "{line}"
        );
        assert!(line.contains("50.0%") && line.contains("0.0%"), "{line}");
        assert_eq!(
            render_coverage(&[&row("2-D", None)]),
            "",
            "nothing without coverage"
        );
    }

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
