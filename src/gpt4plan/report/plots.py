"""Plots (``gpt4plan[plot]``, matplotlib): cost-vs-speed frontiers and predicted vs measured.
"""

from __future__ import annotations

from gpt4plan.serving import InferenceResult
from gpt4plan.specs.units import plural


def require_matplotlib():
    """Import matplotlib with the Agg backend, or raise ImportError with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'gpt4plan[plot]'") from None
    return plt


def plot_validation(records, path: str) -> str:
    """Predicted vs measured on log axes, with the ±10% and ±25% bands, coloured by kind; writes a PNG."""
    plt = require_matplotlib()
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    pts = [r for r in records if not r.skipped and r.measured and r.predicted]
    # each metric has its own unit: plot measured/median vs predicted/median per metric so all share axes
    by_metric: dict[str, list] = {}
    for r in pts:
        by_metric.setdefault(r.metric, []).append(r)
    lo, hi = np.inf, 0.0
    for kind, colour in (("train", "tab:blue"), ("infer", "tab:orange")):
        xs, ys = [], []
        for rs in by_metric.values():
            scale = float(np.median([r.measured for r in rs]))
            for r in rs:
                if r.kind == kind:
                    xs.append(r.measured / scale)
                    ys.append(r.predicted / scale)
        if xs:
            ax.scatter(xs, ys, s=18, alpha=0.8, color=colour, label=f"{kind} ({len(xs)})")
            lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
    if hi > 0:
        grid = np.geomspace(lo / 1.5, hi * 1.5, 50)
        ax.plot(grid, grid, color="black", lw=1)
        for f, style in ((0.10, "--"), (0.25, ":")):
            ax.plot(grid, grid * (1 + f), color="grey", ls=style, lw=0.8)
            ax.plot(grid, grid * (1 - f), color="grey", ls=style, lw=0.8, label=f"±{f:.0%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured (each metric scaled by its median)")
    ax.set_ylabel("predicted (same scale)")
    ax.set_title("gpt4plan validate: predicted vs measured")
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path)
    return path


def frontier_series(res: InferenceResult, label: str | None = None) -> dict:
    """The data one frontier plot line draws, from a result planned with ``plot_points > 0``:
    ``points`` [(tokens/s per user, $/1k output tokens)] of ``res.plot_frontier`` (cheapest first),
    ``meets_tpot`` per point, ``chosen`` {objective: (x, y)} of the min_chips and min_cost plans, and the
    TPOT target as ``tpot_target_tokens_per_s`` (None without one)."""
    target = res.targets.get("tokens_per_s_per_user_min")
    pts = [(p.tokens_per_s_per_user, p.usd_per_1k_output_tokens) for p in res.plot_frontier]
    return {
        "label": label or res.hardware["name"],
        "points": pts,
        "meets_tpot": [target is None or x >= target * (1 - 1e-9) for x, _ in pts],
        "chosen": {p.objective: (p.tokens_per_s_per_user, p.usd_per_1k_output_tokens, p.chips) for p in res.plans},
        "tpot_target_tokens_per_s": target,
    }


def _draw_series(ax, series: list[dict], cmap) -> tuple[list[dict], list[float]]:
    """One line per series with its chosen plans marked (named when there is one series); returns what was
    drawn, read back from the plotted lines, and every x plotted."""
    drawn = []
    xs_all: list[float] = []
    for i, s in enumerate(series):
        if not s["points"]:
            continue
        xs, ys = zip(*s["points"], strict=True)
        (line,) = ax.plot(xs, ys, marker="o", ms=3, lw=1.3, color=cmap(i % cmap.N), label=s["label"])
        drawn.append({"label": s["label"], "points": [(float(x), float(y)) for x, y in line.get_xydata()]})
        xs_all += list(xs)
        single = len(series) == 1
        for obj, (x, y, chips) in s["chosen"].items():
            marker = "*" if obj == "min_chips" else "D"
            ax.scatter([x], [y], marker=marker, s=160 if marker == "*" else 60, color=line.get_color(),
                       edgecolor="black", linewidth=0.8, zorder=4)
            xs_all.append(x)
            if single:
                ax.annotate(f"{obj.replace('_', ' ')}: {plural(chips, 'chip')}", (x, y), textcoords="offset points",
                            xytext=(8, -12 if obj == "min_cost" else 8), fontsize=8)
    return drawn, xs_all


def _draw_targets(ax, series: list[dict], xs_all: list[float]) -> None:
    """The TPOT targets as vertical lines, the too-slow side shaded."""
    targets = {s["tpot_target_tokens_per_s"] for s in series if s["tpot_target_tokens_per_s"]}
    for t in targets:
        ax.axvline(t, color="black", ls="--", lw=1)
        lo = min(xs_all + [t]) / 1.3
        ax.axvspan(lo, t, color="grey", alpha=0.12, lw=0)
        ax.annotate(f"TPOT target: ≥ {t:.3g} tokens/s per user", (t, 0.98), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points", va="top", fontsize=8)


def plot_frontiers(series: list[dict], path: str, title: str) -> list[dict]:
    """Draw one cost-vs-speed frontier per series (log axes), the chosen plans marked and the TPOT target as
    a vertical line; write the figure to ``path`` (PNG unless the extension names another format).

    Returns what was drawn, read back from the plotted lines: [{"label", "points": [(x, y), ...]}].
    Raises ImportError (with the install hint) without matplotlib.
    """
    plt = require_matplotlib()
    import matplotlib.lines as mlines

    fig, ax = plt.subplots(figsize=(7.6, 5.2), dpi=120)
    cmap = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    drawn, xs_all = _draw_series(ax, series, cmap)
    _draw_targets(ax, series, xs_all)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens/s per user (1 / TPOT)")
    ax.set_ylabel("$ per 1k output tokens")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    handles = [mlines.Line2D([], [], color="grey", marker="*", ls="", ms=11, mec="black", label="min chips"),
               mlines.Line2D([], [], color="grey", marker="D", ls="", ms=6, mec="black", label="min cost")]
    if len(series) > 1:
        handles = ax.get_legend_handles_labels()[0] + handles
    ax.legend(handles=handles, loc="best", fontsize=7 if len(series) > 6 else 8, ncol=2 if len(series) > 7 else 1)
    save_figure(fig, path)
    return drawn


def plot_demand_profile(series: dict, path: str, title: str) -> None:
    """Demand and the capacity of the static and autoscaled fleets (output tokens/s) over the profile, as
    steps (:func:`gpt4plan.report.demand.demand_series`); writes the figure to ``path``."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7.6, 4.6), dpi=120)
    edges = series["hours"] + [series["hours"][-1] + series["step_h"]]

    def steps(ys):  # a value held over each step
        return edges, list(ys) + [ys[-1]]

    ax.step(*steps(series["static"]), where="post", color="tab:red", lw=1.4, label="static fleet capacity (peak)")
    ax.step(*steps(series["autoscaled"]), where="post", color="tab:green", lw=1.4, label="autoscaled capacity")
    ax.fill_between(*steps(series["demand"]), step="post", color="tab:blue", alpha=0.35, lw=0, label="demand")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("hour")
    ax.set_ylabel("output tokens/s")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="best", fontsize=8)
    save_figure(fig, path)


def save_figure(fig, path: str) -> None:
    """Lay ``fig`` out, write it to ``path`` and close it (also when the write fails)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
