//! Network partitions on a real 3-member ensemble: every member runs in its
//! own network namespace (tests/common/netlab.rs; needs root and
//! iproute2), and a member is cut off by taking its veth links down, so
//! its packets vanish silently as with a pulled cable.

mod common;

use common::ensemble::Ensemble;
use common::zk::{client_at as client, persistent, rt};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Retries `op` for up to `limit` (elections, reconnects), returning the
/// first success.
async fn within<T, F, Fut>(what: &str, limit: Duration, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), op()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(zk::Error::SessionExpired)) => panic!("{what}: session expired"),
            Ok(Err(e)) if Instant::now() < deadline => eprintln!("{what}: retrying after {e}"),
            Err(_) if Instant::now() < deadline => eprintln!("{what}: retrying after a timeout"),
            other => panic!(
                "{what}: still failing after {limit:?}: {:?}",
                other.map(|r| r.err())
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `pred(mode of member id)` holds, up to `limit`.
fn wait_mode(e: &Ensemble, id: u64, limit: Duration, pred: impl Fn(Option<&str>) -> bool) -> bool {
    common::wait::within(limit, || pred(e.member(id).mode().as_deref()))
}

/// `Zxid:` of every member's `srvr`, once they all agree (up to 15 s).
fn converged_zxid(e: &Ensemble) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let zxids: Vec<Option<String>> = e
            .members
            .iter()
            .map(|m| {
                common::four_letter(m.addr, "srvr").ok().and_then(|t| {
                    t.lines()
                        .find(|l| l.starts_with("Zxid:"))
                        .map(str::to_string)
                })
            })
            .collect();
        if zxids[0].is_some() && zxids.iter().all(|z| *z == zxids[0]) {
            return zxids[0].clone().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "members did not converge: {zxids:?}\n{}",
            e.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root and network namespaces: run by scripts/netns-tests.sh (stage netns)"]
fn a_leader_cut_off_from_its_peers_steps_down_and_the_majority_goes_on() {
    let e = Ensemble::start_partitionable(3, "maxSessionTimeout=30000\n");
    let old = e.wait_leader();
    let follower = (1..=3u64).find(|&i| i != old).unwrap();
    let on_old = e.member(old).addr.to_string();
    let on_follower = e.member(follower).addr.to_string();
    let rt = rt();
    let (c_old, c_follower) = rt.block_on(async {
        let c_old = client(&on_old, Duration::from_secs(20)).await;
        let c_follower = client(&on_follower, Duration::from_secs(10)).await;
        c_old.create("/p", b"before", &persistent()).await.unwrap();
        (c_old, c_follower)
    });

    // The leader keeps its clients but loses its peers.
    let cut_at = Instant::now();
    e.cut_off_peers(old);
    // The majority elects a leader among itself and takes writes.
    let acked = rt.block_on(async {
        within("write on the majority", Duration::from_secs(10), || {
            c_follower.set_data("/p", b"majority", None)
        })
        .await
    });
    eprintln!("majority took a write {:?} after the cut", cut_at.elapsed());
    assert_eq!(acked.version, 1);
    let new = e.wait_leader();
    assert_ne!(new, old, "the cut-off member cannot stay the only leader");
    // The old leader notices it lost its quorum (check-quorum) and stops
    // leading within about an election timeout.
    assert!(
        wait_mode(&e, old, Duration::from_secs(5), |m| m != Some("leader")),
        "member {old} still leads while cut off"
    );
    // Nothing is acknowledged through the cut-off member: a write there
    // cannot reach a quorum. (Its outcome stays unknown: it may still be
    // forwarded after the heal.)
    let isolated_write = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(2),
            c_old.set_data("/p", b"minority", Some(1)),
        )
        .await
    });
    assert!(
        !matches!(isolated_write, Ok(Ok(_))),
        "a write was acknowledged by a member without a quorum: {isolated_write:?}"
    );
    // Reads there may be stale (ZooKeeper's sequential consistency), but
    // never invent a state: "before" or "majority".
    if let Ok(Ok((data, _))) = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), c_old.get_data("/p")).await
    }) {
        assert!(
            data == b"before" || data == b"majority",
            "{:?}",
            String::from_utf8_lossy(&data)
        );
    }

    e.heal(old);
    // One leader again, every member on the same zxid, the majority's write
    // everywhere, and the old leader's client session is still alive.
    let leader = e.wait_leader();
    eprintln!("after the heal member {leader} leads");
    let zxid = converged_zxid(&e);
    eprintln!("converged at {zxid}");
    rt.block_on(async {
        let (data, stat) = within("read on the healed member", Duration::from_secs(20), || {
            let c = &c_old;
            async move {
                c.sync("/p").await?;
                c.get_data("/p").await
            }
        })
        .await;
        assert!(stat.version >= 1, "the majority's write was lost");
        if stat.version == 1 {
            assert_eq!(data, b"majority");
        }
        within(
            "write through the healed member",
            Duration::from_secs(20),
            || c_old.create("/after-heal", b"", &persistent()),
        )
        .await;
        c_follower.sync("/").await.unwrap();
        assert!(c_follower
            .check_stat("/after-heal")
            .await
            .unwrap()
            .is_some());
    });
}

#[test]
#[ignore = "needs root and network namespaces: run by scripts/netns-tests.sh (stage netns)"]
fn a_follower_cut_off_entirely_catches_up_after_the_heal() {
    let e = Ensemble::start_partitionable(3, "maxSessionTimeout=30000\n");
    let leader = e.wait_leader();
    let cut = (1..=3u64).find(|&i| i != leader).unwrap();
    let others: Vec<String> = (1..=3u64)
        .filter(|&i| i != cut)
        .map(|i| e.member(i).addr.to_string())
        .collect();
    // This session starts on the member that will be cut off and may move.
    let connect = format!("{},{}", e.member(cut).addr, others.join(","));
    let rt = rt();
    let mover = rt.block_on(async {
        let c = client(&connect, Duration::from_secs(10)).await;
        c.create("/f", b"0", &persistent()).await.unwrap();
        c
    });
    e.cut_off(cut);
    let writer = rt.block_on(client(&others.join(","), Duration::from_secs(10)));
    rt.block_on(async {
        for i in 1..=200u32 {
            writer
                .set_data("/f", i.to_string().as_bytes(), None)
                .await
                .unwrap();
        }
        // The session on the cut-off member moves to a survivor and lives.
        within("the moved session writes", Duration::from_secs(15), || {
            mover.create("/moved", b"", &persistent())
        })
        .await;
    });
    assert_eq!(
        e.wait_leader(),
        leader,
        "a follower's cut must not move leadership"
    );
    e.heal(cut);
    converged_zxid(&e);
    rt.block_on(async {
        let on_cut = client(&e.member(cut).addr.to_string(), Duration::from_secs(10)).await;
        let (data, stat) = on_cut.get_data("/f").await.unwrap();
        assert_eq!((data.as_slice(), stat.version), (&b"200"[..], 200));
        assert!(on_cut.check_stat("/moved").await.unwrap().is_some());
    });
}
