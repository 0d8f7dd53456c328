"""Time gpt4plan's start: whole CLI runs as a user types them (wall, median of N), and what they import.

Run by hand:  python3 benchmarks/bench_startup.py [--repeat 10]
Targets (issue "One home per idea"): `gpt4plan infer` <= 0.25 s, `gpt4plan train --chips 25000
--price-per-hour 1 --global-batch 60M` <= 0.6 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--version"],
    ["infer"],
    ["train", "--chips", "25000", "--price-per-hour", "1", "--global-batch", "60M"],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    for cmd in COMMANDS:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gpt4plan.cli", *cmd], check=False, capture_output=True)
            times.append(time.perf_counter() - t0)
        print(f"gpt4plan {' '.join(cmd)}: median {statistics.median(times):.3f} s, min {min(times):.3f} s "
              f"over {args.repeat} runs")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import gpt4plan.cli"], capture_output=True,
                         text=True).stderr.splitlines()
    rows = sorted((int(ln.split("|")[1]), ln.split("|")[2].strip()) for ln in out if ln.startswith("import time:")
                  and ln.split("|")[1].strip().isdigit())
    print("largest cumulative imports of `import gpt4plan.cli` (us):")
    for us, name in rows[-8:][::-1]:
        print(f"  {us:>8,}  {name}")


if __name__ == "__main__":
    main()
