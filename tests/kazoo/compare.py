#!/usr/bin/env python3
"""Compare a kazoo-suite results TSV with the reference run.

Usage: compare.py RESULTS.tsv REFERENCE.tsv [ALLOWLIST]

Prints a summary of the run, then every test whose outcome differs from the
reference.  Exit status 1 if a test that *passed* in the reference did not pass
here (failed, error, skipped, or never ran - e.g. cut off by the whole-run
timeout), unless it is listed in ALLOWLIST (lines: ``test id  reason``; blank
lines and ``#`` comments ignored).  Allow-listed tests that now pass are
reported so the list can be pruned.  Exit status 2 on bad input.
"""

import collections
import sys


def read_tsv(path):
    out = {}
    with open(path, "r", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            while len(parts) < 3:
                parts.append("")
            out[parts[0]] = (parts[1], parts[2])
    return out


def read_allow(path):
    out = {}
    if not path:
        return out
    try:
        fh = open(path, "r")
    except FileNotFoundError:
        return out
    with fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results = read_tsv(argv[1])
    reference = read_tsv(argv[2])
    allow = read_allow(argv[3] if len(argv) > 3 else None)

    counts = collections.Counter(o for o, _ in results.values())
    missing = sorted(t for t in reference if t not in results)
    extra = sorted(t for t in results if t not in reference)
    ref_counts = collections.Counter(o for o, _ in reference.values())

    def fmt(c):
        keys = ["passed", "failed", "error", "skipped"]
        keys += sorted(k for k in c if k not in keys)
        return ", ".join("%d %s" % (c[k], k) for k in keys if c[k] or k in ("passed", "failed"))

    print("kazoo suite: %s (of %d tests; %d not run)" % (fmt(counts), len(results), len(missing)))
    print("reference:   %s (%s)" % (fmt(ref_counts), argv[2]))

    regressions, allowed, improvements, other = [], [], [], []
    for tid in sorted(set(reference) | set(results)):
        ref = reference.get(tid, ("absent", ""))[0]
        got, msg = results.get(tid, ("not-run", ""))
        if ref == got:
            continue
        line = "  %-9s -> %-9s %s%s" % (ref, got, tid, ("  | " + msg[:200]) if msg else "")
        if ref == "passed":
            (allowed if tid in allow else regressions).append(line)
        elif got == "passed":
            improvements.append(line)
        else:
            other.append(line)

    print("diff against reference (reference outcome -> this run):")
    if not (regressions or allowed or improvements or other):
        print("  (none: identical outcomes)")
    for title, lines in (
        ("REGRESSIONS (passed in reference, not here)", regressions),
        ("allowed by expected-failures list", allowed),
        ("passing here, not in reference", improvements),
        ("other differences", other),
    ):
        if lines:
            print(" %s: %d" % (title, len(lines)))
            notrun = [l for l in lines if "-> not-run" in l]
            shown = [l for l in lines if "-> not-run" not in l] + notrun[:10]
            for line in shown:
                print(line)
            if len(notrun) > 10:
                print("  ... and %d more not run" % (len(notrun) - 10))
    stale = sorted(t for t in allow if results.get(t, ("",))[0] == "passed")
    if stale:
        print(" expected-failures entries that now pass (remove them): %d" % len(stale))
        for t in stale:
            print("  " + t)
    if extra:
        print(" (%d tests not in the reference)" % len(extra))
    if regressions:
        print("RESULT: FAIL - %d reference-passing tests did not pass" % len(regressions))
        return 1
    print("RESULT: OK - every reference-passing test passed (or is allow-listed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
