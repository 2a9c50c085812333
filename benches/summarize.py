#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's output of `cargo bench -p benches`.

Reads `<target dir>/criterion/<group>/<function>/<parameter>/new/estimates.json` (the mean of the last run) and
`benchmark.json` (its throughput), and puts each measurement next to the limit it is compared with, with the ratio.
Usage: python3 benches/summarize.py [target dir, default: target]
"""

import json
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"


def load(group, function, parameter):
    d = ROOT / group / function / parameter / "new"
    est = json.loads((d / "estimates.json").read_text())
    bench = json.loads((d / "benchmark.json").read_text())
    mean = est["mean"]
    ci = mean["confidence_interval"]
    return {
        "ns": mean["point_estimate"],
        "lo": ci["lower_bound"],
        "hi": ci["upper_bound"],
        "throughput": bench.get("throughput"),
    }


def rate(m):
    """Bytes (or elements) per second at the mean."""
    t = m["throughput"]
    amount = t.get("Bytes") or t.get("BytesDecimal") or t.get("Elements")
    return amount / (m["ns"] * 1e-9)


def gib(m):
    return f"{rate(m) / 2**30:.2f} GiB/s"


def ns(m):
    v = m["ns"]
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


def main():
    rows = []
    for name in ["capsule_cmd_72B", "capsule_resp_24B", "ic_req_128B"]:
        d, c, crc = (load("header_decode", f, name) for f in ("decode", "copy", "crc32c"))
        rows.append([name, ns(d), gib(d), ns(c), gib(c), f"{rate(d) / rate(c):.3f}", ns(crc)])
    print("header_decode")
    table(["PDU", "decode", "decode thrpt", "copy", "copy thrpt", "decode / copy", "CRC-32C of it"], rows)

    rows = []
    for size in ["4KiB", "128KiB"]:
        d, c = load("c2h_digest", "decode", size), load("c2h_digest", "crc32c", size)
        rows.append([size, ns(d), gib(d), ns(c), gib(c), f"{rate(d) / rate(c):.2f}", "0.9", "met" if rate(d) / rate(c) >= 0.9 else "not met"])
    print("c2h_digest")
    table(["data", "decode", "decode thrpt", "CRC-32C", "CRC-32C thrpt", "ratio", "goal", ""], rows)

    rows = []
    for size in ["4KiB", "128KiB"]:
        d, c = load("c2h_plain", "decode", size), load("c2h_plain", "memcpy", size)
        rows.append([size, ns(d), gib(d), ns(c), gib(c), f"{rate(d) / rate(c):.1f}", "10", "met" if rate(d) / rate(c) >= 10 else "not met"])
    print("c2h_plain")
    table(["data", "decode", "decode thrpt", "memcpy", "memcpy thrpt", "ratio", "goal", ""], rows)

    rows = []
    for side in ["host", "controller"]:
        crc, cpy = load("deframer", f"{side}_stream", "crc32c"), load("deframer", f"{side}_stream", "memcpy")
        for chunk in ["1B", "1500B", "64KiB"]:
            m = load("deframer", f"{side}_stream", chunk)
            rows.append([side, chunk, ns(m), gib(m), f"{rate(m) / rate(crc):.2f}", f"{rate(m) / rate(cpy):.2f}"])
        rows.append([side, "(CRC-32C of the stream)", ns(crc), gib(crc), "1", ""])
        rows.append([side, "(memcpy of the stream)", ns(cpy), gib(cpy), "", "1"])
    print("deframer")
    table(["stream", "chunks", "time", "thrpt", "/ CRC-32C", "/ memcpy"], rows)

    rows = []
    for name in ["capsule_cmd_72B", "capsule_resp_24B", "ic_req_128B"]:
        m = load("encode", "emit", name)
        rows.append([name, ns(m), gib(m), "", ""])
    for size in ["4KiB", "128KiB"]:
        e, lim = load("encode", "emit_c2h_data", size), load("encode", "memcpy_crc32c", size)
        rows.append([f"C2HData {size}", ns(e), gib(e), ns(lim), f"{rate(e) / rate(lim):.2f}"])
    print("encode")
    table(["PDU (both digests)", "emit", "thrpt", "memcpy + CRC-32C of the data", "ratio"], rows)

    rows = []
    for bg in ["0", "1000", "100000"]:
        m = load("engine_submit_complete", bg, "")
        rows.append([bg, ns(m)])
    print("engine_submit_complete")
    table(["other commands outstanding", "submit + complete"], rows)

    rows = []
    base = None
    for n in ["1000", "100000", "1000000"]:
        m = load("engine_fence_release", n, "")
        per = m["ns"] / int(n)
        base = base or per
        rows.append([n, ns(m), f"{per:.1f} ns", f"{per / base:.2f}"])
    print("engine_fence_release")
    table(["held commands", "fence + CCR + release all", "per command", "vs 1k"], rows)

    rows = []
    for p in ["legacy", "cqt", "ccr", "ccr-filter"]:
        m = load("sim_rw_test", p, "")
        rows.append([p, ns(m), f"[{ns({'ns': m['lo']})}, {ns({'ns': m['hi']})}]"])
    print("sim_rw_test")
    table(["policy", "wall (mean)", "95% interval"], rows)


main()
