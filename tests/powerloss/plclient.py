#!/usr/bin/env python3
"""Power-loss test client: raw ZooKeeper protocol, standard library only.

  plclient.py load   --server H:P --round R --workers N --acks FILE --stop FILE
  plclient.py verify --server H:P --rounds R --acks-dir DIR

load: N workers, one connection each, one request in flight each, write under
/pl/rR.  Worker w runs operation k = 0, 1, 2, ... in order:
  k % 4 != 3: create /pl/rR/wW-k with data(name)
  k % 4 == 3: multi [create .../mW-k-a, create .../mW-k-b, setData .../ctrW = k]
Each ACKNOWLEDGED operation is appended to FILE ("ack W K", flushed) before the
next is sent.  The first error, timeout or closed connection ends the worker
("unknown W K": the outcome of operation K is not known).  The workers also
stop when FILE --stop exists.

verify: after recovery, for every round 1..R and every worker:
  - every acknowledged operation is present, with exactly its data;
  - the present operations are a prefix 0..m of the worker's sequence with
    m = last acknowledged or last acknowledged + 1 (the one unknown op): the
    log is ordered, so nothing later can survive without everything earlier;
  - a multi is all or nothing (both creates, and ctrW holds the highest multi
    present), and no node is present that the workers never wrote.
Prints one line per problem and "verify: ok ..." or "verify: FAILED ...";
exit status 0 only when there is no problem.
"""

import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time

OP_CREATE, OP_DELETE, OP_EXISTS, OP_GETDATA, OP_SETDATA = 1, 2, 3, 4, 5
OP_GETCHILDREN, OP_MULTI, OP_CLOSE = 8, 14, -11
ERR_NODEEXISTS = -110
OPEN_ACL = struct.pack(">i", 1) + struct.pack(">i", 31) + b"\x00\x00\x00\x05world" + b"\x00\x00\x00\x06anyone"


class ZkError(Exception):
    def __init__(self, code, what=""):
        super().__init__(f"zookeeper error {code} {what}")
        self.code = code


def s_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">i", len(b)) + b


def s_buf(b):
    return struct.pack(">i", len(b)) + b


def data_for(name):
    """Deterministic data of a node: 40 B to ~5 KiB, so records span sectors and pages."""
    h = hashlib.sha256(name.encode()).digest()
    size = 40 + (h[0] | (h[1] << 8)) % 5000
    out = (h * (size // len(h) + 1))[:size]
    return name.encode() + b"|" + out


class Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def int(self):
        v = struct.unpack_from(">i", self.d, self.o)[0]
        self.o += 4
        return v

    def long(self):
        v = struct.unpack_from(">q", self.d, self.o)[0]
        self.o += 8
        return v

    def bool(self):
        v = self.d[self.o] != 0
        self.o += 1
        return v

    def buf(self):
        n = self.int()
        if n < 0:
            return None
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def str(self):
        b = self.buf()
        return None if b is None else b.decode()


class Conn:
    def __init__(self, server, timeout_s=5.0, session_ms=20000):
        host, port = server.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.sock.settimeout(timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        req = struct.pack(">iqiq", 0, 0, session_ms, 0) + s_buf(b"\x00" * 16) + b"\x00"
        self._send(req)
        r = Reader(self._recv())
        r.int()
        r.int()
        self.session = r.long()
        if self.session == 0:
            raise ConnectionError("session refused")

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recvn(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("connection closed")
            out += chunk
        return bytes(out)

    def _recv(self):
        (n,) = struct.unpack(">i", self._recvn(4))
        return self._recvn(n)

    def call(self, op, body):
        self.xid += 1
        self._send(struct.pack(">ii", self.xid, op) + body)
        while True:
            r = Reader(self._recv())
            xid = r.int()
            r.long()
            err = r.int()
            if xid == self.xid:
                break  # watch events (xid -1) and pings are skipped
        return err, r

    def create(self, path, data, ok_exists=False):
        err, _ = self.call(OP_CREATE, s_str(path) + s_buf(data) + OPEN_ACL + struct.pack(">i", 0))
        if err != 0 and not (ok_exists and err == ERR_NODEEXISTS):
            raise ZkError(err, path)

    def multi(self, ops):
        """ops: list of ("create", path, data) | ("set", path, data)."""
        body = b""
        for kind, path, data in ops:
            if kind == "create":
                body += struct.pack(">i?i", OP_CREATE, False, -1)
                body += s_str(path) + s_buf(data) + OPEN_ACL + struct.pack(">i", 0)
            else:
                body += struct.pack(">i?i", OP_SETDATA, False, -1)
                body += s_str(path) + s_buf(data) + struct.pack(">i", -1)
        body += struct.pack(">i?i", -1, True, -1)
        err, _ = self.call(OP_MULTI, body)
        if err != 0:
            raise ZkError(err, "multi")

    def get(self, path):
        err, r = self.call(OP_GETDATA, s_str(path) + b"\x00")
        if err != 0:
            raise ZkError(err, path)
        return r.buf()

    def children(self, path):
        err, r = self.call(OP_GETCHILDREN, s_str(path) + b"\x00")
        if err != 0:
            raise ZkError(err, path)
        return [r.str() for _ in range(r.int())]

    def close(self):
        try:
            self.call(OP_CLOSE, b"")
        except Exception:
            pass
        self.sock.close()


def round_dir(r):
    return f"/pl/r{r}"


def single_name(r, w, k):
    return f"{round_dir(r)}/w{w}-{k}"


def multi_names(r, w, k):
    return f"{round_dir(r)}/m{w}-{k}-a", f"{round_dir(r)}/m{w}-{k}-b"


def ctr_name(r, w):
    return f"{round_dir(r)}/ctr{w}"


def cmd_load(a):
    ackf = open(a.acks, "a", buffering=1)
    lock = threading.Lock()
    setup = Conn(a.server)
    setup.create("/pl", b"", ok_exists=True)
    setup.create(round_dir(a.round), b"")
    for w in range(a.workers):
        setup.create(ctr_name(a.round, w), b"-1")
    setup.close()
    with lock:
        ackf.write(f"setup {a.workers}\n")

    def worker(w):
        try:
            c = Conn(a.server)
        except Exception as e:
            with lock:
                ackf.write(f"noconn {w} {e!r}\n")
            return
        k = 0
        while not os.path.exists(a.stop):
            try:
                if k % 4 == 3:
                    na, nb = multi_names(a.round, w, k)
                    c.multi([("create", na, data_for(na)), ("create", nb, data_for(nb)),
                             ("set", ctr_name(a.round, w), str(k).encode())])
                else:
                    n = single_name(a.round, w, k)
                    c.create(n, data_for(n))
            except Exception as e:
                with lock:
                    ackf.write(f"unknown {w} {k} {e!r}\n")
                return
            with lock:
                ackf.write(f"ack {w} {k}\n")
            k += 1
        with lock:
            ackf.write(f"stopped {w} {k}\n")

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ackf.close()


def read_acks(path):
    """-> (workers, {worker: last acknowledged k or -1}) or None if setup never finished."""
    workers, last = None, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "setup":
                workers = int(p[1])
            elif p[0] == "ack":
                w, k = int(p[1]), int(p[2])
                last[w] = max(last.get(w, -1), k)
    if workers is None:
        return None
    return workers, {w: last.get(w, -1) for w in range(workers)}


def cmd_verify(a):
    c = Conn(a.server, timeout_s=30.0, session_ms=30000)
    problems = []
    acked_total = present_total = 0
    try:
        rounds_present = set(c.children("/pl"))
    except ZkError as e:
        rounds_present = set()
        problems.append(f"/pl unreadable: {e}")
    for r in range(1, a.rounds + 1):
        acks = read_acks(os.path.join(a.acks_dir, f"acks-r{r}"))
        if acks is None:
            # The round's setup creates were never all acknowledged; nothing to demand.
            continue
        workers, last = acks
        if f"r{r}" not in rounds_present:
            problems.append(f"round {r}: {round_dir(r)} missing (its creation was acknowledged)")
            continue
        names = set(c.children(round_dir(r)))
        expected_names = set()
        for w in range(workers):
            acked_total += last[w] + 1
            ctr = f"ctr{w}"
            expected_names.add(ctr)
            if ctr not in names:
                problems.append(f"round {r}: acknowledged {ctr_name(r, w)} missing")
            # Walk the worker's sequence: present ops must be a prefix.
            m = -1
            k = 0
            max_multi = -1
            while True:
                if k % 4 == 3:
                    na, nb = multi_names(r, w, k)
                    ba, bb = na.rsplit("/", 1)[1], nb.rsplit("/", 1)[1]
                    pa, pb = ba in names, bb in names
                    if pa != pb:
                        problems.append(f"round {r}: multi w{w} k{k} half-applied: a={pa} b={pb}")
                    here = pa or pb
                    if pa:
                        expected_names.add(ba)
                    if pb:
                        expected_names.add(bb)
                    if here:
                        max_multi = k
                else:
                    n = single_name(r, w, k)
                    b = n.rsplit("/", 1)[1]
                    here = b in names
                    if here:
                        expected_names.add(b)
                if not here:
                    break
                m = k
                k += 1
            present_total += m + 1
            if m < last[w]:
                problems.append(f"round {r}: worker {w}: acknowledged up to k{last[w]} but present only up to k{m}"
                                + f" (k{m + 1} missing)")
            if m > last[w] + 1:
                problems.append(f"round {r}: worker {w}: present up to k{m}, but only k{last[w] + 1} could be in flight")
            # Anything of this worker beyond the prefix is a hole in the order.
            after_gap = sorted(
                int(b[len(pre):].split("-")[0])
                for b in names for pre in (f"w{w}-", f"m{w}-")
                if b.startswith(pre) and int(b[len(pre):].split("-")[0]) > m + 1)
            if after_gap:
                problems.append(f"round {r}: worker {w}: {len(after_gap)} nodes present after a gap"
                                + f" (prefix ends at k{m}; first k{after_gap[0]}, last k{after_gap[-1]})")
            # Data of every present node, and the multi counter.
            for kk in range(0, m + 1):
                paths = multi_names(r, w, kk) if kk % 4 == 3 else (single_name(r, w, kk),)
                for p in paths:
                    if p.rsplit("/", 1)[1] not in names:
                        continue
                    got = c.get(p)
                    if got != data_for(p):
                        problems.append(f"round {r}: {p} data differs ({len(got)} bytes, expected {len(data_for(p))})")
            if ctr in names:
                got = c.get(ctr_name(r, w))
                if got != str(max_multi).encode():
                    problems.append(f"round {r}: {ctr_name(r, w)} = {got!r}, highest multi present is k{max_multi}")
        extra = names - expected_names
        if extra:
            problems.append(f"round {r}: {len(extra)} unexpected nodes (after a gap, or never written),"
                            + f" e.g. {', '.join(sorted(extra)[:5])}")
    c.close()
    for p in problems[:50]:
        print("verify: " + p)
    if problems:
        print(f"verify: FAILED ({len(problems)} problems; {acked_total} acknowledged ops)")
        return 1
    print(f"verify: ok ({acked_total} acknowledged ops all present; {present_total} present incl. in-flight)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--server", required=True)
    lp.add_argument("--round", type=int, required=True)
    lp.add_argument("--workers", type=int, default=16)
    lp.add_argument("--acks", required=True)
    lp.add_argument("--stop", required=True)
    vp = sub.add_parser("verify")
    vp.add_argument("--server", required=True)
    vp.add_argument("--rounds", type=int, required=True)
    vp.add_argument("--acks-dir", required=True)
    a = ap.parse_args()
    if a.cmd == "load":
        cmd_load(a)
        return 0
    return cmd_verify(a)


if __name__ == "__main__":
    sys.exit(main())
