//! Writes a seed corpus for the `decode` fuzz target: real encodings of every kind of stored
//! record (each event of a small store that uses every dtype and every kind of event, commit
//! batches, canonical values, and a snapshot file), so that the fuzzer starts from valid
//! inputs and mutates them, instead of guessing the formats from nothing.
//!
//! ```sh
//! cargo run --release --all-features --example fuzz_seeds -- fuzz/corpus/decode
//! ```

use fvstore::codec::{canonical, encode_batch, encode_batch_as, encode_event};
use fvstore::{Batch, FeatureSpec, FixedClock, Host, Options, RecordRef, RecordType, Store, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn values() -> Vec<(&'static str, Value)> {
    let dict: BTreeMap<String, Value> =
        [("a".to_string(), Value::Int(1)), ("b".to_string(), Value::List(vec![Value::Bool(true), Value::Null]))]
            .into_iter()
            .collect();
    vec![
        ("n", Value::Int(-7)),
        ("x", Value::Float(2.5)),
        ("s", Value::Str("héllo".into())),
        ("b", Value::Bool(false)),
        ("d", Value::Date(19_723)),
        ("t", Value::DateTime(1_700_000_000_123_456)),
        ("l", Value::List(vec![Value::Int(1), Value::Int(2)])),
        ("m", Value::Dict(dict)),
    ]
}

fn build(dir: &Path) -> fvstore::Result<(Store, Vec<Value>)> {
    let options = Options { clock: Arc::new(FixedClock(1_700_000_000_000_000)), ..Options::default() };
    let store = Store::open_with(dir, options)?;
    let s = store.session();
    let dtypes = [("n", "int"), ("x", "float"), ("s", "str"), ("b", "bool"), ("d", "date"), ("t", "datetime")];
    for (name, dtype) in dtypes.into_iter().chain([("l", "list[int]"), ("m", "dict")]) {
        s.create_feature(&FeatureSpec::new(name, dtype))?;
    }
    s.create_user("ann")?;
    let space = s.create_space("lab")?;
    s.grant("lab", "ann", Some(fvstore::Role::Write))?;
    let branch = s.create_branch("draft")?;
    let run = s.start_run("r")?;
    let artifact = s.create_artifact("data/a.h5ad")?;
    let mut ids = Vec::new();
    for (feature, v) in values() {
        ids.push(s.get_or_create(Some(feature.into()), v)?.0.id);
    }
    s.add_values(Host::Artifact(artifact.id), &[("n".into(), Value::Int(3)), ("s".into(), Value::Str("k".into()))])?;
    s.link(ids[0], Host::Run(run.id))?;
    s.unlink(ids[0], Host::Run(run.id))?;
    let value = |id| RecordRef { kind: RecordType::Value, id };
    s.set_branch(value(ids[1]), branch.id)?;
    s.move_space(value(ids[2]), space.id)?;
    s.delete(value(ids[3]), false)?;
    s.restore(value(ids[3]))?;
    s.delete(value(ids[4]), true)?;
    s.merge_branch(branch.id)?;
    s.finish_run(run.id)?;
    Ok((store, values().into_iter().map(|(_, v)| v).collect()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus/decode".into()));
    std::fs::create_dir_all(&out)?;
    let tmp = tempfile::tempdir()?;
    let (store, values) = build(tmp.path())?;
    let events = store.session().log(1, u64::MAX)?;
    let mut written = 0;
    let mut put = |name: String, bytes: Vec<u8>| -> std::io::Result<()> {
        written += 1;
        std::fs::write(out.join(name), bytes)
    };
    for e in &events {
        put(format!("seed-event-{:03}", e.seq), encode_event(e))?;
    }
    for (i, chunk) in events.chunks(3).enumerate() {
        let batch = Batch { events: chunk.to_vec() };
        put(format!("seed-batch-{i:03}"), encode_batch(&batch))?;
        for old in [1, 2, 3] {
            if let Some(bytes) = encode_batch_as(&batch, old) {
                put(format!("seed-batch-v{old}-{i:03}"), bytes)?;
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        put(format!("seed-value-{i:03}"), canonical(v))?;
    }
    let seq = store.snapshot()?;
    let snap = tmp.path().join("snapshots").join(format!("snap-{seq:020}.bin"));
    let file = std::fs::read(snap)?;
    // Without its checksum too: the target appends a valid one to every input.
    put(format!("seed-snapshot-content-{seq:03}"), file[..file.len().saturating_sub(32)].to_vec())?;
    put(format!("seed-snapshot-{seq:03}"), file)?;
    eprintln!("wrote {written} seeds to {}", out.display());
    Ok(())
}
