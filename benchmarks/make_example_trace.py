"""Write examples/trace-chat.csv: a synthetic request log (not measured traffic) for the README's worked example.

300 requests over ~100 s: bursty arrivals (gamma gaps, coefficient of variation 2, 3 requests/s on average),
prompts lognormal with mean 1,500 tokens and CV 0.8, outputs lognormal with mean 300 tokens and CV 0.6,
numpy.random.default_rng(14).  Run by hand:  python3 benchmarks/make_example_trace.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpt4plan.serving.traffic import draw_arrivals, draw_lengths


def main() -> None:
    rng = np.random.default_rng(14)
    n = 300
    prompt = draw_lengths(1500, 0.8, n, rng)
    output = draw_lengths(300, 0.6, n, rng)
    arrival = draw_arrivals(n, 3.0, 2.0, rng)
    path = Path(__file__).resolve().parents[1] / "examples" / "trace-chat.csv"
    lines = ["arrival_s,prompt_tokens,output_tokens"]
    lines += [f"{t:.3f},{p},{o}" for t, p, o in zip(arrival, prompt, output, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({n} requests over {arrival[-1]:.1f} s)")


if __name__ == "__main__":
    main()
