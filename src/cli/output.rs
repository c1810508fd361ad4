//! What the commands print: opening a store for a tool, text tables, number formats, JSON, and
//! progress bars.
//!
//! Progress goes to stderr through indicatif, whose stderr target hides itself when stderr is
//! not a terminal, so piped and captured runs stay quiet. Results go to stdout.

use super::Fail;
use fvstore::{Options, Store};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde_json::Value as Json;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Opens a store that must exist, with a spinner while a long log is folded, and reports the
/// warnings of opening (snapshots skipped) on stderr.
pub fn open(db: &Path, options: Options) -> Result<Store, Fail> {
    let sp = spinner(format!("opening {}", db.display()));
    let store = Store::open_existing(db, options);
    sp.finish_and_clear();
    let store = store?;
    warn_all(&store);
    Ok(store)
}

/// Prints the warnings of opening on stderr.
pub fn warn_all(store: &Store) {
    for w in store.warnings() {
        eprintln!("fvstore: warning: {w}");
    }
}

/// A bar of `len` steps with a message, ETA and rate.
pub fn bar(len: u64, msg: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner:.green} {msg:<28} [{bar:32.cyan/blue}] {human_pos}/{human_len} ({rate}, eta {eta})",
    ) {
        let style = style.with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", count(s.per_sec().round() as u64));
        });
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.into());
    pb
}

/// A bar over bytes (for reading a file).
pub fn byte_bar(len: u64, msg: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner:.green} {msg:<28} [{bar:32.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.into());
    pb
}

/// A line of progress on stderr, on a terminal only (like the bars).
pub fn note(line: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("{line}");
    }
}

/// A spinner for work of unknown length.
pub fn spinner(msg: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner:.green} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Writes text to stdout; a closed pipe ends the command quietly.
pub fn print(text: &str) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A writer that remembers whether its reader went away, so that a library call that turns
/// the I/O error into its own error type can still end quietly on a closed pipe.
pub struct PipeWriter<W: Write> {
    inner: W,
    pub broken: bool,
    /// Lines written so far, for progress.
    pub lines: u64,
    progress: Option<ProgressBar>,
}

impl<W: Write> PipeWriter<W> {
    pub fn new(inner: W, progress: Option<ProgressBar>) -> Self {
        PipeWriter { inner, broken: false, lines: 0, progress }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Maps the library's error: quiet after a closed pipe, as is otherwise.
    pub fn fail(&self, e: fvstore::Error) -> Fail {
        if self.broken {
            Fail::broken_pipe()
        } else {
            e.into()
        }
    }
}

impl<W: Write> Write for PipeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                let newlines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                self.lines += newlines;
                if let (Some(pb), true) = (&self.progress, newlines > 0) {
                    pb.inc(newlines);
                }
                Ok(n)
            }
            Err(e) => {
                self.broken |= e.kind() == std::io::ErrorKind::BrokenPipe;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.broken |= e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Prints one JSON document, pretty, on stdout.
pub fn print_json(j: &Json) -> Result<(), Fail> {
    let text = serde_json::to_string_pretty(j).map_err(|e| Fail::new(format!("cannot render JSON: {e}")))?;
    print(&format!("{text}\n"))
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Sizes in binary units: `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration for people: `850 ms`, `2.31 s`, `3 min 05 s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.2} s")
    } else {
        format!("{} min {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Operations per second, rounded.
pub fn rate(ops: u64, d: Duration) -> String {
    let s = d.as_secs_f64();
    if s <= 0.0 {
        return "-".to_string();
    }
    format!("{}/s", count((ops as f64 / s).round() as u64))
}

/// Seconds as a JSON number with microsecond precision.
pub fn secs_json(d: Duration) -> Json {
    Json::from((d.as_secs_f64() * 1e6).round() / 1e6)
}

/// A plain text table: a header row, rows, numbers right-aligned.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Right-align this column (numbers).
    right: Vec<bool>,
}

impl Table {
    /// Columns named by `header`; a name starting with `>` is right-aligned (the `>` is dropped).
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.trim_start_matches('>').to_string()).collect(),
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, w) in width.iter().enumerate() {
                let c = cells.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(c.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                if self.right[i] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < cols {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        let total: usize = width.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration(Duration::from_millis(1500)), "1.50 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 min 05 s");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["name", ">n"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long".into(), "1,000".into()]);
        assert_eq!(t.render(), "name      n\n-----------\na         1\nlong  1,000\n");
    }
}
