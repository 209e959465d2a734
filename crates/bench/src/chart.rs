//! The SVG chart: throughput and p99 latency per tier and workload, as grouped bars.
//!
//! Drawn with plotters' SVG backend alone. With the `ttf` feature off, plotters
//! estimates text widths itself and writes text as SVG `<text>` elements that the
//! browser renders with its own fonts, so nothing here reads a system font or
//! downloads one: the chart is made the same way on a headless CI machine.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::Report;
use crate::workload::Workload;

/// Bar colours, one per tier row (colour-blind-safe Okabe-Ito hues).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

/// The chart of `report` as an SVG document.
pub fn svg(report: &Report) -> anyhow::Result<String> {
    // Request rates only: the export has its own figures (rows/s, memory), in the
    // report's tables.
    let rated: Vec<Workload> = report
        .settings
        .workloads
        .iter()
        .copied()
        .filter(|w| w.request_rate())
        .collect();
    let workloads: Vec<String> = rated.iter().map(|w| w.name().to_owned()).collect();
    let tiers: Vec<&str> = report.tiers.iter().map(|t| t.label.as_str()).collect();
    // values[w][t], by position because position is where a bar is drawn: group `w`
    // on the x axis, bar `t` within it. Each value is looked up by name; `None` where
    // that tier did not run that workload.
    let table = |pick: fn(&crate::report::Summary) -> f64| -> Vec<Vec<Option<f64>>> {
        rated
            .iter()
            .map(|w| {
                tiers
                    .iter()
                    .map(|t| report.cell(t, *w).map(|c| pick(&c.summary)))
                    .collect()
            })
            .collect()
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1000, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(380);
        let conditions = format!(
            "{} rows, {} connections",
            crate::report::thousands(report.settings.rows as f64),
            report.settings.connections
        );
        panel(
            &top,
            &format!("Throughput, requests/s (higher is better); {conditions}"),
            &workloads,
            &tiers,
            &table(|s| s.rps),
            |v| {
                if v >= 1000.0 {
                    format!("{:.1}k", v / 1000.0)
                } else {
                    format!("{v:.0}")
                }
            },
        )?;
        panel(
            &bottom,
            &format!("p99 latency, ms (lower is better); {conditions}"),
            &workloads,
            &tiers,
            &table(|s| s.p99_ms),
            |v| format!("{v:.1}"),
        )?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// One panel: a group of bars per workload, one bar per tier, and a legend.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    workloads: &[String],
    tiers: &[&str],
    values: &[Vec<Option<f64>>],
    label: fn(f64) -> String,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let groups = workloads.len().max(1);
    let top = values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max);
    // Headroom above the tallest bar for its label and the legend.
    let top = if top > 0.0 { top * 1.35 } else { 1.0 };
    // Group i is centred on x = i, so the axis's integer ticks fall under the groups.
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5_f64..groups as f64 - 0.5, 0.0_f64..top)
        .map_err(err)?;
    let name_at = |x: &f64| -> String {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            workloads.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(groups + 2)
        .x_label_formatter(&name_at)
        .y_label_formatter(&|v| label(*v))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let width = 0.8 / tiers.len().max(1) as f64;
    for (t, tier) in tiers.iter().enumerate() {
        let colour = COLOURS[t % COLOURS.len()];
        let bars: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(w, row)| row.get(t).copied().flatten().map(|v| (w as f64, v)))
            .map(|(w, v)| (w - 0.4 + t as f64 * width, v))
            .collect();
        chart
            .draw_series(
                bars.iter().map(|&(x, v)| {
                    Rectangle::new([(x, 0.0), (x + width * 0.9, v)], colour.filled())
                }),
            )
            .map_err(err)?
            .label(*tier)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
        // The value above each bar, centred on it.
        let above = TextStyle::from(("sans-serif", 11).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(
                bars.iter()
                    .map(|&(x, v)| Text::new(label(v), (x + width * 0.45, v), above.clone())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// plotters' errors carry the backend's error type; we only need their text.
fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_bars_labels_and_legend_without_fonts() {
        let report = crate::report::fixtures::report();
        let svg = svg(&report).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Throughput, requests/s"));
        // plotters writes each text on a line of its own.
        assert!(svg.contains("\nget\n"), "the workload labels the group");
        assert!(svg.contains("\nbatch\n"));
        assert!(
            !svg.contains("\nexport\n"),
            "the export is not a request rate"
        );
        assert!(svg.contains("\ntier-sqlx\n"), "the legend names the tiers");
        assert!(svg.contains("20.0k"));
        assert!(svg.matches("<rect").count() >= 4);
    }
}
