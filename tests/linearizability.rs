//! Linearizability under faults: clients on every member of a real 3-member
//! ensemble run random versioned creates, sets, deletes and reads on a few
//! znodes while a seeded nemesis kills (-9) and restarts the leader or a
//! follower, pauses members (SIGSTOP/SIGCONT), and cuts a member off the
//! network (each member runs in its own network namespace; see
//! tests/common/netlab.rs): from its peers only (its clients still reach
//! it; the leader so cut off is a minority leader, which must stop
//! acknowledging), from everyone, or one way only (an asymmetric
//! partition: what it sends to its peers is lost, what they send arrives).
//!
//! Operations whose outcome the client never learnt (timeouts, connection
//! loss) are resolved from the committed log before checking: after the
//! run the leader's log is read with `roost log entries`; a set or create
//! took effect exactly if its (unique) value is there, and deletes are
//! resolved by counting. An acknowledged write missing from the log fails
//! the test outright. The history is then checked with the project's
//! Porcupine-style checker (`lincheck`): writes linearizable, follower
//! reads sequentially consistent per session. Also: no session expires,
//! and the ensemble takes writes at the end.
//!
//! With `roost.readConsistency=linearizable` (the second test) or `lease`
//! (the third) on every member, every read is checked as linearizable too.
//!
//! Every run is reproducible from its seed (the op mix and the fault
//! schedule; thread timing still varies). `ROOST_LIN_SEEDS=1,2,3` picks
//! seeds, `ROOST_LIN_SECS` the length of each run.

mod common;

use common::ensemble::Ensemble;
use common::zk::{client_at, persistent, rt};
use lincheck::{Input, Operation, Options, Output};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

const KEYS: usize = 4;
const CLIENTS: u64 = 6;
/// A request not answered in this long is recorded with an unknown outcome.
const OP_TIMEOUT: Duration = Duration::from_secs(4);

/// SplitMix64: small, seedable, good enough for schedules.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key_path(k: usize) -> String {
    format!("/lin/k{k}")
}

#[derive(Default)]
struct Shared {
    history: Vec<Operation>,
    session_expired: Vec<String>,
}

fn now_ns(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// One client session: random ops until `deadline`, recording each.
async fn client_loop(
    id: u64,
    connect: String,
    linearizable_reads: bool,
    seed: u64,
    origin: Instant,
    deadline: Instant,
    shared: Arc<Mutex<Shared>>,
) {
    let mut rng = Rng(seed ^ (id.wrapping_mul(0x5851_F42D_4C95_7F2D)));
    let client = match tokio::time::timeout(
        Duration::from_secs(15),
        zk::Client::connector()
            .session_timeout(Duration::from_secs(10))
            .connect(&connect),
    )
    .await
    {
        Ok(Ok(c)) => c,
        other => panic!("client {id} could not connect to {connect}: {other:?}"),
    };
    // The last version this client saw per key: versioned writes use it.
    let mut seen: Vec<i32> = vec![-1; KEYS];
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let k = rng.below(KEYS as u64) as usize;
        let path = key_path(k);
        let value = format!("c{id}-{n}").into_bytes();
        let roll = rng.below(100);
        let input = match roll {
            0..=39 if linearizable_reads => Input::linearizable_get(),
            0..=39 => Input::get(),
            40..=64 => Input::set(value.clone(), seen[k]),
            65..=79 => Input::set(value.clone(), -1),
            80..=91 => Input::create(value.clone()),
            _ => Input::delete(seen[k]),
        };
        let call = now_ns(origin);
        let opts = persistent();
        let result: Result<Output, zk::Error> = tokio::time::timeout(OP_TIMEOUT, async {
            match &input {
                Input::Get { .. } => match client.get_data(&path).await {
                    Ok((data, stat)) => {
                        seen[k] = stat.version;
                        Ok(Output::GetOk {
                            value: data,
                            version: stat.version,
                        })
                    }
                    Err(zk::Error::NoNode) => Ok(Output::NoNode),
                    Err(e) => Err(e),
                },
                Input::Set {
                    value,
                    expected_version,
                } => {
                    let expected = (*expected_version >= 0).then_some(*expected_version);
                    match client.set_data(&path, value, expected).await {
                        Ok(stat) => {
                            seen[k] = stat.version;
                            Ok(Output::SetOk {
                                new_version: stat.version,
                            })
                        }
                        Err(zk::Error::NoNode) => Ok(Output::NoNode),
                        Err(zk::Error::BadVersion) => Ok(Output::BadVersion),
                        Err(e) => Err(e),
                    }
                }
                Input::Create { value } => match client.create(&path, value, &opts).await {
                    Ok(_) => {
                        seen[k] = 0;
                        Ok(Output::Ok)
                    }
                    Err(zk::Error::NodeExists) => Ok(Output::NodeExists),
                    Err(e) => Err(e),
                },
                Input::Delete { expected_version } => {
                    let expected = (*expected_version >= 0).then_some(*expected_version);
                    match client.delete(&path, expected).await {
                        Ok(()) => {
                            seen[k] = -1;
                            Ok(Output::Ok)
                        }
                        Err(zk::Error::NoNode) => Ok(Output::NoNode),
                        Err(zk::Error::BadVersion) => Ok(Output::BadVersion),
                        Err(e) => Err(e),
                    }
                }
            }
        })
        .await
        .unwrap_or(Err(zk::Error::ConnectionLoss));
        let ret = now_ns(origin);
        let op = Operation::new(id, path.clone(), call, input);
        let unknown = {
            let mut s = shared.lock().unwrap();
            match result {
                Ok(output) => {
                    s.history.push(op.returned(ret, output));
                    false
                }
                Err(zk::Error::SessionExpired) => {
                    s.session_expired.push(format!("client {id} at {ret} ns"));
                    s.history.push(op);
                    return;
                }
                // ConnectionLoss, timeouts and the like: the outcome is unknown.
                Err(_) => {
                    s.history.push(op);
                    true
                }
            }
        };
        if unknown {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The fault kinds in the order the nemesis takes them; each seed starts at
/// its own place (`2 * seed`), so the first four faults of seeds 1, 2 and 3
/// (10 s each) cover every kind between them, the leader's kill most often.
const FAULT_ROTATION: [Fault; 8] = [
    Fault::KillLeader,
    Fault::Pause,
    Fault::KillFollower,
    Fault::CutFromPeers,
    Fault::IsolateLeader,
    Fault::KillLeader,
    Fault::CutOff,
    Fault::OneWay,
];

#[derive(Clone, Copy)]
enum Fault {
    /// kill -9 the leader, restart it 0.3-1 s later.
    KillLeader,
    /// kill -9 a follower, restart it 0.3-1 s later.
    KillFollower,
    /// SIGSTOP the leader or a follower for 0.3-1.5 s.
    Pause,
    /// Cut the leader or a follower off from its peers (its clients still
    /// reach it) for 0.5-2.5 s.
    CutFromPeers,
    /// Cut the leader or a follower off from everyone for 0.5-2.5 s.
    CutOff,
    /// Cut the leader off from both followers, its clients still reaching
    /// it, for 0.5-2.5 s: a minority leader, which must stop acknowledging.
    IsolateLeader,
    /// An asymmetric partition for 0.5-2.5 s: what the leader or a
    /// follower sends to its peers is lost, what they send reaches it.
    OneWay,
}

/// The seeded fault schedule: every 0.8-1.6 s one fault, healed before the
/// next. The kinds rotate ([`FAULT_ROTATION`]); victims and durations come
/// from the seed.
fn nemesis(e: &mut Ensemble, seed: u64, deadline: Instant, log: &mut Vec<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut round = 2 * seed as usize;
    while Instant::now() + Duration::from_millis(1500) < deadline {
        std::thread::sleep(Duration::from_millis(800 + rng.below(800)));
        let leader = e.wait_leader();
        let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
        let follower = followers[rng.below(2) as usize];
        let role = |id: u64| if id == leader { "leader" } else { "follower" };
        let kind = FAULT_ROTATION[round % FAULT_ROTATION.len()];
        round += 1;
        match kind {
            Fault::KillLeader => {
                log.push(format!("kill -9 leader {leader}"));
                e.kill(leader);
                std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
                e.restart(leader);
            }
            Fault::KillFollower => {
                log.push(format!("kill -9 follower {follower}"));
                e.kill(follower);
                std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
                e.restart(follower);
            }
            Fault::Pause => {
                let victim = if rng.below(2) == 0 { leader } else { follower };
                log.push(format!("SIGSTOP {victim} ({})", role(victim)));
                e.pause(victim);
                std::thread::sleep(Duration::from_millis(300 + rng.below(1200)));
                e.resume(victim);
            }
            Fault::IsolateLeader => {
                log.push(format!(
                    "cut leader {leader} off from its peers (minority leader)"
                ));
                e.cut_off_peers(leader);
                std::thread::sleep(Duration::from_millis(500 + rng.below(2000)));
                e.heal(leader);
            }
            Fault::OneWay => {
                let victim = if rng.below(2) == 0 { leader } else { follower };
                log.push(format!(
                    "{victim} ({}) can hear its peers but not reach them",
                    role(victim)
                ));
                e.cut_outbound(victim);
                std::thread::sleep(Duration::from_millis(500 + rng.below(2000)));
                e.heal(victim);
            }
            Fault::CutFromPeers | Fault::CutOff => {
                let victim = if rng.below(2) == 0 { leader } else { follower };
                let from_everyone = matches!(kind, Fault::CutOff);
                let whom = if from_everyone {
                    "entirely"
                } else {
                    "from its peers"
                };
                log.push(format!("cut {victim} ({}) off {whom}", role(victim)));
                if from_everyone {
                    e.cut_off(victim);
                } else {
                    e.cut_off_peers(victim);
                }
                std::thread::sleep(Duration::from_millis(500 + rng.below(2000)));
                e.heal(victim);
            }
        }
    }
}

/// What the committed log says about the test's znodes.
struct CommittedLog {
    /// Every value a committed create or setData on `/lin/k*` wrote.
    values: HashSet<Vec<u8>>,
    /// Log lines of values written by more than one entry: every client
    /// value is unique, so a second entry is a write applied twice (a
    /// resent write the leader did not recognise).
    applied_twice: Vec<String>,
    /// Committed deletes per (path, expected version).
    deletes: HashMap<(String, i32), usize>,
    /// The final `/lin/after` create is there (the log reaches the end).
    has_after: bool,
}

impl CommittedLog {
    /// Reads a stopped member's live log with `roost log entries`. Every
    /// entry up to the final write is committed: that write committed, and
    /// raft commits a log prefix.
    fn read(wal: &std::path::Path) -> CommittedLog {
        let out = std::process::Command::new(common::roost_bin())
            .args(["log", "entries"])
            .arg(wal)
            .output()
            .expect("run roost log entries");
        assert!(
            out.status.success(),
            "roost log entries {}: {}",
            wal.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains("compacted") && !text.contains("UNDECODABLE"),
            "the log must hold every entry, decoded:\n{}",
            &text[..text.len().min(2000)]
        );
        let mut log = CommittedLog {
            values: HashSet::new(),
            applied_twice: Vec::new(),
            deletes: HashMap::new(),
            has_after: false,
        };
        for line in text.lines() {
            // "... setData /lin/k1 data=5B:\"c3-17\" version=4",
            // "... create /lin/k1 data=5B:\"c3-17\" acl=1 kind=...",
            // "... delete /lin/k1 version=3".
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words
                .iter()
                .position(|w| matches!(*w, "setData" | "create" | "delete"))
            else {
                continue;
            };
            let (op, path) = (words[at], words.get(at + 1).copied().unwrap_or(""));
            if op == "create" && path == "/lin/after" {
                log.has_after = true;
            }
            if !path.starts_with("/lin/k") {
                continue;
            }
            let field = |name: &str| {
                words[at + 2..]
                    .iter()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            };
            if op == "delete" {
                let version: i32 = field("version=").parse().unwrap();
                *log.deletes.entry((path.to_string(), version)).or_default() += 1;
            } else {
                let data = field("data=");
                let value = data
                    .split_once(":\"")
                    .and_then(|(_, v)| v.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("data is not short text in {line:?}"));
                if !log.values.insert(value.as_bytes().to_vec()) {
                    log.applied_twice.push(line.to_string());
                }
            }
        }
        log
    }
}

/// Creates `path` through a new session on `connect` (set-up and the final
/// check that the ensemble still takes writes).
async fn create_through(connect: &str, path: &str) {
    let c = client_at(connect, Duration::from_secs(10)).await;
    c.create(path, b"", &persistent()).await.unwrap();
}

/// `read_consistency` (`roost.readConsistency` of every member):
/// `linearizable` or `lease` checks every read as linearizable (not merely
/// sequentially consistent); `sequential` only the writes.
fn run_seed(seed: u64, secs: u64, read_consistency: &str) {
    let linearizable_reads = read_consistency != "sequential";
    // Sessions of 10 s (tickTime 200 would cap them at 4 s); no snapshots,
    // so the leader's log holds every committed entry for the resolution.
    let mut extra = String::from("maxSessionTimeout=10000\nsnapCount=100000000\n");
    extra.push_str(&format!("roost.readConsistency={read_consistency}\n"));
    let mut e = Ensemble::start_partitionable(3, &extra);
    let addrs: Vec<String> = e.members.iter().map(|m| m.addr.to_string()).collect();
    let all = addrs.join(",");
    let rt = rt();
    rt.block_on(create_through(&all, "/lin"));
    let origin = Instant::now();
    let deadline = origin + Duration::from_secs(secs);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        // Each session starts on its own member and may move on failures.
        let first = &addrs[id as usize % addrs.len()];
        let rest: Vec<&String> = addrs.iter().filter(|a| *a != first).collect();
        let connect = format!("{first},{},{}", rest[0], rest[1]);
        tasks.push(rt.spawn(client_loop(
            id,
            connect,
            linearizable_reads,
            seed,
            origin,
            deadline,
            shared.clone(),
        )));
    }
    let mut faults = Vec::new();
    nemesis(&mut e, seed, deadline, &mut faults);
    rt.block_on(async {
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("a client did not finish")
                .expect("a client panicked");
        }
    });
    // The ensemble still works after the faults.
    e.wait_leader();
    rt.block_on(create_through(&all, "/lin/after"));
    let leader = e.wait_leader();
    // Stop every member so the leader's log is complete and still.
    for id in 1..=3 {
        e.kill(id);
    }
    let committed = CommittedLog::read(&e.member(leader).dir.join("data").join("roost-wal"));
    assert!(
        committed.has_after,
        "seed {seed}: the final write is not in member {leader}'s log"
    );
    assert!(
        committed.applied_twice.is_empty(),
        "seed {seed}: writes applied twice (faults {faults:?}): {:?}",
        committed.applied_twice
    );
    let mut s = shared.lock().unwrap();
    let unknown = s.history.iter().filter(|o| o.is_unknown()).count();
    let lost: Vec<&Operation> = s
        .history
        .iter()
        .filter(|o| matches!(o.output, Some(Output::Ok | Output::SetOk { .. })))
        .filter(|o| {
            o.input
                .written_value()
                .is_some_and(|v| !committed.values.contains(v))
        })
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged writes missing from the committed log (faults {faults:?}): {lost:?}"
    );
    let by_value = lincheck::resolve_by_committed_values(&mut s.history, &committed.values);
    let by_count = lincheck::resolve_deletes_by_count(&mut s.history, &committed.deletes)
        .unwrap_or_else(|e| panic!("seed {seed}: {e} (faults {faults:?})"));
    eprintln!(
        "seed {seed}: {} ops ({unknown} unknown: {} committed and {} not per the log, \
         {} deletes open), faults: {faults:?}",
        s.history.len(),
        by_value.committed + by_count.committed,
        by_value.not_committed + by_count.not_committed,
        s.history
            .iter()
            .filter(|o| o.is_unknown() && o.resolution == lincheck::Resolution::Unknown)
            .count(),
    );
    assert!(
        s.session_expired.is_empty(),
        "seed {seed}: sessions expired during failover: {:?}",
        s.session_expired
    );
    let options = Options {
        time_limit: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let result = lincheck::check(&s.history, &options).expect("well-formed history");
    assert!(
        result.is_ok(),
        "seed {seed}: history is not linearizable (faults {faults:?}):\n{result}"
    );
    assert!(
        s.history.iter().filter(|o| !o.is_unknown()).count() > 100,
        "seed {seed}: too few completed operations to mean anything"
    );
}

/// The two tests take turns: each runs three members and six clients, and
/// two at once on a 2-core machine would mostly measure the machine.
static ONE_ENSEMBLE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn seeds_and_secs(default_seeds: &[u64]) -> (Vec<u64>, u64) {
    let seeds: Vec<u64> = std::env::var("ROOST_LIN_SEEDS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| default_seeds.to_vec());
    let secs: u64 = std::env::var("ROOST_LIN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    (seeds, secs)
}

#[test]
#[ignore = "needs root and network namespaces: run by scripts/netns-tests.sh (stage netns)"]
fn histories_under_kills_restarts_pauses_and_partitions_are_linearizable() {
    let _turn = ONE_ENSEMBLE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (seeds, secs) = seeds_and_secs(&[1, 2, 3]);
    for seed in seeds {
        run_seed(seed, secs, "sequential");
    }
}

#[test]
#[ignore = "needs root and network namespaces: run by scripts/netns-tests.sh (stage netns)"]
fn with_linearizable_reads_every_read_is_linearizable_under_the_same_faults() {
    let _turn = ONE_ENSEMBLE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (seeds, secs) = seeds_and_secs(&[4, 5]);
    for seed in seeds {
        run_seed(seed, secs, "linearizable");
    }
}

/// Leader leases (`roost.readConsistency=lease`): the leader answers reads
/// from its lease; every read must still be linearizable under the same
/// faults (the minority leader and the one-way partition included: a leader
/// that cannot renew must stop before a successor takes writes).
#[test]
#[ignore = "needs root and network namespaces: run by scripts/netns-tests.sh (stage netns)"]
fn with_lease_reads_every_read_is_linearizable_under_the_same_faults() {
    let _turn = ONE_ENSEMBLE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (seeds, secs) = seeds_and_secs(&[6, 7]);
    for seed in seeds {
        run_seed(seed, secs, "lease");
    }
}
