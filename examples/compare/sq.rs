//! The SQLite side of the comparison: a LaminDB-shaped `feature_value` table (as Django would
//! lay it out on SQLite), WAL, prepared statements, one connection per thread.

use crate::fv::mix;
use crate::{rate, rss_bytes, Args};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::json;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feature (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dtype TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifact (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, branch_id INTEGER NOT NULL, space_id INTEGER NOT NULL,
    created_by_id INTEGER NOT NULL, run_id INTEGER, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feature_value (
    id INTEGER PRIMARY KEY,
    feature_id INTEGER REFERENCES feature(id),
    value TEXT NOT NULL,              -- the value as JSON, as LaminDB's JSONField stores it
    value_num NUMERIC,                -- numeric copy for range queries (NULL for other types)
    hash BLOB NOT NULL,               -- blake3 of the value's JSON bytes
    branch_id INTEGER NOT NULL,
    created_on_id INTEGER NOT NULL,
    space_id INTEGER NOT NULL,
    created_by_id INTEGER NOT NULL,
    run_id INTEGER,
    created_at TEXT NOT NULL,         -- Django's SQLite datetime text
    UNIQUE (feature_id, hash));
CREATE INDEX IF NOT EXISTS feature_value_num ON feature_value (feature_id, value_num);
CREATE TABLE IF NOT EXISTS artifact_feature_value (
    id INTEGER PRIMARY KEY, artifact_id INTEGER NOT NULL, featurevalue_id INTEGER NOT NULL,
    created_by_id INTEGER NOT NULL, run_id INTEGER, created_at TEXT NOT NULL,
    UNIQUE (artifact_id, featurevalue_id));
INSERT OR IGNORE INTO feature (id, name, dtype) VALUES (1, 'n', 'int'), (2, 'params', 'dict');
";

const COLS: &str = "id, feature_id, value, hash, branch_id, created_on_id, space_id, created_by_id, run_id, created_at";
const SELECT_KEY: &str = "SELECT id, feature_id, value, hash, branch_id, created_on_id, space_id, created_by_id, \
     run_id, created_at FROM feature_value WHERE feature_id = ?1 AND hash = ?2";
const INSERT: &str = "INSERT INTO feature_value (feature_id, value, value_num, hash, branch_id, created_on_id, \
     space_id, created_by_id, run_id, created_at) VALUES (?1, ?2, ?3, ?4, 1, 1, 1, 1, NULL, ?5)";

/// A fetched row, fully materialised (fvstore hands back a whole record too).
#[allow(dead_code)]
#[derive(Debug)]
struct Row {
    id: i64,
    feature_id: Option<i64>,
    value: String,
    hash: Vec<u8>,
    branch_id: i64,
    created_on_id: i64,
    space_id: i64,
    created_by_id: i64,
    run_id: Option<i64>,
    created_at: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        feature_id: r.get(1)?,
        value: r.get(2)?,
        hash: r.get(3)?,
        branch_id: r.get(4)?,
        created_on_id: r.get(5)?,
        space_id: r.get(6)?,
        created_by_id: r.get(7)?,
        run_id: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// Opens a connection: WAL, the given `synchronous` level, a busy timeout for many writers.
fn connect(path: &Path, synchronous: &str) -> Connection {
    let c = Connection::open(path).expect("open sqlite");
    c.execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};")).expect("pragmas");
    c.busy_timeout(std::time::Duration::from_secs(30)).expect("busy timeout");
    c
}

fn now_text() -> String {
    let us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    chrono::DateTime::from_timestamp_micros(us)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}

fn dict_json(i: u64) -> String {
    format!(r#"{{"batch":{i},"nested":{{"ok":{}}},"tissue":"t{}"}}"#, i.is_multiple_of(2), i % 50)
}

/// get_or_create: SELECT by (feature_id, hash), INSERT on a miss. Returns (id, created).
fn get_or_create(c: &Connection, feature: i64, json: &str, num: Option<i64>) -> (i64, bool) {
    let hash = blake3::hash(json.as_bytes());
    let mut sel = c.prepare_cached(SELECT_KEY).expect("prepare");
    if let Some(r) = sel.query_row(params![feature, &hash.as_bytes()[..]], row).optional().expect("select") {
        return (r.id, false);
    }
    let mut ins = c.prepare_cached(INSERT).expect("prepare");
    ins.execute(params![feature, json, num, &hash.as_bytes()[..], now_text()]).expect("insert");
    (c.last_insert_rowid(), true)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn with_suffix(p: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    s.into()
}

/// Database, WAL and shared-memory files together.
fn disk_bytes(p: &Path) -> u64 {
    file_len(p) + file_len(&with_suffix(p, "-wal")) + file_len(&with_suffix(p, "-shm"))
}

/// Child job: the big fixture by plain INSERTs (N/10, at most 100k, per transaction), measuring load speed,
/// RSS growth (default page cache) and disk use.
pub fn build(path: &Path, args: &Args) -> serde_json::Value {
    let n = args.values;
    let rss_before = rss_bytes();
    let mut c = connect(path, "NORMAL");
    c.execute_batch(SCHEMA).expect("schema");
    let at = now_text();
    let t = Instant::now();
    let chunk = (n / 10).clamp(1, 100_000);
    let mut rss_half = 0;
    let mut i = 0u64;
    while i < n {
        if rss_half == 0 && i >= n / 2 {
            rss_half = rss_bytes();
        }
        let tx = c.transaction().expect("tx");
        {
            let mut ins = tx.prepare_cached(INSERT).expect("prepare");
            for v in i..(i + chunk).min(n) {
                let json = v.to_string();
                let hash = blake3::hash(json.as_bytes());
                ins.execute(params![1, json, v as i64, &hash.as_bytes()[..], at]).expect("insert");
            }
        }
        tx.commit().expect("commit");
        i += chunk;
    }
    let load_ints_s = t.elapsed().as_secs_f64();
    let rss_after_ints = rss_bytes();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").expect("checkpoint");
    let disk_bytes_ints = disk_bytes(path);
    let t = Instant::now();
    let tx = c.transaction().expect("tx");
    {
        let mut ins = tx.prepare_cached(INSERT).expect("prepare");
        for v in 0..args.dicts {
            let json = dict_json(v);
            let hash = blake3::hash(json.as_bytes());
            ins.execute(params![2, json, Option::<i64>::None, &hash.as_bytes()[..], at]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    let load_dicts_s = t.elapsed().as_secs_f64();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;").expect("checkpoint");
    json!({
        "values": n,
        "load_ints_s": load_ints_s,
        "load_dicts_s": load_dicts_s,
        "rss_before": rss_before,
        "rss_half_ints": rss_half,
        "rss_after_ints": rss_after_ints,
        "disk_bytes_ints": disk_bytes_ints,
        "disk_bytes": disk_bytes(path),
    })
}

/// Child job: open + a count.
pub fn open(path: &Path) -> serde_json::Value {
    let rss_before = rss_bytes();
    let t = Instant::now();
    let c = connect(path, "NORMAL");
    let count: i64 = c.query_row("SELECT count(*) FROM feature_value", [], |r| r.get(0)).expect("count");
    let open_s = t.elapsed().as_secs_f64();
    json!({ "open_s": open_s, "values": count, "rss_growth": rss_bytes().saturating_sub(rss_before) })
}

/// Results of the workloads run on the big fixture.
pub struct OnFixture {
    pub hit1: f64,
    pub hit2: f64,
    pub create: f64,
    pub range: f64,
    pub keypath: f64,
    /// The key-path query again with an expression index on `json_extract(value, '$.batch')`,
    /// made after every other cell (it would tax their inserts), and the index's build time.
    pub keypath_indexed: f64,
    pub expr_index_s: f64,
}

/// W1 hits, W5 queries, W2 creates (1,000 per transaction, synchronous=NORMAL).
pub fn on_fixture(path: &Path, args: &Args) -> OnFixture {
    let n = args.values;
    let conns: Vec<Mutex<Connection>> = (0..2).map(|_| Mutex::new(connect(path, "NORMAL"))).collect();
    let hit = |t: usize, i: u64| {
        let c = conns[t].lock().expect("lock");
        let v = mix(t, i) % n;
        let (_id, created) = get_or_create(&c, 1, &v.to_string(), Some(v as i64));
        assert!(!created);
        1
    };
    let hit1 = rate("SQLite W1 hit 1 thread", 1, args.window, hit);
    let hit2 = rate("SQLite W1 hit 2 threads", 2, args.window, hit);
    let range_sql = format!(
        "SELECT {COLS} FROM feature_value WHERE feature_id = 1 AND value_num >= ?1 AND value_num < ?2 \
         AND branch_id IN (1, 2) ORDER BY id"
    );
    let range = rate("SQLite W5 range", 1, args.window, |t, i| {
        let c = conns[t].lock().expect("lock");
        let x = (mix(t, i) % n.saturating_sub(100).max(1)) as i64;
        let mut st = c.prepare_cached(&range_sql).expect("prepare");
        let got: Vec<Row> =
            st.query_map(params![x, x + 100], row).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(got.len(), 100);
        1
    });
    let key_sql = format!(
        "SELECT {COLS} FROM feature_value WHERE feature_id = 2 AND json_extract(value, '$.batch') = ?1 \
         AND branch_id IN (1, 2) ORDER BY id"
    );
    // Run twice: as is, then with an expression index on the path (made after every other cell).
    let key_query = |t: usize, i: u64| {
        let c = conns[t].lock().expect("lock");
        let x = (mix(t, i) % args.dicts) as i64;
        let mut st = c.prepare_cached(&key_sql).expect("prepare");
        let got: Vec<Row> = st.query_map(params![x], row).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(got.len(), 1);
        1
    };
    let keypath = rate("SQLite W5 key path", 1, args.window, key_query);
    let base = n + 1_000_000_000;
    let create = rate("SQLite W2 create", 1, args.window, |t, i| {
        let mut c = conns[t].lock().expect("lock");
        let tx = c.transaction().expect("tx");
        for j in 0..1_000 {
            let v = base + i * 1_000 + j;
            let (_id, created) = get_or_create(&tx, 1, &v.to_string(), Some(v as i64));
            assert!(created);
        }
        tx.commit().expect("commit");
        1_000
    });
    let started = Instant::now();
    conns[0]
        .lock()
        .expect("lock")
        .execute_batch("CREATE INDEX fv_batch ON feature_value(feature_id, json_extract(value, '$.batch'))")
        .expect("expression index");
    let expr_index_s = started.elapsed().as_secs_f64();
    let keypath_indexed = rate("SQLite W5 key path, expression index", 1, args.window, key_query);
    OnFixture { hit1, hit2, create, range, keypath, keypath_indexed, expr_index_s }
}

/// W3: one transaction per create, synchronous=FULL, a connection per writer thread.
pub fn durable_creates(path: &Path, threads: usize, args: &Args) -> f64 {
    connect(path, "FULL").execute_batch(SCHEMA).expect("schema");
    let conns: Vec<Mutex<Connection>> = (0..threads).map(|_| Mutex::new(connect(path, "FULL"))).collect();
    rate(&format!("SQLite W3 durable create, {threads} writers"), threads, args.window, |t, i| {
        let mut c = conns[t].lock().expect("lock");
        let v = ((t as u64) << 40) + i;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin");
        get_or_create(&tx, 1, &v.to_string(), Some(v as i64));
        tx.commit().expect("commit");
        1
    })
}

/// W4: 1,000 values get_or_created and linked to a new artifact per transaction,
/// synchronous=FULL.
pub fn add_values_durable(path: &Path, args: &Args) -> f64 {
    const ARTIFACTS: u64 = 5_000;
    let mut c = connect(path, "FULL");
    c.execute_batch(SCHEMA).expect("schema");
    {
        let tx = c.transaction().expect("tx");
        for k in 0..10 {
            tx.execute(
                "INSERT INTO feature (id, name, dtype) VALUES (?1, ?2, 'int')",
                params![10 + k, format!("n{k}")],
            )
            .expect("feature");
        }
        let at = now_text();
        for k in 1..=ARTIFACTS {
            tx.execute(
                "INSERT INTO artifact (id, key, branch_id, space_id, created_by_id, created_at) VALUES (?1, ?2, 1, 1, 1, ?3)",
                params![k, format!("data/{k}.h5ad"), at],
            )
            .expect("artifact");
        }
        tx.commit().expect("commit");
    }
    let c = Mutex::new(c);
    rate("SQLite W4 add_values durable", 1, args.window, |_, i| {
        let mut c = c.lock().expect("lock");
        let artifact = (i % ARTIFACTS + 1) as i64;
        let tx = c.transaction().expect("tx");
        {
            let mut link = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO artifact_feature_value (artifact_id, featurevalue_id, created_by_id, \
                     run_id, created_at) VALUES (?1, ?2, 1, NULL, ?3)",
                )
                .expect("prepare");
            for j in 0..1_000u64 {
                let v = i * 1_000 + j;
                let (id, _) = get_or_create(&tx, 10 + (j % 10) as i64, &v.to_string(), Some(v as i64));
                link.execute(params![artifact, id, now_text()]).expect("link");
            }
        }
        tx.commit().expect("commit");
        1_000
    })
}
