#!/usr/bin/env python3
"""Prints the codec and engine part of BENCHMARKS.md from criterion's output of `cargo bench -p benches`.

Usage:
    python3 benches/summarize.py [--before DIR] DIR [DIR ...]

Each DIR is one run: `DIR/criterion/<group>/<function>/<parameter>/new/estimates.json` (criterion's mean) and
`benchmark.json` (its throughput), as `CRITERION_HOME=DIR/criterion cargo bench -p benches` writes them, plus
`DIR/load.txt`, the machine's load while it ran (`uptime` before and after). `--before` names a run of the code
before the change; the other runs are "after". With a single run and no `--before`, it prints that run's tables
(DIR may then be `target`, criterion's default place).

Every measurement sits next to the limit it is compared with, measured in the same run; each goal is a ratio
taken within one run, checked in every run given, and called met with margin when it beats the goal by 10 %.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


# Criterion's median by default: on a shared virtual machine, preemption adds outliers that move the mean (which
# SUMMARIZE_STAT=mean selects) more than the median.
STAT = os.environ.get("SUMMARIZE_STAT", "median")


def load(run, group, function, parameter):
    d = Path(run) / "criterion" / group / function / parameter / "new"
    if not d.exists():
        return None
    est = json.loads((d / "estimates.json").read_text())
    bench = json.loads((d / "benchmark.json").read_text())
    return {"ns": est[STAT]["point_estimate"], "throughput": bench.get("throughput")}


def amount(m):
    t = m["throughput"]
    return t.get("Bytes") or t.get("BytesDecimal") or t.get("Elements")


def rate(m):
    """Bytes (or elements) per second at the mean."""
    return amount(m) / (m["ns"] * 1e-9)


def gib(m):
    return f"{rate(m) / 2**30:.2f} GiB/s"


def ns(v):
    if v is None:
        return "-"
    if isinstance(v, dict):
        v = v["ns"]
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.1f} ns"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


HEADERS = ["capsule_cmd_72B", "capsule_resp_24B", "ic_req_128B"]
STREAM_BYTES = {}


def stream_calls(run, side):
    """Calls a 1-byte delivery makes: one per byte, plus one per PDU (the empty buffer after each)."""
    m = load(run, "deframer", f"{side}_stream", "1B")
    pdus = {"host": 256, "controller": 192}[side]
    return amount(m) + pdus


def crc(run, label):
    """CRC-32C of `label` bytes by the backend in use (crc-fast), in ns."""
    return load(run, "crc32c_backends", "crc_fast", label)["ns"]


def bound_c2h(r):
    c = load(r, "c2h_digest", "crc32c", "4KiB")["ns"]
    return c / (c + crc(r, "24B"))


def bound_stream(r, side):
    """The ratio a deframer reaches if checking and building each PDU cost nothing: the stream's CRC-32C against the
    per-PDU CRCs it must compute (64 data digests of 4 KiB, and a header digest per PDU)."""
    data = 64 * load(r, "c2h_digest", "crc32c", "4KiB")["ns"]
    headers = 256 * crc(r, "24B") if side == "host" else 128 * crc(r, "72B") + 64 * crc(r, "24B")
    return load(r, "deframer", f"{side}_stream", "crc32c")["ns"] / (data + headers)


def bound_emit(r):
    lim = load(r, "encode", "memcpy_crc32c", "4KiB")["ns"]
    return lim / (lim + crc(r, "24B"))


# Each goal: a name, how to compute its ratio in one run, the goal, whether lower is better, and (for goals against
# a CRC-32C limit) the best ratio the per-PDU CRC calls alone allow.
def goals():
    g = []
    for h in HEADERS:
        g.append((f"header decode {h} / copy (time)",
                  lambda r, h=h: load(r, "header_decode", "decode", h)["ns"] / load(r, "header_decode", "copy", h)["ns"],
                  3.0, "le", None))
    g.append(("C2HData 4 KiB decode, both digests / CRC-32C (thrpt)",
              lambda r: rate(load(r, "c2h_digest", "decode", "4KiB")) / rate(load(r, "c2h_digest", "crc32c", "4KiB")),
              0.9, "ge", bound_c2h))
    for side in ["host", "controller"]:
        g.append((f"deframer {side} stream, 64 KiB chunks / CRC-32C of the stream",
                  lambda r, s=side: rate(load(r, "deframer", f"{s}_stream", "64KiB"))
                  / rate(load(r, "deframer", f"{s}_stream", "crc32c")), 0.8, "ge",
                  lambda r, s=side: bound_stream(r, s)))
    for side in ["host", "controller"]:
        g.append((f"deframer {side} stream, 1500 B chunks / CRC-32C of the stream",
                  lambda r, s=side: rate(load(r, "deframer", f"{s}_stream", "1500B"))
                  / rate(load(r, "deframer", f"{s}_stream", "crc32c")), 0.7, "ge",
                  lambda r, s=side: bound_stream(r, s)))
    g.append(("emit C2HData 4 KiB, both digests / memcpy + CRC-32C",
              lambda r: rate(load(r, "encode", "emit_c2h_data", "4KiB")) / rate(load(r, "encode", "memcpy_crc32c", "4KiB")),
              0.95, "ge", bound_emit))
    g.append(("engine fence + CCR + release per command, 1 000 000 held / 1 000 held",
              lambda r: (load(r, "engine_fence_release", "1000000", "")["ns"] / 1e6)
              / (load(r, "engine_fence_release", "1000", "")["ns"] / 1e3), 1.5, "le", None))
    g.append(("engine submit + complete, 100 000 outstanding / 0",
              lambda r: load(r, "engine_submit_complete", "100000", "")["ns"]
              / load(r, "engine_submit_complete", "0", "")["ns"], 1.3, "le", None))
    for side in ["host", "controller"]:
        g.append((f"deframer {side} stream, 1 byte per call: ns per call",
                  lambda r, s=side: load(r, "deframer", f"{s}_stream", "1B")["ns"] / stream_calls(r, s), 4.0, "le",
                  None))
    return g


def verdict(values, goal, how):
    ok = sum(v <= goal if how == "le" else v >= goal for v in values)
    margin = sum(v <= goal / 1.1 if how == "le" else v >= goal * 1.1 for v in values)
    n = len(values)
    if ok == n:
        return f"**met** in all {n} runs" + (", with 10 % margin" if margin == n else f" (with 10 % margin in {margin})")
    if ok == 0:
        return f"**not met** (0 of {n} runs)"
    return f"**not met** in every run: met in {ok} of {n}" + (f" (with 10 % margin in {margin})" if margin else "")


def safe(f, r):
    try:
        return f(r)
    except (TypeError, KeyError):
        return None


def fmt(v):
    return "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        get = lambda k: info.get(k, "?").strip()
        return (f"{get('Model name')} (family {get('CPU family')}, model {get('Model')}), {get('CPU(s)')} CPUs, "
                f"L1d {get('L1d cache')}, L2 {get('L2 cache')}, L3 {get('L3 cache')}; {platform.system()} "
                f"{platform.release()}")
    except OSError:
        return platform.processor()


def run_tables(run):
    rows = []
    for name in HEADERS:
        d, c, crc = (load(run, "header_decode", f, name) for f in ("decode", "copy", "crc32c"))
        rows.append([name, ns(d), gib(d), ns(c), gib(c), f"{d['ns'] / c['ns']:.1f}", ns(crc)])
    print("Header decode (view + validation, no digests), next to a copy of the same bytes:\n")
    table(["PDU", "decode", "decode thrpt", "copy", "copy thrpt", "decode / copy (time)", "CRC-32C of it"], rows)

    rows = []
    for size in ["4KiB", "128KiB"]:
        d, c = load(run, "c2h_digest", "decode", size), load(run, "c2h_digest", "crc32c", size)
        rows.append([size, ns(d), gib(d), ns(c), gib(c), f"{rate(d) / rate(c):.2f}"])
    print("C2HData decode with header and data digests, next to CRC-32C of the data:\n")
    table(["data", "decode", "decode thrpt", "CRC-32C", "CRC-32C thrpt", "ratio"], rows)

    rows = []
    for size in ["4KiB", "128KiB"]:
        d, c = load(run, "c2h_plain", "decode", size), load(run, "c2h_plain", "memcpy", size)
        rows.append([size, ns(d), gib(d), ns(c), gib(c), f"{rate(d) / rate(c):.1f}"])
    print("C2HData decode without digests, next to memcpy of the data:\n")
    table(["data", "decode", "decode thrpt", "memcpy", "memcpy thrpt", "ratio"], rows)

    rows = []
    for side in ["host", "controller"]:
        crc, cpy = load(run, "deframer", f"{side}_stream", "crc32c"), load(run, "deframer", f"{side}_stream", "memcpy")
        for chunk in ["1B", "1500B", "64KiB"]:
            m = load(run, "deframer", f"{side}_stream", chunk)
            per_call = f"{m['ns'] / stream_calls(run, side):.2f} ns/call" if chunk == "1B" else ""
            rows.append([side, chunk, ns(m), gib(m), f"{rate(m) / rate(crc):.2f}", f"{rate(m) / rate(cpy):.2f}",
                         per_call])
        rows.append([side, "(CRC-32C of the stream)", ns(crc), gib(crc), "1", "", ""])
        rows.append([side, "(memcpy of the stream)", ns(cpy), gib(cpy), "", "1", ""])
    print("Deframer over the mixed streams, both digests, in chunks:\n")
    table(["stream", "chunks", "time", "thrpt", "/ CRC-32C", "/ memcpy", ""], rows)

    rows = []
    for name in HEADERS:
        m = load(run, "encode", "emit", name)
        rows.append([name, ns(m), gib(m), "", ""])
    for size in ["4KiB", "128KiB"]:
        e, lim = load(run, "encode", "emit_c2h_data", size), load(run, "encode", "memcpy_crc32c", size)
        rows.append([f"C2HData {size}", ns(e), gib(e), ns(lim), f"{rate(e) / rate(lim):.2f}"])
    print("Encode into a caller buffer, both digests:\n")
    table(["PDU", "emit", "thrpt", "memcpy + CRC-32C of the data", "ratio"], rows)

    if load(run, "crc32c_backends", "crc_fast", "24B"):
        rows = []
        for label in ["24B", "72B", "128B", "4KiB", "64KiB", "host_stream"]:
            a, b, c = (load(run, "crc32c_backends", f, label) for f in ("crc_fast", "crc32c_crate", "crc_table16"))
            rows.append([label, f"{ns(a)} ({gib(a)})", f"{ns(b)} ({gib(b)})", f"{ns(c)} ({gib(c)})",
                         f"{b['ns'] / a['ns']:.2f}"])
        print("CRC-32C backends on the same buffers:\n")
        table(["bytes", "crc-fast", "crc32c crate", "crc slice-by-16", "crc32c crate / crc-fast (time)"], rows)

    rows = []
    for bg in ["0", "1000", "100000"]:
        m = load(run, "engine_submit_complete", bg, "")
        rows.append([bg, ns(m)])
    print("Engine submit + complete, with other commands outstanding:\n")
    table(["other commands outstanding", "submit + complete"], rows)

    rows = []
    base = None
    for n in ["1000", "100000", "1000000"]:
        m = load(run, "engine_fence_release", n, "")
        per = m["ns"] / int(n)
        base = base or per
        rows.append([n, ns(m), f"{per:.1f} ns", f"{per / base:.2f}"])
    print("Engine fence + CCR + release of every held command:\n")
    table(["held commands", "fence + CCR + release all", "per command", "vs 1k"], rows)

    if load(run, "sim_rw_test", "ccr", ""):
        rows = [[p, ns(load(run, "sim_rw_test", p, ""))] for p in ["legacy", "cqt", "ccr", "ccr-filter"]]
        print("nvme-sim, one seed rw_test per policy:\n")
        table(["policy", "wall"], rows)


def main():
    args = sys.argv[1:]
    before = None
    if args[:1] == ["--before"]:
        before, args = args[1], args[2:]
    runs = args or ["target"]
    if before is None and len(runs) == 1:
        run_tables(runs[0])
        return

    print(f"Machine: {machine()}.\n")
    labelled = ([("before", before)] if before else []) + [(f"after {i + 1}", r) for i, r in enumerate(runs)]
    rows = []
    for label, r in labelled:
        p = Path(r) / "load.txt"
        rows.append([label, p.read_text().strip().replace("\n", "; ") if p.exists() else "not recorded"])
    print("Load while each run measured (`uptime` before; after):\n")
    table(["run", "load"], rows)

    rows = []
    for name, f, goal, how, bound in goals():
        vals = [safe(f, r) for r in runs]
        b = fmt(safe(f, before)) if before else "-"
        sign = "≤" if how == "le" else "≥"
        present = [v for v in vals if v is not None]
        bounds = "-" if bound is None else " / ".join(fmt(safe(bound, r)) for r in runs)
        rows.append([name, b] + [fmt(v) for v in vals]
                    + [f"{sign} {goal}", verdict(present, goal, how) if present else "-", bounds])
    print(f"Goals (each ratio taken within one run, from criterion's {STAT}s):\n")
    table(["measure", "before"] + [f"after, run {i + 1}" for i in range(len(runs))]
          + ["goal", "", "best reachable: CRC calls alone (per run)"], rows)

    for label, r in labelled:
        print(f"#### Figures, {label}\n")
        run_tables(r)


main()
