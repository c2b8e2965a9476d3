//! The per-client-shard watch table (digest §12).
//!
//! Ownership: one `WatchTable` per client shard, owned by that shard's core
//! and touched only by it. Watches are per **connection** (a re-attach from
//! another socket starts empty, digest §12.6), and a connection lives on one
//! shard, so no table is ever shared. The shard feeds every [`WatchEvent`] of
//! the commit stream to [`WatchTable::trigger`] in zxid order before it
//! answers anything computed from the new tree version (digest §12.5).
//!
//! Registrations, by kind (3.9 semantics: kinds coexist on one path for one
//! connection, ZOOKEEPER-4466):
//! - data: one-shot, from getData / exists on an existing node, and the
//!   "exist" watch from exists on a missing node (ZK keeps both in one table);
//! - child: one-shot, from getChildren(2);
//! - persistent / recursive: from addWatch, never consumed by firing.
//!
//! Routing ([`WatchTable::trigger`], digest §12.2), each connection notified
//! at most once per event:
//!
//! | event                  | data of P | child of P | persistent of P | recursive of P and ancestors |
//! |------------------------|-----------|------------|-----------------|------------------------------|
//! | NodeCreated(P)         | consume   |            | yes             | yes                          |
//! | NodeDataChanged(P)     | consume   |            | yes             | yes                          |
//! | NodeDeleted(P)         | consume   | consume    | yes             | yes                          |
//! | NodeChildrenChanged(P) |           | consume    | yes             | never                        |
//!
//! A one-shot watch is consumed when its event fires even if the caller then
//! drops the delivery for lack of READ permission (3.9.2+ filtering happens
//! per connection in the caller, with the event's ACL).
//!
//! Counting for the 4-letter words follows ZK's two internal tables: the
//! "data" table holds data, exist, persistent and recursive registrations,
//! the "child" table child and persistent ones, each (path, connection) pair
//! once. `wchs` / `wchc` / `wchp` show the data table only (digest §16.2);
//! `zk_watch_count` is the size of both.

use crate::proto::{
    ErrorCode, EventType, SetWatches, WatcherEvent, WatcherType, STATE_SYNC_CONNECTED,
};
use crate::tree::{DataTree, WatchEvent};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A watch a successful (or, for exists, NoNode) read asks to register.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WatchRegistration {
    /// getData, or exists on an existing node.
    Data(String),
    /// exists on a missing node (lives in the data table, fires on create).
    Exist(String),
    /// getChildren / getChildren2.
    Child(String),
}

/// A connection's id within its shard.
pub type ConnId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Data,
    Child,
    Persistent,
    Recursive,
}

const ALL_KINDS: [Kind; 4] = [Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive];

/// One connection's registrations (reverse index, so closing a connection
/// costs O(its watches), not O(all watches)).
#[derive(Clone, Debug, Default)]
struct ConnWatches {
    by_kind: [HashSet<String>; 4],
}

impl ConnWatches {
    fn is_empty(&self) -> bool {
        self.by_kind.iter().all(HashSet::is_empty)
    }
}

/// `wchs` numbers.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Connections with at least one data-table watch.
    pub connections: usize,
    /// Distinct watched paths in the data table.
    pub paths: usize,
    /// (path, connection) pairs in the data table.
    pub total: usize,
}

/// The watch table of one client shard. See the module docs.
/// Owned by one shard executor.
#[derive(Clone, Debug, Default)]
pub struct WatchTable {
    /// Path -> connections, one map per [`Kind`] (indexed by `Kind as usize`).
    tables: [HashMap<String, BTreeSet<ConnId>>; 4],
    conns: HashMap<ConnId, ConnWatches>,
}

impl WatchTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a one-shot watch from a read.
    pub fn add(&mut self, conn: ConnId, reg: &WatchRegistration) {
        match reg {
            WatchRegistration::Data(p) | WatchRegistration::Exist(p) => {
                self.insert(Kind::Data, conn, p)
            }
            WatchRegistration::Child(p) => self.insert(Kind::Child, conn, p),
        }
    }

    /// addWatch (mode 0 persistent, mode 1 recursive). Adding one mode keeps
    /// any other mode already on the path (3.9; 3.8 replaced it).
    pub fn add_persistent(&mut self, conn: ConnId, path: &str, recursive: bool) {
        let kind = if recursive {
            Kind::Recursive
        } else {
            Kind::Persistent
        };
        self.insert(kind, conn, path);
    }

    /// Routes one event (see the module table), consuming the one-shot
    /// watches it fires, and calls `deliver` once per connection hit, in
    /// ascending connection order. Returns the number of connections hit.
    pub fn trigger(
        &mut self,
        ev: &WatchEvent,
        mut deliver: impl FnMut(ConnId, &WatchEvent),
    ) -> usize {
        let path: &str = &ev.path;
        let mut hit = BTreeSet::new();
        match ev.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                hit.extend(self.take_all(Kind::Data, path));
                self.collect_recursive(path, &mut hit);
            }
            EventType::NodeDeleted => {
                hit.extend(self.take_all(Kind::Data, path));
                hit.extend(self.take_all(Kind::Child, path));
                self.collect_recursive(path, &mut hit);
            }
            EventType::NodeChildrenChanged => {
                hit.extend(self.take_all(Kind::Child, path));
            }
        }
        if let Some(conns) = self.tables[Kind::Persistent as usize].get(path) {
            hit.extend(conns.iter().copied());
        }
        for &conn in &hit {
            deliver(conn, ev);
        }
        hit.len()
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(cw) = self.conns.remove(&conn) else {
            return;
        };
        for kind in ALL_KINDS {
            for path in &cw.by_kind[kind as usize] {
                remove_from(&mut self.tables[kind as usize], path, conn);
            }
        }
    }

    /// checkWatches (`remove == false`) and removeWatches (`remove == true`)
    /// with the 3.9 matching of digest §12.7. NoWatcher when nothing matches.
    pub fn check_or_remove(
        &mut self,
        conn: ConnId,
        path: &str,
        watcher_type: WatcherType,
        remove: bool,
    ) -> Result<(), ErrorCode> {
        let kinds: &[Kind] = match watcher_type {
            WatcherType::Children => &[Kind::Child],
            WatcherType::Data => &[Kind::Data],
            WatcherType::Persistent => &[Kind::Persistent],
            WatcherType::PersistentRecursive => &[Kind::Recursive],
            WatcherType::Any => &ALL_KINDS,
        };
        let found: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|&k| self.has(k, conn, path))
            .collect();
        if found.is_empty() {
            return Err(ErrorCode::NoWatcher);
        }
        if remove {
            for kind in found {
                self.remove(kind, conn, path);
            }
        }
        Ok(())
    }

    /// SetWatches / SetWatches2 replay (digest §12.6). Registers what is
    /// still current and appends the events the client missed to `out`, in
    /// list order (data, exist, child); they are sent before the reply and
    /// are not ACL-filtered.
    pub fn set_watches(
        &mut self,
        conn: ConnId,
        tree: &DataTree,
        sw: &SetWatches,
        out: &mut Vec<WatcherEvent>,
    ) {
        let rel = sw.relative_zxid;
        let event = |event_type, path: &str| WatcherEvent {
            event_type,
            state: STATE_SYNC_CONNECTED,
            path: path.to_owned(),
        };
        for path in &sw.data {
            match tree.nodes.get(path.as_str()) {
                None => out.push(event(EventType::NodeDeleted, path)),
                Some(n) if n.mzxid > rel => out.push(event(EventType::NodeDataChanged, path)),
                Some(_) => self.insert(Kind::Data, conn, path),
            }
        }
        for path in &sw.exist {
            match tree.nodes.get(path.as_str()) {
                None => self.insert(Kind::Data, conn, path),
                Some(_) => out.push(event(EventType::NodeCreated, path)),
            }
        }
        for path in &sw.child {
            match tree.nodes.get(path.as_str()) {
                None => out.push(event(EventType::NodeDeleted, path)),
                Some(n) if n.pzxid > rel => out.push(event(EventType::NodeChildrenChanged, path)),
                Some(_) => self.insert(Kind::Child, conn, path),
            }
        }
        for path in &sw.persistent {
            self.insert(Kind::Persistent, conn, path);
        }
        for path in &sw.persistent_recursive {
            self.insert(Kind::Recursive, conn, path);
        }
    }

    /// True if the connection holds any watch.
    pub fn has_watches(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// `wchp`: path -> connections, data table only.
    pub fn data_watches_by_path(&self) -> BTreeMap<String, BTreeSet<ConnId>> {
        self.view(&[Kind::Data, Kind::Persistent, Kind::Recursive])
    }

    /// `wchc`: connection -> paths, data table only.
    pub fn data_watches_by_conn(&self) -> BTreeMap<ConnId, BTreeSet<String>> {
        let mut out: BTreeMap<ConnId, BTreeSet<String>> = BTreeMap::new();
        for (path, conns) in self.data_watches_by_path() {
            for conn in conns {
                out.entry(conn).or_default().insert(path.clone());
            }
        }
        out
    }

    /// `wchs`: connections, paths and total of the data table.
    pub fn data_watch_summary(&self) -> WatchSummary {
        let by_path = self.data_watches_by_path();
        let conns: BTreeSet<ConnId> = by_path.values().flatten().copied().collect();
        WatchSummary {
            connections: conns.len(),
            paths: by_path.len(),
            total: by_path.values().map(BTreeSet::len).sum(),
        }
    }

    /// `zk_watch_count`: data-table plus child-table pairs.
    pub fn watch_count(&self) -> usize {
        let child: usize = self
            .view(&[Kind::Child, Kind::Persistent])
            .values()
            .map(BTreeSet::len)
            .sum();
        self.data_watch_summary().total + child
    }

    fn view(&self, kinds: &[Kind]) -> BTreeMap<String, BTreeSet<ConnId>> {
        let mut out: BTreeMap<String, BTreeSet<ConnId>> = BTreeMap::new();
        for &kind in kinds {
            for (path, conns) in &self.tables[kind as usize] {
                out.entry(path.clone())
                    .or_default()
                    .extend(conns.iter().copied());
            }
        }
        out
    }

    fn insert(&mut self, kind: Kind, conn: ConnId, path: &str) {
        self.tables[kind as usize]
            .entry(path.to_owned())
            .or_default()
            .insert(conn);
        self.conns.entry(conn).or_default().by_kind[kind as usize].insert(path.to_owned());
    }

    fn has(&self, kind: Kind, conn: ConnId, path: &str) -> bool {
        self.tables[kind as usize]
            .get(path)
            .is_some_and(|c| c.contains(&conn))
    }

    fn remove(&mut self, kind: Kind, conn: ConnId, path: &str) {
        remove_from(&mut self.tables[kind as usize], path, conn);
        self.forget(conn, kind, path);
    }

    /// Removes every registration of `kind` on `path` (a one-shot firing).
    fn take_all(&mut self, kind: Kind, path: &str) -> BTreeSet<ConnId> {
        let conns = self.tables[kind as usize].remove(path).unwrap_or_default();
        for &conn in &conns {
            self.forget(conn, kind, path);
        }
        conns
    }

    fn forget(&mut self, conn: ConnId, kind: Kind, path: &str) {
        if let Some(cw) = self.conns.get_mut(&conn) {
            cw.by_kind[kind as usize].remove(path);
            if cw.is_empty() {
                self.conns.remove(&conn);
            }
        }
    }

    /// Recursive watchers of `path` and each ancestor: O(depth) lookups.
    fn collect_recursive(&self, path: &str, hit: &mut BTreeSet<ConnId>) {
        let table = &self.tables[Kind::Recursive as usize];
        if table.is_empty() {
            return;
        }
        let mut p = path;
        loop {
            if let Some(conns) = table.get(p) {
                hit.extend(conns.iter().copied());
            }
            match parent(p) {
                Some(up) => p = up,
                None => break,
            }
        }
    }

    /// Checks the forward tables against the reverse index (tests).
    #[cfg(test)]
    fn assert_consistent(&self) {
        let mut pairs = 0;
        for kind in ALL_KINDS {
            for (path, conns) in &self.tables[kind as usize] {
                assert!(!conns.is_empty(), "empty entry left for {path}");
                for c in conns {
                    assert!(self.conns[c].by_kind[kind as usize].contains(path));
                    pairs += 1;
                }
            }
        }
        let reverse: usize = self
            .conns
            .values()
            .flat_map(|c| c.by_kind.iter())
            .map(HashSet::len)
            .sum();
        assert_eq!(pairs, reverse);
        assert!(self.conns.values().all(|c| !c.is_empty()));
    }
}

fn remove_from(table: &mut HashMap<String, BTreeSet<ConnId>>, path: &str, conn: ConnId) {
    if let Some(conns) = table.get_mut(path) {
        conns.remove(&conn);
        if conns.is_empty() {
            table.remove(path);
        }
    }
}

/// `/a/b` -> `/a`, `/a` -> `/`, `/` -> none (and anything without a `/`).
fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        _ if path == "/" => None,
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Acl;
    use crate::tree::fixture::{fresh, insert, node};
    use std::sync::Arc;

    fn ev(t: EventType, p: &str) -> WatchEvent {
        WatchEvent {
            event_type: t,
            path: Arc::from(p),
            acl: Arc::new(Acl::open_unsafe()),
        }
    }

    fn fire(w: &mut WatchTable, t: EventType, p: &str) -> Vec<ConnId> {
        let mut got = Vec::new();
        w.trigger(&ev(t, p), |c, e| {
            assert_eq!(&*e.path, p);
            got.push(c);
        });
        w.assert_consistent();
        got
    }

    use EventType::*;

    #[test]
    fn exist_watch_on_missing_node_fires_once_on_create() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Exist("/x".into()));
        assert!(fire(&mut w, NodeChildrenChanged, "/x").is_empty());
        assert_eq!(fire(&mut w, NodeCreated, "/x"), vec![1]);
        assert!(fire(&mut w, NodeDataChanged, "/x").is_empty());
        assert!(!w.has_watches(1));
    }

    #[test]
    fn one_shot_routing() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Data("/a".into()));
        w.add(2, &WatchRegistration::Child("/a".into()));
        // Data changes do not reach child watches and vice versa.
        assert_eq!(fire(&mut w, NodeDataChanged, "/a"), vec![1]);
        assert!(fire(&mut w, NodeDataChanged, "/a").is_empty());
        assert!(fire(&mut w, NodeCreated, "/a").is_empty());
        assert_eq!(fire(&mut w, NodeChildrenChanged, "/a"), vec![2]);
        assert!(fire(&mut w, NodeChildrenChanged, "/a").is_empty());
        // A different path is not hit.
        w.add(3, &WatchRegistration::Data("/a/b".into()));
        assert!(fire(&mut w, NodeDataChanged, "/a").is_empty());
        assert_eq!(fire(&mut w, NodeDeleted, "/a/b"), vec![3]);
    }

    #[test]
    fn delete_dedups_data_and_child_watch_and_consumes_both() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Data("/d".into()));
        w.add(1, &WatchRegistration::Child("/d".into()));
        w.add(2, &WatchRegistration::Child("/d".into()));
        w.add_persistent(1, "/d", false);
        w.add_persistent(1, "/", true);
        assert_eq!(fire(&mut w, NodeDeleted, "/d"), vec![1, 2]);
        assert_eq!(
            w.check_or_remove(1, "/d", WatcherType::Data, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(1, "/d", WatcherType::Children, false),
            Err(ErrorCode::NoWatcher)
        );
    }

    #[test]
    fn persistent_survives_delete_and_sees_children() {
        let mut w = WatchTable::new();
        w.add_persistent(5, "/p", false);
        assert_eq!(fire(&mut w, NodeCreated, "/p"), vec![5]);
        assert_eq!(fire(&mut w, NodeDataChanged, "/p"), vec![5]);
        assert_eq!(fire(&mut w, NodeChildrenChanged, "/p"), vec![5]);
        assert_eq!(fire(&mut w, NodeDeleted, "/p"), vec![5]);
        assert_eq!(fire(&mut w, NodeCreated, "/p"), vec![5]);
        // Not recursive: events on a child are not seen (its parent's
        // NodeChildrenChanged is what a persistent watcher gets).
        assert!(fire(&mut w, NodeCreated, "/p/c").is_empty());
        assert!(fire(&mut w, NodeDataChanged, "/p/c").is_empty());
    }

    #[test]
    fn recursive_sees_subtree_never_children_changed() {
        let mut w = WatchTable::new();
        w.add_persistent(1, "/r", true);
        w.add_persistent(1, "/r/a", true);
        w.add_persistent(2, "/", true);
        assert_eq!(fire(&mut w, NodeCreated, "/r/a/b"), vec![1, 2]);
        assert_eq!(fire(&mut w, NodeDataChanged, "/r"), vec![1, 2]);
        assert_eq!(fire(&mut w, NodeDeleted, "/r/a/b"), vec![1, 2]);
        assert!(fire(&mut w, NodeChildrenChanged, "/r").is_empty());
        assert!(fire(&mut w, NodeChildrenChanged, "/r/a").is_empty());
        // Root recursive watch sees /zookeeper too; /rx is not under /r.
        assert_eq!(fire(&mut w, NodeDataChanged, "/zookeeper/config"), vec![2]);
        assert_eq!(fire(&mut w, NodeCreated, "/rx"), vec![2]);
        assert_eq!(fire(&mut w, NodeDeleted, "/r"), vec![1, 2]);
        assert_eq!(fire(&mut w, NodeCreated, "/r"), vec![1, 2]);
    }

    #[test]
    fn modes_coexist_on_one_path() {
        let mut w = WatchTable::new();
        w.add_persistent(1, "/w", true);
        w.add_persistent(1, "/w", false);
        w.add(1, &WatchRegistration::Data("/w".into()));
        // Persistent keeps NodeChildrenChanged, recursive keeps descendants.
        assert_eq!(fire(&mut w, NodeChildrenChanged, "/w"), vec![1]);
        assert_eq!(fire(&mut w, NodeCreated, "/w/c1"), vec![1]);
        assert_eq!(fire(&mut w, NodeDataChanged, "/w"), vec![1]);
        assert_eq!(
            w.check_or_remove(1, "/w", WatcherType::Data, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(1, "/w", WatcherType::Persistent, false),
            Ok(())
        );
        assert_eq!(
            w.check_or_remove(1, "/w", WatcherType::PersistentRecursive, false),
            Ok(())
        );
    }

    #[test]
    fn check_and_remove_watches_3_9_rules() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Exist("/e".into()));
        w.add(1, &WatchRegistration::Child("/c".into()));
        w.add_persistent(1, "/p", false);
        w.add_persistent(1, "/r", true);
        use WatcherType::*;
        // Data matches exist watches, never persistent ones (3.9).
        assert_eq!(w.check_or_remove(1, "/e", Data, false), Ok(()));
        assert_eq!(
            w.check_or_remove(1, "/p", Data, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(1, "/r", Persistent, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(1, "/p", PersistentRecursive, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(1, "/c", Data, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(w.check_or_remove(1, "/c", Children, false), Ok(()));
        assert_eq!(
            w.check_or_remove(2, "/c", Children, false),
            Err(ErrorCode::NoWatcher)
        );
        // Any matches everything; remove really removes.
        for p in ["/e", "/c", "/p", "/r"] {
            assert_eq!(w.check_or_remove(1, p, Any, false), Ok(()));
        }
        assert_eq!(w.check_or_remove(1, "/p", Persistent, true), Ok(()));
        assert_eq!(
            w.check_or_remove(1, "/p", Any, false),
            Err(ErrorCode::NoWatcher)
        );
        assert!(fire(&mut w, NodeChildrenChanged, "/p").is_empty());
        assert_eq!(w.check_or_remove(1, "/e", Any, true), Ok(()));
        assert!(fire(&mut w, NodeCreated, "/e").is_empty());
        w.add_persistent(1, "/m", true);
        w.add_persistent(1, "/m", false);
        w.add(1, &WatchRegistration::Child("/m".into()));
        assert_eq!(w.check_or_remove(1, "/m", Any, true), Ok(()));
        assert_eq!(
            w.check_or_remove(1, "/m", Any, false),
            Err(ErrorCode::NoWatcher)
        );
        w.assert_consistent();
    }

    #[test]
    fn remove_connection_drops_everything() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Data("/a".into()));
        w.add(2, &WatchRegistration::Data("/a".into()));
        w.add_persistent(1, "/", true);
        w.remove_connection(1);
        w.assert_consistent();
        assert_eq!(fire(&mut w, NodeDataChanged, "/a"), vec![2]);
        assert!(!w.has_watches(1));
        w.remove_connection(42); // unknown: no-op
    }

    #[test]
    fn set_watches_replay_of_observed_example() {
        // Observed: relativeZxid 1 gave NodeDataChanged /sw, NodeDeleted
        // /gone, NodeCreated /sw/c, NodeChildrenChanged /sw.
        let mut t = fresh();
        insert(&mut t, "/sw", node(Some(b"v2"), Acl::open_unsafe(), 1));
        insert(&mut t, "/sw/c", node(None, Acl::open_unsafe(), 3));
        let mut sw_node = (**t.nodes.get("/sw").unwrap()).clone();
        sw_node.mzxid = 2;
        sw_node.pzxid = 3;
        t.nodes.insert(Arc::from("/sw"), Arc::new(sw_node));
        insert(&mut t, "/old", node(None, Acl::open_unsafe(), 1));
        let sw = SetWatches {
            relative_zxid: 1,
            data: vec!["/sw".into(), "/gone".into(), "/old".into()],
            exist: vec!["/sw/c".into(), "/later".into()],
            child: vec!["/sw".into(), "/old".into()],
            persistent: vec!["/pp".into()],
            persistent_recursive: vec!["/rr".into()],
        };
        let mut w = WatchTable::new();
        let mut out = Vec::new();
        w.set_watches(9, &t, &sw, &mut out);
        let got: Vec<(EventType, &str)> = out
            .iter()
            .map(|e| (e.event_type, e.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (NodeDataChanged, "/sw"),
                (NodeDeleted, "/gone"),
                (NodeCreated, "/sw/c"),
                (NodeChildrenChanged, "/sw")
            ]
        );
        assert!(out.iter().all(|e| e.state == STATE_SYNC_CONNECTED));
        // What was current got registered; what fired did not.
        assert_eq!(
            w.check_or_remove(9, "/old", WatcherType::Data, false),
            Ok(())
        );
        assert_eq!(
            w.check_or_remove(9, "/old", WatcherType::Children, false),
            Ok(())
        );
        assert_eq!(
            w.check_or_remove(9, "/later", WatcherType::Data, false),
            Ok(())
        );
        assert_eq!(
            w.check_or_remove(9, "/sw", WatcherType::Any, false),
            Err(ErrorCode::NoWatcher)
        );
        assert_eq!(
            w.check_or_remove(9, "/pp", WatcherType::Persistent, false),
            Ok(())
        );
        assert_eq!(
            w.check_or_remove(9, "/rr", WatcherType::PersistentRecursive, false),
            Ok(())
        );
        w.assert_consistent();
    }

    #[test]
    fn four_letter_word_counts() {
        let mut w = WatchTable::new();
        w.add(1, &WatchRegistration::Data("/a".into()));
        w.add(1, &WatchRegistration::Child("/a".into()));
        w.add(2, &WatchRegistration::Exist("/b".into()));
        w.add(2, &WatchRegistration::Child("/c".into()));
        w.add_persistent(3, "/p", false);
        w.add_persistent(3, "/r", true);
        w.add_persistent(1, "/a", false); // same (path, conn) as the data watch
                                          // Data table: (/a,1) (/b,2) (/p,3) (/r,3).
        assert_eq!(
            w.data_watch_summary(),
            WatchSummary {
                connections: 3,
                paths: 4,
                total: 4
            }
        );
        let by_conn = w.data_watches_by_conn();
        assert_eq!(by_conn[&1].iter().collect::<Vec<_>>(), vec!["/a"]);
        assert_eq!(by_conn[&3].len(), 2);
        assert!(!w.data_watches_by_path().contains_key("/c"));
        // Child table: (/a,1) (/c,2) (/p,3). Total 4 + 3.
        assert_eq!(w.watch_count(), 7);
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(parent(""), None);
    }
}
