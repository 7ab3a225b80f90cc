//! Line charts as inline SVG, drawn by hand: no script, no network, and the same bytes
//! for the same data.

use std::fmt::Write;

/// Points drawn per line at most; longer series keep each bucket's minimum and maximum, so
/// that peaks and floors survive.
pub const MAX_POINTS: usize = 1500;

/// A shaded stretch of time.
pub struct Band {
    /// Start, in the x unit.
    pub x0: f64,
    /// End.
    pub x1: f64,
    /// CSS class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A vertical line at a moment.
pub struct Rule {
    /// Where.
    pub x: f64,
    /// CSS class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A dot.
pub struct Marker {
    /// Where.
    pub x: f64,
    /// Value.
    pub y: f64,
    /// CSS class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A chart of one or more lines over time (x in unix seconds).
pub struct Chart<'a> {
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
    /// Axes with ticks and labels, or a bare sparkline.
    pub axes: bool,
    /// Lines: each is drawn apart (one per process, so that a restart is not joined).
    pub lines: Vec<&'a [(f64, f64)]>,
    /// The x range; `None`: the data's.
    pub x_range: Option<(f64, f64)>,
    /// Shaded stretches.
    pub bands: Vec<Band>,
    /// Vertical lines.
    pub rules: Vec<Rule>,
    /// Dots.
    pub markers: Vec<Marker>,
    /// What the chart shows, for screen readers.
    pub label: String,
}

/// Escapes text for HTML and SVG, attributes included.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// A step for time ticks, in seconds, giving about `ticks` ticks over `span`.
fn time_step(span: f64, ticks: f64) -> f64 {
    const STEPS: [f64; 17] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 43200.0, 86400.0,
    ];
    let raw = span / ticks;
    STEPS.iter().copied().find(|&s| s >= raw).unwrap_or(86400.0)
}

fn clock(t: f64, seconds: bool) -> String {
    let s = t.rem_euclid(86_400.0).round() as u64 % 86_400;
    if seconds {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 3600, s / 60 % 60)
    }
}

/// At most [`MAX_POINTS`] points: the minimum and maximum of each run of points.
pub fn reduce(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let buckets = MAX_POINTS / 2;
    let mut out = Vec::with_capacity(MAX_POINTS);
    for k in 0..buckets {
        let run = &points[k * points.len() / buckets..(k + 1) * points.len() / buckets];
        let (lo, hi) = run.iter().fold((run[0], run[0]), |(lo, hi), &p| {
            (
                if p.1 < lo.1 { p } else { lo },
                if p.1 > hi.1 { p } else { hi },
            )
        });
        if lo.0 <= hi.0 {
            out.extend([lo, hi]);
        } else {
            out.extend([hi, lo]);
        }
        out.dedup_by(|a, b| a.0 == b.0);
    }
    out
}

impl Chart<'_> {
    /// The SVG element.
    pub fn render(&self) -> String {
        let all = self.lines.iter().flat_map(|l| l.iter());
        let (mut x0, mut x1) = self.x_range.unwrap_or_else(|| {
            all.clone()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                    (lo.min(p.0), hi.max(p.0))
                })
        });
        if !x0.is_finite() || !x1.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let y_max = all
            .map(|p| p.1)
            .chain(self.markers.iter().map(|m| m.y))
            .fold(0.0f64, f64::max);
        let (left, right, top, bottom) = if self.axes {
            (52.0, 14.0, 10.0, 26.0)
        } else {
            (2.0, 2.0, 3.0, 3.0)
        };
        let y_step = nice_step(y_max.max(1.0) / 4.0);
        let y_top = if self.axes {
            (y_max / y_step).ceil().max(1.0) * y_step
        } else {
            y_max.max(1.0)
        };
        let plot_w = self.width - left - right;
        let plot_h = self.height - top - bottom;
        let sx = |x: f64| left + (x - x0) / (x1 - x0) * plot_w;
        let sy = |y: f64| top + plot_h - y / y_top * plot_h;

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">"#,
            w = self.width,
            h = self.height,
            label = escape(&self.label)
        );
        for band in &self.bands {
            let (a, b) = (sx(band.x0.max(x0)), sx(band.x1.min(x1)));
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{a:.1}" y="{top:.1}" width="{:.1}" height="{plot_h:.1}"><title>{}</title></rect>"#,
                band.class,
                (b - a).max(1.0),
                escape(&band.title)
            );
        }
        if self.axes {
            let mut y = 0.0;
            while y <= y_top + 1e-9 {
                let py = sy(y);
                let _ = write!(
                    svg,
                    r#"<line class="grid" x1="{left}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    left + plot_w,
                    left - 6.0,
                    py + 4.0,
                    y as u64
                );
                y += y_step;
            }
            let step = time_step(x1 - x0, 6.0);
            let mut t = (x0 / step).ceil() * step;
            while t <= x1 {
                let px = sx(t);
                let _ = write!(
                    svg,
                    r#"<line class="grid" x1="{px:.1}" x2="{px:.1}" y1="{top}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    top + plot_h,
                    self.height - 8.0,
                    clock(t, step < 60.0)
                );
                t += step;
            }
        }
        for rule in &self.rules {
            let px = sx(rule.x);
            let _ = write!(
                svg,
                r#"<line class="{}" x1="{px:.1}" x2="{px:.1}" y1="{top}" y2="{:.1}"><title>{}</title></line>"#,
                rule.class,
                top + plot_h,
                escape(&rule.title)
            );
        }
        for line in &self.lines {
            if line.is_empty() {
                continue;
            }
            let mut points = String::new();
            for (x, y) in reduce(line) {
                let _ = write!(points, "{:.1},{:.1} ", sx(x), sy(y));
            }
            let _ = write!(
                svg,
                r#"<polyline class="series" data-n="{}" points="{}"/>"#,
                line.len(),
                points.trim_end()
            );
        }
        for m in &self.markers {
            let _ = write!(
                svg,
                r#"<circle class="{}" cx="{:.1}" cy="{:.1}" r="5"><title>{}</title></circle>"#,
                m.class,
                sx(m.x),
                sy(m.y),
                escape(&m.title)
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_dump_may_contain() {
        assert_eq!(
            escape(r#"main.(*T[...]).f<"x">&'y'"#),
            "main.(*T[...]).f&lt;&quot;x&quot;&gt;&amp;&#39;y&#39;"
        );
    }

    #[test]
    fn long_series_keep_their_peaks() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 5_000 { 900.0 } else { (i % 7) as f64 }))
            .collect();
        let reduced = reduce(&points);
        assert!(reduced.len() <= MAX_POINTS);
        assert!(reduced.contains(&(5_000.0, 900.0)));
        assert!(reduced.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(23.0), 50.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(time_step(3600.0, 6.0), 600.0);
    }
}
