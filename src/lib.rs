//! fvstore: an embedded, event-sourced storage engine for LaminDB-style feature values.
//!
//! Every mutation is an event appended to a log in sled and folded into in-memory indexes;
//! `get_or_create` deduplicates values by their blake3 content hash. See `ARCHITECTURE.md` for
//! the map of the code and `../docs` for the format and semantics.
//!
//! ```
//! use fvstore::{FeatureSpec, Host, Query, Store, Value};
//!
//! let store = Store::temporary()?;
//! let me = store.session();
//! me.create_feature(&FeatureSpec::new("temperature", "float"))?;
//! let (rec, existed) = me.get_or_create(Some("temperature".into()), 36.6)?;
//! assert!(!existed);
//! let (again, existed) = me.get_or_create(Some("temperature".into()), 36.6)?;
//! assert!(existed && again.id == rec.id);
//!
//! let sample = me.create_artifact("data/sample.h5ad")?;
//! me.add_values(Host::Artifact(sample.id), &[("temperature".into(), Value::Float(37.5))])?;
//! let warm = me.filter(&Query::new().filter("feature", "temperature").filter("value__gt", 37))?;
//! assert_eq!(warm.len(), 1);
//! # Ok::<(), fvstore::Error>(())
//! ```

#![forbid(unsafe_code)]

mod audit;
mod clock;
pub mod codec;
mod command;
mod draft;
mod error;
mod event;
mod log;
mod permissions;
pub mod protocol;
mod query;
mod replay;
mod snapshot;
mod state;
mod stats;
mod store;
mod value;
mod views;
mod writer;

pub use audit::{import_jsonl, Verification};
pub use clock::{Clock, FixedClock, SystemClock};
pub use command::{Answer, Command, FeatureSpec, Outcome, Record, Ref, Session};
pub use error::{Error, Result};
pub use event::{Batch, Event, EventData, Host, RecordRef, RecordType, Role};
pub use log::Durability;
pub use query::{BranchSel, Op, OrderBy, Query};
pub use state::{Artifact, Branch, BranchStatus, Feature, Grant, Run, Space, User, ValueRecord};
pub use stats::Stats;
pub use store::{Context, Options, Store};
pub use value::{value_from_json, value_to_json, Dtype, Limits, ParseHashError, Value, ValueHash};
