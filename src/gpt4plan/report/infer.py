"""Output of ``gpt4plan infer``: JSON, the Rich report, CSV and Markdown.

Layout of the table output: the answer first (one headline sentence and the plans table), then the why
(memory per chip, time per output token split into compute / memory / communication, the cost-vs-speed
frontier), then the inputs and their sources.
"""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from gpt4plan.report.common import csv_text, layout_text, md_cell, md_table, performance_model_line, usd
from gpt4plan.report.infer_tables import (
    frontier_table,
    percentiles_text,
    plans_table,
    print_disaggregated,
    serve_message,
    why_table,
)
from gpt4plan.serving import InferenceResult, Plan
from gpt4plan.serving.replay import PERCENTILES
from gpt4plan.specs.banded import contract_fields
from gpt4plan.specs.units import format_bytes, format_seconds, format_si, plural


def infer_message(res) -> str | None:
    """Why ``res`` has no plan, in the command line's words (``--max-chips``); None when it has one."""
    return serve_message(res.reason)


def infer_json(res: InferenceResult, disaggregated=None) -> dict:
    """The JSON contract of ``gpt4plan infer --format json`` (see README), with the ``disaggregated`` pools
    (:class:`~gpt4plan.serving.disaggregate.DisaggResult`) when given."""
    out = {
        "model": res.model,
        "hardware": res.hardware,
        "workload": res.workload,
        "targets": res.targets,
        "performance_model": res.performance_model,
        "feasible": res.feasible,
        "binding_constraint": res.binding_constraint,
        "message": infer_message(res),
        "plans": [p.as_dict() for p in res.plans],
        "frontier": [p.as_dict() for p in res.frontier],
        "nearest": res.nearest.as_dict() if res.nearest else None,
        "without_speculation": [p.as_dict() for p in res.without_speculation],
        "notes": res.notes,
        "error_band_notes": res.band_notes,
        "candidates_evaluated": res.candidates_evaluated,
        "traffic": res.traffic,
    }
    if disaggregated is not None:
        dis = disaggregated
        out["disaggregated"] = {
            "feasible": dis.feasible, "binding_constraint": dis.binding_constraint, "message": serve_message(dis.reason),
            "plans": [p.as_dict() for p in dis.plans], "verdict": dis.verdict,
            "reason": serve_message(dis.verdict_reason), "aggregated_prefill_share": dis.aggregated_prefill_share,
        }  # fmt: skip
    return out


def _headline(res: InferenceResult, pinned: bool = False) -> str:
    m, h = res.model, res.hardware
    if not res.feasible:
        return f"[bold red]No feasible plan[/] for {escape(m['name'])} on {escape(h['name'])}: {escape(infer_message(res) or '')}"
    a, c = res.plans[0], res.plans[1]
    need = "needs at least" if not pinned else "pinned layout:"
    s = (f"[bold]{escape(m['name'])}[/] on [bold]{escape(h['name'])}[/]: {need} [bold green]{a.chips} chip{'s' if a.chips > 1 else ''}[/] "
         f"({layout_text(a)}, {a.replicas} replica{'s' if a.replicas > 1 else ''}, batch {a.batch}) at "
         f"{usd(a.usd_per_1k_output_tokens)}/1k output tokens (decode share; "
         f"{usd(a.usd_per_1k_output_tokens_all_in)} all-in), {a.tokens_per_s_per_user:.1f} tokens/s per user.")
    if (c.chips, c.tp, c.pp, c.ep, c.batch) != (a.chips, a.tp, a.pp, a.ep, a.batch):
        s += (f"\nCheapest: [bold green]{usd(c.usd_per_1k_output_tokens)}/1k output tokens[/] (decode share; "
              f"{usd(c.usd_per_1k_output_tokens_all_in)} all-in) on {plural(c.chips, 'chip')} "
              f"({layout_text(c)}, batch {c.batch}), {c.tokens_per_s_per_user:.1f} tokens/s per user.")
    return s + _speculation_line(res)


def _speculation_line(res: InferenceResult) -> str:
    """With speculative decoding: the settings, the speed-up, and the same search without it (Rich markup)."""
    sp = res.workload.get("speculation")
    if not sp:
        return ""
    if sp.get("mtp"):
        acc = ", ".join(f"{a:.3g}" for a in sp["acceptance_per_depth"])
        s = (f"\nSpeculative decoding (MTP: the model's own module, {sp['mtp']} deep, acceptance per depth {acc}: "
             f"{sp['expected_tokens_per_cycle']:.3f} tokens per cycle)")
    else:
        draft = (f"draft {escape(sp['draft_model'])}" if sp["draft_model"]
                 else f"draft at {sp['draft_cost_fraction']:.3g} of a target step per token")
        s = (f"\nSpeculative decoding ({draft}, g = {sp['draft_tokens']}, a = {sp['acceptance']:.3g}: "
             f"{sp['expected_tokens_per_cycle']:.3f} tokens per cycle)")
    if res.feasible:
        a = res.plans[0]
        s += f": {a.speculative_speedup:.2f}× the tokens/s per user of the same layout and batch without it."
    else:
        s += "."
    base = res.without_speculation
    if base:
        b, c = base
        s += (f"\nWithout speculation: at least {b.chips} chip{'s' if b.chips > 1 else ''}; cheapest "
              f"{usd(c.usd_per_1k_output_tokens)}/1k output tokens on {plural(c.chips, 'chip')}, "
              f"{c.tokens_per_s_per_user:.1f} tokens/s per user.")
        if res.feasible:
            a, cs = res.plans[0], res.plans[1]
            cheaper = c.usd_per_1k_tokens_blended < cs.usd_per_1k_tokens_blended
            cost = (f"{usd(c.usd_per_1k_tokens_blended)} per 1k tokens blended (prompt + output) without the draft vs "
                    f"{usd(cs.usd_per_1k_tokens_blended)} with it")
            if cheaper and b.chips <= a.chips:
                s += f"\n[bold yellow]Speculation does not pay here:[/] {cost}, on no more chips; drop --draft-model."
            elif cheaper:
                s += (f"\n[bold yellow]Speculation buys fewer chips ({a.chips} vs {b.chips}), not cost:[/] {cost}.")
            elif b.chips < a.chips:
                s += f"\n[bold yellow]Without the draft fewer chips suffice ({b.chips} vs {a.chips}).[/]"
    else:
        s += "\nWithout speculation: no feasible plan."
    return s


def targets_text(t: dict, swept: str | None = None) -> list[str]:
    """The targets of a result's ``targets`` dict as phrases; ``swept`` names a target a sweep varies."""
    tg = []
    if swept == "tokens-per-s-per-user":
        tg.append("tokens/s per user swept")
    elif t["tpot_max_s"]:
        tg.append(f"TPOT ≤ {format_seconds(t['tpot_max_s'])} (≥ {t['tokens_per_s_per_user_min']:.2f} tokens/s per user)")
    if t["ttft_max_s"]:
        tg.append(f"TTFT ≤ {format_seconds(t['ttft_max_s'])}")
    for key in ("tpot", "ttft"):
        p = t.get(f"{key}_percentile")
        if p is not None and tg:
            label = key.upper()
            tg = [x.replace(f"{label} ≤", f"p{p:g} {label} ≤", 1) for x in tg]
    if t["demand_tokens_per_s"]:
        tg.append(f"demand {t['demand_tokens_per_s']:,.0f} output tokens/s")
    if t["users"]:
        tg.append(f"{t['users']:,} concurrent users")
    return tg


def _images_text(m: dict, w: dict) -> str:
    """``; 2 images x 576 tokens (inline), ...`` for a request with images, else ``""``."""
    v, n = m.get("vision"), w.get("images_per_request") or 0
    if not n or v is None:
        return ""
    how = ("inline, in the prompt" if v["injection"] == "inline"
           else f"cross-attention, {v['cross_attention_layers']} layers")
    return (f"; {plural(n, 'image')} × {v['tokens_per_image']:,} tokens ({how}; $/1k input counts them as input "
            f"tokens), encoder {format_si(v['encoder_params'])} params, {format_si(v['encoder_flops_per_image'], 'FLOP')}"
            "/image (FLOP = 2 × multiply-adds)")


def replay_line(traffic: dict, replay: dict) -> str:
    """What the plans' latency replay ran: the requests, their lengths and arrivals, the load (one line)."""
    if traffic.get("trace"):
        what = f"the {traffic['requests']:,} requests of {traffic['trace']} ({traffic['trace_layout']} layout)"
    else:
        def spread(cv):
            return "fixed" if not cv else f"{traffic['length_distribution']} CV {cv:g}"
        lengths = (f"lengths from {traffic['lengths_from']}" if traffic["lengths_from"] else
                   f"prompt {spread(traffic['prompt_cv'])}, output {spread(traffic['output_cv'])}")
        cv = traffic["arrival_cv"]
        arrivals = "Poisson arrivals" if cv == 1 else ("evenly spaced arrivals" if cv == 0 else f"gamma arrivals CV {cv:g}")
        what = f"{traffic['requests']:,} requests ({lengths}; {arrivals}"
        what += (f") at {replay['request_rate_per_s']:.3g}/s" if replay["load"] == "demand" else
                 f") at {traffic['default_utilisation']:.0%} of one replica's throughput")
    return (f"latency replay: {what}, seed {traffic['seed']}; percentile targets checked on the "
            f"{traffic['verify_candidates']} best candidates; the frontier is the steady state's")


def _inputs_line(res: InferenceResult, sources: dict[str, str]) -> str:
    m, h, w, t = res.model, res.hardware, res.workload, res.targets
    parts = [
        f"model {m['name']}: {format_si(m['params_total'])} params ({format_si(m['params_active'])} active), "
        f"{format_si(m['flops_per_token'], 'FLOP')}/token, KV {m['kv_cache_bytes_per_token']:,.0f} B/token",
        f"hardware {h['name']}: {format_bytes(h['memory_bytes'])}, {format_si(h['memory_bandwidth_bytes_per_s'], 'B/s')}, "
        f"{format_si(h['peak_flops_per_s'], 'FLOP/s')} {w['compute']}, ${h['price_usd_per_hour']:.4g}/chip-hour",
        f"workload: {w['prompt_tokens']} prompt + {w['output_tokens']} output tokens; weights {w['weights']}, "
        f"KV cache {w['kv_cache']}" + _images_text(m, w) + _prefix_and_budget_text(w),
    ]
    tg = targets_text(t)
    parts.append("targets: " + ("; ".join(tg) if tg else "none"))
    if res.performance_model:
        parts.append(performance_model_line(res.performance_model))
    if res.traffic and any(p.latency for p in res.plans):
        parts.append(replay_line(res.traffic, res.plans[0].latency["replay"]))
    for k, v in sources.items():
        parts.append(f"{k}: {v}")
    parts.append(f"{res.candidates_evaluated:,} layout × batch candidate{'' if res.candidates_evaluated == 1 else 's'} evaluated")
    return "\n".join(parts)


def _prefix_and_budget_text(w: dict) -> str:
    """``; prefix caching: ...; chunked prefill: ...`` for the inputs line (empty without either)."""
    out = ""
    if w.get("prefix_tokens"):
        out += (f"; prefix caching: the first {w['prefix_tokens']:,} tokens shared, cached for "
                f"{w['prefix_hit_rate']:.0%} of the requests")
    if w.get("max_batched_tokens"):
        out += f"; chunked prefill: at most {w['max_batched_tokens']:,} tokens per pass"
    return out


def print_infer(res: InferenceResult, console: Console, sources: dict[str, str] | None = None,
                pinned: bool = False, disaggregated=None) -> None:
    """Render an inference result: headline and plans (and the disaggregated pools next to them), then
    memory/time/frontier, then inputs."""
    console.print(Panel(_headline(res, pinned), title="gpt4plan infer", title_align="left", expand=False))
    if res.feasible:
        plans = list(res.plans)
        a, c = plans
        if (a.chips, a.tp, a.pp, a.ep, a.batch) == (c.chips, c.tp, c.pp, c.ep, c.batch):
            plans = [replace(a, objective="min_chips = min_cost")]
        console.print(plans_table(plans, "Plans"))
    else:
        plans = [res.nearest] if res.nearest else []
        if plans:
            console.print(plans_table(plans, "Nearest plan (misses a target)"))
    if disaggregated is not None:
        print_disaggregated(res, disaggregated, console)
    if plans:
        measured = (res.performance_model or {}).get("kind") == "measured-kernels"
        console.print(why_table(plans, res.hardware["memory_bytes"], measured))
    if res.frontier:
        console.print(frontier_table(res.frontier, console))
    console.print(escape(_inputs_line(res, sources or {})), style="dim")
    for note in res.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for note in res.band_notes:
        console.print(escape(f"error band: {note}"), style="dim")


def _infer_rows(res: InferenceResult) -> list[Plan]:
    if res.feasible:
        return list(res.plans) + list(res.frontier)
    return [res.nearest] if res.nearest else []


def infer_csv(res: InferenceResult) -> str:
    """CSV of ``gpt4plan infer``: one row per plan (min_chips, min_cost, then the frontier; the nearest
    plan when nothing is feasible), every :class:`Plan` field, SI units as in the JSON."""
    plans = _infer_rows(res)
    fields = contract_fields(Plan)
    lat = [f"{m}_p{q}_s" for m in ("ttft", "tpot", "e2e") for q in PERCENTILES]
    rows = [[res.model["name"], res.hardware["name"], res.feasible, *(getattr(p, f) for f in fields),
             *latency_cells(p)] for p in plans]
    return csv_text(["model", "hardware", "feasible", *fields, *lat], rows)


def latency_cells(p: Plan) -> list:
    """A plan's replayed percentiles, TTFT then TPOT then end-to-end, p50 p90 p99 each (None without)."""
    lat = p.latency or {}
    return [(lat.get(f"{m}_s") or {}).get(f"p{q}") for m in ("ttft", "tpot", "e2e") for q in PERCENTILES]


def infer_markdown(res: InferenceResult) -> str:
    """Markdown of ``gpt4plan infer``: a headline and one table row per plan."""
    m, h = res.model["name"], res.hardware["name"]
    if res.feasible:
        a, c = res.plans[0], res.plans[1]
        head = (f"**{md_cell(m)}** on **{md_cell(h)}**: at least **{plural(a.chips, 'chip')}** ({layout_text(a)}); cheapest "
                f"**{usd(c.usd_per_1k_output_tokens)}/1k output tokens** (decode share; "
                f"{usd(c.usd_per_1k_output_tokens_all_in)} all-in) on {plural(c.chips, 'chip')}.")
    else:
        head = f"**No feasible plan** for {md_cell(m)} on {md_cell(h)}: {md_cell(infer_message(res) or '')}"
    header = ["plan", "chips", "layout", "replicas", "batch", "TTFT", "TPOT", "tokens/s/user", "$/1k input",
              "$/1k output (decode share)", "$/1k output, all-in", "memory/chip", "MFU", "bound",
              "TTFT p50/p90/p99", "TPOT p50/p90/p99"]
    rows = [[p.objective.replace("_", " "), f"{p.chips:,}", layout_text(p), p.replicas, f"{p.batch:,}",
             format_seconds(p.ttft_s), format_seconds(p.tpot_s), f"{p.tokens_per_s_per_user:.1f}",
             usd(p.usd_per_1k_input_tokens), usd(p.usd_per_1k_output_tokens),
             usd(p.usd_per_1k_output_tokens_all_in), format_bytes(p.memory_per_chip_bytes),
             f"{p.mfu:.1%}", p.bound, percentiles_text(p, "ttft_s"), percentiles_text(p, "tpot_s")]
            for p in _infer_rows(res)]
    out = head + "\n"
    if rows:
        out += "\n" + md_table(header, rows, right={1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) + "\n"
    return out
