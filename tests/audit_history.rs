//! The read side of the audit surface (SPEC §8; §9 `history`, `log`, `head`, `as_of`,
//! `snapshot`, `verify`): history of a record, log ranges, head, as-of views, subscriptions, and
//! the exec ops of all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::workload::*;
use common::Rng;
use fvstore::protocol::Exec;
use fvstore::{Error, Event, FeatureSpec, Host, RecordRef, RecordType, Store};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// history, log, head
// ---------------------------------------------------------------------------------------------

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.data.kind()).collect()
}

#[test]
fn history_shows_every_event_of_a_value() {
    let store = Store::temporary_with(options(0)).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("temperature", "float")).unwrap();
    let art = me.create_artifact("sample").unwrap().id;
    let run = me.start_run("qc").unwrap().id;
    let draft = me.create_branch("draft").unwrap().id;
    let v = me.clone().on_branch(draft).get_or_create(Some("temperature".into()), 36.6).unwrap().0.id;
    me.link(v, Host::Artifact(art)).unwrap();
    me.link(v, Host::Run(run)).unwrap();
    me.unlink(v, Host::Artifact(art)).unwrap();
    me.merge_branch(draft).unwrap();
    me.delete(vref(v), false).unwrap(); // trash
    me.restore(vref(v)).unwrap();
    me.set_branch(vref(v), 2i64).unwrap(); // lock
    me.create_space("lab").unwrap();
    me.move_space(vref(v), "lab").unwrap();
    me.unlink(v, Host::Run(run)).unwrap();
    // Noise that does not touch the value.
    let other = me.get_or_create(Some("temperature".into()), 1.5).unwrap().0.id;
    me.link(other, Host::Artifact(art)).unwrap();

    let h = me.history(vref(v)).unwrap();
    assert_eq!(
        kinds(&h),
        [
            "create",
            "link",
            "link",
            "unlink",
            "merge",
            "branch_change",
            "branch_change",
            "branch_change",
            "space_change",
            "unlink"
        ]
    );
    assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
    let log = me.log(1, u64::MAX).unwrap();
    for e in &h {
        assert_eq!(&log[usize::try_from(e.seq - 1).unwrap()], e, "history gives the log's events");
    }
    // The branch changes carry their codes: trash, restore, lock.
    let moves: Vec<_> = h
        .iter()
        .filter_map(|e| match e.data {
            fvstore::EventData::BranchChange { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(moves, [(1, -1), (-1, 1), (1, 2)]);
    // The artifact's history has its creation and both link events of `v` plus the other link.
    let ah = me.history(RecordRef { kind: RecordType::Artifact, id: art }).unwrap();
    assert_eq!(kinds(&ah), ["create", "link", "unlink", "link"]);
    // The branch's history has its creation and the merge.
    let bh = me.history(RecordRef { kind: RecordType::Branch, id: u64::try_from(draft).unwrap() }).unwrap();
    assert_eq!(kinds(&bh), ["create", "merge"]);

    // A removed value's history keeps the removal (user 1 may read it).
    me.unlink(other, Host::Artifact(art)).unwrap();
    me.delete(vref(other), true).unwrap();
    let oh = me.history(vref(other)).unwrap();
    assert_eq!(kinds(&oh), ["create", "link", "unlink", "delete"]);
}

/// The oracle of `history`: every event of the whole log that names the record, as its
/// subject, a link's host, a merged record or a grant's user.
fn touches(e: &Event, r: RecordRef) -> bool {
    e.record == r
        || match &e.data {
            fvstore::EventData::Link { host } | fvstore::EventData::Unlink { host } => {
                *host == Host::Artifact(r.id) && r.kind == RecordType::Artifact
                    || *host == Host::Run(r.id) && r.kind == RecordType::Run
            }
            fvstore::EventData::Merge { moved } => moved.contains(&r),
            fvstore::EventData::Grant { user, .. } => r.kind == RecordType::User && *user == r.id,
            _ => false,
        }
}

/// History starts its scan at the record's create event, found by its time: for every record
/// of a random workload (stamped by a clock that jumps irregularly), and for the records every
/// store begins with, it is the whole log's events that touch it.
#[test]
fn history_of_every_record_is_the_logs_events_that_touch_it() {
    let clock = Jumpy(parking_lot::Mutex::new((1_800_000_000_000_000, Rng::new(8))));
    let store = Store::temporary_with(fvstore::Options { clock: std::sync::Arc::new(clock), ..options(0) }).unwrap();
    workload(&store, 400, 23);
    let me = store.session();
    let log = me.log(1, u64::MAX).unwrap();
    let head = store.head().0;
    let mut records: Vec<RecordRef> = Vec::new();
    for (kind, n) in [
        (RecordType::Value, head),
        (RecordType::User, 4),
        (RecordType::Space, 4),
        (RecordType::Run, 4),
        (RecordType::Feature, 5),
        (RecordType::Artifact, 40),
    ] {
        records.extend((1..=n).map(|id| RecordRef { kind, id }));
    }
    records.extend((0..12).map(|id| RecordRef { kind: RecordType::Branch, id }));
    let mut found = 0;
    for r in records {
        let want: Vec<Event> = log.iter().filter(|e| touches(e, r)).cloned().collect();
        match me.history(r) {
            Ok(got) => {
                assert_eq!(got, want, "{r:?}");
                found += 1;
            }
            Err(e) => assert!(want.is_empty() && e.kind() == "DoesNotExist", "{r:?}: {e}, {} events", want.len()),
        }
    }
    assert!(found > 100, "{found}");
}

#[test]
fn log_ranges_are_inclusive() {
    let store = Store::temporary_with(options(0)).unwrap();
    workload(&store, 40, 8);
    let me = store.session();
    let head = store.head().0;
    let all = me.log(1, u64::MAX).unwrap();
    assert_eq!(all.len() as u64, head);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    assert_eq!(all.last().unwrap().hash, store.head().1);
    assert_eq!(all[0].prev, [0; 32]);
    assert!(all.windows(2).all(|w| w[1].prev == w[0].hash), "the chain links every event");
    assert!(all.windows(2).all(|w| w[1].at >= w[0].at + 1000), "1 ms apart at least");
    let seqs = |from, to| me.log(from, to).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(5, 7), [5, 6, 7]);
    assert_eq!(seqs(3, 3), [3]);
    assert_eq!(seqs(0, 2), [1, 2]);
    assert_eq!(seqs(head - 1, head + 10), [head - 1, head]);
    assert!(seqs(head + 1, head + 5).is_empty());
    assert!(seqs(7, 5).is_empty());
    assert_eq!(me.log(10, 20).unwrap(), all[9..20].to_vec());
    // The log is the instance owner's.
    let alice = store.as_user("alice").unwrap();
    assert!(matches!(alice.log(1, 5), Err(Error::PermissionDenied(_))));
}

#[test]
fn head_of_an_empty_store() {
    let tmp = tempfile::tempdir().unwrap();
    for store in [Store::temporary().unwrap(), Store::open(tmp.path()).unwrap()] {
        assert_eq!(store.head(), (0, [0; 32]));
        let v = store.verify().unwrap();
        assert_eq!((v.events, v.head), (0, (0, [0; 32])));
        assert!(store.session().log(1, u64::MAX).unwrap().is_empty());
        let exec = Exec::new(store.clone());
        let out: Json = serde_json::from_str(&exec.handle(r#"{"op":"head"}"#)).unwrap();
        assert_eq!(out, json!({"ok": {"seq": 0, "hash": "0".repeat(64)}}));
    }
}

// ---------------------------------------------------------------------------------------------
// as_of
// ---------------------------------------------------------------------------------------------

#[test]
fn as_of_answers_what_the_live_store_answered() {
    let tmp = tempfile::tempdir().unwrap();
    // Periodic snapshots, so that views start from the nearest one at or before their seq.
    let store = Store::open_with(tmp.path(), options(40)).unwrap();
    setup(&store);
    let me = store.session();
    let mut rng = Rng::new(9);
    let mut draft = None;
    let mut recorded: BTreeMap<u64, String> = BTreeMap::new();
    recorded.insert(store.head().0, answers(&store));
    for _ in 0..200 {
        random_op(&me, &mut rng, &mut draft);
        let (seq, now) = (store.head().0, answers(&store));
        if let Some(before) = recorded.get(&seq) {
            assert_eq!(before, &now, "a refused command changed what queries answer at {seq}");
        }
        recorded.insert(seq, now);
    }
    assert!(recorded.len() > 100, "the workload wrote too little: {}", recorded.len());
    for (seq, expected) in &recorded {
        let view = store.as_of(*seq).unwrap();
        assert_eq!(view.head().0, *seq);
        assert_eq!(&answers(&view), expected, "as_of({seq})");
    }
    // Views are read-only.
    let view = store.as_of(5).unwrap();
    assert!(view.session().create_artifact("nope").is_err());
    assert_eq!(store.as_of(0).unwrap().head(), (0, [0; 32]));
    assert!(store.as_of(store.head().0 + 1).is_err());
}

/// A clock that jumps forward by a random step per reading, sometimes by less than the
/// millisecond the log keeps between events, sometimes backwards.
struct Jumpy(parking_lot::Mutex<(i64, Rng)>);

impl fvstore::Clock for Jumpy {
    fn now_micros(&self) -> i64 {
        let mut g = self.0.lock();
        let step = g.1.range(0, 40_000) as i64 - 5_000;
        g.0 += step;
        g.0
    }
}

#[test]
fn seq_at_time_finds_the_last_event_at_or_before_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Jumpy(parking_lot::Mutex::new((1_800_000_000_000_000, Rng::new(5))));
    let opts = fvstore::Options { clock: std::sync::Arc::new(clock), ..options(0) };
    let store = Store::open_with(tmp.path(), opts.clone()).unwrap();
    let me = store.session();
    me.create_feature(&FeatureSpec::new("n", "int")).unwrap();
    let art = me.create_artifact("a").unwrap().id;
    // Single events and big commits (several log records each), so probes land everywhere.
    for round in 0..40i64 {
        if round % 4 == 0 {
            let values: Vec<(String, fvstore::Value)> =
                (0..700).map(|i| ("n".to_string(), fvstore::Value::Int(round * 1000 + i))).collect();
            me.add_values(Host::Artifact(art), &values).unwrap();
        } else {
            me.get_or_create(Some("n".into()), -round).unwrap();
        }
    }
    drop(me);
    drop(store);
    let store = Store::open_with(tmp.path(), opts).unwrap();
    let log = store.session().log(1, u64::MAX).unwrap();
    assert!(log.len() > 10_000, "{}", log.len());
    // The oracle: a scan of the whole log.
    let scan = |upto: u64, t: i64| log.iter().take_while(|e| e.seq <= upto && e.at <= t).last().map_or(0, |e| e.seq);
    let mut rng = Rng::new(17);
    let (first, last) = (log[0].at, log[log.len() - 1].at);
    let mut times = vec![i64::MIN, first - 1, first, last - 1, last, last + 1, i64::MAX];
    for _ in 0..300 {
        let e = &log[rng.below(log.len() as u64) as usize];
        times.extend([e.at - 1, e.at, e.at + 1, e.at + 400]);
    }
    let head = store.head().0;
    for t in &times {
        assert_eq!(store.seq_at_time(*t).unwrap(), scan(head, *t), "at {t}");
    }
    // A view answers within its own events only.
    let view = store.as_of(head / 3).unwrap();
    for t in &times {
        assert_eq!(view.seq_at_time(*t).unwrap(), scan(head / 3, *t), "view, at {t}");
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/// `n` threads each making `ops` random commands, thread `t` from seed `seed + t`.
fn writers(store: &Store, n: u64, seed: u64, ops: usize) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|t| {
            let me = store.session();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed + t);
                let mut draft = None;
                for _ in 0..ops {
                    random_op(&me, &mut rng, &mut draft);
                }
            })
        })
        .collect()
}

#[test]
fn subscription_delivers_every_event_in_order_then_live() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap(); // durable: group commit from 4 threads
    setup(&store);
    let early = store.subscribe(1).unwrap();
    let before = store.head().0;
    let threads = writers(&store, 4, 100, 60);
    // Subscribe while the writers run: the backlog and the live feed must meet exactly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.head().0 < before + 40 {
        assert!(std::time::Instant::now() < deadline, "the writers wrote too little");
        std::thread::yield_now();
    }
    let from = before + 20;
    let mid = store.subscribe(from).unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let late = store.subscribe(3).unwrap();
    let head = store.head().0;
    let log = store.session().log(1, u64::MAX).unwrap();
    assert_eq!(log.len() as u64, head);
    for (name, rx, first) in [("early", &early, 1), ("mid", &mid, from), ("late", &late, 3)] {
        let got: Vec<Event> = rx.try_iter().collect();
        let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (first..=head).collect::<Vec<_>>(), "{name}: from {first}, gapless, in order");
        assert_eq!(got, log[usize::try_from(first - 1).unwrap()..].to_vec(), "{name}: the log's events");
    }
    // And live: one more commit reaches every subscriber.
    store.session().create_artifact("live").unwrap();
    for rx in [&early, &mid, &late] {
        let e = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(e.seq, head + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// The exec ops of the audit surface
// ---------------------------------------------------------------------------------------------

/// Sends one request line; returns the parsed response.
fn send(exec: &Exec, line: &Json) -> Json {
    serde_json::from_str(&exec.handle(&line.to_string())).unwrap()
}

fn ok(exec: &Exec, line: Json) -> Json {
    let out = send(exec, &line);
    assert!(out.get("ok").is_some(), "{line} → {out}");
    out["ok"].clone()
}

fn error_kind(exec: &Exec, line: Json) -> String {
    let out = send(exec, &line);
    out["error"]["kind"].as_str().unwrap_or_else(|| panic!("{line} → {out}: expected an error")).to_string()
}

#[test]
fn exec_audit_ops() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with(tmp.path(), options(0)).unwrap();
    let exec = Exec::new(store.clone());
    ok(&exec, json!({"op":"create_feature","name":"temperature","dtype":"float"})); // 1
    ok(&exec, json!({"op":"create_user","handle":"alice"})); // 2
    let v = ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":36.6}))["record"]["id"].clone(); // 3
    ok(&exec, json!({"op":"create_artifact","key":"sample"})); // 4
    ok(&exec, json!({"op":"link","id":v,"artifact":1})); // 5
    ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":40.0})); // 6
    ok(&exec, json!({"op":"delete","id":v})); // 7: trashed
    let alice = json!({"user":"alice"});

    // head and log
    let head = ok(&exec, json!({"op":"head"}));
    assert_eq!(head, json!({"seq": 7, "hash": fvstore::codec::hex(&store.head().1)}));
    let log = ok(&exec, json!({"op":"log","from":3,"to":5}));
    let seqs: Vec<u64> = log.as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(log[2]["kind"], "link");
    assert_eq!(log[1]["hash"], log[2]["prev"]);
    assert_eq!(ok(&exec, json!({"op":"log"})).as_array().unwrap().len(), 7);
    assert_eq!(error_kind(&exec, json!({"op":"log","as":alice})), "PermissionDenied");
    assert_eq!(ok(&exec, json!({"op":"head","as":alice}))["seq"], 7, "head is open to all");

    // history
    let h = ok(&exec, json!({"op":"history","id":v}));
    let kinds: Vec<&str> = h.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["create", "link", "branch_change"]);
    assert_eq!(h[2]["data"], json!({"from": 1, "to": -1}));
    let h = ok(&exec, json!({"op":"history","record":{"type":"artifact","id":1}}));
    assert_eq!(h.as_array().unwrap().len(), 2);

    // as_of by seq
    let count = json!({"op":"count","where":{"feature":"temperature"}});
    for (seq, n) in [(0, 0), (2, 0), (3, 1), (5, 1), (6, 2), (7, 1)] {
        assert_eq!(ok(&exec, json!({"op":"as_of","seq":seq,"request":count})), json!(n), "as_of seq {seq}");
    }
    let got = ok(&exec, json!({"op":"as_of","seq":5,"request":{"op":"get","id":v}}));
    assert_eq!((got["branch_id"].clone(), got["artifact_ids"].clone()), (json!(1), json!([1])));
    let got = ok(&exec, json!({"op":"as_of","seq":4,"request":{"op":"get_values","artifact":1}}));
    assert_eq!(got, json!({}));
    let got = ok(&exec, json!({"op":"as_of","seq":5,"request":{"op":"get_values","artifact":1}}));
    assert_eq!(got, json!({"temperature": [36.6]}));
    assert_eq!(ok(&exec, json!({"op":"as_of","seq":4,"request":{"op":"head"}}))["seq"], 4);
    assert_eq!(
        error_kind(&exec, json!({"op":"as_of","seq":3,"request":{"op":"create_artifact","key":"x"}})),
        "InvalidInput",
        "as_of wraps read-only requests only"
    );
    // as_of by time: the last event at or before `at` (event n is stamped BASE + (n-1) ms).
    let events = ok(&exec, json!({"op":"log"}));
    let at = |seq: usize| events[seq - 1]["at"].as_str().unwrap().to_string();
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(3),"request":count})), json!(1));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(6),"request":count})), json!(2));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":at(6),"request":{"op":"head"}}))["seq"], 6);
    let between_3_and_4 = at(3).strip_suffix("000Z").map(|s| format!("{s}500Z")).unwrap();
    assert_eq!(ok(&exec, json!({"op":"as_of","at":between_3_and_4,"request":{"op":"head"}}))["seq"], 3);
    assert_eq!(ok(&exec, json!({"op":"as_of","at":"2000-01-01T00:00:00Z","request":count})), json!(0));
    assert_eq!(ok(&exec, json!({"op":"as_of","at":"2100-01-01T00:00:00Z","request":{"op":"head"}}))["seq"], 7);

    // snapshot: user 1 only
    assert_eq!(error_kind(&exec, json!({"op":"snapshot","as":alice})), "PermissionDenied");
    assert_eq!(ok(&exec, json!({"op":"snapshot"})), json!({"seq": 7}));
    assert!(tmp.path().join("snapshots").join(format!("snap-{:020}.bin", 7)).exists());

    // verify: open to all
    let expected = json!({"ok": true, "events": 7,
                          "head": {"seq": 7, "hash": fvstore::codec::hex(&store.head().1)},
                          "state_hash": fvstore::codec::hex(&store.state_hash())});
    assert_eq!(ok(&exec, json!({"op":"verify"})), expected);
    assert_eq!(ok(&exec, json!({"op":"verify","as":alice})), expected);
}

#[test]
// postmortem: Session::history scanned the whole log, so inside as_of it showed events after
// the view's seq; fixed in af647e0.
fn exec_as_of_history_stops_at_its_seq() {
    let store = Store::temporary_with(options(0)).unwrap();
    let exec = Exec::new(store.clone());
    ok(&exec, json!({"op":"create_feature","name":"temperature","dtype":"float"}));
    let v = ok(&exec, json!({"op":"get_or_create","feature":"temperature","value":36.6}))["record"]["id"].clone();
    ok(&exec, json!({"op":"delete","id":v}));
    ok(&exec, json!({"op":"restore","id":v}));
    let h = ok(&exec, json!({"op":"as_of","seq":2,"request":{"op":"history","id":v}}));
    let seqs: Vec<u64> = h.as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2], "the history of value {v} as of event 2");
}

/// The log's time rule saturates, as the stamping does: a clock stuck near the end of time
/// stamps every later event `i64::MAX`, and such a log still opens by a full replay (which
/// checks the rule) and is searched by time.
#[test]
fn a_log_stamped_at_the_end_of_time_still_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = fvstore::Options { clock: std::sync::Arc::new(fvstore::FixedClock(i64::MAX - 1500)), ..options(0) };
    let store = Store::open_with(tmp.path(), opts.clone()).unwrap();
    for i in 0..6 {
        store.session().get_or_create(None, i).unwrap();
    }
    drop(store);
    std::fs::remove_dir_all(tmp.path().join("snapshots")).unwrap();
    let store = Store::open_with(tmp.path(), opts).unwrap();
    assert_eq!(store.head().0, 6);
    let at: Vec<i64> = store.session().log(1, 6).unwrap().iter().map(|e| e.at).collect();
    assert_eq!(at, [i64::MAX - 1500, i64::MAX - 500, i64::MAX, i64::MAX, i64::MAX, i64::MAX]);
    assert_eq!(store.seq_at_time(i64::MAX - 1000).unwrap(), 1);
    assert_eq!(store.seq_at_time(i64::MAX - 1).unwrap(), 2);
    assert_eq!(store.seq_at_time(i64::MAX).unwrap(), 6);
}

/// A subscription reads the published part of its backlog without holding up the writer, then
/// the rest under the writer's lock: subscribing again and again while three threads commit,
/// in durable and buffered mode, every subscriber gets exactly the log's events from its seq.
#[test]
fn subscriptions_made_while_writers_run_meet_the_live_feed_exactly() {
    for durability in [fvstore::Durability::Durable, fvstore::Durability::Buffered] {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open_with(tmp.path(), fvstore::Options { durability, ..options(0) }).unwrap();
        setup(&store);
        let threads = writers(&store, 3, 200, 150);
        let mut rng = Rng::new(7);
        let mut subs = Vec::new();
        while threads.iter().any(|t| !t.is_finished()) && subs.len() < 200 {
            let from = 1 + rng.below(store.head().0 + 2);
            subs.push((from, store.subscribe(from).unwrap()));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(subs.len() > 20, "{durability:?}: only {} subscriptions while writing", subs.len());
        let log = store.session().log(1, u64::MAX).unwrap();
        let head = store.head().0;
        for (from, rx) in subs {
            let got: Vec<Event> = rx.try_iter().collect();
            let want: Vec<Event> = log.iter().filter(|e| e.seq >= from).cloned().collect();
            let gs: Vec<u64> = got.iter().map(|e| e.seq).collect();
            let ws: Vec<u64> = want.iter().map(|e| e.seq).collect();
            assert_eq!(gs, ws, "{durability:?}: from {from} of {head}");
            assert!(got == want, "{durability:?}: from {from}, not the log's events in order");
        }
    }
}

/// exec keeps its last `as_of` view: a request for the same seq reuses it, and one for a later
/// seq folds it forward when no snapshot is nearer. Whatever the order of the seqs asked, every
/// answer is the one the live store gave at that seq.
#[test]
fn exec_as_of_answers_any_order_of_seqs_as_the_live_store_did() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with(tmp.path(), options(60)).unwrap();
    setup(&store);
    let me = store.session();
    let exec = Exec::new(store.clone());
    let requests = [
        json!({"op":"filter","where":{"branch":"all"}}),
        json!({"op":"count","where":{"feature":"temperature","value__gt":5.0}}),
        json!({"op":"get_values","artifact":1}),
        json!({"op":"head"}),
    ];
    let answer = |exec: &Exec, seq: Option<u64>| -> Vec<Json> {
        let mut out = Vec::new();
        for user in ["anonymous", "alice"] {
            for r in &requests {
                let line = match seq {
                    None => json!({"op": r["op"], "as": {"user": user}}),
                    Some(seq) => json!({"op":"as_of","seq":seq,"request":{"op": r["op"]},"as":{"user":user}}),
                };
                let mut line = line;
                for (k, v) in r.as_object().unwrap() {
                    let target = if seq.is_some() { &mut line["request"] } else { &mut line };
                    target[k] = v.clone();
                }
                out.push(send(exec, &line));
            }
        }
        out
    };
    let mut rng = Rng::new(31);
    let mut draft = None;
    let mut recorded: BTreeMap<u64, Vec<Json>> = BTreeMap::new();
    recorded.insert(store.head().0, answer(&exec, None));
    for _ in 0..240 {
        random_op(&me, &mut rng, &mut draft);
        recorded.insert(store.head().0, answer(&exec, None));
    }
    let seqs: Vec<u64> = recorded.keys().copied().collect();
    assert!(seqs.len() > 90, "the workload wrote too little: {}", seqs.len());
    // Mostly small steps forward (the kept view moves on), some repeats, some jumps back.
    let mut i = 0;
    for _ in 0..300 {
        i = match rng.below(10) {
            0 => rng.below(seqs.len() as u64) as usize,
            1 | 2 => i,
            _ => (i + 1 + rng.below(3) as usize) % seqs.len(),
        };
        let seq = seqs[i];
        assert_eq!(answer(&exec, Some(seq)), recorded[&seq], "as_of {seq}");
    }
}
