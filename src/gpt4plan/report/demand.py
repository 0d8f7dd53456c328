"""Output of ``gpt4plan infer --demand-profile``: the JSON object ``demand_profile``, the per-hour table with
the static and autoscaled fleets side by side, and the plot (docs/design.md).  Computes nothing:
:mod:`gpt4plan.serving.demand` does the accounting.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpt4plan.report.common import layout_text, usd
from gpt4plan.specs.units import format_si, plural

_FLEET_FIELDS = ("peak_replicas", "chip_hours", "released_chip_hours", "usd_recovered", "usd",
                 "utilization", "usd_per_1k_output_tokens", "usd_per_1k_output_tokens_all_in")


def _fleet_json(f) -> dict:
    out = {"chips": f.peak_chips}
    out.update({k: getattr(f, k) for k in _FLEET_FIELDS})
    return out


def demand_json(day, plan, labels: list[str]) -> dict:
    """The ``demand_profile`` object of ``infer --format json`` (README, "Daily demand"): the step, the
    settings, the replica the fleet is built of, one entry per step in ``hours``, and the ``static`` and
    ``autoscaled`` fleets (``chips``: at the peak; money in USD over the whole profile)."""
    s, a = day.static, day.autoscaled
    hours = [{"time": labels[i], "start_s": i * day.step_s, "demand_tokens_per_s": float(day.demand_tokens_per_s[i]),
              "replicas_needed": int(day.needed[i]), "static_replicas": int(s.replicas[i]),
              "autoscaled_replicas": int(a.replicas[i]), "autoscaled_replica_hours": float(a.replica_hours[i]),
              "static_utilization": float(s.step_utilization[i]),
              "autoscaled_utilization": float(a.step_utilization[i])}
             for i in range(day.demand_tokens_per_s.size)]
    return {
        "plan_objective": plan.objective,
        "step_s": day.step_s,
        "period_s": day.period_s,
        "min_replicas": day.min_replicas,
        "scale_up_lag_s": day.scale_up_lag_s,
        "idle_value": day.idle_value,
        "replica": {"chips": day.replica_chips, "tp": plan.tp, "pp": plan.pp, "ep": plan.ep,
                    "attention_dp": plan.attention_dp, "batch": plan.batch,
                    "tokens_per_s": day.replica_tokens_per_s,
                    "usd_per_hour": day.replica_chips * day.usd_per_chip_hour,
                    "usd_per_1k_output_tokens": day.full_use_usd_per_1k_output_tokens,
                    "usd_per_1k_output_tokens_all_in": day.full_use_usd_per_1k_output_tokens_all_in},
        "peak_demand_tokens_per_s": float(day.demand_tokens_per_s.max()),
        "mean_demand_tokens_per_s": float(day.demand_tokens_per_s.mean()),
        "output_tokens": day.output_tokens,
        "hours": hours,
        "static": _fleet_json(s),
        "autoscaled": _fleet_json(a),
    }


#: At most this many steps in the table (a day in half-hours); the JSON has them all.
TABLE_STEPS = 48


def _duration(x: float) -> str:
    """A lag or a step in words: '10 min', '1 h', '90 s', '1.5 h'."""
    if x >= 3600 and x % 360 == 0:
        return f"{x / 3600:g} h"
    if x >= 60 and x % 6 == 0:
        return f"{x / 60:g} min"
    return f"{x:g} s"


def _hours_table(day, labels: list[str]) -> Table:
    n = len(labels)
    title = "Demand per step: replicas held" + (f" (the first {TABLE_STEPS} of {n:,}; all in --format json)"
                                                if n > TABLE_STEPS else "")
    t = Table(title=title, box=box.SIMPLE, title_justify="left", title_style="bold")
    for name in ("time", "output tokens/s", "needed", "static", "autoscaled", "static util.", "autoscaled util."):
        t.add_column(name, justify="left" if name == "time" else "right")
    s, a = day.static, day.autoscaled
    for i, label in enumerate(labels[:TABLE_STEPS]):
        t.add_row(escape(label), format_si(float(day.demand_tokens_per_s[i])), f"{int(day.needed[i]):,}",
                  f"{int(s.replicas[i]):,}", f"{int(a.replicas[i]):,}", f"{s.step_utilization[i]:.0%}",
                  f"{a.step_utilization[i]:.0%}")
    return t


def _fleets_table(day) -> Table:
    t = Table(title="Fleets over the profile", box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    t.add_column("", style="bold")
    t.add_column("static (peak, always on)", justify="right")
    t.add_column("autoscaled", justify="right")
    s, a = day.static, day.autoscaled
    rows = [
        ("chips at the peak", lambda f: f"{f.peak_chips:,}"),
        ("chip-hours paid", lambda f: f"{f.chip_hours:,.0f}"),
        ("chip-hours released", lambda f: f"{f.released_chip_hours:,.0f}"),
        ("cost", lambda f: usd(f.usd) + (f" ({usd(f.usd_recovered)} recovered)" if f.usd_recovered else "")),
        ("utilisation", lambda f: f"{f.utilization:.1%}"),
        ("$/1k output (decode share)", lambda f: usd(f.usd_per_1k_output_tokens)),
        ("$/1k output, all-in", lambda f: usd(f.usd_per_1k_output_tokens_all_in)),
    ]
    for label, fn in rows:
        t.add_row(label, fn(s), fn(a))
    return t


def demand_headline(day, plan) -> str:
    """One sentence: the static and autoscaled $/1k output tokens against the fully used replica's."""
    s, a = day.static, day.autoscaled
    full = day.full_use_usd_per_1k_output_tokens_all_in
    return (f"Over the profile ({format_si(day.output_tokens)} output tokens, peak "
            f"{format_si(float(day.demand_tokens_per_s.max()))} tokens/s): a static fleet of "
            f"{plural(s.peak_chips, 'chip')} is {s.utilization:.0%} used, {usd(s.usd_per_1k_output_tokens_all_in)}"
            f"/1k output tokens all-in ({s.usd_per_1k_output_tokens_all_in / full:.2f}× the fully used "
            f"{usd(full)}); autoscaled, {a.utilization:.0%} used, {usd(a.usd_per_1k_output_tokens_all_in)}/1k "
            f"({layout_text(plan)} replicas of {plural(day.replica_chips, 'chip')}).")


def print_demand(day, plan, labels: list[str], console: Console) -> None:
    """The per-step table, the two fleets, the headline and the settings with their sources."""
    console.print(_hours_table(day, labels))
    console.print(_fleets_table(day))
    console.print(escape(demand_headline(day, plan)))
    lag = _duration(day.scale_up_lag_s)
    console.print(escape(
        f"autoscaled: at least {plural(day.min_replicas, 'replica')} (--min-replicas), a replica ready "
        f"{lag} after it is asked for (--scale-up-lag; paid while it loads), released chip-hours "
        f"recover {day.idle_value:.0%} of their price (--idle-value); one replica serves "
        f"{format_si(day.replica_tokens_per_s)} output tokens/s at the targets (the {plan.objective.replace('_', ' ')} "
        f"plan); steps of {_duration(day.step_s)}, the profile repeating"), style="dim")


def demand_series(day, labels: list[str]) -> dict:
    """What the demand plot draws: per step the demand and the capacity (tokens/s) of each fleet."""
    R = day.replica_tokens_per_s
    return {"hours": [i * day.step_s / 3600.0 for i in range(day.demand_tokens_per_s.size)], "labels": labels,
            "step_h": day.step_s / 3600.0, "demand": [float(x) for x in day.demand_tokens_per_s],
            "static": [float(x) * R for x in day.static.replicas],
            "autoscaled": [float(x) * R for x in day.autoscaled.replicas]}
