//! Linearizability under faults: clients on every member of a real 3-member
//! ensemble run random versioned creates, sets, deletes and reads on a few
//! znodes while a seeded nemesis kills (-9) and restarts the leader or a
//! follower and pauses members (SIGSTOP/SIGCONT). The recorded history is
//! then checked with the project's Porcupine-style checker (`lincheck`):
//! writes linearizable, follower reads sequentially consistent per session;
//! with `roost.readConsistency=linearizable` on every member, every read
//! linearizable too.
//! Also: no session expires, and the ensemble takes writes at the end.
//!
//! Every run is reproducible from its seed (the op mix and the fault
//! schedule; thread timing still varies). `ROOST_LIN_SEEDS=1,2,3` picks
//! seeds, `ROOST_LIN_SECS` the length of each run.

mod common;

use common::ensemble::Ensemble;
use lincheck::{Input, Operation, Options, Output};
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
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
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

/// The seeded fault schedule: every 0.8-1.6 s one fault, healed before the next.
fn nemesis(e: &mut Ensemble, seed: u64, deadline: Instant, log: &mut Vec<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    while Instant::now() + Duration::from_millis(1500) < deadline {
        std::thread::sleep(Duration::from_millis(800 + rng.below(800)));
        let leader = e.wait_leader();
        let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
        let follower = followers[rng.below(2) as usize];
        match rng.below(4) {
            0 | 1 => {
                log.push(format!("kill -9 leader {leader}"));
                e.kill(leader);
                std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
                e.restart(leader);
            }
            2 => {
                log.push(format!("kill -9 follower {follower}"));
                e.kill(follower);
                std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
                e.restart(follower);
            }
            _ => {
                let victim = if rng.below(2) == 0 { leader } else { follower };
                log.push(format!("SIGSTOP {victim}"));
                e.pause(victim);
                std::thread::sleep(Duration::from_millis(300 + rng.below(1200)));
                e.resume(victim);
            }
        }
    }
}

/// `linearizable_reads`: every member runs with
/// `roost.readConsistency=linearizable` and every read is checked as
/// linearizable (not merely sequentially consistent).
fn run_seed(seed: u64, secs: u64, linearizable_reads: bool) {
    let extra = if linearizable_reads {
        "roost.readConsistency=linearizable\n"
    } else {
        ""
    };
    let mut e = Ensemble::start(3, 0, extra);
    let addrs: Vec<String> = e.members.iter().map(|m| m.addr.to_string()).collect();
    let all = addrs.join(",");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = zk::Client::connector()
            .session_timeout(Duration::from_secs(10))
            .connect(&all)
            .await
            .unwrap();
        c.create(
            "/lin",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    });
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
    rt.block_on(async {
        let c = zk::Client::connector()
            .session_timeout(Duration::from_secs(10))
            .connect(&all)
            .await
            .unwrap();
        c.create(
            "/lin/after",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    });
    let s = shared.lock().unwrap();
    let unknown = s.history.iter().filter(|o| o.is_unknown()).count();
    eprintln!(
        "seed {seed}: {} ops ({unknown} unknown), faults: {faults:?}",
        s.history.len()
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
fn histories_under_kills_restarts_and_pauses_are_linearizable() {
    let (seeds, secs) = seeds_and_secs(&[1, 2, 3]);
    for seed in seeds {
        run_seed(seed, secs, false);
    }
}

#[test]
fn with_linearizable_reads_every_read_is_linearizable_under_kills_restarts_and_pauses() {
    let (seeds, secs) = seeds_and_secs(&[4, 5]);
    for seed in seeds {
        run_seed(seed, secs, true);
    }
}
