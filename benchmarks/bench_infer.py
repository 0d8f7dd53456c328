"""Time the full gpt-4 inference search in-process and as a whole CLI run; count candidates.

Run by hand:  python3 benchmarks/bench_infer.py [--repeat 20]
Targets: whole `gpt4plan infer` under 0.3 s wall on a 2-core machine; the GPT-4 search in-process under 20 ms
with the roofline (a100-40gb) and with the measured kernel tables (h100-sxm, --performance-model measured).
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

    m = resolve_model("gpt-4")
    tg = Targets(tpot_max_s=1 / 8.33)
    for chip, perf in (("a100-40gb", "roofline"), ("h100-sxm", "measured")):
        h, wl = resolve_hardware(chip), Workload(2048, 512, performance_model=perf)
        plan_inference(m, h, wl, tg)  # warm caches (the kernel tables load once)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = plan_inference(m, h, wl, tg)
            times.append(time.perf_counter() - t0)
        print(f"in-process search on {chip} ({perf}): {res.candidates_evaluated:,} candidates (layouts x batches), "
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
