#!/usr/bin/env python3
"""Summarise bench/run.sh results: medians per figure, Roost/ZooKeeper ratios.

Reads RESULTS/<server>-<run>.json (roost-loadgen --json output), prints a
markdown table, and (with --docs) replaces this scenario's section of
docs/benchmarks.md, creating the file if needed. Standard library only.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics

TITLES = {
    "read-only": "read-only: getData only, 1 KiB values, 10,000 znodes",
    "write-only": "write-only: setData only, 1 KiB values, 10,000 znodes",
    "mixed": "mixed: 10 getData : 1 setData, 1 KiB values, 10,000 znodes",
}
LABELS = {
    "roost": "Roost",
    "zookeeper": "ZooKeeper",
    "zookeeper-nosync": "ZooKeeper forceSync=no",
}
DOC_HEADER = """# Benchmarks

Side-by-side figures for Roost and Apache ZooKeeper, produced by
`bench/run.sh SCENARIO` with `roost-loadgen` (loadgen/). Each scenario
section below is rewritten by the script when it is run again; everything
outside the markers is kept.

How a figure is produced:

- Both servers run on the same machine as the load generator, on 127.0.0.1,
  from one configuration (only port and data directory differ). ZooKeeper is
  the Debian package, started with `java -Xms1g -Xmx1g` and
  `ZooKeeperServerMain`; Roost is `target/release/roost serve --config`.
- Each server is first warmed with a discarded run (ZooKeeper's JIT), then
  measured in several runs, servers interleaved run by run so machine drift
  hits both alike. Every run has its own warm-up, which is not recorded.
- The load is closed loop: every session keeps `--outstanding` requests in
  flight on one connection. Throughput counts successful replies only.
  Latency is per request, from send to reply, in HDR histograms merged
  across the generator's threads.
- A figure is the median over runs of that figure (so p99 is the median of
  the per-run p99s). Ratio = Roost / ZooKeeper: above 1 is better for
  throughput, below 1 is better for latency.
- CPU is user+sys seconds over the measured window divided by its length,
  from getrusage (generator) and /proc/PID/stat (server): "cores busy".
  The generator's own share shows it was not the bottleneck. On a machine
  with few cores, generator and server compete for the same cores, so
  absolute numbers are lower than on separate machines; the ratio is the
  figure to read.
- Roost and ZooKeeper (default `forceSync=yes`) both acknowledge a write only
  after their transaction log is fsynced. Write scenarios also run ZooKeeper
  with `forceSync=no`, for reference.
"""


def load(results, server):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"{server}-*.json"))):
        if re.fullmatch(rf"{re.escape(server)}-\d+\.json", os.path.basename(path)):
            with open(path) as f:
                runs.append(json.load(f))
    return runs


def figures(run):
    """Flat (name, value, unit-kind) list for one run."""
    out = [("throughput (ops/s)", run["throughput_ops_per_s"], "ops")]
    for op, o in run["ops"].items():
        for key, label in [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")]:
            out.append((f"{op} {label} (ms)", o[key] / 1000.0, "ms"))
    errors = sum(run["errors_by_code"].values())
    out.append(("errors", errors, "n"))
    gen = run.get("generator_cpu") or {}
    srv = run.get("server_cpu") or {}
    out.append(("loadgen CPU (cores)", gen.get("cores_used", 0.0), "cores"))
    out.append(("server CPU (cores)", srv.get("cores_used", 0.0), "cores"))
    if srv.get("cores_used"):
        out.append(("ops/s per server core", run["throughput_ops_per_s"] / srv["cores_used"], "ops"))
    return out


def median_figures(runs):
    by_name = {}
    order = []
    for run in runs:
        for name, value, kind in figures(run):
            if name not in by_name:
                order.append(name)
                by_name[name] = (kind, [])
            by_name[name][1].append(value)
    return order, {n: (k, statistics.median(v)) for n, (k, v) in by_name.items()}


def fmt(value, kind):
    if value is None:
        return "n/a"
    if kind == "ops":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.3f}"
    if kind == "cores":
        return f"{value:.2f}"
    return f"{value:g}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--servers", required=True, help="space-separated, roost first")
    ap.add_argument("--command", required=True)
    ap.add_argument("--loadgen-command", required=True)
    ap.add_argument("--zk-version", default="unknown")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--docs")
    a = ap.parse_args()

    servers = a.servers.split()
    runs = {s: load(a.results, s) for s in servers}
    medians = {s: median_figures(r) for s, r in runs.items() if r}
    if "roost" not in medians:
        raise SystemExit("report: no roost results")
    order = medians["roost"][0]
    others = [s for s in servers if s != "roost" and s in medians]

    head = ["figure", LABELS["roost"]]
    for s in others:
        head += [LABELS.get(s, s), f"Roost / {LABELS.get(s, s)}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in order:
        kind, rv = medians["roost"][1][name]
        row = [name, fmt(rv, kind)]
        for s in others:
            ov = medians[s][1].get(name, (kind, None))[1]
            # A ratio of error counts or of the generator's own CPU means nothing.
            meaningful = kind != "n" and not name.startswith("loadgen")
            row += [fmt(ov, kind), ratio(rv, ov) if meaningful else "n/a"]
        lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines)

    per_run = "; ".join(
        f"{LABELS.get(s, s)} " + ", ".join(f"{r['throughput_ops_per_s']:,.0f}" for r in runs[s])
        for s in servers if runs.get(s)
    )
    load1, load5, _ = os.getloadavg()
    busy = ""
    if load5 > (os.cpu_count() or 1):
        busy = (f" **The machine was busy with other work (5-minute load average {load5:.1f} on "
                f"{os.cpu_count()} cores at the end): treat these figures as indicative and re-run "
                "on a quiet machine.**")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nruns = len(runs["roost"])
    body = f"""Run {when} at commit `{a.commit}` on {machine()}; ZooKeeper {a.zk_version}. Load average at the end: {load1:.1f} (1 min), {load5:.1f} (5 min).{busy}

Command: `{a.command}`. Each measured run: `{a.loadgen_command}`.

Median of {nruns} runs per figure. Ratio = Roost / ZooKeeper (throughput: above 1 is better; latency: below 1 is better).

{table}

Throughput of each run (ops/s): {per_run}.
"""
    if a.scenario != "read-only":
        body += (
            "\nWrites: Roost and ZooKeeper (default `forceSync=yes`) both fsync their log before "
            "acknowledging; the `forceSync=no` column shows ZooKeeper without that cost.\n"
        )
    print(f"\n## {TITLES.get(a.scenario, a.scenario)}\n\n{body}")

    if a.docs:
        begin = f"<!-- bench:{a.scenario}:begin -->"
        end = f"<!-- bench:{a.scenario}:end -->"
        section = f"{begin}\n{body}{end}"
        text = open(a.docs).read() if os.path.exists(a.docs) else DOC_HEADER
        if begin in text and end in text:
            pre, rest = text.split(begin, 1)
            _, post = rest.split(end, 1)
            text = pre + section + post
        else:
            text = text.rstrip("\n") + f"\n\n## {TITLES.get(a.scenario, a.scenario)}\n\n{section}\n"
        with open(a.docs, "w") as f:
            f.write(text)
        print(f"report: updated {a.docs}")


if __name__ == "__main__":
    main()
