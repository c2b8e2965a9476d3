#!/usr/bin/env python3
"""Summarise bench/failover.sh results: OUT/{roost,zookeeper}/failover.json
(and OUT/elections-*/elections.json if present) as a Markdown section,
stating the FAULT (OUT/fault: kill9, stop or partition) and, per system,
the client-visible write gap (p50/p99/max), sessions lost and elections per
round (raft term / ZooKeeper epoch changes, from the "healthy leader mN term
T" lines ensemble-ctl.sh logs in events.log before and after every round);
with --docs FILE, rewrite that file's <!-- bench:MARK:begin/end --> section
(appended if missing), MARK failover-ensemble for kill9 and
failover-ensemble-stop / failover-ensemble-partition for the others."""
import argparse
import json
import os
import statistics

FAULTS = {
    "kill9": "leader kill -9",
    "stop": "leader SIGSTOP",
    "partition": "leader partitioned",
}


def mark(fault):
    return "failover-ensemble" if fault == "kill9" else f"failover-ensemble-{fault}"


def load(out, system):
    path = os.path.join(out, system, "failover.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def ratio(a, b):
    if a is None or b is None or not b:
        return "–"
    return f"{a / b:.2f}"


def read_events(out, system):
    """events.log as (ms, words) pairs, or None."""
    path = os.path.join(out, system, "events.log")
    if not os.path.exists(path):
        return None
    ev = []
    for line in open(path):
        f = line.split()
        if len(f) >= 2:
            try:
                ev.append((float(f[0]), f[1:]))
            except ValueError:
                pass
    return ev


def is_fault(words):
    """A kill -9 ("kill -9 mN ...") or a fault ("fault stop|partition mN ...")."""
    return words[0] in ("kill", "fault")


def per_round_events(out, system):
    """Per fault, from events.log: the victim, elections (the leader's raft
    term, or ZooKeeper's epoch, at the first healthy ensemble after the
    fault minus that at the last one before it) and what the healed member
    came back as ("rejoined mN mode M"; stop and partition only)."""
    ev = read_events(out, system)
    if ev is None:
        return None
    faults = [(t, w) for t, w in ev if is_fault(w)]
    healthy = []
    for t, w in ev:
        # healthy leader mN term T
        if w[0] == "healthy" and len(w) >= 5 and w[3] == "term":
            try:
                healthy.append((t, int(w[4])))
            except ValueError:
                healthy.append((t, None))
    rejoined = [(t, w[1], w[3]) for t, w in ev if w[0] == "rejoined" and len(w) >= 4]
    rounds = []
    for i, (t, w) in enumerate(faults):
        nxt = faults[i + 1][0] if i + 1 < len(faults) else float("inf")
        before = [h for h in healthy if h[0] < t]
        after = [h for h in healthy if t <= h[0] < nxt]
        base = before[-1][1] if before else None
        end = after[0][1] if after else None
        rj = [r for r in rejoined if t <= r[0] < nxt]
        heal = [h for h, hw in ev if hw[0] == "heal" and t <= h < nxt]
        leads = [h for h, hw in ev if hw[:3] == ["survivors", "have", "a"] and t <= h < nxt]
        rounds.append({
            "fault_at": t,
            "survivor_leads_ms": round(leads[0] - t) if leads else None,
            "heal_ms": round(heal[0] - t) if heal else None,
            "victim": w[2] if len(w) > 2 else None,
            "elections": (end - base) if base is not None and end is not None else None,
            "rejoined_as": rj[0][2] if rj else None,
        })
    return rounds


def resumed_vs_heal(rnd, ev):
    """Whether writes resumed before the heal ("before"), only after it
    ("after": the gap then ends with the heal, not with a recovery of its
    own) or within the fault command's run time of it ("≈"). The fault
    event's time is taken after the fault took effect; the loadgen's window
    starts before the fault command, at most kill_cmd_ms earlier."""
    if ev is None or ev.get("heal_ms") is None or rnd.get("unavailability_ms") is None:
        return None
    w, k = rnd["unavailability_ms"], rnd["kill_cmd_ms"]
    if w < ev["heal_ms"]:
        return "before"
    if w - k > ev["heal_ms"]:
        return "after"
    return "≈"


def figures(report, events=None):
    if report is None:
        return {}
    rel = [resumed_vs_heal(r, e) for r, e in zip(report["failover"]["rounds"], events or [])]
    elections = [r["elections"] for r in (events or []) if r["elections"] is not None]
    rejoined = [r["rejoined_as"] for r in (events or []) if r["rejoined_as"] is not None]
    u = report["unavailability_ms"]
    a = report.get("all_sessions_resumed_ms") or {}
    rounds = report["failover"]["rounds"]
    kill_ms = [r["kill_cmd_ms"] for r in rounds]
    return {
        "rounds": len(rounds),
        "p50": u["p50"],
        "p99": u["p99"],
        "max": u["max"],
        "unrecovered": u["unrecovered"],
        "all_p50": a.get("p50"),
        "all_p99": a.get("p99"),
        "all_max": a.get("max"),
        "errors": sum(r["errors"] for r in rounds),
        "sessions_lost": sum(r["sessions_lost"] for r in rounds),
        "reconnects": sum(r["reconnects"] for r in rounds),
        "kill_cmd_ms": statistics.median(kill_ms) if kill_ms else None,
        "over_200": sum(1 for w in u["rounds"] if w >= 200.0),
        "windows": u["rounds"],
        "writes": report["failover"].get("writes_acked_total"),
        "sessions_lost_by_round": [r["sessions_lost"] for r in rounds],
        "elections_by_round": [r["elections"] for r in (events or [])],
        "elections_mean": float(statistics.mean(elections)) if elections else None,
        "elections_max": max(elections) if elections else None,
        "rounds_not_one_election": sum(1 for e in elections if e != 1) if elections else None,
        "rejoined_follower": (f"{sum(1 for m in rejoined if m == 'follower')}/{len(rejoined)}"
                              if rejoined else None),
        "rejoined_by_round": [r["rejoined_as"] for r in (events or [])],
        "resumed_vs_heal": rel,
        "resumed_after_heal": (sum(1 for x in rel if x == "after") if any(rel) else None),
        "survivor_leads_ms": [r["survivor_leads_ms"] for r in (events or [])],
        "heal_ms": [r["heal_ms"] for r in (events or [])],
    }


def parse_ts(line):
    """Epoch ms of a Roost (2026-11-22T10:14:01.418790Z) or ZooKeeper
    (2026-11-22 10:14:01,418, local time) log line, else None."""
    import datetime
    head = line[:27]
    try:
        if len(head) > 19 and head[10] == "T":
            t = datetime.datetime.strptime(head[:26], "%Y-%m-%dT%H:%M:%S.%f")
            t = t.replace(tzinfo=datetime.timezone.utc)
        elif len(head) > 19 and head[10] == " " and head[19] == ",":
            t = datetime.datetime.strptime(head[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
        else:
            return None
    except ValueError:
        return None
    return t.timestamp() * 1000.0


def timeline(out, system):
    """Per kill or fault: which member, when a new leader took office (ms
    after the fault, from the members' logs), how many terms/elections that
    took, and elections that no fault explains (e.g. while a killed member
    restarted)."""
    d = os.path.join(out, system)
    events = os.path.join(d, "events.log")
    if not os.path.exists(events):
        return None
    kills = []
    for line in open(events):
        f = line.split()
        if len(f) >= 4 and f[1] in ("kill", "fault"):
            kills.append((float(f[0]), f[3]))
    import glob
    import re
    took = []  # (ms, member, term or None)
    for log in sorted(glob.glob(os.path.join(d, "m*.log"))):
        member = os.path.basename(log).split(".")[0]
        for line in open(log, errors="replace"):
            # Roost: "LEADING: elected leader term=N" (older builds:
            # "leading term=N"); ZooKeeper: "QuorumPeer@... - LEADING".
            if " leading term=" in line or "LEADING: elected leader" in line:
                m = re.search(r"term=(\d+)", line)
                took.append((parse_ts(line), member, int(m.group(1))))
            elif "QuorumPeer@" in line and line.rstrip().endswith("- LEADING"):
                took.append((parse_ts(line), member, None))
    took = sorted(t for t in took if t[0] is not None)
    rounds, explained = [], set()
    for i, (k, victim) in enumerate(kills):
        nxt = kills[i + 1][0] if i + 1 < len(kills) else float("inf")
        after = [t for t in took if k <= t[0] < nxt]
        before = [t for t in took if t[0] < k]
        first = after[0] if after else None
        if first:
            explained.add(first)
        terms = (first[2] - before[-1][2]) if first and before and first[2] and before[-1][2] else None
        rounds.append({
            "killed": victim,
            "new_leader": first[1] if first else None,
            "leading_after_ms": round(first[0] - k) if first else None,
            "terms_used": terms,
            "other_elections": len(after) - (1 if first else 0),
        })
    first_start = took[0] if took else None
    unexplained = [t for t in took if t not in explained and t is not first_start]
    return {"rounds": rounds, "unexplained": len(unexplained)}


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
    fault = read_text(os.path.join(a.out, "fault")) or "kill9"
    what = FAULTS.get(fault, fault)
    ev = {s: per_round_events(a.out, s) for s in ("roost", "zookeeper")}
    roost = figures(load(a.out, "roost"), ev["roost"])
    zk = figures(load(a.out, "zookeeper"), ev["zookeeper"])
    any_report = load(a.out, "roost") or load(a.out, "zookeeper")
    params = any_report["params"] if any_report else {}
    extra = params.get("extra", params)
    lines = [f"**FAULT={fault}**: {what}; the write gap runs from the moment before the "
             "fault to the first write acknowledged after it (any session, any member).", ""]
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
        f"{extra.get('kill_interval_s', '?')} s of writes before each fault"
    )
    lines.append("")
    lines.append(f"| FAULT={fault}: {what} → first write acked | Roost | ZooKeeper | Roost/ZooKeeper |")
    lines.append("|---|---:|---:|---:|")
    for key, label in [("p50", "write gap p50 (ms)"), ("p99", "write gap p99 (ms)"),
                       ("max", "write gap max (ms)"),
                       ("all_p50", "every session writing again, p50 (ms)"),
                       ("all_p99", "every session writing again, p99 (ms)"),
                       ("all_max", "every session writing again, max (ms)")]:
        lines.append(f"| {label} | {fmt(roost.get(key))} | {fmt(zk.get(key))} | "
                     f"{ratio(roost.get(key), zk.get(key))} |")
    rows = [("over_200", "rounds ≥ 200 ms"), ("unrecovered", "rounds never recovered"),
            ("sessions_lost", "sessions lost (all rounds)"),
            ("elections_mean", "elections per round, mean (term/epoch change)"),
            ("elections_max", "elections per round, max"),
            ("rounds_not_one_election", "rounds without exactly one election")]
    if fault != "kill9":
        rows.append(("rejoined_follower", "resumed old leader rejoined as follower"))
        rows.append(("resumed_after_heal", "rounds whose writes resumed only after the heal"))
    rows += [("errors", "client-visible errors (all rounds)"),
             ("reconnects", "session re-attaches"),
             ("kill_cmd_ms", "fault command, median (ms)"),
             ("writes", "writes acked (whole run)")]
    for key, label in rows:
        lines.append(f"| {label} | {fmt(roost.get(key), 2 if key == 'elections_mean' else 1)} "
                     f"| {fmt(zk.get(key), 2 if key == 'elections_mean' else 1)} | |")
    lines.append("")
    for name, f in [("Roost", roost), ("ZooKeeper", zk)]:
        if f:
            lines.append(f"{name} write gaps, ms, by round: "
                         + ", ".join(f"{w:.0f}" for w in f["windows"]))
            lines.append("")
            lines.append(f"{name} sessions lost by round: "
                         + ", ".join(str(n) for n in f["sessions_lost_by_round"])
                         + "; elections by round: "
                         + ", ".join("–" if e is None else str(e) for e in f["elections_by_round"])
                         + (("; old leader came back as: "
                             + ", ".join(m or "–" for m in f["rejoined_by_round"]))
                            if fault != "kill9" else ""))
            lines.append("")
    if fault != "kill9" and (roost or zk):
        lines.append("Per round, from events.log: ms from the fault until a survivor answered "
                     "`srvr` as leader, and until the heal (SIGCONT or links up, "
                     "RESTART_AFTER_S after that); whether writes resumed before the heal "
                     "or only after it. A round that resumed only after the heal measures "
                     "the heal, not a recovery: its gap would have been longer had the "
                     "fault lasted.")
        lines.append("")
        lines.append("| round | Roost gap ms | Roost survivor leads ms | Roost heal ms | Roost resumed "
                     "| ZooKeeper gap ms | ZooKeeper survivor leads ms | ZooKeeper heal ms "
                     "| ZooKeeper resumed |")
        lines.append("|---:|---:|---:|---:|---|---:|---:|---:|---|")

        def at(f, key, i):
            v = f.get(key, [])
            if i >= len(v) or v[i] is None:
                return "–"
            return f"{v[i]:.0f}" if isinstance(v[i], float) else str(v[i])
        n = max(len(roost.get("windows", [])), len(zk.get("windows", [])))
        for i in range(n):
            lines.append("| " + " | ".join([str(i + 1)] + [
                at(f, k, i) for f in (roost, zk)
                for k in ("windows", "survivor_leads_ms", "heal_ms", "resumed_vs_heal")]) + " |")
        lines.append("")
    tl = {s: timeline(a.out, s) for s in ("roost", "zookeeper")}
    if any(tl.values()):
        lines.append("Per round, from the members' logs: ms from the fault until the new "
                     "leader logged taking office (Roost `LEADING: elected leader`, "
                     "ZooKeeper `LEADING`), "
                     "raft terms used (2 = a split vote), and further elections before "
                     "the next fault (while the faulted member restarted or was healed).")
        lines.append("")
        lines.append("| round | Roost window ms | Roost leading after ms | terms | further elections "
                     "| ZooKeeper window ms | ZooKeeper LEADING after ms | further elections |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        n = max(len(roost.get("windows", [])), len(zk.get("windows", [])))
        for i in range(n):
            def cell(f, t, key):
                if key == "window":
                    w = f.get("windows", [])
                    return f"{w[i]:.0f}" if i < len(w) else "–"
                if not t or i >= len(t["rounds"]):
                    return "–"
                v = t["rounds"][i][key]
                return "–" if v is None else str(v)
            lines.append(f"| {i + 1} | {cell(roost, tl['roost'], 'window')} "
                         f"| {cell(roost, tl['roost'], 'leading_after_ms')} "
                         f"| {cell(roost, tl['roost'], 'terms_used')} "
                         f"| {cell(roost, tl['roost'], 'other_elections')} "
                         f"| {cell(zk, tl['zookeeper'], 'window')} "
                         f"| {cell(zk, tl['zookeeper'], 'leading_after_ms')} "
                         f"| {cell(zk, tl['zookeeper'], 'other_elections')} |")
        lines.append("")
        json.dump(tl, open(os.path.join(a.out, "timeline.json"), "w"), indent=2)
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
        m = mark(fault)
        begin, end = f"<!-- bench:{m}:begin -->", f"<!-- bench:{m}:end -->"
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
