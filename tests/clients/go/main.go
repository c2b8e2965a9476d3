// gozk-check: exercise a ZooKeeper server with go-zookeeper (Debian's
// golang-github-samuel-go-zookeeper-dev) and print one line per check.
//
// Usage: gozk-check HOST:PORT
// Exit 0 only if every check passed. Every wait is bounded (a watchdog ends
// the whole run after 120 s).
package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

const (
	base        = "/gozk-check"
	eventWait   = 10 * time.Second
	sessionWait = 15 * time.Second
)

var (
	addr   string
	passed int
	failed int
)

// recorder keeps every watch event a session receives (the library also
// delivers them on the session's event channel), to count duplicates.
type recorder struct {
	mu     sync.Mutex
	events []zk.Event
}

func (r *recorder) count(typ zk.EventType, path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Type == typ && ev.Path == path {
			n++
		}
	}
	return n
}

var recorders = map[*zk.Conn]*recorder{}

func ok(name string) {
	passed++
	fmt.Printf("  ok   %s\n", name)
}

func bad(name string, format string, a ...interface{}) {
	failed++
	fmt.Printf("  FAIL %s: %s\n", name, fmt.Sprintf(format, a...))
}

// check reports name as passed when err is nil, else as failed with err.
func check(name string, err error) bool {
	if err != nil {
		bad(name, "%v", err)
		return false
	}
	ok(name)
	return true
}

// expectErr reports name as passed when err is want.
func expectErr(name string, err, want error) {
	if err == want {
		ok(name)
	} else {
		bad(name, "wanted error %q, got %v", want, err)
	}
}

// connect opens a session and waits (bounded) until it is established.
func connect(name string) (*zk.Conn, error) {
	conn, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return nil, err
	}
	deadline := time.After(sessionWait)
	for {
		select {
		case ev, open := <-events:
			if !open {
				return nil, fmt.Errorf("%s: event channel closed before a session was established", name)
			}
			if ev.State == zk.StateHasSession {
				// Keep draining events (the library drops them when nobody
				// reads) and record the watch events.
				rec := &recorder{}
				recorders[conn] = rec
				go func() {
					for ev := range events {
						if ev.Type != zk.EventSession {
							rec.mu.Lock()
							rec.events = append(rec.events, ev)
							rec.mu.Unlock()
						}
					}
				}()
				return conn, nil
			}
		case <-deadline:
			conn.Close()
			return nil, fmt.Errorf("%s: no session within %v", name, sessionWait)
		}
	}
}

// waitEvent waits (bounded) for one event on a watch channel and checks its type and path.
func waitEvent(name string, ch <-chan zk.Event, typ zk.EventType, path string) {
	select {
	case ev, open := <-ch:
		if !open {
			bad(name, "watch channel closed without an event")
		} else if ev.Err != nil {
			bad(name, "watch error %v", ev.Err)
		} else if ev.Type != typ || ev.Path != path {
			bad(name, "wanted %v on %s, got %v on %s", typ, path, ev.Type, ev.Path)
		} else {
			ok(name)
		}
	case <-time.After(eventWait):
		bad(name, "no %v on %s within %v", typ, path, eventWait)
	}
}

// deleteTree removes path and everything below it (leftovers of an earlier run).
func deleteTree(c *zk.Conn, path string) error {
	children, _, err := c.Children(path)
	if err == zk.ErrNoNode {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ch := range children {
		if err := deleteTree(c, path+"/"+ch); err != nil {
			return err
		}
	}
	err = c.Delete(path, -1)
	if err == zk.ErrNoNode {
		return nil
	}
	return err
}

var seqName = regexp.MustCompile(`^` + base + `/seq-(\d{10})$`)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gozk-check HOST:PORT")
		os.Exit(2)
	}
	addr = os.Args[1]
	watchdog := time.AfterFunc(120*time.Second, func() {
		fmt.Printf("  FAIL watchdog: the run did not finish within 120s\n")
		fmt.Printf("go-zookeeper: %d passed, %d failed\n", passed, failed+1)
		os.Exit(1)
	})
	defer watchdog.Stop()
	fmt.Printf("go-zookeeper checks against %s\n", addr)

	a, err := connect("session A")
	if !check("connect (session A)", err) {
		finish()
	}
	defer a.Close()
	b, err := connect("session B")
	if !check("connect (session B)", err) {
		finish()
	}
	defer b.Close()
	if a.SessionID() != 0 && a.SessionID() != b.SessionID() {
		ok("two sessions with distinct ids")
	} else {
		bad("two sessions with distinct ids", "A=%#x B=%#x", a.SessionID(), b.SessionID())
	}
	if err := deleteTree(a, base); err != nil {
		bad("clean up an earlier run", "%v", err)
	}
	open := zk.WorldACL(zk.PermAll)

	// ---- create ------------------------------------------------------------
	p, err := a.Create(base, []byte("root-data"), 0, open)
	if err == nil && p == base {
		ok("create persistent with data")
	} else {
		bad("create persistent with data", "path %q, err %v", p, err)
	}
	_, err = a.Create(base, nil, 0, open)
	expectErr("create existing -> ErrNodeExists", err, zk.ErrNodeExists)
	_, err = a.Create(base+"/no/parent", nil, 0, open)
	expectErr("create without parent -> ErrNoNode", err, zk.ErrNoNode)
	data, st, err := a.Get(base)
	if err == nil && string(data) == "root-data" && st.Version == 0 && st.DataLength == 9 && st.EphemeralOwner == 0 {
		ok("get data and stat")
	} else {
		bad("get data and stat", "data %q stat %+v err %v", data, st, err)
	}

	eph := base + "/eph"
	p, err = a.Create(eph, []byte("e"), zk.FlagEphemeral, open)
	if err == nil && p == eph {
		_, st, err = b.Exists(eph)
		if err == nil && st.EphemeralOwner == a.SessionID() {
			ok("create ephemeral (owner is session A, seen from B)")
		} else {
			bad("create ephemeral", "stat %+v err %v (session A %#x)", st, err, a.SessionID())
		}
	} else {
		bad("create ephemeral", "path %q, err %v", p, err)
	}
	_, err = a.Create(eph+"/child", nil, 0, open)
	expectErr("child of an ephemeral -> ErrNoChildrenForEphemerals", err, zk.ErrNoChildrenForEphemerals)

	s1, err1 := a.Create(base+"/seq-", []byte("1"), zk.FlagSequence, open)
	s2, err2 := a.Create(base+"/seq-", []byte("2"), zk.FlagSequence, open)
	m1, m2 := seqName.FindStringSubmatch(s1), seqName.FindStringSubmatch(s2)
	if err1 == nil && err2 == nil && m1 != nil && m2 != nil && m1[1] < m2[1] {
		ok(fmt.Sprintf("create sequential (%s, %s)", s1[len(base)+1:], s2[len(base)+1:]))
	} else {
		bad("create sequential", "%q %v, %q %v", s1, err1, s2, err2)
	}
	es, err := a.Create(base+"/eseq-", nil, zk.FlagEphemeral|zk.FlagSequence, open)
	if err == nil && regexp.MustCompile(`/eseq-\d{10}$`).MatchString(es) {
		_, st, err = a.Exists(es)
		if err == nil && st.EphemeralOwner == a.SessionID() {
			ok("create ephemeral sequential")
		} else {
			bad("create ephemeral sequential", "stat %+v err %v", st, err)
		}
	} else {
		bad("create ephemeral sequential", "path %q err %v", es, err)
	}

	// ---- set/get with versions ---------------------------------------------
	st, err = a.Set(base, []byte("v1"), 0)
	if err == nil && st.Version == 1 {
		ok("set with the right version")
	} else {
		bad("set with the right version", "stat %+v err %v", st, err)
	}
	_, err = a.Set(base, []byte("stale"), 0)
	expectErr("set with a stale version -> ErrBadVersion", err, zk.ErrBadVersion)
	st, err = a.Set(base, []byte("v2"), -1)
	if err == nil && st.Version == 2 {
		ok("set with version -1")
	} else {
		bad("set with version -1", "stat %+v err %v", st, err)
	}
	data, st, err = b.Get(base)
	if err == nil && string(data) == "v2" && st.Version == 2 {
		ok("get after set (session B)")
	} else {
		bad("get after set (session B)", "data %q stat %+v err %v", data, st, err)
	}

	// ---- watches -----------------------------------------------------------
	_, _, dataW, err := a.GetW(base)
	if check("GetW", err) {
		if _, err := b.Set(base, []byte("v3"), -1); err != nil {
			bad("set from B", "%v", err)
		}
		waitEvent("data watch fires EventNodeDataChanged", dataW, zk.EventNodeDataChanged, base)
	}
	w := base + "/watched"
	exists, _, existW, err := a.ExistsW(w)
	if err == nil && !exists {
		ok("ExistsW on a missing node")
		if _, err := b.Create(w, []byte("x"), 0, open); err != nil {
			bad("create from B", "%v", err)
		}
		waitEvent("exists watch fires EventNodeCreated", existW, zk.EventNodeCreated, w)
	} else {
		bad("ExistsW on a missing node", "exists %v err %v", exists, err)
	}
	children, _, childW, err := a.ChildrenW(base)
	sort.Strings(children)
	want := []string{"eph", s1[len(base)+1:], s2[len(base)+1:], es[len(base)+1:], "watched"}
	sort.Strings(want)
	if err == nil && strings.Join(children, ",") == strings.Join(want, ",") {
		ok("ChildrenW lists the children")
		if _, err := b.Create(base+"/kid", nil, 0, open); err != nil {
			bad("create child from B", "%v", err)
		}
		waitEvent("child watch fires EventNodeChildrenChanged", childW, zk.EventNodeChildrenChanged, base)
	} else {
		bad("ChildrenW lists the children", "got %v want %v err %v", children, want, err)
	}
	_, _, delW, err := a.GetW(w)
	exists, _, existW2, err2 := a.ExistsW(w)
	if err == nil && err2 == nil && exists {
		if err := b.Delete(w, -1); err != nil {
			bad("delete from B", "%v", err)
		}
		waitEvent("data watch fires EventNodeDeleted", delW, zk.EventNodeDeleted, w)
		waitEvent("exists watch fires EventNodeDeleted", existW2, zk.EventNodeDeleted, w)
	} else {
		bad("GetW/ExistsW before delete", "%v %v", err, err2)
	}
	// A watch that has fired is gone: a further change stays silent.
	_, _, dataW2, err := a.GetW(base + "/kid")
	if check("GetW on a second node", err) {
		if _, err := b.Set(base+"/kid", []byte("1"), -1); err != nil {
			bad("set kid", "%v", err)
		}
		waitEvent("one-shot watch fires once", dataW2, zk.EventNodeDataChanged, base+"/kid")
		if _, err := b.Set(base+"/kid", []byte("2"), -1); err != nil {
			bad("set kid again", "%v", err)
		}
		time.Sleep(500 * time.Millisecond)
		if n := recorders[a].count(zk.EventNodeDataChanged, base+"/kid"); n == 1 {
			ok("fired watch stays silent on the next change")
		} else {
			bad("fired watch stays silent on the next change", "session A got %d NodeDataChanged events for %s/kid, want 1", n, base)
		}
	}

	// ---- delete ------------------------------------------------------------
	err = a.Delete(base+"/kid", 0)
	expectErr("delete with a stale version -> ErrBadVersion", err, zk.ErrBadVersion)
	err = a.Delete(base, -1)
	expectErr("delete non-empty -> ErrNotEmpty", err, zk.ErrNotEmpty)
	check("delete with the right version", a.Delete(base+"/kid", 2))
	err = a.Delete(base+"/kid", -1)
	expectErr("delete missing -> ErrNoNode", err, zk.ErrNoNode)

	// ---- multi -------------------------------------------------------------
	if _, err := a.Create(base+"/m-set", []byte("0"), 0, open); err != nil {
		bad("multi set-up", "%v", err)
	}
	if _, err := a.Create(base+"/m-del", nil, 0, open); err != nil {
		bad("multi set-up", "%v", err)
	}
	res, err := a.Multi(
		&zk.CreateRequest{Path: base + "/m-new", Data: []byte("n"), Acl: open},
		&zk.SetDataRequest{Path: base + "/m-set", Data: []byte("1"), Version: 0},
		&zk.CheckVersionRequest{Path: base + "/m-set", Version: 1},
		&zk.DeleteRequest{Path: base + "/m-del", Version: -1},
	)
	if err == nil && len(res) == 4 && res[0].String == base+"/m-new" && res[1].Stat != nil && res[1].Stat.Version == 1 {
		ok("multi (create, set, check, delete) succeeds")
	} else {
		bad("multi (create, set, check, delete) succeeds", "err %v results %+v", err, res)
	}
	ex1, _, _ := b.Exists(base + "/m-new")
	ex2, _, _ := b.Exists(base + "/m-del")
	data, _, _ = b.Get(base + "/m-set")
	if ex1 && !ex2 && string(data) == "1" {
		ok("multi's effects are all visible")
	} else {
		bad("multi's effects are all visible", "m-new exists %v, m-del exists %v, m-set %q", ex1, ex2, data)
	}
	res, err = a.Multi(
		&zk.CreateRequest{Path: base + "/m-atomic", Data: []byte("a"), Acl: open},
		&zk.SetDataRequest{Path: base + "/m-set", Data: []byte("2"), Version: 0}, // stale: version is 1
		&zk.DeleteRequest{Path: base + "/m-new", Version: -1},
	)
	if err == zk.ErrBadVersion {
		ok("multi with a stale version -> ErrBadVersion")
	} else {
		bad("multi with a stale version -> ErrBadVersion", "err %v results %+v", err, res)
	}
	if len(res) == 3 && res[0].Error == nil && res[1].Error == zk.ErrBadVersion && res[2].Error != nil {
		ok(fmt.Sprintf("failed multi reports per-op results (ok, bad version, %v)", res[2].Error))
	} else {
		errs := []string{}
		for _, r := range res {
			errs = append(errs, fmt.Sprint(r.Error))
		}
		bad("failed multi reports per-op results", "got %d results: %v", len(res), errs)
	}
	ex1, _, _ = b.Exists(base + "/m-atomic")
	ex2, _, _ = b.Exists(base + "/m-new")
	data, st, _ = b.Get(base + "/m-set")
	if !ex1 && ex2 && string(data) == "1" && st.Version == 1 {
		ok("failed multi changed nothing")
	} else {
		bad("failed multi changed nothing", "m-atomic exists %v, m-new exists %v, m-set %q v%d", ex1, ex2, data, st.Version)
	}

	// ---- sync --------------------------------------------------------------
	sp, err := b.Sync(base)
	if err == nil && sp == base {
		ok("sync")
	} else {
		bad("sync", "path %q err %v", sp, err)
	}

	// ---- ACLs with digest auth ----------------------------------------------
	secret := base + "/secret"
	check("addAuth digest (session A)", a.AddAuth("digest", []byte("alice:wonder")))
	digest := zk.DigestACL(zk.PermAll, "alice", "wonder")
	readOnly := append(append([]zk.ACL{}, digest...), zk.WorldACL(zk.PermRead)...)
	_, err = a.Create(secret, []byte("s3cret"), 0, digest)
	check("create with a digest ACL", err)
	_, err = a.Create(secret+"-open-read", []byte("r"), 0, readOnly)
	check("create with digest + world:read ACLs", err)
	_, _, err = b.Get(secret)
	expectErr("get without auth -> ErrNoAuth", err, zk.ErrNoAuth)
	_, err = b.Set(secret, []byte("x"), -1)
	expectErr("set without auth -> ErrNoAuth", err, zk.ErrNoAuth)
	_, err = b.Create(secret+"/c", nil, 0, open)
	expectErr("create child without auth -> ErrNoAuth", err, zk.ErrNoAuth)
	data, _, err = b.Get(secret + "-open-read")
	if err == nil && string(data) == "r" {
		ok("world:read lets B read")
	} else {
		bad("world:read lets B read", "data %q err %v", data, err)
	}
	_, err = b.Set(secret+"-open-read", []byte("x"), -1)
	expectErr("world:read does not let B write -> ErrNoAuth", err, zk.ErrNoAuth)
	data, _, err = a.Get(secret)
	if err == nil && string(data) == "s3cret" {
		ok("get with auth")
	} else {
		bad("get with auth", "data %q err %v", data, err)
	}
	acl, _, err := a.GetACL(secret)
	if err == nil && len(acl) == 1 && acl[0] == digest[0] {
		ok("getACL returns the digest ACL")
	} else {
		bad("getACL returns the digest ACL", "acl %+v err %v (want %+v)", acl, err, digest)
	}
	check("addAuth digest with a wrong password (session B)", b.AddAuth("digest", []byte("alice:wrong")))
	_, _, err = b.Get(secret)
	expectErr("get with the wrong password -> ErrNoAuth", err, zk.ErrNoAuth)
	_, err = a.Create(secret+"-auth", nil, 0, zk.AuthACL(zk.PermAll))
	check("create with the auth ACL scheme", err)
	acl, _, err = a.GetACL(secret + "-auth")
	if err == nil && len(acl) == 1 && acl[0].Scheme == "digest" && acl[0].ID == digest[0].ID {
		ok("auth scheme ACL is stored as the caller's digest id")
	} else {
		bad("auth scheme ACL is stored as the caller's digest id", "acl %+v err %v", acl, err)
	}
	_, err = a.SetACL(secret+"-auth", open, 0)
	check("setACL with the right aversion", err)
	_, err = a.SetACL(secret+"-auth", open, 0)
	expectErr("setACL with a stale aversion -> ErrBadVersion", err, zk.ErrBadVersion)
	_, _, err = b.Get(secret + "-auth")
	check("node readable by B after setACL world:anyone", err)

	// ---- ephemerals go when their session closes ----------------------------
	c, err := connect("session C")
	if check("connect (session C)", err) {
		ce := base + "/c-eph"
		_, err = c.Create(ce, nil, zk.FlagEphemeral, open)
		check("session C creates an ephemeral", err)
		exists, _, goneW, err := b.ExistsW(ce)
		if err == nil && exists {
			c.Close()
			waitEvent("closing C deletes its ephemeral (B's watch: EventNodeDeleted)", goneW, zk.EventNodeDeleted, ce)
			exists, _, err = b.Exists(ce)
			if err == nil && !exists {
				ok("ephemeral gone after close (seen from B)")
			} else {
				bad("ephemeral gone after close (seen from B)", "exists %v err %v", exists, err)
			}
		} else {
			bad("B sees C's ephemeral", "exists %v err %v", exists, err)
			c.Close()
		}
	}
	// Session A's ephemerals likewise, after A closes (checked from B).
	aEph := []string{eph, es}
	a.Close()
	time.Sleep(100 * time.Millisecond)
	for _, e := range aEph {
		exists, _, err := b.Exists(e)
		if err == nil && !exists {
			ok("A's ephemeral " + e[len(base):] + " gone after A closed")
		} else {
			bad("A's ephemeral "+e[len(base):]+" gone after A closed", "exists %v err %v", exists, err)
		}
	}

	// ---- clean up ----------------------------------------------------------
	check("add auth for clean-up", b.AddAuth("digest", []byte("alice:wonder")))
	check("clean up (recursive delete)", deleteTree(b, base))
	if exists, _, err := b.Exists(base); err == nil && !exists {
		ok("tree is gone")
	} else {
		bad("tree is gone", "exists %v err %v", exists, err)
	}
	finish()
}

func finish() {
	fmt.Printf("go-zookeeper: %d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
	os.Exit(0)
}
