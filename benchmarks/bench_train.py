"""Time the full gpt-4 training search on 25,000 A100s in-process and as a whole CLI run.

Run by hand:  python3 benchmarks/bench_train.py
Target (issue 3): whole CLI run under 2 s on a 2-core machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def main() -> None:
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model
    from gpt4plan.training import TrainWorkload, plan_training

    m, h = resolve_model("gpt-4"), resolve_hardware("a100-40gb").with_price(1.0)
    wl = TrainWorkload(13e12, 8192, 60e6)
    for label, kw in (("--chips 25000", {"chips": 25000}), ("--days 100", {"days": 100, "max_chips": 100_000})):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            res = plan_training(m, h, wl, **kw)
            times.append(time.perf_counter() - t0)
        print(f"in-process {label}: {res.candidates_evaluated:,} layouts, median {statistics.median(times) * 1e3:.0f} ms")
    cli = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpt4plan.cli", "train", "--chips", "25000", "--price-per-hour", "1",
                        "--global-batch", "60M"], check=True, capture_output=True)
        cli.append(time.perf_counter() - t0)
    print(f"whole CLI 'gpt4plan train --chips 25000': median {statistics.median(cli):.3f} s over {len(cli)} runs")


if __name__ == "__main__":
    main()
