//! The disk's own cost of what a durable W4 call asks of it: appending a call's worth of
//! bytes to a file and `fdatasync`ing it, with no engine in between. Measured just before W4,
//! so that each run's W4 figure comes with the disk's mood at that moment.

use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes a 1,000-value durable `add_values` call has sled write (≈ 135 KB, `strace` in
/// BENCHMARKS, Stop 16).
pub const CALL_BYTES: usize = 135 * 1024;

/// Appends `CALL_BYTES` and syncs, again and again for `window`, to a new file in `dir`;
/// returns the count and the median and 90th percentile latency in ms.
pub fn append_sync(dir: &Path, window: Duration) -> serde_json::Value {
    let path = dir.join("disk-probe");
    let mut file = std::fs::File::create(&path).expect("create the probe file");
    // Not zeros: a filesystem or a virtual disk may treat zero blocks specially.
    let block: Vec<u8> = (0..CALL_BYTES).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed() < window {
        let t = Instant::now();
        file.write_all(&block).expect("append");
        file.sync_data().expect("fdatasync");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied();
    json!({
        "bytes": CALL_BYTES,
        "calls": lat.len(),
        "median_ms": at(0.5),
        "p90_ms": at(0.9),
    })
}
