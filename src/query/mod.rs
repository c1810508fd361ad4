//! Queries over feature values (SPEC §7): a builder of Django-style lookups (`value__gt`,
//! `feature__in`, `value__key__sub`, …) shared by the Rust API and the `exec` protocol, and
//! their evaluation against the folded state. Queries never touch sled.

mod eval;
mod hosts;
mod parse;
mod top;

pub(crate) use parse::Cond;
pub use parse::{BranchSel, Op, OrderBy};

use crate::error::Error;
use crate::value::Value;

/// A query over feature values. Build it with [`Query::filter`], then run it with
/// `Session::filter`, `count`, `get_where` or `first`. A bad lookup is reported when the query
/// runs, so building never fails.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub(crate) conds: Vec<Cond>,
    pub(crate) order: OrderBy,
    pub(crate) descending: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) error: Option<Error>,
}

impl Query {
    /// A query with no filter: every value visible by default, ordered by id.
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds a lookup, e.g. `("feature", "temperature")`, `("value__gt", 30)`,
    /// `("branch", "all")`. Lookups are ANDed.
    pub fn filter(mut self, key: &str, operand: impl Into<Value>) -> Query {
        if self.error.is_none() {
            match parse::cond(key, operand.into()) {
                Ok(c) => self.conds.push(c),
                Err(e) => self.error = Some(e),
            }
        }
        self
    }

    /// Orders by `id`, `value` or `created_at`; a leading `-` means descending.
    pub fn order_by(mut self, spec: &str) -> Query {
        let (desc, field) = match spec.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, spec),
        };
        match field {
            "id" => self.order = OrderBy::Id,
            "value" => self.order = OrderBy::Value,
            "created_at" => self.order = OrderBy::CreatedAt,
            _ => {
                if self.error.is_none() {
                    self.error = Some(crate::error::err!(
                        FieldError,
                        "cannot order by '{spec}'; choose id, value or created_at, with an optional leading '-'"
                    ));
                }
                return self;
            }
        }
        self.descending = desc;
        self
    }

    /// Returns at most `n` records.
    pub fn limit(mut self, n: usize) -> Query {
        self.limit = Some(n);
        self
    }
}
