"""Time ``gpt4plan lifecycle``: the scan in-process (planner runs vs everything else) and whole CLI runs.

Run by hand:  python3 benchmarks/bench_lifecycle.py [--repeat 3]
Target (issue 15): a scan of a few hundred (N, D) points under a few seconds on a 2-core machine, with one
training search and one serving search per priced model (24 by default), the points interpolated between.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from gpt4plan import scaling
    from gpt4plan.lifecycle import ServeSetup, TrainSetup, family_model, price_shape, scan
    from gpt4plan.serving import Targets, Workload
    from gpt4plan.specs.catalog import resolve_hardware

    h = resolve_hardware("h100-sxm")
    law = scaling.LAWS["besiroglu2024"]
    target = float(scaling.loss(law, 70e9, 1.4e12))
    for shapes, points in ((24, 240), (24, 1000), (48, 480)):
        serve = ServeSetup(h, Workload(), Targets(tpot_max_s=1 / 8.33, max_chips=100_000), 1e9, 730)
        train = TrainSetup(h, 2048)
        priced = []

        def timed(m, serve=serve, train=train, priced=priced):
            t0 = time.perf_counter()
            out = price_shape(m, train, serve)
            priced.append(time.perf_counter() - t0)
            return out

        times = []
        for _ in range(args.repeat):
            priced.clear()
            t0 = time.perf_counter()
            res = scan(law, target, timed, family_model, serve, shapes, points)
            times.append(time.perf_counter() - t0)
        print(f"scan: {len(res.shapes)} models priced, {len(res.points)} points: median "
              f"{statistics.median(times):.2f} s (planner runs {sum(priced):.2f} s, "
              f"{sum(priced) / len(priced) * 1e3:.0f} ms per model) over {args.repeat} runs")
    cli = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpt4plan.cli", "lifecycle", "--format", "json"], check=True,
                       stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - t0)
    print(f"whole CLI run (gpt4plan lifecycle --format json): median {statistics.median(cli):.2f} s")


if __name__ == "__main__":
    main()
