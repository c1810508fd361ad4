//! The results: a Markdown table on stdout, JSON, and a hand-drawn SVG line chart.

use crate::Args;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

/// One workload's figures.
pub struct Row {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub fv: f64,
    pub sq: f64,
    /// Throughputs: more is better. Times and bytes: less is better.
    pub higher_is_better: bool,
    pub note: String,
}

impl Row {
    pub fn new(id: &str, name: &str, unit: &str, fv: f64, sq: f64, higher_is_better: bool) -> Row {
        Row { id: id.into(), name: name.into(), unit: unit.into(), fv, sq, higher_is_better, note: String::new() }
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    /// How many times better fvstore is than SQLite (below 1: worse).
    pub fn advantage(&self) -> f64 {
        if self.higher_is_better {
            self.fv / self.sq
        } else {
            self.sq / self.fv
        }
    }
}

pub struct Report {
    pub values: u64,
    pub dicts: u64,
    pub window_s: f64,
    pub quick: bool,
    pub rows: Vec<Row>,
    /// (writer threads, fvstore creates/s, SQLite creates/s) for the chart.
    pub curve: Vec<(usize, f64, f64)>,
    pub extras: serde_json::Map<String, serde_json::Value>,
    pub elapsed: Duration,
    pub load_start: String,
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = mem.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|l| l.trim().to_string());
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, usize::from),
        "cpu": model,
        "mem_total": total,
    })
}

/// A number with thousands separators, or a few significant digits when small.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.abs() >= 1_000.0 {
        let s = format!("{:.0}", x.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if x < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.5}")
    }
}

impl Report {
    pub fn new(args: &Args) -> Report {
        Report {
            values: args.values,
            dicts: args.dicts,
            window_s: args.window.as_secs_f64(),
            quick: args.quick,
            rows: Vec::new(),
            curve: Vec::new(),
            extras: serde_json::Map::new(),
            elapsed: Duration::ZERO,
            load_start: loadavg(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn extra(&mut self, key: &str, v: serde_json::Value) {
        self.extras.insert(key.into(), v);
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nN = {} int values (+ {} dicts); window {:.1} s per cell; load average at start {}, at end {}\n",
            num(self.values as f64),
            num(self.dicts as f64),
            self.window_s,
            self.load_start,
            loadavg()
        );
        let _ = writeln!(out, "| | workload | unit | fvstore | SQLite | fvstore advantage |");
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2}× |",
                r.id,
                r.name,
                r.unit,
                num(r.fv),
                num(r.sq),
                r.advantage()
            );
        }
        let _ = writeln!(out, "\nNotes:");
        for r in self.rows.iter().filter(|r| !r.note.is_empty()) {
            let _ = writeln!(out, "- {} {}: {}", r.id, r.name, r.note);
        }
        let _ =
            writeln!(out, "\nHow busy the machine was in each measured window (2 cores = fully busy on this box):\n");
        let _ = writeln!(
            out,
            "| cell | per second | this process, cores | whole machine, cores | per CPU-second of this process |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for c in crate::cells().lock().map(|c| c.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {} |",
                c.label,
                num(c.per_s),
                c.own_cores,
                c.machine_cores,
                num(c.per_s / c.own_cores)
            );
        }
        let _ = writeln!(
            out,
            "\n'fvstore advantage' is fvstore/SQLite for throughputs and SQLite/fvstore for times and bytes."
        );
        let _ = writeln!(out, "Total run time: {:.1} s", self.elapsed.as_secs_f64());
        out
    }

    pub fn json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "workload": r.name, "unit": r.unit,
                    "fvstore": r.fv, "sqlite": r.sq,
                    "higher_is_better": r.higher_is_better,
                    "fvstore_advantage": r.advantage(),
                    "note": r.note,
                })
            })
            .collect();
        let curve: Vec<serde_json::Value> =
            self.curve.iter().map(|(t, f, s)| json!({"threads": t, "fvstore": f, "sqlite": s})).collect();
        let doc = json!({
            "machine": machine(),
            "values": self.values,
            "dicts": self.dicts,
            "window_s": self.window_s,
            "quick": self.quick,
            "loadavg_start": self.load_start,
            "loadavg_end": loadavg(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rows": rows,
            "durable_creates_by_writers": curve,
            "details": self.extras,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    }
}

/// A line chart of durable creates/s against writer threads, fvstore and SQLite.
pub fn svg(curve: &[(usize, f64, f64)]) -> String {
    let (w, h) = (640.0, 400.0);
    let (left, right, top, bottom) = (80.0, 150.0, 40.0, 60.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let ymax_raw = curve.iter().flat_map(|(_, f, s)| [*f, *s]).filter(|v| v.is_finite()).fold(1.0, f64::max);
    // A round upper bound: 1, 2 or 5 times a power of ten.
    let mag = 10f64.powf(ymax_raw.log10().floor());
    let ymax = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|v| *v >= ymax_raw).unwrap_or(10.0 * mag);
    let n = curve.len().max(2);
    let x = |i: usize| left + pw * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + ph * (1.0 - v / ymax);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Durable creates/s against writer threads</text>"#,
        left + pw / 2.0
    );
    for k in 0..=5 {
        let v = ymax * k as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 8.0,
            yy + 4.0,
            num(v)
        );
    }
    for (i, (t, _, _)) in curve.iter().enumerate() {
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#, x(i), top + ph + 18.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">writer threads</text>"#,
        left + pw / 2.0,
        h - 15.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">creates/s</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="#333"/><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        top + ph,
        top + ph,
        left + pw,
        top + ph
    );
    for (name, color, pick) in [("fvstore", "#d62728", 0usize), ("SQLite", "#1f77b4", 1)] {
        let pts: Vec<(f64, f64)> =
            curve.iter().enumerate().map(|(i, (_, f, q))| (x(i), y(if pick == 0 { *f } else { *q }))).collect();
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ =
            writeln!(s, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.5"/>"#, path.join(" "));
        for ((a, b), (_, f, q)) in pts.iter().zip(curve) {
            let v = if pick == 0 { *f } else { *q };
            let _ = writeln!(
                s,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="4" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="{color}" text-anchor="middle">{}</text>"#,
                a,
                b - 9.0,
                num(v)
            );
        }
        let ly = top + 20.0 + 22.0 * pick as f64;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2.5"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}
