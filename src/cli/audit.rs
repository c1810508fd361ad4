//! Audit commands over the log: `log`, `history`, `export`, `import`.

use super::output::{self, byte_bar, count, open, print, print_json, Table};
use super::{Db, Fail, Format, Outcome};
use fvstore::codec::hex;
use fvstore::protocol::render;
use fvstore::{Event, Options, RecordRef, RecordType, Store};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::PathBuf;

/// The event kinds of SPEC §9.
const KINDS: [&str; 9] =
    ["create", "branch_change", "space_change", "link", "unlink", "delete", "merge", "grant", "run_finish"];

const TYPES: [&str; 7] = ["user", "space", "branch", "run", "feature", "artifact", "value"];

#[derive(clap::Args)]
pub struct LogArgs {
    #[command(flatten)]
    db: Db,
    /// First event to show.
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Last event to show.
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
    /// Only events that touched this record (as subject, link host or merged record), e.g. value:42.
    #[arg(long, value_name = "TYPE:ID", value_parser = parse_record)]
    record: Option<RecordRef>,
    /// Only events by this user (a handle or an id).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only events of this kind.
    #[arg(long, value_name = "KIND", value_parser = KINDS)]
    kind: Option<String>,
    #[command(flatten)]
    format: Format,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    db: Db,
    /// The record's id (a value unless --type says otherwise; a branch's may be -1, the trash).
    #[arg(value_name = "ID", allow_negative_numbers = true)]
    id: i64,
    /// The record's type.
    #[arg(long = "type", value_name = "TYPE", default_value = "value", value_parser = TYPES)]
    kind: String,
    /// Act as this user (a handle): history needs read access to the record's space.
    #[arg(long = "as", value_name = "HANDLE", default_value = "anonymous")]
    actor: String,
    #[command(flatten)]
    format: Format,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    db: Db,
    /// Write to this file instead of stdout (replaced if it exists).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    format: Format,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The new store's directory (it must not hold a store yet).
    #[arg(long, value_name = "NEWDIR")]
    db: PathBuf,
    /// A JSON Lines export (`-` for stdin).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    format: Format,
}

fn parse_record(s: &str) -> Result<RecordRef, String> {
    let (t, id) = s.split_once(':').ok_or_else(|| format!("'{s}' is not TYPE:ID, e.g. value:42"))?;
    let kind =
        RecordType::parse(t).ok_or_else(|| format!("unknown record type '{t}'; use one of {}", TYPES.join(", ")))?;
    let id = id.parse().map_err(|_| format!("'{id}' is not a record id (a positive integer)"))?;
    Ok(RecordRef { kind, id })
}

/// `fvstore log`.
pub fn log(a: &LogArgs) -> Outcome {
    let store = open(&a.db.db, Options::default())?;
    let me = store.session();
    let users = handles(&store)?;
    let actor = match &a.user {
        None => None,
        Some(u) => Some(match u.parse::<u64>() {
            Ok(id) if users.contains_key(&id) => id,
            _ => {
                *users
                    .iter()
                    .find(|(_, h)| h.eq_ignore_ascii_case(u))
                    .ok_or_else(|| Fail::new(format!("no user '{u}' (give a handle or an id)")))?
                    .0
            }
        }),
    };
    let from = a.from.unwrap_or(1);
    let to = a.to.unwrap_or(u64::MAX);
    let events = match a.record {
        Some(r) => me.history(r)?.into_iter().filter(|e| e.seq >= from && e.seq <= to).collect(),
        None => me.log(from, to)?,
    };
    let events: Vec<Event> = events
        .into_iter()
        .filter(|e| actor.is_none_or(|u| e.actor == u))
        .filter(|e| a.kind.as_deref().is_none_or(|k| e.data.kind() == k))
        .collect();
    if a.format.json {
        return print_events_json(&events);
    }
    if events.is_empty() {
        return print("no events match\n");
    }
    print(&events_table(&events, &users).render())
}

/// User handles by id, to show who did what.
fn handles(store: &Store) -> Result<BTreeMap<u64, String>, Fail> {
    Ok(store.session().users()?.into_iter().map(|u| (u.id, u.handle)).collect())
}

/// A JSON array with one event per line.
fn print_events_json(events: &[Event]) -> Outcome {
    let mut out = String::from("[");
    for (i, e) in events.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&render::event(e).to_string());
    }
    out.push_str("\n]\n");
    print(&out)
}

/// One row per event: seq, time, who, run, kind, record, data.
fn events_table(events: &[Event], users: &BTreeMap<u64, String>) -> Table {
    let mut t = Table::new(&[">seq", "at", "by", ">run", "kind", "record", "data"]);
    for e in events {
        let j = render::event(e);
        t.row(vec![
            e.seq.to_string(),
            j["at"].as_str().unwrap_or_default().to_string(),
            users.get(&e.actor).cloned().unwrap_or_else(|| format!("user {}", e.actor)),
            e.run.map_or_else(|| "-".to_string(), |r| r.to_string()),
            e.data.kind().to_string(),
            format!("{} {}", e.record.kind.as_str(), e.record.id),
            summary(&j["data"]),
        ]);
    }
    t
}

/// `key=value` pairs of an event's data, without the long hex fields, cut at 100 characters.
fn summary(data: &Json) -> String {
    let Some(map) = data.as_object() else { return data.to_string() };
    let parts: Vec<String> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "canonical" && k.as_str() != "hash")
        .map(|(k, v)| match v {
            Json::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let s = parts.join(" ");
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(99).collect::<String>())
    } else {
        s
    }
}

/// `fvstore history ID [--type TYPE]`.
pub fn history(a: &HistoryArgs) -> Outcome {
    let store = open(&a.db.db, Options::default())?;
    let me = store.as_user(&a.actor)?;
    let kind = RecordType::parse(&a.kind).ok_or_else(|| Fail::new(format!("unknown record type '{}'", a.kind)))?;
    let r = match kind {
        RecordType::Branch => RecordRef::branch(a.id),
        _ => RecordRef {
            kind,
            id: u64::try_from(a.id).map_err(|_| Fail::new(format!("a {} id cannot be negative", kind.as_str())))?,
        },
    };
    let events = me.history(r)?;
    // The built-in rows are the initial state, not events; anything else without events never
    // existed (the library answers user 1 with an empty history rather than an error).
    let builtin = matches!((kind, a.id), (RecordType::User, 1) | (RecordType::Space, 1) | (RecordType::Branch, -1..=3));
    if events.is_empty() && !builtin {
        return Err(Fail::new(format!("no {} {} (no event of the log touched it)", kind.as_str(), a.id)));
    }
    // The record as it is now, when it still exists and is a value.
    let current = match kind {
        RecordType::Value => me.get(r.id).ok().map(|v| render::value(&v)),
        _ => None,
    };
    if a.format.json {
        return print_json(&json!({
            "record": {"type": kind.as_str(), "id": a.id},
            "current": current,
            "events": events.iter().map(render::event).collect::<Vec<_>>()}));
    }
    let users = handles(&store)?;
    let mut out = format!("history of {} {}: {} events\n", kind.as_str(), a.id, events.len());
    if let Some(c) = &current {
        out.push_str(&format!(
            "now: value={} feature_id={} branch_id={} space_id={} artifacts={} runs={}\n",
            c["value"], c["feature_id"], c["branch_id"], c["space_id"], c["artifact_ids"], c["run_ids"]
        ));
    } else if kind == RecordType::Value {
        out.push_str("now: removed for good\n");
    }
    out.push('\n');
    if !events.is_empty() {
        out.push_str(&events_table(&events, &users).render());
    }
    print(&out)
}

/// `fvstore export [--out FILE]`.
pub fn export(a: &ExportArgs) -> Outcome {
    let store = open(&a.db.db, Options::default())?;
    let (total, head) = store.head();
    let pb = output::bar(total, "exporting events");
    let n = match &a.out {
        None => {
            let mut w = output::PipeWriter::new(BufWriter::new(std::io::stdout().lock()), Some(pb.clone()));
            store.export_jsonl(&mut w).map_err(|e| w.fail(e))?
        }
        Some(path) => {
            let file = File::create(path).map_err(|e| Fail::new(format!("cannot create {}: {e}", path.display())))?;
            let mut w = output::PipeWriter::new(BufWriter::new(file), Some(pb.clone()));
            let n = store.export_jsonl(&mut w).map_err(|e| w.fail(e))?;
            w.into_inner().into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all())?;
            n
        }
    };
    pb.finish_and_clear();
    let Some(path) = &a.out else { return Ok(()) };
    if a.format.json {
        return print_json(
            &json!({"events": n, "out": path.display().to_string(), "head": {"seq": total, "hash": hex(&head)}}),
        );
    }
    print(&format!("exported {} events to {} (head {})\n", count(n), path.display(), hex(&head)))
}

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    pb: indicatif::ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pb.inc(n as u64);
        Ok(n)
    }
}

/// `fvstore import --db NEWDIR FILE`.
pub fn import(a: &ImportArgs) -> Outcome {
    if a.db.join("log").exists() {
        return Err(Fail::new(format!("{} already holds a store; import into a new directory", a.db.display())));
    }
    if a.db.exists() && !a.db.is_dir() {
        return Err(Fail::new(format!("{} is not a directory; import into a new directory", a.db.display())));
    }
    let stdin = a.file.as_os_str() == "-";
    if !stdin && a.file.is_dir() {
        return Err(Fail::new(format!("cannot read {}: it is a directory, not an export", a.file.display())));
    }
    let (reader, len): (Box<dyn Read>, u64) = if stdin {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let f = File::open(&a.file).map_err(|e| Fail::new(format!("cannot read {}: {e}", a.file.display())))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(f), len)
    };
    let pb = if stdin { output::spinner("importing events") } else { byte_bar(len, "importing events") };
    let reader = BufReader::with_capacity(1 << 20, Counting { inner: reader, pb: pb.clone() });
    let result = fvstore::import_jsonl(&a.db, reader, Options::default());
    pb.finish_and_clear();
    // A refused import removes the directories it made (`import_jsonl`).
    let store = result?;
    output::warn_all(&store);
    let (seq, head) = store.head();
    let state = store.state_hash();
    let st = store.stats();
    drop(store);
    if a.format.json {
        return print_json(&json!({
            "db": a.db.display().to_string(), "events": seq, "head": {"seq": seq, "hash": hex(&head)},
            "state_hash": hex(&state), "values": st.values}));
    }
    print(&format!(
        "imported {} events into {} (chain checked)\nhead        event {}  {}\nstate hash  {}\nvalues      {}\n",
        count(seq),
        a.db.display(),
        count(seq),
        hex(&head),
        hex(&state),
        count(st.values as u64)
    ))
}
