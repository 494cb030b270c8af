//! Line charts drawn on the server as SVG, to be put inline in a page: they need no script,
//! print as they show, and name themselves to assistive technology. Each series has its own
//! colour, line pattern and marker, so the lines still tell apart in grey.

use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;

/// How a series' points are marked.
#[derive(Debug, Clone, Copy)]
pub enum Marker {
    Circle,
    Triangle,
    Cross,
}

/// One line: its name in the legend, how it looks, and a value per day (`None`: no point).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: &'static str,
    pub colour: RGBColor,
    pub dashed: bool,
    pub marker: Marker,
    pub values: Vec<Option<f64>>,
}

/// Colours from a palette made to be told apart with every common colour blindness.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILION: RGBColor = RGBColor(213, 94, 0);

const SIZE: (u32, u32) = (760, 280);

/// An SVG line chart with `x_labels` along the bottom (one per point), labelled `id-title`
/// and described by `id-summary` (both elements of the page), or an empty string when it
/// cannot be drawn (the page's table holds the same numbers).
pub fn line_chart(id: &str, x_labels: &[String], y_label: &str, series: &[Series]) -> String {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, x_labels, y_label, series) {
        tracing::error!(error = %e, chart = id, "a chart could not be drawn");
        return String::new();
    }
    svg.replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-labelledby="{id}-title {id}-summary" "#),
        1,
    )
}

fn draw(
    svg: &mut String,
    x_labels: &[String],
    y_label: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let points = x_labels.len().max(2);
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b));
    // Counts are whole numbers, and so are their ticks.
    let whole = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .all(|v| v.fract() == 0.0);
    // Whole numbers get at least five steps of one, so that no two ticks read the same.
    let top = match (top <= 0.0, whole) {
        (_, true) => (top * 1.15).max(5.0),
        (true, false) => 1.0,
        (false, false) => top * 1.15,
    };
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0..points - 1, 0.0..top)?;
    let label_of = |i: &usize| x_labels.get(*i).cloned().unwrap_or_default();
    let value_of = |v: &f64| {
        if whole {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    chart
        .configure_mesh()
        .x_labels(7.min(points))
        .x_label_formatter(&label_of)
        .y_labels(5)
        .y_label_formatter(&value_of)
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 13))
        .draw()?;
    for s in series {
        draw_series(&mut chart, s)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordusize, RangedCoordf64>>;

/// One series: its line, its markers, and its entry in the legend.
fn draw_series<'a>(
    chart: &mut Chart<'a, 'a>,
    s: &Series,
) -> Result<(), Box<dyn std::error::Error>> {
    let style = ShapeStyle::from(&s.colour).stroke_width(2);
    let line: Vec<(usize, f64)> = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let anno = if s.dashed {
        chart.draw_series(DashedLineSeries::new(line.clone(), 7, 4, style))?
    } else {
        chart.draw_series(LineSeries::new(line.clone(), style))?
    };
    anno.label(s.label);
    // The legend shows each line's marker, which tells the lines apart without colour.
    let stroke =
        move |at: (i32, i32)| EmptyElement::at(at) + PathElement::new(vec![(0, 0), (24, 0)], style);
    match s.marker {
        Marker::Circle => {
            anno.legend(move |at| stroke(at) + Circle::new((12, 0), 3, style.filled()))
        }
        Marker::Triangle => {
            anno.legend(move |at| stroke(at) + TriangleMarker::new((12, 0), 4, style.filled()))
        }
        Marker::Cross => anno.legend(move |at| stroke(at) + Cross::new((12, 0), 4, style)),
    };
    match s.marker {
        Marker::Circle => {
            chart.draw_series(line.iter().map(|p| Circle::new(*p, 3, style.filled())))?
        }
        Marker::Triangle => chart.draw_series(
            line.iter()
                .map(|p| TriangleMarker::new(*p, 4, style.filled())),
        )?,
        Marker::Cross => chart.draw_series(line.iter().map(|p| Cross::new(*p, 4, style)))?,
    };
    Ok(())
}
