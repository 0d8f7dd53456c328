"""Output of ``gpt4plan validate``: predicted vs measured per record, then a summary per kind and chip.
"""

from __future__ import annotations

import math

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpt4plan.report.common import pct
from gpt4plan.specs.units import format_si


def _val(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.3g}" if abs(x) < 1e3 else format_si(x)


#: Short labels for the validate table (the JSON keeps the metric names of docs/design.md).
METRIC_LABELS = {
    "step_time_s": "step s", "tokens_per_s": "tok/s", "model_flops_per_s_per_chip": "model FLOP/s/chip",
    "hardware_flops_per_s_per_chip": "hw FLOP/s/chip", "mfu": "MFU", "output_tokens_per_s": "out tok/s",
    "output_tokens_per_s_per_chip": "out tok/s/chip", "total_tokens_per_s": "total tok/s", "tpot_s": "TPOT s",
    "ttft_s": "TTFT s", "e2e_latency_s": "e2e s",
}


def print_validate(records, summary: dict, console: Console, path: str) -> None:
    """Predicted vs measured per record, skipped records with reasons, then a summary per kind and chip."""
    t = Table(title=f"Predicted vs measured ({escape(path)})", box=box.SIMPLE, title_justify="left",
              title_style="bold", pad_edge=False)
    for col in ("id", "hardware", "metric", "measured", "predicted", "error"):
        t.add_column(col, justify="right" if col in ("measured", "predicted", "error") else "left",
                     overflow="fold")
    for r in records:
        if r.skipped:
            continue
        style = "red" if abs(r.error) > 0.3 else ("yellow" if abs(r.error) > 0.15 else None)
        t.add_row(r.id, r.hardware, METRIC_LABELS.get(r.metric, r.metric), _val(r.measured), _val(r.predicted),
                  pct(r.error), style=style)
    console.print(t)
    skipped = [r for r in records if r.skipped]
    if skipped:
        console.print("[bold]Not replayed[/]")
        seen = set()
        for r in skipped:
            if r.id in seen:
                continue
            seen.add(r.id)
            console.print(f"  {escape(r.id)}: {escape(r.reason or '')}")
    s = Table(title="Summary: |error| over replayed metrics", box=box.SIMPLE_HEAVY, title_justify="left",
              title_style="bold")
    for col in ("kind", "hardware", "count", "median", "p90", "worst"):
        s.add_column(col, justify="left" if col in ("kind", "hardware") else "right")
    for kind in ("train", "infer"):
        k = summary[kind]
        rows = [("all", k)] + list(k["by_hardware"].items())
        for hw, st in rows:
            if not st["count"]:
                continue
            s.add_row(kind if hw == "all" else "", hw, str(st["count"]), f"{st['median_abs_error']:.1%}",
                      f"{st['p90_abs_error']:.1%}", f"{st['max_abs_error']:.1%}")
    console.print(s)
