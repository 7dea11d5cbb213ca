"""Sums Nsight Compute's metrics per kernel over one profiled step (run.sh profiles CudaBench profile's second step).

Usage: python3 kernels/gpu/ncu_summary.py "<label>" ncu.csv
With NCU_BY_GRID=1 in the environment, launches are grouped by kernel and grid size (so one kernel's launches for
different products, e.g. dt_proj and out_proj, get rows of their own).
gpu__time_duration.sum is required; L2 sector counts (lts__t_sectors_*, 32 bytes each) and DRAM bytes (dram__bytes_*),
where the CSV has them, are summed into GB columns.
"""
import csv
import os
import sys
from collections import defaultdict

TIME = "gpu__time_duration.sum"
TIME_SCALE = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
BYTE_SCALE = {"byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9, "B": 1.0}


def value(r):
    """The row's value in us (time), bytes (dram__bytes_*) or bytes (lts__t_sectors_*: 32 per sector)."""
    name, unit = r["Metric Name"], r.get("Metric Unit", "")
    v = float(r["Metric Value"].replace(",", ""))
    if name == TIME:
        if unit not in TIME_SCALE:
            raise SystemExit(f"unknown unit {unit!r} for {TIME}")
        return v * TIME_SCALE[unit]
    if name.startswith("lts__t_sectors"):
        return v * 32.0
    if unit not in BYTE_SCALE:
        raise SystemExit(f"unknown unit {unit!r} for {name}")
    return v * BYTE_SCALE[unit]


def main():
    label, path = sys.argv[1], sys.argv[2]
    by_grid = os.environ.get("NCU_BY_GRID") == "1"
    with open(path) as f:
        lines = [l for l in f if l.startswith('"')]
    per_launch = {}  # launch id -> (kernel name, {metric: value}), in launch order
    for r in csv.DictReader(lines):
        name = r["Kernel Name"] + (f" {r['Grid Size']}x{r['Block Size']}" if by_grid else "")
        per_launch.setdefault(r["ID"], (name, {}))[1][r["Metric Name"]] = value(r)
    step = list(per_launch.values())
    metrics = sorted({m for _, ms in step for m in ms if m != TIME})
    total = defaultdict(lambda: defaultdict(float))
    count = defaultdict(int)
    for name, ms in step:
        count[name] += 1
        for m, v in ms.items():
            total[name][m] += v
    s = sum(t[TIME] for t in total.values())
    print(f"-- {label}: {len(step)} kernels, {s:.1f} us of kernel time in one step")
    short = [m.replace("srcunit_tex_op_", "").replace("lts__t_sectors_", "L2 ").replace("dram__bytes_", "DRAM ").replace(".sum", "") for m in metrics]
    print(f"   {'kernel':56s} {'count':>5s} {'us':>10s}" + "".join(f" {h[:16]:>16s}" for h in short) + "  (GB)")
    for name in sorted(total, key=lambda n: total[n][TIME], reverse=True):
        t = total[name]
        print(f"   {name[:56]:56s} x{count[name]:4d} {t[TIME]:10.1f}" + "".join(f" {t[m] * 1e-9:16.3f}" for m in metrics))
    print(f"   {'all':56s} {len(step):5d} {s:10.1f}"
          + "".join(f" {sum(t[m] for t in total.values()) * 1e-9:16.3f}" for m in metrics))


if __name__ == "__main__":
    main()
