//! How often a read on one server misses a write another session just had
//! acknowledged on another server (issue 18, "a wider staleness window than
//! ZooKeeper's"). ZooKeeper promises no freshness across sessions without
//! `sync`, but applications are written against how it behaves.
//!
//! Session W (on `--writer`) sets `/staleness` to the round number; the
//! moment the reply arrives, session R (on `--reader`, another member) reads
//! it. A read that returns an older value is a miss; R then polls until it
//! sees the value, and the time from W's reply to that read is the miss's
//! window. One tokio thread drives both sessions, so nothing waits between
//! the reply and the read but the runtime itself.
//!
//! ```text
//! cargo run --release --example staleness -- WRITER_HOST:PORT READER_HOST:PORT [ROUNDS]
//! ```
//! Prints one line of `key=value` fields (`bench/staleness.sh` collects them).

use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Rounds when none is given.
const ROUNDS_DEFAULT: u32 = 2000;
/// A miss polled longer than this is reported as unresolved.
const MISS_POLL_MAX: Duration = Duration::from_secs(2);

async fn connect(addr: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(10),
        zk::Client::connector()
            .session_timeout(Duration::from_secs(10))
            .connect(addr),
    )
    .await
    .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
    .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

fn value_of(data: &[u8]) -> u32 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn run(writer: &str, reader: &str, rounds: u32) {
    let w = connect(writer).await;
    let r = connect(reader).await;
    let path = "/staleness";
    match w
        .create(
            path,
            b"0",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
    {
        Ok(_) | Err(zk::Error::NodeExists) => {}
        Err(e) => panic!("create {path}: {e}"),
    }
    w.set_data(path, b"0", None).await.expect("reset");
    // Let the reader's member catch up with the set-up before counting.
    r.sync(path).await.expect("sync");
    let mut misses = 0u32;
    let mut unresolved = 0u32;
    let mut windows_us: Vec<u64> = Vec::new();
    let started = Instant::now();
    for round in 1..=rounds {
        let value = round.to_string();
        w.set_data(path, value.as_bytes(), None)
            .await
            .expect("set_data");
        let acked = Instant::now();
        let (data, _) = r.get_data(path).await.expect("get_data");
        if value_of(&data) >= round {
            continue;
        }
        misses += 1;
        loop {
            let (data, _) = r.get_data(path).await.expect("get_data");
            if value_of(&data) >= round {
                windows_us.push(acked.elapsed().as_micros() as u64);
                break;
            }
            if acked.elapsed() > MISS_POLL_MAX {
                unresolved += 1;
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    windows_us.sort_unstable();
    let pct = |p: f64| -> u64 {
        if windows_us.is_empty() {
            return 0;
        }
        let i = ((windows_us.len() as f64 * p).ceil() as usize).clamp(1, windows_us.len()) - 1;
        windows_us[i]
    };
    println!(
        "rounds={rounds} misses={misses} miss_rate={:.4} unresolved={unresolved} \
         window_p50_us={} window_max_us={} secs={:.1}",
        misses as f64 / rounds as f64,
        pct(0.5),
        windows_us.last().copied().unwrap_or(0),
        elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: staleness WRITER_HOST:PORT READER_HOST:PORT [ROUNDS]");
        std::process::exit(2);
    }
    let rounds = args
        .get(3)
        .map(|s| s.parse().expect("ROUNDS is a number"))
        .unwrap_or(ROUNDS_DEFAULT);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(&args[1], &args[2], rounds));
}
