#!/usr/bin/env python3
"""Helpers for bench/storage (raw ZooKeeper protocol; the client of
tests/powerloss/plclient.py, standard library only).

  ztool.py populate --server H:P --root /tree --parents P --children C --value-size B [--window W]
      creates ROOT, P parents ROOT/pI and C children ROOT/pI/cJ each (P*C + P + 1
      znodes), pipelined W requests at a time; prints znodes and seconds.
  ztool.py probe --server H:P --path PATH --since EPOCH [--timeout S]
      retries connect + getData PATH every 10 ms until it succeeds; prints the
      seconds from EPOCH (the server's launch) to the first successful read.
"""

import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "powerloss"))
import plclient as zk  # noqa: E402


def populate(a):
    c = zk.Conn(a.server, timeout_s=120.0, session_ms=60000)
    value = b"v" * a.value_size
    acl_flags = zk.OPEN_ACL + struct.pack(">i", 0)

    def paths():
        yield a.root
        for p in range(a.parents):
            parent = f"{a.root}/p{p}"
            yield parent
            for ch in range(a.children):
                yield f"{parent}/c{ch}"

    t0 = time.monotonic()
    done = 0
    batch = []
    sock = c.sock

    def flush():
        nonlocal done
        if not batch:
            return
        out = bytearray()
        first = c.xid + 1
        for path in batch:
            c.xid += 1
            body = struct.pack(">ii", c.xid, zk.OP_CREATE) + zk.s_str(path) + zk.s_buf(value) + acl_flags
            out += struct.pack(">i", len(body)) + body
        sock.sendall(out)
        for i in range(len(batch)):
            r = zk.Reader(c._recv())
            xid = r.int()
            r.long()
            err = r.int()
            if xid != first + i or err not in (0, zk.ERR_NODEEXISTS):
                raise SystemExit(f"create {batch[i]}: xid {xid} err {err}")
        done += len(batch)
        batch.clear()

    for path in paths():
        batch.append(path)
        # A parent must exist before its children are sent.
        if len(batch) >= a.window or path.count("/") < 3:
            flush()
    flush()
    c.close()
    print(f"populate: {done} znodes in {time.monotonic() - t0:.1f} s")


def probe(a):
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        try:
            c = zk.Conn(a.server, timeout_s=2.0)
            c.get(a.path)
            t = time.time()
            c.close()
            print(f"{t - a.since:.3f}")
            return 0
        except (OSError, ConnectionError, zk.ZkError, struct.error):
            time.sleep(0.01)
    print("timeout")
    return 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("populate")
    p.add_argument("--server", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--parents", type=int, required=True)
    p.add_argument("--children", type=int, required=True)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--window", type=int, default=1000)
    q = sub.add_parser("probe")
    q.add_argument("--server", required=True)
    q.add_argument("--path", required=True)
    q.add_argument("--since", type=float, required=True)
    q.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    if a.cmd == "populate":
        populate(a)
        return 0
    return probe(a)


if __name__ == "__main__":
    sys.exit(main())
