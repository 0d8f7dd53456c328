"""Output of ``gpt4plan train``: JSON, the Rich report, CSV and Markdown.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from gpt4plan.report.common import (
    band_text,
    csv_text,
    days_text,
    md_cell,
    md_table,
    performance_model_line,
    train_layout,
    usd,
)
from gpt4plan.scenario import cli_flag
from gpt4plan.specs.banded import contract_fields
from gpt4plan.specs.units import format_bytes, format_seconds, format_si, plural
from gpt4plan.training.reasons import word_train_issue


def train_message(res) -> str | None:
    """Why ``res`` has no plan, in the command line's words (``--global-batch``); None when it has one."""
    return word_train_issue(res.reason, cli_flag) if res.reason is not None else None


def train_warnings(res) -> list[str]:
    """What to look at in ``res``'s plan, in the command line's words."""
    return [word_train_issue(w, cli_flag) for w in res.warnings]


def train_json(res) -> dict:
    """The JSON contract of ``gpt4plan train --format json``."""
    return {
        "model": res.model,
        "hardware": res.hardware,
        "workload": res.workload,
        "performance_model": res.performance_model,
        "objective": res.objective,
        "feasible": res.feasible,
        "binding_constraint": res.binding_constraint,
        "message": train_message(res),
        "plan": res.plan.as_dict() if res.plan else None,
        "alternatives": [p.as_dict() for p in res.alternatives],
        "warnings": train_warnings(res),
        "data": res.data,
        "data_loading": res.data_loading,
        "error_band_notes": res.band_notes,
        "candidates_evaluated": res.candidates_evaluated,
    }


def data_text(data: dict | None) -> str | None:
    """The data mix in words: 'text 5.5 T x 2 epochs + code 500 G x 4 epochs = 13 T tokens'; None without."""
    if not data:
        return None
    named = len(data["sources"]) > 1 or data["sources"][0]["name"] != "data"  # --unique-tokens: no name
    parts = " + ".join((f"{s['name']} " if named else "") + f"{format_si(s['unique_tokens'])} × {s['epochs']:g} "
                       f"epoch{'s' if s['epochs'] != 1 else ''}" for s in data["sources"])
    return (f"data: {parts} = {format_si(data['tokens'])} tokens ({format_si(data['unique_tokens'])} unique; "
            f"worth {format_si(data['effective_tokens'])} unique-equivalent, Muennighoff et al. 2023 eq. 5)")


def loading_text(loading: dict | None) -> str | None:
    """The data-loading check in words (None without ``--image-token-fraction`` or a plan)."""
    if not loading:
        return None
    s = (f"data loading: {loading['image_token_fraction']:.0%} image tokens at {loading['bytes_per_image_token']:g} B, "
         f"text at {loading['bytes_per_text_token']:g} B -> {format_bytes(loading['bytes_per_step'])} per step, "
         f"{format_bytes(loading['bytes_per_s_per_chip'])}/s per loading chip (one per data-parallel rank; "
         f"{format_bytes(loading['bytes_per_s_cluster'])}/s in all)")
    if loading["host_io_bytes_per_s"] is None:
        return s + "; the hardware spec gives no host_io: not checked against the host link"
    return s + (f", {100 * loading['fraction_of_host_io']:.2g}% of the host link "
                f"({format_bytes(loading['host_io_bytes_per_s'])}/s, PCIe: an upper bound)")


def _train_headline(res) -> str:
    """The headline sentence (Rich markup): chips, layout, days, dollars and MFU, or why there is no plan."""
    m, h, w = res.model, res.hardware, res.workload
    p = res.plan
    if not res.feasible:
        return f"[bold red]No feasible plan[/] for {escape(m['name'])} on {escape(h['name'])}: {escape(train_message(res) or '')}"
    return (f"[bold]{escape(m['name'])}[/] on [bold]{escape(h['name'])}[/]: [bold green]{p.chips:,} "
            f"chip{'s' if p.chips != 1 else ''}[/] ({train_layout(p)}) train {format_si(w['tokens'])} tokens in "
            f"[bold green]{days_text(p.days).replace(' d', ' days').replace(' h', ' hours')}[/] "
            f"for [bold green]{usd(p.usd)}[/] at {p.mfu:.1%} MFU.")


def _train_plans_table(res) -> Table:
    """The chosen plan and up to three runners-up, one column each."""
    p = res.plan
    plans = [p] + list(res.alternatives)[:3]
    t = Table(title="Plan" + (" and runners-up" if res.alternatives else ""), box=box.SIMPLE_HEAVY,
              title_justify="left", title_style="bold")
    t.add_column("", style="bold")
    for i in range(len(plans)):
        t.add_column("plan" if i == 0 else f"#{i + 1}", justify="right")
    rows = [
        ("chips", lambda q: f"{q.chips:,}"),
        ("TP×PP×DP" + ("×CP" if p.cp > 1 else ""), lambda q: f"{q.tp}×{q.pp}×{q.dp}" + (f"×{q.cp}" if p.cp > 1 else "")),
        ("EP", lambda q: str(q.ep)),
        ("ZeRO stage", lambda q: str(q.zero_stage)),
        ("microbatches", lambda q: f"{q.microbatches_per_step} × {q.microbatch}"),
        ("interleave", lambda q: str(q.interleave)),
        ("recompute", lambda q: q.recompute),
        ("step time", lambda q: format_seconds(q.step_time_s)),
        ("MFU / HFU", lambda q: f"{q.mfu:.1%} / {q.hfu:.1%}"),
        ("goodput", lambda q: f"{q.goodput:.1%}"),
        ("days", lambda q: days_text(q.days) + band_text(q, "days")),
        ("GPU-hours", lambda q: format_si(q.gpu_hours)),
        ("cost", lambda q: usd(q.usd) + band_text(q, "usd")),
        ("memory/chip", lambda q: format_bytes(q.memory_per_chip_bytes)),
    ]
    for label, fn in rows:
        t.add_row(label, *(fn(q) for q in plans))
    return t


def _train_why_table(p, h: dict) -> Table:
    """Memory per chip next to the step time's parts."""
    why = Table(title="Why: memory per chip and step time", box=box.SIMPLE, title_justify="left", title_style="bold")
    why.add_column("memory", style="bold")
    why.add_column("per chip", justify="right")
    why.add_column("step time", style="bold")
    why.add_column("s", justify="right")
    mem_rows = [("weights", p.weights_bytes), ("gradients", p.grads_bytes), ("optimizer states", p.optimizer_bytes),
                ("activations", p.activations_bytes), ("total", p.memory_per_chip_bytes),
                (f"usable of {format_bytes(h['memory_bytes'])}", h["usable_memory_bytes"])]
    time_rows = [("compute", p.compute_s), ("pipeline bubble", p.bubble_s), ("TP comm (exposed)", p.tp_comm_s),
                 ("EP all-to-all", p.ep_comm_s), ("DP grads (exposed)", p.dp_comm_s), ("PP sends", p.pp_comm_s),
                 ("optimizer step", p.optimizer_s), ("= step", p.step_time_s)]
    if p.cp > 1:
        time_rows.insert(2, ("CP K/V ring (exposed)", p.cp_comm_s))
    for i in range(max(len(mem_rows), len(time_rows))):
        a = mem_rows[i] if i < len(mem_rows) else ("", None)
        b = time_rows[i] if i < len(time_rows) else ("", None)
        why.add_row(a[0], format_bytes(a[1]) if a[1] is not None else "", b[0],
                    format_seconds(b[1]) if b[1] is not None else "")
    return why


def _train_inputs(res, sources: dict[str, str] | None) -> str:
    """The inputs under the tables: model, hardware, workload, reliability, sources, layouts evaluated."""
    m, h, w = res.model, res.hardware, res.workload
    p = res.plan
    tail = [
        f"model {m['name']}: {format_si(m['params_total'])} params ({format_si(m['params_active'])} active), "
        f"{format_si(m['train_flops_per_token'], 'FLOP')}/token to train; total {p.total_flops:.3g} FLOP",
        f"hardware {h['name']}: {format_si(h['peak_flops_per_s'], 'FLOP/s')} {w['precision']}, "
        f"${h['price_usd_per_hour']:.4g}/chip-hour",
        f"workload: {format_si(w['tokens'])} tokens, sequence {w['seq_len']:,}, global batch "
        f"{format_si(p.global_batch_tokens)} tokens ({plural(float(p.steps), 'step')})",
        f"reliability: MTBF {p.mtbf_s / 3600:.1f} h on {plural(p.chips, 'chip')}, checkpoint every "
        f"{p.checkpoint_interval_s / 60:.0f} min (Young/Daly), goodput {p.goodput:.1%}",
    ]
    if res.data:
        tail.insert(3, data_text(res.data))
    if res.data_loading:
        tail.append(loading_text(res.data_loading))
    if res.performance_model:
        tail.append(performance_model_line(res.performance_model))
    for k, v in (sources or {}).items():
        tail.append(f"{k}: {v}")
    tail.append(f"{res.candidates_evaluated:,} layouts evaluated")
    return "\n".join(tail)


def print_train(res, console: Console, sources: dict[str, str] | None = None) -> None:
    """Render a training result: headline, plan, memory and step-time breakdown, runners-up, inputs."""
    console.print(Panel(_train_headline(res), title=f"gpt4plan train ({res.objective.replace('_', ' ')})",
                        title_align="left", expand=False))
    if res.plan is None:
        if res.data:
            console.print(escape(data_text(res.data)), style="dim")
        for warning in train_warnings(res):
            console.print(f"[yellow]note:[/] {escape(warning)}")
        return
    console.print(_train_plans_table(res))
    console.print(_train_why_table(res.plan, res.hardware))
    for note in res.band_notes:
        console.print(escape(f"error band: {note}"), style="dim")
    for warning in train_warnings(res):
        console.print(f"[yellow]note:[/] {escape(warning)}")
    console.print(escape(_train_inputs(res, sources)), style="dim")


def _train_rows(res) -> list:
    return ([res.plan] if res.plan else []) + (list(res.alternatives) if res.feasible else [])


def train_csv(res) -> str:
    """CSV of ``gpt4plan train``: one row per plan (the chosen plan, then the runners-up; the nearest
    plan when nothing is feasible), every ``TrainPlan`` field, SI units as in the JSON."""
    plans = _train_rows(res)
    if plans:
        fields = contract_fields(type(plans[0]))
    else:
        from gpt4plan.training import TrainPlan

        fields = contract_fields(TrainPlan)
    rows = [[res.model["name"], res.hardware["name"], res.feasible, *(getattr(p, f) for f in fields)] for p in plans]
    return csv_text(["model", "hardware", "feasible", *fields], rows)


def train_markdown(res) -> str:
    """Markdown of ``gpt4plan train``: a headline and one table row per plan."""
    m, h, p = res.model["name"], res.hardware["name"], res.plan
    if res.feasible:
        head = (f"**{md_cell(m)}** on **{md_cell(h)}**: **{plural(p.chips, 'chip')}** ({train_layout(p)}), "
                f"**{p.days:,.1f} days**, **{usd(p.usd)}** at {p.mfu:.1%} MFU.")
    else:
        head = f"**No feasible plan** for {md_cell(m)} on {md_cell(h)}: {md_cell(train_message(res) or '')}"
    header = ["plan", "chips", "TP×PP×DP", "EP", "ZeRO", "microbatch", "recompute", "step", "MFU", "days", "cost",
              "memory/chip"]
    rows = [[q.objective.replace("_", " "), f"{q.chips:,}", f"{q.tp}×{q.pp}×{q.dp}", q.ep, q.zero_stage,
             f"{q.microbatches_per_step} × {q.microbatch}", q.recompute, format_seconds(q.step_time_s),
             f"{q.mfu:.1%}", days_text(q.days), usd(q.usd), format_bytes(q.memory_per_chip_bytes)]
            for q in _train_rows(res)]
    out = head + "\n"
    if res.data:  # where the tokens came from, and what repeating them is worth
        out += "\n" + md_cell(data_text(res.data)) + "\n"
        out += "".join(f"\n_note:_ {md_cell(w)}\n" for w in train_warnings(res) if "Muennighoff" in w)
    if res.data_loading:
        out += "\n" + md_cell(loading_text(res.data_loading)) + "\n"
    if rows:
        out += "\n" + md_table(header, rows, right={1, 3, 4, 7, 8, 9, 10, 11}) + "\n"
    return out
