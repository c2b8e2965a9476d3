#!/usr/bin/env python3
"""Summarise bench/failover.sh results: OUT/{roost,zookeeper}/failover.json
(and OUT/elections-*/elections.json if present) as a Markdown section;
with --docs FILE, rewrite that file's
<!-- bench:failover-ensemble:begin/end --> section (appended if missing)."""
import argparse
import json
import os
import statistics

MARK = "failover-ensemble"


def load(out, system):
    path = os.path.join(out, system, "failover.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def ratio(a, b):
    if a is None or b is None or not b:
        return "–"
    return f"{a / b:.2f}"


def figures(report):
    if report is None:
        return {}
    u = report["unavailability_ms"]
    rounds = report["failover"]["rounds"]
    kill_ms = [r["kill_cmd_ms"] for r in rounds]
    return {
        "rounds": len(rounds),
        "p50": u["p50"],
        "p99": u["p99"],
        "max": u["max"],
        "unrecovered": u["unrecovered"],
        "errors": sum(r["errors"] for r in rounds),
        "sessions_lost": sum(r["sessions_lost"] for r in rounds),
        "reconnects": sum(r["reconnects"] for r in rounds),
        "kill_cmd_ms": statistics.median(kill_ms) if kill_ms else None,
        "over_200": sum(1 for w in u["rounds"] if w >= 200.0),
        "windows": u["rounds"],
        "writes": report["failover"].get("writes_acked_total"),
    }


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--docs")
    a = ap.parse_args()
    roost = figures(load(a.out, "roost"))
    zk = figures(load(a.out, "zookeeper"))
    any_report = load(a.out, "roost") or load(a.out, "zookeeper")
    params = any_report["params"] if any_report else {}
    extra = params.get("extra", params)
    lines = []
    run = read_text(os.path.join(a.out, "run.txt"))
    for l in run.splitlines():
        lines.append(f"- {l}")
    members = sum(1 for n in os.listdir(os.path.join(a.out, "roost" if roost else "zookeeper"))
                  if n.endswith(".zoo.cfg"))
    lines.append(
        f"- {members} members; {params.get('clients', '?')} sessions × "
        f"{params.get('outstanding', '?')} outstanding setData (1 KiB, 100 znodes"
        + (f", at most {params['rate_ops_per_s']:.0f}/s in total" if params.get('rate_ops_per_s') else "")
        + "), "
        f"--servers listing every member; {extra.get('rounds', '?')} rounds, "
        f"{extra.get('kill_interval_s', '?')} s of writes before each kill"
    )
    lines.append("")
    lines.append("| leader kill -9 → first write acked | Roost | ZooKeeper | Roost/ZooKeeper |")
    lines.append("|---|---:|---:|---:|")
    for key, label in [("p50", "unavailability p50 (ms)"), ("p99", "unavailability p99 (ms)"),
                       ("max", "unavailability max (ms)")]:
        lines.append(f"| {label} | {fmt(roost.get(key))} | {fmt(zk.get(key))} | "
                     f"{ratio(roost.get(key), zk.get(key))} |")
    for key, label in [("over_200", "rounds ≥ 200 ms"), ("unrecovered", "rounds never recovered"),
                       ("errors", "client-visible errors (all rounds)"),
                       ("sessions_lost", "sessions lost"),
                       ("reconnects", "session re-attaches"),
                       ("kill_cmd_ms", "kill command, median (ms)"),
                       ("writes", "writes acked (whole run)")]:
        lines.append(f"| {label} | {fmt(roost.get(key))} | {fmt(zk.get(key))} | |")
    lines.append("")
    for name, f in [("Roost", roost), ("ZooKeeper", zk)]:
        if f:
            lines.append(f"{name} windows, ms, by round: "
                         + ", ".join(f"{w:.0f}" for w in f["windows"]))
            lines.append("")
    for system in ("roost", "zookeeper"):
        path = os.path.join(a.out, f"elections-{system}", "elections.json")
        if os.path.exists(path):
            with open(path) as f:
                e = json.load(f)
            lines.append(
                f"False elections ({system}, {e['duration_s']:.0f} s of write load, no kills): "
                f"**{e['elections']}** (term {e['term_before']} → {e['term_after']}, "
                f"{fmt(e['throughput_ops_per_s'], 0)} writes/s)")
            lines.append("")
    body = "\n".join(lines).rstrip() + "\n"
    print(body, end="")
    if a.docs:
        begin, end = f"<!-- bench:{MARK}:begin -->", f"<!-- bench:{MARK}:end -->"
        section = f"{begin}\n{body}{end}"
        text = read_text(a.docs) + "\n"
        if begin in text and end in text:
            pre, rest = text.split(begin, 1)
            _, post = rest.split(end, 1)
            text = pre + section + post
        else:
            text = text + "\n" + section + "\n"
        with open(a.docs, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
