//! `--html FILE`: one self-contained HTML page per run.
//!
//! Rendered from the same JSON value the `--json` file holds, so the page
//! can never disagree with the machine-readable result, and every workload
//! gets a page without code of its own: known keys (`series`, `ops`,
//! `unavailability_ms`, `capacity`) get plots, every other object a table.
//!
//! Self-contained means no script, stylesheet or font from anywhere: the
//! plots are inline SVG drawn here, so the file can be archived next to the
//! JSON and opened offline years later.

use std::fmt::Write as _;

use serde_json::Value;

/// Plot size in SVG user units (CSS pixels).
const PLOT_WIDTH: f64 = 760.0;
const PLOT_HEIGHT: f64 = 260.0;
/// Room for axis labels around the plot area.
const MARGIN_LEFT: f64 = 64.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 24.0;
const MARGIN_BOTTOM: f64 = 36.0;
/// Gridlines (and y labels) per plot.
const Y_TICKS: usize = 5;
/// Colours for up to this many lines in one plot; more reuse them.
const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One line of a plot.
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A plot: lines (or bars) over a numeric x axis.
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Labels for x positions instead of numbers (categorical axes).
    pub x_names: Option<Vec<String>>,
    /// A horizontal reference line (an SLA), with its label.
    pub hline: Option<(f64, String)>,
    pub bars: bool,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A short, readable number for axes and tables.
fn num(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A "nice" axis maximum (1, 2 or 5 times a power of ten) at or above `x`.
fn nice_ceil(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

impl Plot {
    pub fn svg(&self) -> String {
        let all = self.lines.iter().flat_map(|l| l.points.iter());
        let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0f64);
        for &(x, y) in all {
            x_min = x_min.min(x);
            x_max = x_max.max(x);
            y_max = y_max.max(y);
        }
        if let Some((y, _)) = &self.hline {
            y_max = y_max.max(*y);
        }
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<figure><figcaption>{}</figcaption><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#,
            escape(&self.title),
            w = PLOT_WIDTH,
            h = PLOT_HEIGHT
        );
        if x_min > x_max {
            s.push_str(r#"<text x="80" y="120">no data</text></svg></figure>"#);
            return s;
        }
        if self.bars || x_min == x_max {
            // Bars (and single points) need half a slot of room each side.
            x_min -= 0.5;
            x_max += 0.5;
        }
        let y_top = nice_ceil(y_max * 1.05);
        let pw = PLOT_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
        let ph = PLOT_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
        let sx = |x: f64| MARGIN_LEFT + (x - x_min) / (x_max - x_min) * pw;
        let sy = |y: f64| MARGIN_TOP + ph - (y / y_top).clamp(0.0, 1.0) * ph;
        for i in 0..=Y_TICKS {
            let v = y_top * i as f64 / Y_TICKS as f64;
            let y = sy(v);
            let _ = write!(
                s,
                r##"<line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                MARGIN_LEFT + pw,
                MARGIN_LEFT - 6.0,
                y + 4.0,
                num(v)
            );
        }
        // X ticks: the category names, or about eight evenly spaced numbers.
        match &self.x_names {
            Some(names) => {
                for (i, n) in names.iter().enumerate() {
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                        sx(i as f64),
                        MARGIN_TOP + ph + 16.0,
                        escape(n)
                    );
                }
            }
            None => {
                let lo = if self.bars { x_min + 0.5 } else { x_min };
                let hi = if self.bars { x_max - 0.5 } else { x_max };
                let n = 8usize;
                for i in 0..=n {
                    let v = lo + (hi - lo) * i as f64 / n as f64;
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                        sx(v),
                        MARGIN_TOP + ph + 16.0,
                        num(v)
                    );
                    if hi == lo {
                        break;
                    }
                }
            }
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text><text x="14" y="{:.1}" font-size="12" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
            MARGIN_LEFT + pw / 2.0,
            PLOT_HEIGHT - 4.0,
            escape(&self.x_label),
            MARGIN_TOP + ph / 2.0,
            MARGIN_TOP + ph / 2.0,
            escape(&self.y_label)
        );
        let slot = pw / (x_max - x_min).max(1e-9);
        let groups = self.lines.len().max(1) as f64;
        for (li, line) in self.lines.iter().enumerate() {
            let color = PALETTE[li % PALETTE.len()];
            if self.bars {
                let bw = (slot * 0.8 / groups).max(1.0);
                for &(x, y) in &line.points {
                    let left = sx(x) - slot * 0.4 + bw * li as f64;
                    let _ = write!(
                        s,
                        r#"<rect x="{left:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"><title>{}: {}</title></rect>"#,
                        sy(y),
                        (MARGIN_TOP + ph - sy(y)).max(0.0),
                        escape(&line.name),
                        num(y)
                    );
                }
            } else {
                let pts: Vec<String> = line
                    .points
                    .iter()
                    .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{}"/>"#,
                    pts.join(" ")
                );
                if line.points.len() <= 40 {
                    for &(x, y) in &line.points {
                        let _ = write!(
                            s,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{}: {}</title></circle>"#,
                            sx(x),
                            sy(y),
                            escape(&line.name),
                            num(y)
                        );
                    }
                }
            }
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="6" width="10" height="10" fill="{color}"/><text x="{:.1}" y="15" font-size="11">{}</text>"#,
                MARGIN_LEFT + 8.0 + 130.0 * li as f64,
                MARGIN_LEFT + 22.0 + 130.0 * li as f64,
                escape(&line.name)
            );
        }
        if let Some((y, label)) = &self.hline {
            let _ = write!(
                s,
                r##"<line x1="{MARGIN_LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#000" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                sy(*y),
                MARGIN_LEFT + pw,
                sy(*y),
                MARGIN_LEFT + pw,
                sy(*y) - 4.0,
                escape(label)
            );
        }
        s.push_str("</svg></figure>");
        s
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Flattens nested objects to dotted keys (arrays of scalars inline).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            out.push((prefix.to_owned(), items.join(", ")));
        }
        Value::Array(_) => {} // arrays of objects get their own table
        v => out.push((prefix.to_owned(), scalar(v))),
    }
}

fn kv_table(v: &Value) -> String {
    let mut rows = Vec::new();
    flatten("", v, &mut rows);
    let mut s = String::from("<table>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(&k), escape(&v));
    }
    s.push_str("</table>");
    s
}

/// An array of flat objects as a table, one row each.
fn rows_table(rows: &[Value]) -> String {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        if let Value::Object(m) = r {
            for k in m.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    let mut s = String::from("<table><tr>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in &cols {
            let cell = r.get(c).map(scalar).unwrap_or_default();
            let _ = write!(s, "<td>{}</td>", escape(&cell));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// The percentile columns of an op entry (µs in the JSON, ms on the page).
const PERCENTILES: [(&str, &str); 5] = [
    ("p50_us", "p50"),
    ("p90_us", "p90"),
    ("p99_us", "p99"),
    ("p999_us", "p99.9"),
    ("max_us", "max"),
];

fn ms(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0) / 1000.0
}

fn ops_section(ops: &serde_json::Map<String, Value>, duration_s: f64) -> String {
    let mut s = String::from(
        "<h2>Latency percentiles per operation</h2><table><tr><th>op</th><th>count</th><th>ops/s</th>",
    );
    for (_, name) in PERCENTILES {
        let _ = write!(s, "<th>{name} ms</th>");
    }
    s.push_str("<th>errors</th></tr>");
    let mut lines = Vec::new();
    for (op, o) in ops {
        let count = o.get("count").and_then(Value::as_f64).unwrap_or(0.0);
        let _ = write!(
            s,
            "<tr><th>{}</th><td>{}</td><td>{}</td>",
            escape(op),
            count,
            num(count / duration_s.max(1e-9))
        );
        let mut pts = Vec::new();
        for (i, (key, _)) in PERCENTILES.iter().enumerate() {
            let v = ms(o.get(*key));
            let _ = write!(s, "<td>{v:.3}</td>");
            pts.push((i as f64, v));
        }
        let _ = write!(
            s,
            "<td>{}</td></tr>",
            o.get("errors").map(scalar).unwrap_or_default()
        );
        lines.push(Line {
            name: op.clone(),
            points: pts,
        });
    }
    s.push_str("</table>");
    s.push_str(
        &Plot {
            title: "Latency percentiles (measured window)".into(),
            x_label: "percentile".into(),
            y_label: "ms".into(),
            lines,
            x_names: Some(PERCENTILES.iter().map(|(_, n)| (*n).to_owned()).collect()),
            hline: None,
            bars: true,
        }
        .svg(),
    );
    s
}

fn series_section(series: &[Value]) -> String {
    let get = |p: &Value, k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let line = |name: &str, key: &str, scale: f64| Line {
        name: name.into(),
        points: series
            .iter()
            .map(|p| (get(p, "t_s"), get(p, key) / scale))
            .collect(),
    };
    let warmup_end = series
        .iter()
        .filter(|p| p.get("phase").and_then(Value::as_str) == Some("warmup"))
        .map(|p| get(p, "t_s"))
        .fold(0.0, f64::max);
    let mut s = String::from("<h2>Over time</h2>");
    if warmup_end > 0.0 {
        let _ = write!(
            s,
            "<p>Seconds 1–{warmup_end} are warm-up (not in the percentiles above).</p>"
        );
    }
    let mut lines = vec![line("ok/s", "ok", 1.0)];
    if series.iter().any(|p| get(p, "errors") > 0.0) {
        lines.push(line("errors/s", "errors", 1.0));
    }
    s.push_str(
        &Plot {
            title: "Throughput per second".into(),
            x_label: "seconds since start".into(),
            y_label: "ops/s".into(),
            lines,
            x_names: None,
            hline: None,
            bars: false,
        }
        .svg(),
    );
    s.push_str(
        &Plot {
            title: "Latency per second".into(),
            x_label: "seconds since start".into(),
            y_label: "ms".into(),
            lines: vec![
                line("p50", "p50_us", 1000.0),
                line("p90", "p90_us", 1000.0),
                line("p99", "p99_us", 1000.0),
                line("max", "max_us", 1000.0),
            ],
            x_names: None,
            hline: None,
            bars: false,
        }
        .svg(),
    );
    s
}

fn unavailability_section(u: &Value) -> String {
    let rounds: Vec<f64> = u
        .get("rounds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let mut s = String::from("<h2>Write unavailability per failover round</h2>");
    s.push_str(&kv_table(&Value::Object(
        u.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k != "rounds")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )));
    s.push_str(
        &Plot {
            title: "Kill → first acknowledged write, per round".into(),
            x_label: "round".into(),
            y_label: "ms".into(),
            lines: vec![Line {
                name: "unavailable ms".into(),
                points: rounds
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as f64, v))
                    .collect(),
            }],
            x_names: None,
            hline: None,
            bars: true,
        }
        .svg(),
    );
    s
}

fn capacity_section(c: &Value) -> String {
    let steps = c
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let get = |p: &Value, k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let sla = c.get("sla_p99_ms").and_then(Value::as_f64).unwrap_or(0.0);
    let mut s = String::from("<h2>Capacity search</h2>");
    let _ = write!(
        s,
        "<p>Knee (highest offered rate whose p99 held the SLA): <b>{}</b> ops/s</p>",
        c.get("knee_ops_per_s")
            .map(scalar)
            .unwrap_or_else(|| "—".into())
    );
    s.push_str(
        &Plot {
            title: "p99 per offered rate".into(),
            x_label: "offered ops/s".into(),
            y_label: "p99 ms".into(),
            lines: vec![Line {
                name: "p99".into(),
                points: steps
                    .iter()
                    .map(|p| (get(p, "rate_ops_per_s"), get(p, "p99_us") / 1000.0))
                    .collect(),
            }],
            x_names: None,
            hline: Some((sla, format!("SLA {sla} ms"))),
            bars: false,
        }
        .svg(),
    );
    s.push_str(
        &Plot {
            title: "Achieved per offered rate".into(),
            x_label: "offered ops/s".into(),
            y_label: "achieved ops/s".into(),
            lines: vec![
                Line {
                    name: "achieved".into(),
                    points: steps
                        .iter()
                        .map(|p| (get(p, "rate_ops_per_s"), get(p, "achieved_ops_per_s")))
                        .collect(),
                },
                Line {
                    name: "offered".into(),
                    points: steps
                        .iter()
                        .map(|p| (get(p, "rate_ops_per_s"), get(p, "rate_ops_per_s")))
                        .collect(),
                },
            ],
            x_names: None,
            hline: None,
            bars: false,
        }
        .svg(),
    );
    s.push_str(&rows_table(&steps));
    s
}

const STYLE: &str = "body{font-family:sans-serif;max-width:900px;margin:1em auto;color:#222}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 8px;\
text-align:right;font-size:13px}th{background:#f4f4f4;text-align:left}\
figure{margin:1em 0}figcaption{font-weight:bold;font-size:14px}";

/// The page for one run's JSON report.
pub fn render(report: &Value) -> String {
    let workload = report
        .pointer("/params/workload")
        .and_then(Value::as_str)
        .unwrap_or("mixed");
    let duration_s = report
        .get("duration_s")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>roost-loadgen: {w}</title><style>{STYLE}</style></head><body><h1>roost-loadgen: {w} workload</h1>",
        w = escape(workload)
    );
    let _ = write!(
        s,
        "<p>Throughput <b>{}</b> ops/s over {} s measured.</p>",
        report
            .get("throughput_ops_per_s")
            .map(scalar)
            .unwrap_or_default(),
        num(duration_s)
    );
    if let Some(c) = report.get("capacity") {
        s.push_str(&capacity_section(c));
    }
    if let Some(u) = report.get("unavailability_ms") {
        s.push_str(&unavailability_section(u));
    }
    if let Some(Value::Array(series)) = report.get("series") {
        s.push_str(&series_section(series));
    }
    if let Some(Value::Object(ops)) = report.get("ops") {
        s.push_str(&ops_section(ops, duration_s));
    }
    // Everything else, as tables, in the JSON's order.
    const DONE: [&str; 7] = [
        "capacity",
        "unavailability_ms",
        "series",
        "ops",
        "params",
        "throughput_ops_per_s",
        "duration_s",
    ];
    if let Value::Object(m) = report {
        for (k, v) in m {
            if DONE.contains(&k.as_str()) {
                continue;
            }
            match v {
                Value::Object(o) if o.is_empty() => {}
                Value::Object(_) => {
                    let _ = write!(s, "<h2>{}</h2>{}", escape(k), kv_table(v));
                    // Arrays of objects inside (e.g. failover rounds).
                    for (sub, arr) in v.as_object().into_iter().flatten() {
                        if let Value::Array(rows) = arr {
                            if rows.iter().any(Value::is_object) {
                                let _ = write!(
                                    s,
                                    "<h3>{}.{}</h3>{}",
                                    escape(k),
                                    escape(sub),
                                    rows_table(rows)
                                );
                            }
                        }
                    }
                }
                Value::Array(rows) if rows.iter().any(Value::is_object) => {
                    let _ = write!(s, "<h2>{}</h2>{}", escape(k), rows_table(rows));
                }
                Value::Null => {}
                v => {
                    let _ = write!(s, "<p>{}: {}</p>", escape(k), escape(&scalar(v)));
                }
            }
        }
    }
    if let Some(p) = report.get("params") {
        let _ = write!(s, "<h2>Parameters</h2>{}", kv_table(p));
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "throughput_ops_per_s": 1234.5,
            "duration_s": 2.0,
            "ops": {"get": {"count": 2000, "errors": 0, "p50_us": 150, "p90_us": 300,
                            "p99_us": 812, "p999_us": 2000, "max_us": 4000},
                    "set": {"count": 469, "errors": 1, "p50_us": 250, "p90_us": 400,
                            "p99_us": 999, "p999_us": 3000, "max_us": 5000}},
            "errors_by_code": {"NONODE": 1},
            "params": {"servers": ["127.0.0.1:2181"], "clients": 4, "workload": "mixed",
                       "kill_cmd": "<script>alert(1)</script>"},
            "series": [
                {"t_s": 1, "phase": "warmup", "ok": 900, "errors": 0, "p50_us": 100,
                 "p90_us": 200, "p99_us": 300, "max_us": 400},
                {"t_s": 2, "phase": "measure", "ok": 1234, "errors": 1, "p50_us": 110,
                 "p90_us": 210, "p99_us": 310, "max_us": 410}
            ],
            "unavailability_ms": {"rounds": [812.5, 1500.0], "p50": 812.5, "p99": 1500.0, "max": 1500.0},
            "capacity": {"sla_p99_ms": 5.0, "knee_ops_per_s": 20000.0, "steps": [
                {"rate_ops_per_s": 10000.0, "achieved_ops_per_s": 9990.0, "p99_us": 900, "held": true},
                {"rate_ops_per_s": 20000.0, "achieved_ops_per_s": 19950.0, "p99_us": 4000, "held": true},
                {"rate_ops_per_s": 30000.0, "achieved_ops_per_s": 24000.0, "p99_us": 90000, "held": false}
            ]},
            "failover": {"rounds": [{"round": 1, "errors": 3, "sessions_lost": 0}]}
        })
    }

    #[test]
    fn page_carries_the_data() {
        let page = render(&sample());
        assert!(page.starts_with("<!DOCTYPE html>"));
        // Parameters, percentiles per op (in ms), series and extras.
        assert!(page.contains("127.0.0.1:2181"));
        assert!(page.contains("<th>get</th>") && page.contains("<th>set</th>"));
        assert!(page.contains("0.812"), "get p99 in ms");
        assert!(page.contains("p99.9"));
        assert!(page.contains("Throughput per second"));
        assert!(page.contains("<polyline"));
        assert!(page.contains("Kill → first acknowledged write"));
        assert!(page.contains("Knee"));
        assert!(page.contains("20000"));
        assert!(page.contains("SLA 5 ms"));
        assert!(page.contains("NONODE"));
        assert!(page.contains("failover.rounds"));
        assert!(page.contains("sessions_lost"));
        // Parameters are escaped, never markup.
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }

    #[test]
    fn page_is_self_contained() {
        let page = render(&sample());
        for needle in ["http://", "https://", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(needle), "found {needle}");
        }
    }

    #[test]
    fn empty_plots_say_so() {
        let p = Plot {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            lines: vec![],
            x_names: None,
            hline: None,
            bars: false,
        };
        assert!(p.svg().contains("no data"));
        // A minimal report renders too.
        let page = render(&json!({"throughput_ops_per_s": 0.0, "duration_s": 1.0}));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(3.2), 5.0);
        assert_eq!(nice_ceil(12_000.0), 20_000.0);
        assert_eq!(nice_ceil(100.0), 100.0);
    }
}
