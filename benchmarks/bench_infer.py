"""Time the full gpt-4 inference search in-process and as a whole CLI run; count candidates.

Run by hand:  python3 benchmarks/bench_infer.py [--repeat 20]
Target (issue 2): whole `gpt4plan infer` under 1 s wall on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    from gpt4plan.serving import Targets, Workload, plan_inference
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model

    m, h = resolve_model("gpt-4"), resolve_hardware("a100-40gb")
    wl, tg = Workload(2048, 512), Targets(tpot_max_s=1 / 8.33)
    plan_inference(m, h, wl, tg)  # warm caches
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = plan_inference(m, h, wl, tg)
        times.append(time.perf_counter() - t0)
    print(f"in-process search: {res.candidates_evaluated:,} candidates (layouts x batches), "
          f"median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms "
          f"over {args.repeat} runs")

    cli = []
    for _ in range(max(3, args.repeat // 4)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpt4plan.cli", "infer"], check=True, capture_output=True)
        cli.append(time.perf_counter() - t0)
    print(f"whole CLI run 'gpt4plan infer': median {statistics.median(cli):.3f} s, "
          f"min {min(cli):.3f} s, max {max(cli):.3f} s over {len(cli)} runs")


if __name__ == "__main__":
    main()
