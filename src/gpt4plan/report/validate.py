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



def _frac(t: dict) -> str:
    """``fraction (covered/banded)`` of a coverage tally."""
    return f"{t['coverage']:.1%} ({t['covered']}/{t['banded']})" if t["banded"] else "—"


def _fallback_lines(fallbacks: list[dict]) -> list[str]:
    """One line per pool (in-sample, or a family held out): the chips and regimes judged by a wider band."""
    groups: dict = {}
    for f in fallbacks:
        groups.setdefault(f["held_out"], []).append(f)
    lines = []
    for held_out, fs in groups.items():
        where = f"{held_out} held out" if held_out else "in-sample"
        parts = [f"{f['hardware']}/{f['regime']} ({f['pool_metrics']})" + ("" if f["used"].startswith("regime")
                                                                          else ": no band") for f in fs]
        lines.append(f"  {where}: {', '.join(parts)}")
    return lines


def print_coverage(cov: dict, console: Console) -> None:
    """``validate --coverage``: how often the measured value falls inside the 10-90% band, per regime
    (in-sample and with each source family left out), then per held-out family, then the fallbacks."""
    t = Table(title=f"Coverage of the 10-90% error bands (nominal {cov['nominal']:.0%})", box=box.SIMPLE_HEAVY,
              title_justify="left", title_style="bold", caption_justify="left",
              caption="family out: bands from the other source families; fallback: metrics judged by the regime's "
                      "band over all chips (in-sample / family out)")
    for col in ("regime", "metrics", "in-sample", "family out", "fallback", "no band"):
        t.add_column(col, justify="left" if col == "regime" else "right", no_wrap=True)
    ins, out = cov["in_sample"], cov["leave_one_family_out"]
    for g in ("train", "prefill", "decode", "all"):
        a, b = ins[g], out[g]
        if a["metrics"]:
            t.add_row(g, str(a["metrics"]), _frac(a), _frac(b), f"{a['regime_fallback']} / {b['regime_fallback']}",
                      f"{a['no_band']} / {b['no_band']}", style="bold" if g == "all" else None)
    console.print(t)
    console.print()
    f = Table(title="Each source family held out", box=box.SIMPLE, title_justify="left", title_style="bold")
    for col in ("family", "metrics", "covered", "fallback", "no band"):
        f.add_column(col, justify="left" if col == "family" else "right", no_wrap=col != "family")
    for fam in cov["families"]:
        f.add_row(escape(fam["family"]), str(fam["metrics"]), _frac(fam), str(fam["regime_fallback"]),
                  str(fam["no_band"]))
    console.print(f)
    if cov["fallbacks"]:
        console.print(f"[bold]Fallbacks[/]: chip/regime (metrics in the pool) with fewer than {cov['min_records']}: "
                      "judged by the regime's band over all chips of the pool")
        for line in _fallback_lines(cov["fallbacks"]):
            console.print(escape(line))
