"""Time a plan with prefix caching and a token budget per pass (chunked prefill) against the same plan without.

Run by hand:  python3 benchmarks/bench_prefix_chunked.py [--repeat 5]
Target (issue 14): a plan with the features stays fast -- within a few per cent of the plain search (the same
vectorised evaluation, a few more array operations per candidate).
"""

from __future__ import annotations

import argparse
import statistics
import time

from gpt4plan.serving import Workload, plan_inference
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
    args = ap.parse_args()
    cases = [("llama-3.1-70b", "h100-sxm"), ("mixtral-8x7b", "h100-sxm"), ("deepseek-v3", "h200")]
    for model, chip in cases:
        m, h = resolve_model(model), resolve_hardware(chip)
        plain = _median_s(lambda m=m, h=h: plan_inference(m, h, Workload()), args.repeat)
        both = _median_s(lambda m=m, h=h: plan_inference(
            m, h, Workload(prefix_tokens=1536, prefix_hit_rate=0.8, max_batched_tokens=2048)), args.repeat)
        print(f"{model} on {chip}: plain {plain * 1e3:.0f} ms, prefix + chunked {both * 1e3:.0f} ms "
              f"({both / plain:.2f}x)")


if __name__ == "__main__":
    main()
