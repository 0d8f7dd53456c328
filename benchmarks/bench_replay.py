"""Time the pass-by-pass latency replay (serving/replay.py ``replay``) and plans verified by it.

Run by hand:  python3 benchmarks/bench_replay.py [--repeat 5]
Targets (issue 14): a replay of 10,000 requests under 1 s; a plan with percentile verification under 1 s wall
(in-process here; add the interpreter's start, ~0.2 s, for a command line run: benchmarks/bench_startup.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

from gpt4plan.serving import Targets, Workload, plan_inference
from gpt4plan.serving.replay import replay
from gpt4plan.serving.traffic import Traffic, requests_at
from gpt4plan.specs.catalog import resolve_hardware, resolve_model


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    n = ap.parse_args().repeat
    h = resolve_hardware("h100-sxm")
    bursty = Traffic(prompt_cv=0.5, output_cv=0.5, arrival_cv=2.0, requests=10_000)
    for name, tp, ep, rate in (("llama-3.1-70b", 4, 1, 2.0), ("mixtral-8x7b", 2, 2, 4.0)):
        m = resolve_model(name)
        reqs = requests_at(bursty, 2048, 512, rate, m.max_context)
        s = _median_s(lambda m=m, tp=tp, ep=ep, reqs=reqs: replay(m, h, Workload(2048, 512), tp, 1, ep, reqs,
                                                                   max_batch=256), n)
        print(f"replay of 10,000 requests ({name}, TP {tp}, EP {ep}, lognormal CV 0.5 lengths, gamma CV 2 "
              f"arrivals at {rate:g}/s): median {s:.3f} s")
    m = resolve_model("llama-3.1-70b")
    cases = [
        ("seed infer (gpt-4 on a100-40gb), no replay", resolve_model("gpt-4"), resolve_hardware("a100-40gb"),
         Targets(tpot_max_s=1 / 8.33), None),
        ("seed infer with the plans' replay (2 x 2,000 requests)", resolve_model("gpt-4"),
         resolve_hardware("a100-40gb"), Targets(tpot_max_s=1 / 8.33), Traffic()),
        ("llama-3.1-70b --ttft p99:2s --tpot p90:50ms --demand 20k, bursty", m, h,
         Targets(ttft_max_s=2.0, ttft_percentile=99, tpot_max_s=0.05, tpot_percentile=90, demand_tokens_per_s=20_000),
         Traffic(prompt_cv=0.5, arrival_cv=2.0)),
    ]
    for label, model, hw, tg, tr in cases:
        s = _median_s(lambda model=model, hw=hw, tg=tg, tr=tr: plan_inference(model, hw, Workload(2048, 512), tg,
                                                                             traffic=tr), n)
        print(f"plan, {label}: median {s:.3f} s")


if __name__ == "__main__":
    main()
