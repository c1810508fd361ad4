//! A tour of the Rust API: features, get_or_create, artifacts and their values, queries, edits.
//! Run with `cargo run --example quickstart`.

use fvstore::{FeatureSpec, Host, Query, RecordRef, RecordType, Role, Store, Value};

fn main() -> fvstore::Result<()> {
    let store = Store::temporary()?;
    let admin = store.session();

    // Users and a private space.
    admin.create_user("alice")?;
    let alice = store.as_user("alice")?;
    let lab = alice.create_space("lab")?;
    alice.grant("lab", "anonymous", Some(Role::Read))?;

    // Features of several dtypes.
    admin.create_feature(&FeatureSpec::new("temperature", "float").coerce(true))?;
    admin.create_feature(&FeatureSpec::new("params", "dict"))?;
    admin.create_feature(&FeatureSpec::new("collected", "date"))?;

    // get_or_create deduplicates by content: the second call is a hit and writes nothing.
    let (first, _) = admin.get_or_create(Some("temperature".into()), 36.6)?;
    let (again, existed) = admin.get_or_create(Some("temperature".into()), 36.6)?;
    assert!(existed && again.id == first.id);

    // An artifact in alice's space, annotated in one atomic call, under a run.
    let run = alice.start_run("preprocess")?;
    let in_lab = alice.clone().in_space(lab.id).with_run(run.id);
    let sample = in_lab.create_artifact("data/sample.h5ad")?;
    let params: Value = fvstore::value_from_json(&serde_json::json!({"lr": 0.01, "layers": 3}))?;
    in_lab.add_values(
        Host::Artifact(sample.id),
        &[
            ("temperature".into(), Value::Str("37.5".into())), // coerced to 37.5
            ("params".into(), params),
            ("collected".into(), Value::Str("2026-11-26".into())),
        ],
    )?;

    // Queries: a range, a dict key path, artifacts by their values.
    let warm = alice.filter(&Query::new().filter("feature", "temperature").filter("value__gt", 37))?;
    let small_lr = alice.filter(&Query::new().filter("value__lr__lt", 0.1))?;
    let hits = alice.filter_artifacts(&[("temperature__gt".into(), Value::Int(37))])?;
    println!("warm: {}, small lr: {}, artifacts: {:?}", warm.len(), small_lr.len(), hits);
    println!("values of the sample: {:?}", alice.get_values(Host::Artifact(sample.id))?);

    // Trash, restore, and the audit trail.
    admin.delete(RecordRef { kind: RecordType::Value, id: first.id }, false)?;
    admin.restore(RecordRef { kind: RecordType::Value, id: first.id })?;
    for e in admin.history(RecordRef { kind: RecordType::Value, id: first.id })? {
        println!("#{} {} by user {}", e.seq, e.data.kind(), e.actor);
    }
    let (seq, _) = store.head();
    println!("log head: {seq}; verify: {:?}", store.verify()?.events);
    Ok(())
}
