//! A closed store's sled log opened directly, to tamper with or inspect its records.
//!
//! sled's background threads hold the data file's lock for a moment after the last handle
//! drops, so an open right after another one failed now and then under load ("could not
//! acquire lock"). The engine waits for that release itself (`log.rs`, `LockRelease`); these
//! handles do the same, opening with retries and waiting on drop until the lock is free.

use std::fs::{File, TryLockError};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(5);

pub struct RawLog {
    db: Option<sled::Db>,
    file: PathBuf,
}

/// Opens `dir/log` with sled, retrying while an earlier handle's threads still hold it.
pub fn raw_log(dir: &Path) -> RawLog {
    let path = dir.join("log");
    let deadline = Instant::now() + PATIENCE;
    loop {
        match sled::open(&path) {
            Ok(db) => return RawLog { db: Some(db), file: path.join("db") },
            Err(e) if e.to_string().contains("could not acquire lock") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("open {}: {e}", path.display()),
        }
    }
}

impl Deref for RawLog {
    type Target = sled::Db;

    fn deref(&self) -> &sled::Db {
        self.db.as_ref().expect("open until dropped")
    }
}

impl Drop for RawLog {
    fn drop(&mut self) {
        drop(self.db.take());
        let Ok(file) = File::open(&self.file) else { return };
        let deadline = Instant::now() + PATIENCE;
        // Taking the lock ourselves proves sled let go; closing the file releases it again.
        while let Err(TryLockError::WouldBlock) = file.try_lock() {
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
