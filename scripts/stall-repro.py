#!/usr/bin/env python3
"""Start-up stall reproducer (docs/replication.md, "start-up stall").

Starts `roost serve` (standalone, or a 3-member ensemble) many times on a
machine loaded with CPU busy loops pinned to CPU 0 and fsync loops, and
probes every member with `ruok` (short timeouts) until it answers `imok`.
A member that has not answered within --deadline seconds counts as stalled:
its listening socket's accept queue (ss), its threads' states and a gdb
thread dump are saved, then it is killed.

Everything it starts (loaders, servers) it kills by PID on exit.

Usage:
  scripts/stall-repro.py [--runs N] [--mode standalone|ensemble]
                         [--busy K] [--fsync K] [--deadline S] [--out DIR]
  Env ROOST_BIN (default $CARGO_TARGET_DIR/release/roost or target/release/roost)
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def roost_bin():
    if os.environ.get("ROOST_BIN"):
        return os.environ["ROOST_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "roost")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ruok(port, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"ruok")
            out = b""
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                out += chunk
            return out == b"imok"
    except OSError:
        return False


def start_loaders(busy, fsync, scratch):
    procs = []
    for _ in range(busy):
        procs.append(
            subprocess.Popen(["taskset", "-c", "0", "sh", "-c", "while :; do :; done"])
        )
    for i in range(fsync):
        path = os.path.join(scratch, f"fsync-{i}")
        code = (
            "import os,sys\n"
            f"fd=os.open({path!r},os.O_WRONLY|os.O_CREAT,0o644)\n"
            "b=b'x'*4096\n"
            "while True:\n"
            "    os.pwrite(fd,b,0); os.fsync(fd)\n"
        )
        procs.append(subprocess.Popen([sys.executable, "-c", code]))
    return procs


def stop(procs):
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGKILL)
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def write_member(d, client, servers, myid):
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    cfg = (
        f"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\n"
        f"clientPort={client}\nclientPortAddress=127.0.0.1\n"
        "4lw.commands.whitelist=*\npreAllocSize=4096\n"
    )
    if servers:
        cfg += servers
        with open(os.path.join(d, "data", "myid"), "w") as f:
            f.write(f"{myid}\n")
    with open(os.path.join(d, "zoo.cfg"), "w") as f:
        f.write(cfg)


def spawn(d):
    log = open(os.path.join(d, "server.log"), "ab")
    return subprocess.Popen(
        [roost_bin(), "serve", "--config", os.path.join(d, "zoo.cfg")],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def evidence(pid, port):
    out = []
    out.append(
        subprocess.run(
            ["ss", "-ltn", f"sport = :{port}"], capture_output=True, text=True
        ).stdout
    )
    tdir = f"/proc/{pid}/task"
    try:
        for tid in sorted(os.listdir(tdir), key=int):
            try:
                comm = open(f"{tdir}/{tid}/comm").read().strip()
                stat = open(f"{tdir}/{tid}/stat").read().split()
                wchan = open(f"{tdir}/{tid}/wchan").read().strip()
                out.append(
                    f"tid {tid} {comm} state {stat[2]} utime {stat[13]} stime {stat[14]} wchan {wchan}"
                )
            except OSError:
                pass
    except OSError:
        pass
    dump = subprocess.run(
        ["timeout", "60", "gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 30"],
        capture_output=True,
        text=True,
    ).stdout
    out.append(dump)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mode", choices=["standalone", "ensemble"], default="standalone")
    ap.add_argument("--busy", type=int, default=6)
    ap.add_argument("--fsync", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=15.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    out_dir = args.out or tempfile.mkdtemp(prefix="roost-stall-")
    os.makedirs(out_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="roost-stall-load-")
    loaders = start_loaders(args.busy, args.fsync, scratch)
    servers = []
    stalls = 0
    times = []
    try:
        time.sleep(1)
        for run in range(1, args.runs + 1):
            run_dir = tempfile.mkdtemp(prefix=f"run{run}-", dir=out_dir)
            n = 3 if args.mode == "ensemble" else 1
            ports = [(free_port(), free_port(), free_port()) for _ in range(n)]
            lines = ""
            if n > 1:
                for i, (_, q, e) in enumerate(ports):
                    lines += f"server.{i + 1}=127.0.0.1:{q}:{e}\n"
            dirs = []
            for i, (c, _, _) in enumerate(ports):
                d = os.path.join(run_dir, f"m{i + 1}")
                write_member(d, c, lines, i + 1)
                dirs.append(d)
            t0 = time.time()
            servers = [spawn(d) for d in dirs]
            pending = set(range(n))
            answered = {}
            while pending and time.time() - t0 < args.deadline:
                for i in list(pending):
                    if ruok(ports[i][0], timeout=0.5):
                        answered[i] = time.time() - t0
                        pending.discard(i)
                if pending:
                    time.sleep(0.05)
            for i in sorted(pending):
                stalls += 1
                ev = evidence(servers[i].pid, ports[i][0])
                path = os.path.join(run_dir, f"stall-m{i + 1}.txt")
                with open(path, "w") as f:
                    f.write(ev)
                # Does it recover on its own? Probe a bit longer.
                t1 = time.time()
                late = None
                while time.time() - t1 < 5:
                    if ruok(ports[i][0], timeout=0.5):
                        late = time.time() - t0
                        break
                    time.sleep(0.1)
                print(
                    f"run {run}: STALL member {i + 1} pid {servers[i].pid}"
                    f" (answered later: {late}) evidence {path}",
                    flush=True,
                )
            times.extend(answered.values())
            print(
                f"run {run}: answered {sorted((k + 1, round(v, 2)) for k, v in answered.items())}"
                f" stalled {[k + 1 for k in sorted(pending)]}",
                flush=True,
            )
            stop(servers)
            servers = []
            if not pending:
                shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        stop(servers)
        stop(loaders)
        shutil.rmtree(scratch, ignore_errors=True)
    worst = max(times) if times else 0
    print(
        f"SUMMARY mode={args.mode} runs={args.runs} busy={args.busy} fsync={args.fsync}"
        f" stalled_members={stalls} slowest_answer_s={worst:.2f} out={out_dir}",
        flush=True,
    )
    return 1 if stalls else 0


if __name__ == "__main__":
    sys.exit(main())
