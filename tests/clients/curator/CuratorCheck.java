// CuratorCheck: exercise a ZooKeeper server with Apache Curator (Debian's
// libcurator-framework-java / libcurator-recipes-java) and print one line per
// check.
//
// Usage: java -cp CLASSES:/usr/share/java/curator-recipes.jar CuratorCheck HOST:PORT
// Exit 0 only if every check passed. Every wait is bounded (a watchdog ends
// the whole run after 150 s).

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class CuratorCheck {
    static final String BASE = "/curator-check";
    static final long WAIT_S = 10;
    static int passed = 0;
    static int failed = 0;
    static String addr;

    static synchronized void ok(String name) {
        passed++;
        System.out.println("  ok   " + name);
    }

    static synchronized void bad(String name, String why) {
        failed++;
        System.out.println("  FAIL " + name + ": " + why);
    }

    static void expect(String name, boolean cond, String why) {
        if (cond) ok(name); else bad(name, why);
    }

    interface Step { void run() throws Exception; }

    /** Run a step; an exception fails it (and only it). */
    static void step(String name, Step s) {
        try {
            s.run();
        } catch (Throwable t) {
            bad(name, "threw " + t);
        }
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static CuratorFramework client(String name) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(addr)
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(5000)
                .retryPolicy(new RetryNTimes(3, 200))
                .build();
        c.start();
        if (!c.blockUntilConnected(15, TimeUnit.SECONDS)) {
            c.close();
            throw new IllegalStateException(name + " not connected within 15s");
        }
        return c;
    }

    /** Poll until cond holds (bounded). */
    interface Cond { boolean test() throws Exception; }
    static boolean eventually(Cond cond, long seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (cond.test()) return true;
            Thread.sleep(50);
        }
        return cond.test();
    }

    static void deleteTree(CuratorFramework c) throws Exception {
        if (c.checkExists().forPath(BASE) != null) {
            c.delete().deletingChildrenIfNeeded().forPath(BASE);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: CuratorCheck HOST:PORT");
            System.exit(2);
        }
        addr = args[0];
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(150_000);
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("  FAIL watchdog: the run did not finish within 150s");
            System.out.println("curator: " + passed + " passed, " + (failed + 1) + " failed");
            System.out.flush();
            Runtime.getRuntime().halt(1);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        System.out.println("Curator checks against " + addr);

        CuratorFramework c1, c2;
        try {
            c1 = client("client 1");
            c2 = client("client 2");
            ok("two clients connect");
        } catch (Throwable t) {
            bad("two clients connect", t.toString());
            finish();
            return;
        }
        step("clean up an earlier run", () -> deleteTree(c1));

        // ---- create with parents, get/set ---------------------------------
        final String deep = BASE + "/a/b/c";
        step("create with parents", () -> {
            String p = c1.create().creatingParentsIfNeeded().forPath(deep, b("deep-data"));
            expect("create with parents", p.equals(deep) && c2.checkExists().forPath(BASE + "/a/b") != null,
                    "returned " + p);
        });
        step("create existing -> NodeExists", () -> {
            try {
                c1.create().forPath(deep);
                bad("create existing -> NodeExists", "no exception");
            } catch (KeeperException.NodeExistsException e) {
                ok("create existing -> NodeExists");
            }
        });
        step("get", () -> {
            Stat st = new Stat();
            byte[] d = c2.getData().storingStatIn(st).forPath(deep);
            expect("get", "deep-data".equals(s(d)) && st.getVersion() == 0, "data " + s(d) + " version " + st.getVersion());
        });
        step("set with version", () -> {
            Stat st = c1.setData().withVersion(0).forPath(deep, b("v1"));
            expect("set with version", st.getVersion() == 1, "version " + st.getVersion());
        });
        step("set with a stale version -> BadVersion", () -> {
            try {
                c1.setData().withVersion(0).forPath(deep, b("stale"));
                bad("set with a stale version -> BadVersion", "no exception");
            } catch (KeeperException.BadVersionException e) {
                ok("set with a stale version -> BadVersion");
            }
        });
        step("get after set", () -> {
            byte[] d = c2.getData().forPath(deep);
            expect("get after set", "v1".equals(s(d)), "data " + s(d));
        });
        step("transaction", () -> {
            CuratorOp op1 = c1.transactionOp().create().forPath(BASE + "/tx", b("t"));
            CuratorOp op2 = c1.transactionOp().setData().withVersion(1).forPath(deep, b("v2"));
            CuratorOp op3 = c1.transactionOp().check().withVersion(0).forPath(BASE + "/a");
            List<CuratorTransactionResult> res = c1.transaction().forOperations(op1, op2, op3);
            expect("transaction (create, set, check) commits", res.size() == 3
                    && c2.checkExists().forPath(BASE + "/tx") != null
                    && "v2".equals(s(c2.getData().forPath(deep))), "results " + res);
            CuratorOp bad1 = c1.transactionOp().create().forPath(BASE + "/tx-atomic");
            CuratorOp bad2 = c1.transactionOp().delete().withVersion(7).forPath(BASE + "/tx");
            try {
                c1.transaction().forOperations(bad1, bad2);
                bad("failed transaction -> BadVersion", "no exception");
            } catch (KeeperException.BadVersionException e) {
                ok("failed transaction -> BadVersion");
            }
            expect("failed transaction changed nothing", c2.checkExists().forPath(BASE + "/tx-atomic") == null
                    && c2.checkExists().forPath(BASE + "/tx") != null, "tx-atomic exists or tx gone");
        });

        // ---- NodeCache (one-shot watches re-set by the recipe) --------------
        step("NodeCache", () -> {
            final String path = BASE + "/nodecache";
            @SuppressWarnings("deprecation")
            NodeCache nc = new NodeCache(c1, path);
            BlockingQueue<String> seen = new LinkedBlockingQueue<>();
            nc.getListenable().addListener(() -> {
                ChildData d = nc.getCurrentData();
                seen.add(d == null ? "<deleted>" : s(d.getData()));
            });
            nc.start(true);
            try {
                expect("NodeCache starts on a missing node", nc.getCurrentData() == null, "data " + nc.getCurrentData());
                c2.create().forPath(path, b("one"));
                String v = seen.poll(WAIT_S, TimeUnit.SECONDS);
                expect("NodeCache sees the create", "one".equals(v), "got " + v);
                c2.setData().forPath(path, b("two"));
                v = seen.poll(WAIT_S, TimeUnit.SECONDS);
                expect("NodeCache sees the change", "two".equals(v), "got " + v);
                c2.delete().forPath(path);
                v = seen.poll(WAIT_S, TimeUnit.SECONDS);
                expect("NodeCache sees the delete", "<deleted>".equals(v), "got " + v);
            } finally {
                nc.close();
            }
        });

        // ---- CuratorCache (persistent recursive watch) -----------------------
        step("CuratorCache", () -> {
            final String root = BASE + "/cache";
            c1.create().forPath(root, b("r0"));
            CuratorCache cache = CuratorCache.build(c1, root);
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            CountDownLatch initialized = new CountDownLatch(1);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(n -> events.add("create " + n.getPath() + " " + s(n.getData())))
                    .forChanges((o, n) -> events.add("change " + n.getPath() + " " + s(o.getData()) + "->" + s(n.getData())))
                    .forDeletes(o -> events.add("delete " + o.getPath()))
                    .forInitialized(initialized::countDown)
                    .build());
            cache.start();
            try {
                expect("CuratorCache initializes", initialized.await(WAIT_S, TimeUnit.SECONDS), "no initialized event");
                String e = events.poll(WAIT_S, TimeUnit.SECONDS);
                expect("CuratorCache loads the root", ("create " + root + " r0").equals(e), "got " + e);
                c2.setData().forPath(root, b("r1"));
                e = events.poll(WAIT_S, TimeUnit.SECONDS);
                expect("CuratorCache sees a change", ("change " + root + " r0->r1").equals(e), "got " + e);
                c2.create().creatingParentsIfNeeded().forPath(root + "/x/y", b("deep"));
                List<String> got = new ArrayList<>();
                for (int i = 0; i < 2; i++) got.add(events.poll(WAIT_S, TimeUnit.SECONDS));
                expect("CuratorCache sees creates below the root",
                        got.contains("create " + root + "/x/y deep") && got.contains("create " + root + "/x "),
                        "got " + got);
                c2.delete().forPath(root + "/x/y");
                e = events.poll(WAIT_S, TimeUnit.SECONDS);
                expect("CuratorCache sees a delete", ("delete " + root + "/x/y").equals(e), "got " + e);
                expect("CuratorCache holds the tree", cache.get(root + "/x").isPresent()
                        && !cache.get(root + "/x/y").isPresent() && "r1".equals(s(cache.get(root).get().getData())),
                        "cache " + cache.stream().map(ChildData::getPath).collect(java.util.stream.Collectors.toList()));
            } finally {
                cache.close();
            }
        });

        // ---- InterProcessMutex: two clients take the lock in turn ---------------
        step("InterProcessMutex", () -> {
            final String lockPath = BASE + "/lock";
            InterProcessMutex m1 = new InterProcessMutex(c1, lockPath);
            InterProcessMutex m2 = new InterProcessMutex(c2, lockPath);
            expect("client 1 acquires the lock", m1.acquire(WAIT_S, TimeUnit.SECONDS), "not acquired");
            expect("client 2 cannot acquire it meanwhile", !m2.acquire(500, TimeUnit.MILLISECONDS), "acquired");
            m1.release();
            expect("client 2 acquires it after client 1 released", m2.acquire(WAIT_S, TimeUnit.SECONDS), "not acquired");
            expect("client 1 cannot acquire it meanwhile", !m1.acquire(500, TimeUnit.MILLISECONDS), "acquired");
            m2.release();
            // Both clients contend from their own threads; the holder must be alone.
            AtomicInteger holders = new AtomicInteger();
            AtomicBoolean overlap = new AtomicBoolean();
            AtomicInteger rounds = new AtomicInteger();
            AtomicReference<Throwable> err = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (InterProcessMutex m : new InterProcessMutex[] {m1, m2}) {
                Thread t = new Thread(() -> {
                    try {
                        for (int i = 0; i < 5; i++) {
                            if (!m.acquire(WAIT_S, TimeUnit.SECONDS)) throw new IllegalStateException("acquire timed out");
                            try {
                                if (holders.incrementAndGet() != 1) overlap.set(true);
                                Thread.sleep(10);
                                rounds.incrementAndGet();
                            } finally {
                                holders.decrementAndGet();
                                m.release();
                            }
                        }
                    } catch (Throwable ex) {
                        err.set(ex);
                    }
                });
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) t.join(TimeUnit.SECONDS.toMillis(60));
            expect("two clients contending: 10 turns, never two holders",
                    err.get() == null && !overlap.get() && rounds.get() == 10,
                    "rounds " + rounds.get() + " overlap " + overlap.get() + " error " + err.get());
            expect("lock nodes are cleaned up", c2.getChildren().forPath(lockPath).isEmpty(),
                    "children " + c2.getChildren().forPath(lockPath));
        });

        // ---- LeaderLatch with two participants ----------------------------------
        step("LeaderLatch", () -> {
            final String latchPath = BASE + "/leader";
            LeaderLatch l1 = new LeaderLatch(c1, latchPath, "one");
            LeaderLatch l2 = new LeaderLatch(c2, latchPath, "two");
            l1.start();
            l2.start();
            try {
                boolean one = eventually(() -> l1.hasLeadership() ^ l2.hasLeadership(), WAIT_S);
                expect("exactly one of two latches leads", one,
                        "l1 " + l1.hasLeadership() + " l2 " + l2.hasLeadership());
                LeaderLatch leader = l1.hasLeadership() ? l1 : l2;
                LeaderLatch follower = leader == l1 ? l2 : l1;
                String id = leader.getId();
                expect("both agree on the leader (" + id + ")", id.equals(l1.getLeader().getId())
                        && id.equals(l2.getLeader().getId()) && l1.getParticipants().size() == 2,
                        "l1 says " + l1.getLeader().getId() + ", l2 says " + l2.getLeader().getId()
                        + ", participants " + l1.getParticipants());
                leader.close();
                expect("the other latch leads after the leader closes", follower.await(WAIT_S, TimeUnit.SECONDS),
                        "no leadership within " + WAIT_S + "s");
            } finally {
                for (LeaderLatch l : new LeaderLatch[] {l1, l2}) {
                    if (l.getState() == LeaderLatch.State.STARTED) l.close();
                }
            }
        });

        // ---- DistributedAtomicLong --------------------------------------------------
        step("DistributedAtomicLong", () -> {
            final String counter = BASE + "/counter";
            DistributedAtomicLong d1 = new DistributedAtomicLong(c1, counter, new RetryNTimes(10, 20));
            DistributedAtomicLong d2 = new DistributedAtomicLong(c2, counter, new RetryNTimes(10, 20));
            AtomicValue<Long> v = d1.increment();
            expect("increment from client 1 (0 -> 1)", v.succeeded() && v.preValue() == 0 && v.postValue() == 1,
                    "succeeded " + v.succeeded() + " " + v.preValue() + "->" + v.postValue());
            v = d2.increment();
            expect("increment from client 2 (1 -> 2)", v.succeeded() && v.preValue() == 1 && v.postValue() == 2,
                    "succeeded " + v.succeeded() + " " + v.preValue() + "->" + v.postValue());
            v = d1.get();
            expect("get from client 1 sees 2", v.succeeded() && v.postValue() == 2, "value " + v.postValue());
            v = d2.compareAndSet(2L, 10L);
            expect("compareAndSet(2, 10) succeeds", v.succeeded() && d1.get().postValue() == 10,
                    "succeeded " + v.succeeded() + " value " + d1.get().postValue());
            v = d1.compareAndSet(2L, 11L);
            expect("compareAndSet(2, 11) fails", !v.succeeded() && d2.get().postValue() == 10,
                    "succeeded " + v.succeeded() + " value " + d2.get().postValue());
        });

        // ---- ephemeral cleanup on close ----------------------------------------------
        step("ephemeral cleanup", () -> {
            CuratorFramework c3 = client("client 3");
            final String eph = BASE + "/eph";
            c3.create().withMode(CreateMode.EPHEMERAL).forPath(eph, b("e"));
            String seq = c3.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(BASE + "/eseq-");
            Stat st = c1.checkExists().forPath(eph);
            long sid = c3.getZookeeperClient().getZooKeeper().getSessionId();
            expect("client 3's ephemerals exist, owned by its session", st != null && st.getEphemeralOwner() == sid
                    && c1.checkExists().forPath(seq) != null, "stat " + st + " session " + Long.toHexString(sid));
            c3.close();
            boolean gone = eventually(() -> c1.checkExists().forPath(eph) == null
                    && c1.checkExists().forPath(seq) == null, WAIT_S);
            expect("ephemerals gone after client 3 closed", gone, "still there after " + WAIT_S + "s");
        });

        // ---- session expiry: another handle attaches to the session and closes it ----
        // (the classic "kill session" of Curator's test utilities: a ZooKeeper
        // handle built from the session id and password takes the session over;
        // closing it ends the session on the server, so the first client's
        // session expires: Curator reports LOST and its ephemeral is gone)
        step("session expiry", () -> {
            CuratorFramework c4 = client("client 4");
            BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
            c4.getConnectionStateListenable().addListener((cl, st) -> states.add(st));
            final String eph = BASE + "/expiring";
            c4.create().withMode(CreateMode.EPHEMERAL).forPath(eph);
            ZooKeeper zk4 = c4.getZookeeperClient().getZooKeeper();
            long sid = zk4.getSessionId();
            byte[] pwd = zk4.getSessionPasswd();

            BlockingQueue<Watcher.Event.KeeperState> wrong = new LinkedBlockingQueue<>();
            byte[] bad = pwd.clone();
            bad[0] ^= 1;
            ZooKeeper zw = new ZooKeeper(addr, 10000, ev -> wrong.add(ev.getState()), sid, bad);
            try {
                Watcher.Event.KeeperState st = wrong.poll(WAIT_S, TimeUnit.SECONDS);
                expect("attach with a wrong password -> Expired", st == Watcher.Event.KeeperState.Expired,
                        "got " + st);
            } finally {
                zw.close();
            }
            expect("a wrong password leaves the session alone", c1.checkExists().forPath(eph) != null,
                    "client 4's ephemeral is gone");

            CountDownLatch attached = new CountDownLatch(1);
            ZooKeeper z2 = new ZooKeeper(addr, 10000, ev -> {
                if (ev.getState() == Watcher.Event.KeeperState.SyncConnected) attached.countDown();
            }, sid, pwd);
            try {
                expect("attach with the session id and password", attached.await(WAIT_S, TimeUnit.SECONDS)
                        && z2.getSessionId() == sid, "not connected, or session " + Long.toHexString(z2.getSessionId()));
                expect("the attached handle sees the session's ephemeral as its own",
                        z2.exists(eph, false) != null && z2.exists(eph, false).getEphemeralOwner() == sid, "no");
            } finally {
                z2.close();
            }
            boolean gone = eventually(() -> c1.checkExists().forPath(eph) == null, WAIT_S);
            expect("closing the attached handle ends the session (ephemeral gone)", gone, "still there");
            ConnectionState st;
            boolean lost = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!lost && (st = states.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) != null) {
                lost = st == ConnectionState.LOST;
            }
            expect("client 4 sees its session expire (Curator LOST)", lost, "states " + states);
            boolean back = c4.blockUntilConnected(15, TimeUnit.SECONDS)
                    && c4.getZookeeperClient().getZooKeeper().getSessionId() != sid;
            expect("client 4 reconnects with a new session", back, "not reconnected");
            c4.close();
        });

        step("clean up", () -> {
            deleteTree(c2);
            expect("clean up (deletingChildrenIfNeeded)", c1.checkExists().forPath(BASE) == null, "tree still there");
        });
        c1.close();
        c2.close();
        finish();
    }

    static void finish() {
        System.out.println("curator: " + passed + " passed, " + failed + " failed");
        System.out.flush();
        Runtime.getRuntime().halt(failed == 0 && passed > 0 ? 0 : 1);
    }
}
