"""Sums Nsight Compute's gpu__time_duration per kernel over the last of two profiled steps.

Usage: python3 kernels/gpu/ncu_summary.py "<label>" ncu.csv
"""
import csv
import sys
from collections import defaultdict


def main():
    label, path = sys.argv[1], sys.argv[2]
    rows = []
    with open(path) as f:
        lines = [l for l in f if l.startswith('"')]
    for r in csv.DictReader(lines):
        if r.get("Metric Name") == "gpu__time_duration.sum":
            unit = r.get("Metric Unit", "")
            v = float(r["Metric Value"].replace(",", ""))
            scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
            if unit not in scale:
                raise SystemExit(f"unknown unit {unit!r} for gpu__time_duration.sum")
            us = v * scale[unit]
            rows.append((r["Kernel Name"], us))
    half = rows[len(rows) // 2:]  # the second of two identical steps
    total = defaultdict(float)
    count = defaultdict(int)
    for name, us in half:
        total[name] += us
        count[name] += 1
    s = sum(total.values())
    print(f"-- {label}: {len(half)} kernels, {s:.1f} us of kernel time in one step")
    for name in sorted(total, key=total.get, reverse=True):
        print(f"   {name[:40]:40s} x{count[name]:4d} {total[name]:10.1f} us  ({total[name] / count[name]:.1f} us each)")


if __name__ == "__main__":
    main()
