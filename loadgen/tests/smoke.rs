//! End-to-end smoke tests of the `roost-loadgen` binary.
//!
//! The ignored ones need a running server: set `LOADGEN_SMOKE_SERVER` to its
//! host:port (a Roost or ZooKeeper with `maxClientCnxns=0`) and run
//! `cargo test -p loadgen -- --ignored`. Each is bounded to a few seconds.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_roost-loadgen");

fn server() -> String {
    std::env::var("LOADGEN_SMOKE_SERVER")
        .expect("set LOADGEN_SMOKE_SERVER=host:port of a running server")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadgen-smoke-{}-{name}", std::process::id()))
}

fn run(args: &[&str]) -> (serde_json::Value, String) {
    let json = tmp("out.json");
    let html = tmp("out.html");
    let out = Command::new(BIN)
        .args(args)
        .args([
            "--json",
            json.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .arg("--quiet")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_file(json);
    let _ = std::fs::remove_file(html);
    (v, page)
}

#[test]
fn help_lists_every_workload() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for w in [
        "mixed",
        "watch",
        "sessions",
        "failover",
        "--capacity",
        "--html",
    ] {
        assert!(text.contains(w), "--help lacks {w}");
    }
}

#[test]
#[ignore = "needs LOADGEN_SMOKE_SERVER"]
fn contract_invocation_still_works() {
    let s = server();
    let (v, page) = run(&[
        "--servers",
        &s,
        "--duration",
        "1",
        "--warmup",
        "0.5",
        "--clients",
        "4",
        "--outstanding",
        "2",
        "--value-size",
        "64",
        "--znodes",
        "50",
        "--read-ratio",
        "10:1",
    ]);
    for key in [
        "throughput_ops_per_s",
        "duration_s",
        "ops",
        "errors_by_code",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v["ops"]["get"]["count"].as_u64().unwrap() > 0);
    assert!(!v["series"].as_array().unwrap().is_empty());
    assert!(page.contains("Throughput per second") && !page.contains("http://"));
}

#[test]
#[ignore = "needs LOADGEN_SMOKE_SERVER"]
fn watch_workload_reports_fanout() {
    let s = server();
    let (v, _) = run(&[
        "--workload",
        "watch",
        "--servers",
        &s,
        "--duration",
        "1",
        "--warmup",
        "0.5",
        "--watchers",
        "5",
        "--znodes",
        "3",
        "--write-rate",
        "50",
    ]);
    assert!(v["ops"]["watch_event"]["count"].as_u64().unwrap() > 0);
    assert_eq!(v["fanout"]["events_unmatched"], 0);
}
