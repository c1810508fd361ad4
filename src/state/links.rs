//! Links between values and hosts (artifacts, runs), indexed both ways, with who made each.

use crate::event::Host;
use std::collections::{BTreeMap, BTreeSet};

/// Who made a link, when, and under which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMeta {
    pub by: u64,
    pub at: i64,
    pub run: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    by_value: BTreeSet<(u64, Host)>,
    by_host: BTreeMap<(Host, u64), LinkMeta>,
}

fn host_min(h: Host) -> (Host, u64) {
    (h, 0)
}

impl Links {
    pub fn contains(&self, value: u64, host: Host) -> bool {
        self.by_value.contains(&(value, host))
    }

    pub fn insert(&mut self, value: u64, host: Host, meta: LinkMeta) {
        self.by_value.insert((value, host));
        self.by_host.insert((host, value), meta);
    }

    pub fn remove(&mut self, value: u64, host: Host) {
        self.by_value.remove(&(value, host));
        self.by_host.remove(&(host, value));
    }

    pub fn hosts_of(&self, value: u64) -> impl Iterator<Item = Host> + '_ {
        self.by_value.range((value, Host::Artifact(0))..).take_while(move |(v, _)| *v == value).map(|(_, h)| *h)
    }

    pub fn values_of(&self, host: Host) -> impl Iterator<Item = u64> + '_ {
        self.by_host.range(host_min(host)..).take_while(move |((h, _), _)| *h == host).map(|((_, v), _)| *v)
    }

    /// Every link with who made it, ordered by host then value.
    pub fn all(&self) -> impl ExactSizeIterator<Item = (Host, u64, LinkMeta)> + '_ {
        self.by_host.iter().map(|((h, v), m)| (*h, *v, *m))
    }

    pub fn len(&self) -> usize {
        self.by_host.len()
    }
}
