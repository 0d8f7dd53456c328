"""Output of ``gpt4plan lifecycle``: JSON, a Rich table, CSV of the points, and the cost-vs-size plot.
Computes no cost: every number comes from :func:`gpt4plan.lifecycle.scan`.
"""

from __future__ import annotations

import math

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from gpt4plan.lifecycle import FAMILY, LifecyclePoint, LifecycleResult
from gpt4plan.report.common import csv_text, days_text, usd
from gpt4plan.report.plots import save_figure
from gpt4plan.specs.units import format_si

__all__ = ["lifecycle_json", "lifecycle_csv", "lifecycle_notes", "print_lifecycle", "plot_lifecycle",
           "POINT_FIELDS"]

#: the fields of every point, in the JSON and the CSV (units: parameters, tokens, USD, days, chips)
POINT_FIELDS = ["params", "tokens", "tokens_per_param", "train_usd", "serve_usd", "total_usd", "train_days",
                "serve_chips", "priced", "model"]
_MODEL_FIELDS = ("name", "layers", "d_model", "heads", "kv_heads", "head_dim", "ffn", "vocab")


def _point(p: LifecyclePoint) -> dict:
    """One point's JSON: :data:`POINT_FIELDS` (``model`` the priced shape's name, None when interpolated)."""
    return {"params": p.params, "tokens": p.tokens, "tokens_per_param": p.tokens_per_param,
            "train_usd": p.train_usd, "serve_usd": p.serve_usd, "total_usd": p.total_usd,
            "train_days": p.train_days, "serve_chips": p.serve_chips, "priced": p.priced,
            "model": p.shape.model.name if p.shape is not None else None}


def _chosen(p: LifecyclePoint | None) -> dict | None:
    """The optimum's or the Chinchilla point's JSON: the point, its model's shape, its training plan (for
    its own tokens) and its serving plan."""
    if p is None:
        return None
    out = _point(p)
    s = p.shape
    out["model"] = {k: getattr(s.model, k) for k in _MODEL_FIELDS}
    out["train_flops"] = 6.0 * p.params * p.tokens
    tp = s.train_plan
    out["train_plan"] = None if tp is None else {
        "chips": tp.chips, "tp": tp.tp, "pp": tp.pp, "dp": tp.dp, "zero_stage": tp.zero_stage, "mfu": tp.mfu,
        "step_time_s": tp.step_time_s, "goodput": tp.goodput}
    sp = s.serve_plan
    out["serve_plan"] = None if sp is None else {
        "chips": sp.chips, "replicas": sp.replicas, "tp": sp.tp, "pp": sp.pp, "batch": sp.batch,
        "tpot_s": sp.tpot_s, "ttft_s": sp.ttft_s, "usd_per_1k_output_tokens_all_in": sp.usd_per_1k_output_tokens_all_in,
        "usd_per_1k_tokens_blended": sp.usd_per_1k_tokens_blended, "usd_per_hour": sp.usd_per_hour}
    return out


def lifecycle_json(res: LifecycleResult, inputs: dict) -> dict:
    """The JSON contract of ``gpt4plan lifecycle``: ``law`` (its name), ``law_constants`` {E, A, B, alpha,
    beta, source}, ``target_loss``, ``optimum`` and ``chinchilla`` {params, tokens, train_usd, serve_usd,
    total_usd, train_days, serve_chips, tokens_per_param, priced, model {shape}, train_flops, train_plan,
    serve_plan}, ``savings_usd`` and ``savings_fraction`` (the optimum against the Chinchilla point),
    ``params_range``, ``points`` [{POINT_FIELDS}] by size, ``notes``, and ``inputs`` (what was asked: the
    quality, hardware, training and serving settings)."""
    o, c = res.optimum, res.chinchilla
    saved = c.total_usd - o.total_usd if o is not None and c.feasible else None
    return {"law": res.law.name, "law_constants": res.law.as_dict(), "target_loss": res.target_loss,
            "optimum": _chosen(o), "chinchilla": _chosen(c), "savings_usd": saved,
            "savings_fraction": saved / c.total_usd if saved is not None and c.total_usd > 0 else None,
            "compute_optimal": {"params": res.chinchilla_params, "tokens": res.chinchilla_tokens},
            "params_range": list(res.params_range), "inputs": inputs,
            "points": [_point(p) for p in res.points], "notes": lifecycle_notes(res)}


def lifecycle_csv(res: LifecycleResult) -> str:
    """CSV of ``gpt4plan lifecycle``: one row per point (by size), :data:`POINT_FIELDS`, then ``is``
    (``optimum``, ``chinchilla`` or empty)."""
    rows = []
    for p in res.points:
        d = _point(p)
        rows.append([d[f] for f in POINT_FIELDS] + [_tag(p, res)])
    return csv_text(POINT_FIELDS + ["is"], rows)


def _tag(p: LifecyclePoint, res: LifecycleResult) -> str:
    if p.shape is None:
        return ""
    tags = []
    if res.optimum is not None and p.shape is res.optimum.shape:
        tags.append("optimum")
    if p.shape is res.chinchilla.shape:
        tags.append("chinchilla")
    return "+".join(tags)


def lifecycle_notes(res: LifecycleResult) -> list[str]:
    """What to know about the result, in words: the optimum against the Chinchilla point (Sardana et al.
    2023's direction), an optimum at the edge of the range, points that could not be priced."""
    o, c = res.optimum, res.chinchilla
    notes = list(res.notes)
    moe = [s.model.name for s in res.shapes if getattr(s.model, "moe", None) is not None]
    if moe:
        notes.append(f"{', '.join(moe)}: mixture of experts; the scaling law was fitted on dense models, and N here "
                     "is the total parameter count")
    bad = [p for p in res.points if p.priced == "planner" and not p.feasible]
    if bad:
        notes.append(f"{len(bad)} model{'s' if len(bad) != 1 else ''} could not be priced: "
                     f"{', '.join(p.shape.model.name for p in bad[:4])}{' ...' if len(bad) > 4 else ''}; "
                     f"{bad[0].shape.model.name}: {_why_unpriced(bad[0].shape)}")
    if o is None:
        return notes
    if o.shape is not c.shape and c.feasible:
        notes.append(f"the optimum has {c.params / o.params:.2f}x fewer parameters and {o.tokens / c.tokens:.2f}x "
                     f"more training tokens than the Chinchilla point ({o.tokens_per_param:,.0f} vs "
                     f"{c.tokens_per_param:,.0f} tokens per parameter) and costs {1 - o.total_usd / c.total_usd:.1%} "
                     "less in all" if o.params < c.params else
                     f"the optimum has {o.params / c.params:.2f}x the parameters of the Chinchilla point and costs "
                     f"{1 - o.total_usd / c.total_usd:.1%} less in all")
    priced = [p for p in res.points if p.priced == "planner" and p.feasible]
    if len(priced) > 2 and o.shape is priced[0].shape and o.params < c.params and o.shape.model.name.startswith(FAMILY):
        notes.append(f"the optimum is at the small end of the range scanned ({format_si(res.params_range[0])} "
                     "parameters): a smaller model may be cheaper still (--min-params lowers the range)")
    if res.serve.tokens_per_day == 0:
        notes.append("no serving demand: the optimum is the point of least training dollars, the compute-optimal "
                     "point moved only by the MFU the training planner finds for each shape")
    return notes


def _why_unpriced(s) -> str:
    """Why a shape has no price: its training or its serving planner's reason, in the command line's words."""
    from gpt4plan.report.infer_tables import serve_message
    from gpt4plan.scenario import cli_flag
    from gpt4plan.training import word_train_issue

    if s.train_plan is None and s.train_issue is not None:
        return "training: " + word_train_issue(s.train_issue, cli_flag)
    return "serving: " + (serve_message(s.serve_issue) or "no plan")


#: the columns of the table of priced models: L×d is layers × d_model; train the training days; serve chips
#: the fleet
_COLUMNS = ("", "N", "L×d", "D", "D/N", "train", "train $", "chips", "serve $", "total $")


def _usd_short(x: float) -> str:
    """Dollars in 4 characters or so for the per-model table: $785k, $1.5M, $39M."""
    if x is not None and 1e3 <= x < 1e6:
        return f"${x / 1e3:.0f}k"
    return usd(x)


def _summary_table(res: LifecycleResult) -> Table:
    """The optimum and the Chinchilla point side by side, one row per figure."""
    t = Table(title="Least total cost vs Chinchilla-optimal", box=box.SIMPLE_HEAVY, title_justify="left",
              title_style="bold")
    t.add_column("", style="bold")
    pair = [(label, p) for label, p in (("◆ optimum", res.optimum), ("★ Chinchilla", res.chinchilla)) if p is not None]
    for label, _ in pair:
        t.add_column(label, justify="right")
    rows = [
        ("model", lambda p: escape(p.shape.model.name)),
        ("layers × d_model", lambda p: f"{p.shape.model.layers} × {p.shape.model.d_model:,}"),
        ("parameters", lambda p: format_si(p.params)),
        ("training tokens", lambda p: format_si(p.tokens)),
        ("tokens per parameter", lambda p: f"{p.tokens_per_param:,.0f}"),
        ("training FLOPs (6ND)", lambda p: f"{6 * p.params * p.tokens:.3g}"),
        ("training", lambda p: days_text(p.train_days) + (f" on {p.shape.train_plan.chips:,} chips, "
                                                          f"MFU {p.shape.train_plan.mfu:.0%}"
                                                          if p.shape.train_plan else "")),
        ("training $", lambda p: usd(p.train_usd)),
        ("serving fleet", lambda p: f"{p.serve_chips:,.0f} chips"),
        ("serving $", lambda p: usd(p.serve_usd)),
        ("total $", lambda p: usd(p.total_usd)),
    ]
    for label, fn in rows:
        t.add_row(label, *(fn(p) for _, p in pair))
    return t


def _shapes_table(res: LifecycleResult) -> Table:
    t = Table(title="Every model priced by the planners (◆ optimum, ★ Chinchilla; N parameters, D training tokens, "
                    "L×d: layers × d_model, chips: the serving fleet)", box=box.SIMPLE,
              title_justify="left", title_style="bold", padding=(0, 1), pad_edge=False, collapse_padding=True,
              show_edge=False)
    named = any(p.shape is not None and not p.shape.model.name.startswith(FAMILY) for p in res.points)
    for col in _COLUMNS[:1] + ("model",) * named + _COLUMNS[1:]:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col != "model")
    for p in res.points:
        if p.priced != "planner":
            continue
        tag = _tag(p, res).replace("optimum", "◆").replace("chinchilla", "★").replace("+", "")
        m = p.shape.model
        t.add_row(tag, *[escape(m.name)] * named, format_si(p.params), f"{m.layers}×{m.d_model:,}", format_si(p.tokens),
                  f"{p.tokens_per_param:,.0f}", days_text(p.train_days), _usd_short(p.train_usd), f"{p.serve_chips:,.0f}",
                  _usd_short(p.serve_usd), _usd_short(p.total_usd))
    return t


def _headline(res: LifecycleResult) -> str:
    o, c = res.optimum, res.chinchilla
    s = res.serve
    demand = f"{format_si(s.tokens_per_day)} output tokens/day for {s.days:,.0f} days"
    if o is None:
        return f"[bold red]No feasible point[/] for loss {res.target_loss:.4g} ({res.law.name}), serving {demand}"
    return (f"Loss {res.target_loss:.4g} ({res.law.name}), serving {demand}: the least total cost is "
            f"[bold green]{escape(o.shape.model.name)}[/] trained on [bold green]{format_si(o.tokens)} tokens[/] "
            f"for [bold green]{usd(o.total_usd)}[/] ({usd(o.train_usd)} training + {usd(o.serve_usd)} serving), "
            f"against {usd(c.total_usd)} at the Chinchilla point ({format_si(c.params)} params, "
            f"{format_si(c.tokens)} tokens).")


def print_lifecycle(res: LifecycleResult, console: Console, inputs_lines: list[str]) -> None:
    """Render a lifecycle result: headline, the two points, every priced model, notes and inputs."""
    console.print(Panel(_headline(res), title="gpt4plan lifecycle", title_align="left", expand=False))
    console.print(_summary_table(res))
    console.print(_shapes_table(res))
    for n in lifecycle_notes(res):
        console.print(f"[yellow]note:[/] {escape(n)}")
    console.print(escape("\n".join(inputs_lines)), style="dim")


def plot_lifecycle(res: LifecycleResult, path: str, title: str) -> None:
    """Total, training and serving dollars against parameters along the iso-loss curve (log axes), the
    planner-priced models marked, the optimum (◆) and the Chinchilla point (★); writes ``path``."""
    from gpt4plan.report.plots import require_matplotlib

    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7.6, 5.2), dpi=120)
    pts = [p for p in res.points if p.feasible]
    xs = [p.params for p in pts]
    for key, colour, label in (("total_usd", "black", "total"), ("train_usd", "tab:blue", "training"),
                               ("serve_usd", "tab:orange", "serving")):
        ys = [getattr(p, key) for p in pts]
        if any(y > 0 for y in ys):
            ax.plot(xs, ys, color=colour, lw=1.4, label=label)
            planner = [(p.params, getattr(p, key)) for p in pts if p.priced == "planner" and getattr(p, key) > 0]
            if planner:
                ax.scatter(*zip(*planner, strict=True), s=12, color=colour, zorder=3)
    for p, marker, name in ((res.optimum, "D", "optimum"), (res.chinchilla, "*", "Chinchilla")):
        if p is not None and math.isfinite(p.total_usd):
            ax.scatter([p.params], [p.total_usd], marker=marker, s=160 if marker == "*" else 70, color="gold",
                       edgecolor="black", zorder=4, label=f"{name}: {format_si(p.params)} params, "
                       f"{format_si(p.tokens)} tokens, {usd(p.total_usd)}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"parameters (each trained to loss {res.target_loss:.4g} under {res.law.name})")
    ax.set_ylabel("USD")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize=8)
    save_figure(fig, path)
