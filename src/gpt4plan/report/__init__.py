"""Presentation: Rich tables and JSON for planner results.  Computes no physics.

Layout of ``gpt4plan infer``'s table output: the answer first (one headline sentence and the plans
table), then the why (memory per chip, time per output token split into compute / memory /
communication, the cost-vs-speed frontier), then the inputs and their sources.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from gpt4plan.serving import InferenceResult, Plan
from gpt4plan.specs import HardwareSpec, ModelSpec
from gpt4plan.specs.units import format_bytes, format_seconds, format_si, plural

__all__ = ["to_json", "infer_json", "print_infer", "print_models", "print_hardware"]


def _clean(x: Any) -> Any:
    """Replace NaN/inf by None (JSON has neither) and recurse into containers."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def to_json(obj: Any) -> str:
    """Pretty JSON with NaN/inf as null."""
    return json.dumps(_clean(obj), indent=2)


def infer_json(res: InferenceResult) -> dict:
    """The JSON contract of ``gpt4plan infer --format json`` (see README)."""
    return {
        "model": res.model,
        "hardware": res.hardware,
        "workload": res.workload,
        "targets": res.targets,
        "feasible": res.feasible,
        "binding_constraint": res.binding_constraint,
        "message": res.message,
        "plans": [p.as_dict() for p in res.plans],
        "frontier": [p.as_dict() for p in res.frontier],
        "nearest": res.nearest.as_dict() if res.nearest else None,
        "without_speculation": [p.as_dict() for p in res.without_speculation],
        "notes": res.notes,
        "error_band_notes": res.band_notes,
        "candidates_evaluated": res.candidates_evaluated,
    }


def _usd(x: float) -> str:
    """Dollars with 3 significant figures and no exponent: $0.210, $0.00523, $0.0000412."""
    if x is None or not math.isfinite(x):
        return "—"
    if x >= 1e9:
        return f"${x / 1e9:.2f}B"
    if x >= 1e6:
        return f"${x / 1e6:.1f}M"
    if x >= 100:
        return f"${x:,.0f}"
    if x == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(x))))
    return f"${x:.{decimals}f}"


def _band(p, field: str) -> str:
    """' (-5%/+12%)' from the plan's error band on ``field``, or '' when there is none."""
    band = (getattr(p, "bands", None) or {}).get(field)
    x = getattr(p, field, None)
    if not band or not x:
        return ""
    lo, hi = band[0] / x - 1, band[1] / x - 1
    return f" ({lo:+.0%}/{hi:+.0%})"


def _layout(p: Plan) -> str:
    s = f"TP {p.tp} × PP {p.pp}"
    if p.ep > 1:
        s += f", EP {p.ep}"
    return s


def _plans_table(plans: list[Plan], title: str) -> Table:
    """One column per plan, one row per figure: reads well in an 80-column CI log."""
    t = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    t.add_column("", style="bold")
    for p in plans:
        t.add_column(p.objective.replace("_", " "), justify="right")
    rows = [
        ("chips", lambda p: f"{p.chips:,}"),
        ("layout per replica", _layout),
        ("replicas", lambda p: str(p.replicas)),
        ("batch (sequences/replica)", lambda p: f"{p.batch:,}"),
        ("TTFT", lambda p: format_seconds(p.ttft_s) + _band(p, "ttft_s")),
        ("TPOT", lambda p: format_seconds(p.tpot_s) + _band(p, "tpot_s")),
        ("tokens/s per user", lambda p: f"{p.tokens_per_s_per_user:.1f}"),
        ("output tokens/s (all replicas)", lambda p: f"{p.throughput_tokens_per_s:,.0f}"),
        ("memory per chip", lambda p: format_bytes(p.memory_per_chip_bytes)),
        ("$ / 1k input tokens", lambda p: _usd(p.usd_per_1k_input_tokens) + _band(p, "usd_per_1k_input_tokens")),
        ("$ / 1k output tokens (decode share)",
         lambda p: _usd(p.usd_per_1k_output_tokens) + _band(p, "usd_per_1k_output_tokens")),
        ("$ / 1k output tokens, all-in", lambda p: _usd(p.usd_per_1k_output_tokens_all_in)),
        ("$ / hour (all chips)", lambda p: f"${p.usd_per_hour:,.2f}"),
        ("MFU / MBU", lambda p: f"{p.mfu:.1%} / {p.mbu:.1%}"),
        ("decode bound", lambda p: p.bound),
    ]
    if any(p.speculative_speedup for p in plans):
        rows.insert(6, ("speed-up by speculation", lambda p: f"{p.speculative_speedup:.2f}×"))
    for label, fn in rows:
        t.add_row(label, *(fn(p) for p in plans))
    return t


def _why_table(plans: list[Plan], memory_bytes: float) -> Table:
    """Memory per chip and time per output token, one column per plan."""
    t = Table(title="Why: memory per chip and time per output token", box=box.SIMPLE, title_justify="left",
              title_style="bold")
    t.add_column("", style="bold")
    for p in plans:
        t.add_column(p.objective.replace("_", " "), justify="right")
    spec = any(p.expected_tokens_per_cycle for p in plans)
    step = "verify pass" if spec else "decode step"
    rows = [
        (f"weights (of {format_bytes(memory_bytes)})", lambda p: format_bytes(p.weights_per_chip_bytes)),
        ("KV cache", lambda p: format_bytes(p.kv_cache_per_chip_bytes)),
        ("runtime reserve", lambda p: format_bytes(p.reserve_per_chip_bytes)),
        ("free", lambda p: format_bytes(p.free_per_chip_bytes)),
        ("max batch that fits", lambda p: f"{p.max_batch_by_memory:,}" if p.max_batch_by_memory is not None else "—"),
        (f"{step}: compute", lambda p: format_seconds(p.decode_compute_s)),
        (f"{step}: memory reads", lambda p: format_seconds(p.decode_memory_s)),
        (f"{step}: communication", lambda p: format_seconds(p.decode_comm_s)),
        ("= stage step", lambda p: format_seconds(p.decode_step_s)),
        ("× pipeline stages", lambda p: f"× {p.pp} (≤ {plural(p.layers_per_stage, 'layer')} each)"),
        ("+ others' prefills", lambda p: format_seconds(_tpot_cycle_s(p) - p.pp * _cycle_s(p))),
        ("= TPOT", lambda p: format_seconds(p.tpot_s)),
    ]
    if spec:
        rows.insert(2, ("draft weights + KV", lambda p: format_bytes(p.draft_memory_per_chip_bytes or 0.0)))
        rows.insert(10, ("+ draft steps", lambda p: f"{_spec_g(p)} × {format_seconds(p.draft_step_s)}"))
        rows.insert(13, ("÷ tokens per cycle", lambda p: f"÷ {p.expected_tokens_per_cycle:.3g}"))
        rows.append(("TPOT without speculation", lambda p: format_seconds(p.tpot_without_speculation_s)))
    if any(p.experts_touched_per_layer for p in plans):
        rows.insert(4, ("experts read per MoE layer", lambda p: f"{p.experts_touched_per_layer:.1f}"))
    for label, fn in rows:
        t.add_row(label, *(fn(p) for p in plans))
    return t


def _spec_g(p: Plan) -> int:
    return p.draft_tokens or 0


def _cycle_s(p: Plan) -> float:
    """Stage time of one microbatch's cycle: verify pass + g draft steps (the decode step without speculation)."""
    return p.decode_step_s + _spec_g(p) * (p.draft_step_s or 0.0)


def _tpot_cycle_s(p: Plan) -> float:
    """Time between a sequence's cycles: pp cycles plus the other sequences' prefills mixed in (= TPOT × tokens
    per cycle; its own prefill comes before its first token)."""
    return p.tpot_s * (p.expected_tokens_per_cycle or 1.0)


def bar(x: float, top: float, width: int = 10, bottom: float | None = None) -> str:
    """A horizontal bar of eighth-blocks, ``width`` characters at ``x == top``; with ``bottom`` the scale is
    logarithmic from ``bottom`` (one eighth) to ``top``."""
    if not (top > 0 and x > 0 and math.isfinite(x)):
        return ""
    frac = min(x / top, 1.0)
    if bottom and 0 < bottom < top:
        frac = math.log(max(x, bottom) / bottom) / math.log(top / bottom)
    eighths = max(1, round(frac * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")


def _frontier_table(front: list[Plan], console: Console | None = None) -> Table:
    """The frontier, one row per plan.  Figures never wrap or get cut: where the console is too narrow the
    bar column goes first, then the layout shortens to TP×PP, then the bound column goes."""
    costs = [p.usd_per_1k_output_tokens for p in front]
    top, bottom = max(costs, default=0.0), min(costs, default=0.0)
    variants = [(True, False, True), (False, False, True), (False, True, True), (False, True, False)]
    t = None
    for bar_col, compact, bound_col in variants:
        cols = ["tok/s/user", "$/1k out", "(log)", "chips", "layout", "batch", "bound"]
        if not bar_col:
            cols.remove("(log)")
        if compact:
            cols[cols.index("layout")] = "TP×PP"
        if not bound_col:
            cols.remove("bound")
        body = []
        for p in front:
            cells = {"tok/s/user": f"{p.tokens_per_s_per_user:.1f}", "$/1k out": _usd(p.usd_per_1k_output_tokens),
                     "(log)": bar(p.usd_per_1k_output_tokens, top, bottom=bottom), "chips": f"{p.chips:,}",
                     "layout": _layout(p), "TP×PP": _compact_layout(p.tp, p.pp, p.ep), "batch": f"{p.batch:,}",
                     "bound": p.bound}
            body.append([cells[c] for c in cols])
        t = Table(title="Cost vs speed frontier (no plan is both cheaper and faster per user)", box=box.SIMPLE,
                  title_justify="left", title_style="bold")
        widths = [max([len(col)] + [len(row[j]) for row in body]) for j, col in enumerate(cols)]
        for col, width in zip(cols, widths, strict=True):
            t.add_column(col, justify="left" if col in ("layout", "bound", "(log)", "TP×PP") else "right",
                         no_wrap=True, min_width=width)
        for row in body:
            t.add_row(*row)
        # SIMPLE box: one space of padding each side of a cell, one between columns, one at each edge
        if console is None or sum(widths) + 3 * len(cols) + 1 <= console.width:
            break
    return t


def _headline(res: InferenceResult, pinned: bool = False) -> str:
    m, h = res.model, res.hardware
    if not res.feasible:
        return f"[bold red]No feasible plan[/] for {escape(m['name'])} on {escape(h['name'])}: {escape(res.message or '')}"
    a, c = res.plans[0], res.plans[1]
    need = "needs at least" if not pinned else "pinned layout:"
    s = (f"[bold]{escape(m['name'])}[/] on [bold]{escape(h['name'])}[/]: {need} [bold green]{a.chips} chip{'s' if a.chips > 1 else ''}[/] "
         f"({_layout(a)}, {a.replicas} replica{'s' if a.replicas > 1 else ''}, batch {a.batch}) at "
         f"{_usd(a.usd_per_1k_output_tokens)}/1k output tokens (decode share; "
         f"{_usd(a.usd_per_1k_output_tokens_all_in)} all-in), {a.tokens_per_s_per_user:.1f} tokens/s per user.")
    if (c.chips, c.tp, c.pp, c.ep, c.batch) != (a.chips, a.tp, a.pp, a.ep, a.batch):
        s += (f"\nCheapest: [bold green]{_usd(c.usd_per_1k_output_tokens)}/1k output tokens[/] (decode share; "
              f"{_usd(c.usd_per_1k_output_tokens_all_in)} all-in) on {_plural(c.chips, 'chip')} "
              f"({_layout(c)}, batch {c.batch}), {c.tokens_per_s_per_user:.1f} tokens/s per user.")
    return s + _speculation_line(res)


def _speculation_line(res: InferenceResult) -> str:
    """With speculative decoding: the settings, the speed-up, and the same search without it (Rich markup)."""
    sp = res.workload.get("speculation")
    if not sp:
        return ""
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
              f"{_usd(c.usd_per_1k_output_tokens)}/1k output tokens on {plural(c.chips, 'chip')}, "
              f"{c.tokens_per_s_per_user:.1f} tokens/s per user.")
        if res.feasible:
            a, cs = res.plans[0], res.plans[1]
            cheaper = c.usd_per_1k_tokens_blended < cs.usd_per_1k_tokens_blended
            cost = (f"{_usd(c.usd_per_1k_tokens_blended)} per 1k tokens blended (prompt + output) without the draft vs "
                    f"{_usd(cs.usd_per_1k_tokens_blended)} with it")
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
    if t["demand_tokens_per_s"]:
        tg.append(f"demand {t['demand_tokens_per_s']:,.0f} output tokens/s")
    if t["users"]:
        tg.append(f"{t['users']:,} concurrent users")
    return tg


def _inputs_line(res: InferenceResult, sources: dict[str, str]) -> str:
    m, h, w, t = res.model, res.hardware, res.workload, res.targets
    parts = [
        f"model {m['name']}: {format_si(m['params_total'])} params ({format_si(m['params_active'])} active), "
        f"{format_si(m['flops_per_token'], 'FLOP')}/token, KV {m['kv_cache_bytes_per_token']:,.0f} B/token",
        f"hardware {h['name']}: {format_bytes(h['memory_bytes'])}, {format_si(h['memory_bandwidth_bytes_per_s'], 'B/s')}, "
        f"{format_si(h['peak_flops_per_s'], 'FLOP/s')} {w['compute']}, ${h['price_usd_per_hour']:.4g}/chip-hour",
        f"workload: {w['prompt_tokens']} prompt + {w['output_tokens']} output tokens; weights {w['weights']}, "
        f"KV cache {w['kv_cache']}",
    ]
    tg = targets_text(t)
    parts.append("targets: " + ("; ".join(tg) if tg else "none"))
    for k, v in sources.items():
        parts.append(f"{k}: {v}")
    parts.append(f"{res.candidates_evaluated:,} layout × batch candidate{'' if res.candidates_evaluated == 1 else 's'} evaluated")
    return "\n".join(parts)


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
        console.print(_plans_table(plans, "Plans"))
    else:
        plans = [res.nearest] if res.nearest else []
        if plans:
            console.print(_plans_table(plans, "Nearest plan (misses a target)"))
    if disaggregated is not None:
        _print_disaggregated(res, disaggregated, console)
    if plans:
        console.print(_why_table(plans, res.hardware["memory_bytes"]))
    if res.frontier:
        console.print(_frontier_table(res.frontier, console))
    console.print(escape(_inputs_line(res, sources or {})), style="dim")
    for note in res.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for note in res.band_notes:
        console.print(escape(f"error band: {note}"), style="dim")


def _print_disaggregated(res: InferenceResult, dis, console: Console) -> None:
    """Aggregated min-cost plan next to the disaggregated min-cost and min-chips pools, then the verdict."""
    cols: list[tuple[str, Any]] = []
    if res.feasible:
        cols.append(("aggregated", res.plans[1]))
    cols += [(f"disagg. {p.objective.replace('_', ' ')}", p) for p in dis.plans]
    if len(dis.plans) == 2 and _same_pools(*dis.plans):
        cols = cols[:-2] + [("disaggregated", dis.plans[1])]
    if len(cols) > 1 or (cols and dis.plans):
        t = Table(title="Disaggregated prefill/decode vs aggregated (min cost)", box=box.SIMPLE_HEAVY,
                  title_justify="left", title_style="bold")
        t.add_column("", style="bold")
        for name, _ in cols:
            t.add_column(name, justify="right")

        def agg(p) -> bool:
            return isinstance(p, Plan)

        def pool(n, tp, pp, ep):
            return f"{n} × TP{tp}·PP{pp}" + (f"·EP{ep}" if ep > 1 else "")

        rows = [
            ("chips", lambda p: f"{p.chips:,}"),
            ("decode pool", lambda p: pool(p.replicas, p.tp, p.pp, p.ep) if agg(p) else
             pool(p.decode_replicas, p.decode_tp, p.decode_pp, p.decode_ep)),
            ("batch / replica", lambda p: f"{p.batch:,}"),
            ("prefill pool", lambda p: "mixed in" if agg(p) else
             pool(p.prefill_replicas, p.prefill_tp, p.prefill_pp, p.prefill_ep)),
            ("prefill pool busy", lambda p: "—" if agg(p) else f"{p.prefill_utilization:.0%}"),
            ("TTFT", lambda p: format_seconds(p.ttft_s)),
            ("  prefill queue", lambda p: "—" if agg(p) else format_seconds(p.prefill_queue_s)),
            ("  prefill", lambda p: format_seconds(p.pp * p.prefill_stage_s) if agg(p) else
             format_seconds(p.prefill_latency_s)),
            ("  KV transfer", lambda p: "—" if agg(p) else format_seconds(p.kv_transfer_s)),
            ("TPOT", lambda p: format_seconds(p.tpot_s)),
            ("$/1k input", lambda p: _usd(p.usd_per_1k_input_tokens)),
            ("$/1k output (decode share)", lambda p: _usd(p.usd_per_1k_output_tokens)),
            ("$/1k output, all-in", lambda p: _usd(p.usd_per_1k_output_tokens_all_in)),
            ("$/1k blended", lambda p: _usd(p.usd_per_1k_tokens_blended)),
        ]
        for label, fn in rows:
            t.add_row(label, *(fn(p) for _, p in cols))
        console.print(t)
    if not dis.feasible:
        console.print(f"[bold]Disaggregated:[/] no feasible plan: {escape(dis.message or '')}")
    if dis.verdict:
        colour = {"wins": "green", "loses": "red"}.get(dis.verdict, "yellow")
        console.print(f"[bold {colour}]Disaggregation {dis.verdict}[/]: {escape(dis.reason or '')}")
    console.print()


def _same_pools(a, b) -> bool:
    keys = ("decode_replicas", "decode_tp", "decode_pp", "decode_ep", "batch", "prefill_replicas", "prefill_tp",
            "prefill_pp", "prefill_ep")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _catalog_table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, padding=(0, 1))
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=True, min_width=max(4, len(col)))
    return t


def print_models(models: list[tuple[str, ModelSpec, Any]], console: Console) -> None:
    """Table of catalog models: name, layers, d_model, heads/KV, attention, experts, params (billions)."""
    t = _catalog_table("Models (--model NAME)", ["name", "layers", "h/kv", "experts", "params",
                                                 "active", "KV/tok", "ctx"])
    for name, m, info in models:
        kv = "MLA" if m.mla else str(m.kv_heads)
        moe = f"{m.moe.experts}/{m.moe.top_k}" if m.moe else "-"
        t.add_row(name, str(m.layers), f"{m.heads}/{kv}", moe,
                  format_si(info["total"], digits=3), format_si(info["active"], digits=3),
                  f"{info['kv'] / 1e3:.0f} kB",
                  f"{m.max_context // 1024}k")
    console.print(t)


def hardware_json(h: HardwareSpec) -> dict:
    """One chip of ``gpt4plan hardware --format json``: the spec with units in the field names, as in the
    ``hardware`` object of ``infer --format json`` (bytes, bytes/s, FLOP/s, s, USD per chip-hour)."""
    return {
        "name": h.name,
        "description": h.description,
        "memory_bytes": h.memory,
        "usable_memory_fraction": h.usable_memory,
        "usable_memory_bytes": h.memory * h.usable_memory,
        "memory_bandwidth_bytes_per_s": h.memory_bandwidth,
        "peak_flops_per_s": dict(h.peak_flops),
        "scale_up": {"domain_chips": h.scale_up.domain, "bandwidth_bytes_per_s": h.scale_up.bandwidth,
                     "latency_s": h.scale_up.latency},
        "scale_out": {"bandwidth_bytes_per_s": h.scale_out.bandwidth, "latency_s": h.scale_out.latency},
        "price_usd_per_hour": h.price,
        "price_date": h.price_date,
        "efficiency": {"compute": h.efficiency.compute, "memory": h.efficiency.memory,
                       "network": h.efficiency.network},
        "source": h.source,
    }


def print_hardware(hws: list[tuple[str, HardwareSpec]], console: Console) -> None:
    """Table of catalog chips: memory, bandwidth, dense peaks, scale-up/out (per direction), price."""
    t = _catalog_table("Hardware (--hardware NAME); dense peaks, links per direction",
                       ["name", "HBM GB", "TB/s", "bf16 TF", "fp8 TF", "scale-up GB/s", "out GB/s", "$/h"])
    for name, h in hws:
        fp8 = h.peak_flops.get("fp8")
        t.add_row(name, f"{h.memory / 1e9:.0f}", f"{h.memory_bandwidth / 1e12:.2f}", f"{h.peak('bf16') / 1e12:,.0f}",
                  f"{fp8 / 1e12:,.0f}" if fp8 else "-", f"{h.scale_up.domain} x {h.scale_up.bandwidth / 1e9:.0f}",
                  f"{h.scale_out.bandwidth / 1e9:.1f}", f"{h.price:.2f}")
    console.print(t)


# ---------------------------------------------------------------------------------------------
# Training


def train_json(res) -> dict:
    """The JSON contract of ``gpt4plan train --format json``."""
    return {
        "model": res.model,
        "hardware": res.hardware,
        "workload": res.workload,
        "objective": res.objective,
        "feasible": res.feasible,
        "binding_constraint": res.binding_constraint,
        "message": res.message,
        "plan": res.plan.as_dict() if res.plan else None,
        "alternatives": [p.as_dict() for p in res.alternatives],
        "warnings": res.warnings,
        "error_band_notes": res.band_notes,
        "candidates_evaluated": res.candidates_evaluated,
    }


def _train_layout(p) -> str:
    s = f"TP {p.tp} × PP {p.pp} × DP {p.dp}" + (f" × CP {p.cp}" if getattr(p, "cp", 1) > 1 else "")
    if p.ep > 1:
        s += f", EP {p.ep}"
    return s


def _days(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    return f"{x:,.1f} d" if x >= 1 else f"{x * 24:.1f} h"


def print_train(res, console: Console, sources: dict[str, str] | None = None) -> None:
    """Render a training result: headline, plan, memory and step-time breakdown, runners-up, inputs."""
    m, h, w = res.model, res.hardware, res.workload
    p = res.plan
    if not res.feasible:
        head = f"[bold red]No feasible plan[/] for {escape(m['name'])} on {escape(h['name'])}: {escape(res.message or '')}"
    else:
        head = (f"[bold]{escape(m['name'])}[/] on [bold]{escape(h['name'])}[/]: [bold green]{p.chips:,} "
                f"chip{'s' if p.chips != 1 else ''}[/] ({_train_layout(p)}) train {format_si(w['tokens'])} tokens in "
                f"[bold green]{_days(p.days).replace(' d', ' days').replace(' h', ' hours')}[/] "
                f"for [bold green]{_usd(p.usd)}[/] at {p.mfu:.1%} MFU.")
    console.print(Panel(head, title=f"gpt4plan train ({res.objective.replace('_', ' ')})", title_align="left",
                        expand=False))
    if p is None:
        return
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
        ("days", lambda q: _days(q.days) + _band(q, "days")),
        ("GPU-hours", lambda q: format_si(q.gpu_hours)),
        ("cost", lambda q: _usd(q.usd) + _band(q, "usd")),
        ("memory/chip", lambda q: format_bytes(q.memory_per_chip_bytes)),
    ]
    for label, fn in rows:
        t.add_row(label, *(fn(q) for q in plans))
    console.print(t)
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
    console.print(why)
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
    for k, v in (sources or {}).items():
        tail.append(f"{k}: {v}")
    tail.append(f"{res.candidates_evaluated:,} layouts evaluated")
    for note in res.band_notes:
        console.print(escape(f"error band: {note}"), style="dim")
    for warning in getattr(res, "warnings", []):
        console.print(f"[yellow]note:[/] {escape(warning)}")
    console.print(escape("\n".join(tail)), style="dim")


def megatron_args(p, model, seq_len: int, precision: str = "bf16") -> str:
    """Megatron-LM launch arguments for a training plan (flag names of Megatron-LM's arguments.py;
    ZeRO-2/3 through Megatron-FSDP's --data-parallel-sharding-strategy).  Lines starting with '#' are notes."""
    notes, args = [], []
    if model.mla is None and p.tp > 1 and model.kv_heads % p.tp:
        notes.append(f"# note: Megatron-core needs --num-query-groups ({model.kv_heads}) divisible by TP ({p.tp}); "
                     "this plan replicates KV heads across TP ranks, which Megatron-LM does not support")
    # model shape
    args += [f"--num-layers {model.layers}", f"--hidden-size {model.d_model}",
             f"--num-attention-heads {model.heads}", f"--seq-length {seq_len}",
             f"--max-position-embeddings {model.max_context}"]
    if model.ffn:
        args.append(f"--ffn-hidden-size {model.ffn}")
    if model.head_dim and model.mla is None and model.head_dim * model.heads != model.d_model:
        args.append(f"--kv-channels {model.head_dim}")
    if model.mla is None and model.kv_heads < model.heads:
        args += ["--group-query-attention", f"--num-query-groups {model.kv_heads}"]
    if model.ffn_gated:
        args.append("--swiglu")
    if not model.tied_embeddings:
        args.append("--untie-embeddings-and-output-weights")
    # the spec does not record the position encoding or the norm: the Llama-style choice is assumed
    args += ["--position-embedding-type rope", "--normalization RMSNorm"]
    notes.append("# note: RoPE and RMSNorm assumed (the model spec does not record them); set --rotary-base "
                 "to the model's rope theta")
    if not model.linear_bias:
        args.append("--disable-bias-linear")
    if model.qkv_bias:
        args.append("--add-qkv-bias")
    if model.mla is not None:
        m = model.mla
        args += ["--multi-latent-attention", f"--q-lora-rank {m.q_lora_rank}", f"--kv-lora-rank {m.kv_lora_rank}",
                 f"--qk-head-dim {m.qk_nope_head_dim}", f"--qk-pos-emb-head-dim {m.qk_rope_head_dim}",
                 f"--v-head-dim {m.v_head_dim}"]
    if model.moe is not None:
        args += [f"--num-experts {model.moe.experts}", f"--moe-router-topk {model.moe.top_k}",
                 f"--moe-ffn-hidden-size {model.moe.expert_ffn}"]
        if model.moe.shared_experts:
            args.append(f"--moe-shared-expert-intermediate-size {model.moe.shared_experts * model.moe.shared_expert_ffn}")
        if model.moe.first_dense_layers or model.moe.every > 1:
            notes.append("# note: set --moe-layer-freq for the dense/MoE layer pattern "
                         f"(first {model.moe.first_dense_layers} dense, then every {model.moe.every})")
    # parallelism and batch
    args += [f"--tensor-model-parallel-size {p.tp}", f"--pipeline-model-parallel-size {p.pp}",
             f"--expert-model-parallel-size {p.ep}", f"--micro-batch-size {p.microbatch}",
             *([f"--context-parallel-size {p.cp}"] if p.cp > 1 else []),
             f"--global-batch-size {int(round(p.global_batch_tokens / seq_len))}"]
    per_stage = -(-model.layers // p.pp)
    if model.layers % p.pp:  # uneven split: the model's largest stages first, the remainder on the last
        args.append(f"--decoder-last-pipeline-num-layers {model.layers - (p.pp - 1) * per_stage}")
    if p.interleave > 1:
        args.append(f"--num-layers-per-virtual-pipeline-stage {per_stage // p.interleave}")
        if model.layers % p.pp:
            notes.append("# note: an uneven pipeline split with virtual stages needs a Megatron-LM release that "
                         "supports --decoder-last-pipeline-num-layers with interleaving")
    if p.sequence_parallel:
        args.append("--sequence-parallel")
    if p.recompute == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    elif p.recompute == "selective":
        args.append("--recompute-granularity selective")
    if p.zero_stage == 1:
        args.append("--use-distributed-optimizer")
    elif p.zero_stage >= 2:
        strategy = "optim_grads" if p.zero_stage == 2 else "optim_grads_params"
        args += ["--use-megatron-fsdp", f"--data-parallel-sharding-strategy {strategy}", "--use-distributed-optimizer",
                 "--ckpt-format fsdp_dtensor", "--no-gradient-accumulation-fusion"]
    args.append("--bf16")
    if precision == "fp8":
        args.append("--fp8-format hybrid")
    cps = f" x CP {p.cp}" if p.cp > 1 else ""
    notes.append(f"# world size {p.chips} GPUs = TP {p.tp} x PP {p.pp} x DP {p.dp}{cps} (EP {p.ep} within DP); launch "
                 "with torchrun or your scheduler, plus --data-path, --tokenizer-type and the optimizer settings")
    return "\n".join(notes + [" \\\n  ".join(args)])


# ---------------------------------------------------------------------------------------------
# Validation


def _pct(x: float | None) -> str:
    """Signed percentage: '+12.3%', '+1,234%' for large values, '—' for none."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:+.1%}" if abs(x) < 10 else f"{x:+,.0%}"


def _val(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.3g}" if abs(x) < 1e3 else format_si(x)


#: Short labels for the validate table (the JSON keeps the metric names of DESIGN.md).
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
                  _pct(r.error), style=style)
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


# ---------------------------------------------------------------------------------------------
# CSV and Markdown for infer / train (one row per plan)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_csv_value(v) for v in row])
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    """A CSV cell: none and NaN empty, booleans ``true``/``false`` as in the JSON."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _md_cell(x: Any) -> str:
    """Markdown table cell: pipes escaped, no line breaks."""
    return str(x).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_table(header: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    right = right or set()
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return plural(n, word)


def _infer_rows(res: InferenceResult) -> list[Plan]:
    if res.feasible:
        return list(res.plans) + list(res.frontier)
    return [res.nearest] if res.nearest else []


def _plan_fields(cls) -> list[str]:
    """A plan dataclass's scalar fields, in order (error bands go to JSON only)."""
    return [f for f in cls.__dataclass_fields__ if f != "bands"]


def infer_csv(res: InferenceResult) -> str:
    """CSV of ``gpt4plan infer``: one row per plan (min_chips, min_cost, then the frontier; the nearest
    plan when nothing is feasible), every :class:`Plan` field, SI units as in the JSON."""
    plans = _infer_rows(res)
    fields = _plan_fields(Plan)
    rows = [[res.model["name"], res.hardware["name"], res.feasible, *(getattr(p, f) for f in fields)] for p in plans]
    return _csv(["model", "hardware", "feasible", *fields], rows)


def infer_markdown(res: InferenceResult) -> str:
    """Markdown of ``gpt4plan infer``: a headline and one table row per plan."""
    m, h = res.model["name"], res.hardware["name"]
    if res.feasible:
        a, c = res.plans[0], res.plans[1]
        head = (f"**{_md_cell(m)}** on **{_md_cell(h)}**: at least **{_plural(a.chips, 'chip')}** ({_layout(a)}); cheapest "
                f"**{_usd(c.usd_per_1k_output_tokens)}/1k output tokens** (decode share; "
                f"{_usd(c.usd_per_1k_output_tokens_all_in)} all-in) on {_plural(c.chips, 'chip')}.")
    else:
        head = f"**No feasible plan** for {_md_cell(m)} on {_md_cell(h)}: {_md_cell(res.message or '')}"
    header = ["plan", "chips", "layout", "replicas", "batch", "TTFT", "TPOT", "tokens/s/user", "$/1k input",
              "$/1k output (decode share)", "$/1k output, all-in", "memory/chip", "MFU", "bound"]
    rows = [[p.objective.replace("_", " "), f"{p.chips:,}", _layout(p), p.replicas, f"{p.batch:,}",
             format_seconds(p.ttft_s), format_seconds(p.tpot_s), f"{p.tokens_per_s_per_user:.1f}",
             _usd(p.usd_per_1k_input_tokens), _usd(p.usd_per_1k_output_tokens),
             _usd(p.usd_per_1k_output_tokens_all_in), format_bytes(p.memory_per_chip_bytes),
             f"{p.mfu:.1%}", p.bound] for p in _infer_rows(res)]
    out = head + "\n"
    if rows:
        out += "\n" + _md_table(header, rows, right={1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) + "\n"
    return out


def _train_rows(res) -> list:
    return ([res.plan] if res.plan else []) + (list(res.alternatives) if res.feasible else [])


def train_csv(res) -> str:
    """CSV of ``gpt4plan train``: one row per plan (the chosen plan, then the runners-up; the nearest
    plan when nothing is feasible), every ``TrainPlan`` field, SI units as in the JSON."""
    plans = _train_rows(res)
    if plans:
        fields = _plan_fields(type(plans[0]))
    else:
        from gpt4plan.training import TrainPlan

        fields = _plan_fields(TrainPlan)
    rows = [[res.model["name"], res.hardware["name"], res.feasible, *(getattr(p, f) for f in fields)] for p in plans]
    return _csv(["model", "hardware", "feasible", *fields], rows)


def train_markdown(res) -> str:
    """Markdown of ``gpt4plan train``: a headline and one table row per plan."""
    m, h, p = res.model["name"], res.hardware["name"], res.plan
    if res.feasible:
        head = (f"**{_md_cell(m)}** on **{_md_cell(h)}**: **{plural(p.chips, 'chip')}** ({_train_layout(p)}), "
                f"**{p.days:,.1f} days**, **{_usd(p.usd)}** at {p.mfu:.1%} MFU.")
    else:
        head = f"**No feasible plan** for {_md_cell(m)} on {_md_cell(h)}: {_md_cell(res.message or '')}"
    header = ["plan", "chips", "TP×PP×DP", "EP", "ZeRO", "microbatch", "recompute", "step", "MFU", "days", "cost",
              "memory/chip"]
    rows = [[q.objective.replace("_", " "), f"{q.chips:,}", f"{q.tp}×{q.pp}×{q.dp}", q.ep, q.zero_stage,
             f"{q.microbatches_per_step} × {q.microbatch}", q.recompute, format_seconds(q.step_time_s),
             f"{q.mfu:.1%}", _days(q.days), _usd(q.usd), format_bytes(q.memory_per_chip_bytes)]
            for q in _train_rows(res)]
    out = head + "\n"
    if rows:
        out += "\n" + _md_table(header, rows, right={1, 3, 4, 7, 8, 9, 10, 11}) + "\n"
    return out


# ---------------------------------------------------------------------------------------------
# gpt4plan check: Rich table, JSON, Markdown, JUnit


def _fmt_count(x: float) -> str:
    return f"{x:,.0f}"


#: limit name -> (short label, formatter of a value in the limit's unit)
LIMIT_LABELS: dict[str, tuple[str, Any]] = {
    "usd_per_1k_output_tokens": ("$/1k output", _usd),
    "usd_per_1k_input_tokens": ("$/1k input", _usd),
    "usd_per_hour": ("$/hour", _usd),
    "chips": ("chips", _fmt_count),
    "tpot_s": ("TPOT", format_seconds),
    "ttft_s": ("TTFT", format_seconds),
    "usd": ("cost", _usd),
    "days": ("days", lambda x: f"{x:,.1f} d"),
    "gpu_hours": ("GPU-hours", _fmt_count),
    "memory_per_chip_bytes": ("memory/chip", format_bytes),
    "tokens_per_s_per_user": ("tokens/s/user", lambda x: f"{x:,.1f}"),
    "mfu": ("MFU", lambda x: f"{x:.1%}"),
    "throughput_tokens_per_s": ("output tokens/s", lambda x: f"{x:,.0f}"),
}


def _lim_label(name: str) -> str:
    return LIMIT_LABELS.get(name, (name, None))[0]


def _lim_fmt(name: str, x: float | None) -> str:
    if x is None:
        return "—"
    fn = LIMIT_LABELS.get(name, (None, lambda v: f"{v:.4g}"))[1]
    return fn(x)


def _limit_text(c) -> str:
    return f"{_lim_label(c.name)} {'≤' if c.bound == 'max' else '≥'} {_lim_fmt(c.name, c.limit)}"


def _limit_failure(s, c, max_regression: float | None) -> str | None:
    """Why one limit failed, in one line (None if it passed)."""
    if not s.feasible:
        return None
    if not c.passed:
        if c.value is None:
            return f"{s.name}: {_lim_label(c.name)}: the plan has no value"
        op = ">" if c.bound == "max" else "<"
        return (f"{s.name}: {_lim_label(c.name)} {_lim_fmt(c.name, c.value)} {op} limit "
                f"{_lim_fmt(c.name, c.limit)} (headroom {_pct(c.headroom)})")
    if c.regressed:
        way = "rose" if c.bound == "max" else "fell"
        return (f"{s.name}: {_lim_label(c.name)} {way} {abs(c.change):.1%} vs baseline "
                f"({_lim_fmt(c.name, c.baseline)} -> {_lim_fmt(c.name, c.value)}; max regression "
                f"{max_regression:.0%}), still within its limit")
    return None


def check_failures(report) -> list[str]:
    """One line per failure: infeasible scenarios, limits exceeded, regressions vs the baseline."""
    out = []
    for s in report.scenarios:
        if not s.feasible:
            out.append(f"{s.name}: {s.message}")
        for c in s.limits:
            line = _limit_failure(s, c, report.max_regression)
            if line:
                out.append(line)
    return out


def _status(s, c) -> str:
    if not s.feasible:
        return "FAIL"
    if not c.passed:
        return "FAIL"
    return "FAIL" if c.regressed else "PASS"


def check_rows(report) -> list[dict]:
    """Rows of the check table, failures first (then in file order): one per limit, or one
    ``feasible plan`` row for a scenario without a plan or without limits."""
    rows = []
    for i, s in enumerate(report.scenarios):
        if not s.feasible or not s.limits:
            rows.append({"order": (i, -1), "scenario": s.name, "limit": "feasible plan",
                         "planned": "found" if s.feasible else f"none ({s.binding_constraint or '?'})",
                         "headroom": "—", "change": "", "result": "PASS" if s.feasible else "FAIL"})
        if not s.feasible:
            continue
        for j, c in enumerate(s.limits):
            change = ""
            if report.baseline_file is not None:
                change = _pct(c.change) if c.change is not None else "new"
            rows.append({"order": (i, j), "scenario": s.name, "limit": _limit_text(c),
                         "planned": _lim_fmt(c.name, c.value), "headroom": _pct(c.headroom), "change": change,
                         "result": _status(s, c)})
    rows.sort(key=lambda r: (r["result"] == "PASS", r["order"]))
    return rows


def _check_plan_line(s) -> str:
    """What was checked: the plan of one scenario, in one line."""
    p = s.plan
    where = f"{s.name}: {s.model} on {s.hardware}"
    if p is None:
        return f"{where}: no feasible plan"
    if s.kind == "infer":
        lay = f"TP {p['tp']} × PP {p['pp']}" + (f", EP {p['ep']}" if p["ep"] > 1 else "")
        return (f"{where}, {s.objective.replace('_', ' ')} plan: {p['chips']:,} chip{'s' if p['chips'] != 1 else ''} "
                f"({lay}, {p['replicas']} "
                f"replica{'s' if p['replicas'] > 1 else ''}, batch {p['batch']:,}), "
                f"{_usd(p['usd_per_1k_output_tokens'])}/1k output tokens, {format_seconds(p['tpot_s'])} TPOT")
    return (f"{where}, {s.objective.replace('_', ' ')} plan: {plural(p['chips'], 'chip')} (TP {p['tp']} × PP {p['pp']} "
            f"× DP {p['dp']}), {p['days']:,.1f} days, {_usd(p['usd'])}, {p['mfu']:.1%} MFU")


def _check_summary(report) -> str:
    n, f = len(report.scenarios), len(report.failed)
    limits = sum(len(s.limits) for s in report.scenarios)
    if f == 0:
        return f"PASS: {_plural(n, 'scenario')}, {_plural(limits, 'limit')} within budget"
    checked = [c for s in report.scenarios if s.feasible for c in s.limits]
    why = []
    infeasible = sum(1 for s in report.scenarios if not s.feasible)
    if infeasible:
        why.append(f"{infeasible} without a feasible plan")
    broken = sum(1 for c in checked if not c.passed)
    if broken:
        why.append(f"{broken} of {_plural(limits, 'limit')} broken")
    regressed = sum(1 for c in checked if c.passed and c.regressed)
    if regressed:
        why.append(f"{regressed} regressed vs the baseline")
    return f"FAIL: {f} of {_plural(n, 'scenario')} failed ({'; '.join(why)})"


def print_check(report, console: Console) -> None:
    """Render a budget check: the table (failures first), the failures, what was planned, a verdict."""
    t = Table(title=f"gpt4plan check {escape(report.file)}", box=box.SIMPLE_HEAD, title_justify="left",
              title_style="bold", pad_edge=False)
    rows = check_rows(report)

    def width(key: str, title: str) -> int:
        return max([len(title)] + [len(r[key]) for r in rows])

    # figures never wrap or truncate; a long scenario name folds instead
    t.add_column("scenario", overflow="fold")
    t.add_column("limit", no_wrap=True, min_width=width("limit", "limit"))
    t.add_column("planned", justify="right", no_wrap=True, min_width=width("planned", "planned"))
    t.add_column("headroom", justify="right", no_wrap=True, min_width=width("headroom", "headroom"))
    with_base = report.baseline_file is not None
    if with_base:
        t.add_column("vs base", justify="right", no_wrap=True, min_width=width("change", "vs base"))
    t.add_column("result", no_wrap=True, min_width=6)
    for r in rows:
        res = "[bold red]FAIL[/]" if r["result"] == "FAIL" else "[green]PASS[/]"
        cells = [escape(r["scenario"]), escape(r["limit"]), escape(r["planned"]), r["headroom"]]
        if with_base:
            cells.append(r["change"])
        t.add_row(*cells, res)
    console.print(t)
    fails = check_failures(report)
    if fails:
        console.print("[bold red]Failures[/]")
        for line in fails:
            console.print(f"  {escape(line)}")
    console.print(escape("\n".join(["Plans checked:"] + [f"  {_check_plan_line(s)}" for s in report.scenarios])),
                  style="dim")
    if with_base:
        mr = "none (changes shown only)" if report.max_regression is None else f"{report.max_regression:.0%}"
        console.print(escape(f"baseline {report.baseline_file}; max regression {mr}"), style="dim")
    verdict = _check_summary(report)
    console.print(f"[bold {'green' if report.passed else 'red'}]{escape(verdict)}[/]")


def check_json(report) -> dict:
    """The JSON contract of ``gpt4plan check --format json`` (also the ``--baseline`` input)."""
    return {
        "file": report.file,
        "passed": report.passed,
        "summary": _check_summary(report),
        "baseline": report.baseline_file,
        "max_regression": report.max_regression,
        "scenarios": [
            {
                "name": s.name,
                "kind": s.kind,
                "passed": s.passed,
                "feasible": s.feasible,
                "binding_constraint": s.binding_constraint,
                "message": s.message,
                "model": s.model,
                "hardware": s.hardware,
                "objective": s.objective,
                "limits": [c.as_dict() for c in s.limits],
                "values": s.values,
                "plan": s.plan,
                "inputs": s.inputs,
            }
            for s in report.scenarios
        ],
    }


def check_markdown(report) -> str:
    """A Markdown summary of a budget check, for a pull-request comment or a GitHub step summary."""
    ok = report.passed
    icon = "✅" if ok else "❌"
    n, f = len(report.scenarios), len(report.failed)
    verdict = f"all {n} scenarios within budget" if ok else f"{f} of {n} scenarios failed"
    title = f"### {icon} gpt4plan check: {verdict}"
    with_base = report.baseline_file is not None
    header = ["", "scenario", "limit", "planned", "headroom"] + (["vs baseline"] if with_base else [])
    rows = []
    for r in check_rows(report):
        row = ["❌" if r["result"] == "FAIL" else "✅", r["scenario"], r["limit"], r["planned"], r["headroom"]]
        if with_base:
            row.append(r["change"])
        rows.append(row)
    parts = [title, "", f"`{_md_cell(report.file)}` · {_md_cell(_check_summary(report))}", "",
             _md_table(header, rows, right={3, 4, 5})]
    fails = check_failures(report)
    if fails:
        parts += ["", "**Failures**", ""] + [f"- {_md_cell(x)}" for x in fails]
    parts += ["", "<details><summary>Plans checked</summary>", ""]
    parts += [f"- {_md_cell(_check_plan_line(s))}" for s in report.scenarios]
    if with_base:
        mr = "none" if report.max_regression is None else f"{report.max_regression:.0%}"
        parts += ["", f"Baseline `{_md_cell(report.baseline_file)}`, max regression {mr}."]
    parts += ["", "</details>", ""]
    return "\n".join(parts)


def check_junit(report) -> str:
    """JUnit XML of a budget check: one testsuite, one testcase per scenario (``feasible plan``) and per
    limit; a broken limit or a regression is a ``failure``, a limit of an infeasible scenario ``skipped``."""
    import xml.etree.ElementTree as ET

    cases = []
    for s in report.scenarios:
        cls = f"gpt4plan.check.{s.name}"
        tc = ET.Element("testcase", classname=cls, name="feasible plan", time="0", file=report.file)
        if s.line:
            tc.set("line", str(s.line))
        if not s.feasible:
            ET.SubElement(tc, "failure", message=s.message or "no feasible plan", type="infeasible").text = \
                _check_plan_line(s) + "\n" + (s.message or "")
        else:
            ET.SubElement(tc, "system-out").text = _check_plan_line(s)
        cases.append(tc)
        for c in s.limits:
            tc = ET.Element("testcase", classname=cls, name=f"{c.name} ({_limit_text(c)})", time="0",
                            file=report.file)
            if c.line:
                tc.set("line", str(c.line))
            if not s.feasible:
                ET.SubElement(tc, "skipped", message="no feasible plan to check")
            else:
                why = _limit_failure(s, c, report.max_regression)
                if why:
                    kind = "budget exceeded" if not c.passed else "regression"
                    ET.SubElement(tc, "failure", message=why, type=kind).text = why + "\n" + _check_plan_line(s)
            cases.append(tc)
    failures = sum(1 for tc in cases if tc.find("failure") is not None)
    skipped = sum(1 for tc in cases if tc.find("skipped") is not None)
    attrs = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
             "time": "0"}
    root = ET.Element("testsuites", name="gpt4plan check", **attrs)
    suite = ET.SubElement(root, "testsuite", name=f"gpt4plan check {report.file}", **attrs)
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Comparisons: gpt4plan compare (one row per chip) and infer --sweep (one row per value)


def _compact_layout(tp: int, pp: int, ep: int = 1, dp: int | None = None) -> str:
    s = f"{tp}×{pp}" + (f"×{dp}" if dp is not None else "")
    return s + (f" ep{ep}" if ep > 1 else "")


def comparison_json(rows, kind: str, label_name: str, sweep: dict | None = None) -> dict:
    """The JSON contract of ``gpt4plan compare`` (``kind`` ``infer`` or ``train``) and of ``infer --sweep``.

    Top level: ``kind``, ``label`` (``hardware`` or the swept option), ``sweep``, ``model``, ``rows``; each row
    has the label's value, ``feasible``, ``binding_constraint``, ``message``, and (infer) ``min_chips``,
    ``plan`` (the row's plan, min_cost unless asked otherwise), ``min_chips_plan``, ``nearest``, ``workload``,
    ``targets``; (train) ``plan``, ``warnings``.  Every row names its ``hardware`` and ``price_usd_per_hour``.
    """
    out_rows = []
    for r in rows:
        res = r.result
        row = {"hardware": res.hardware["name"], "price_usd_per_hour": res.hardware["price_usd_per_hour"]}
        row.update({label_name: r.label, "feasible": r.feasible, "binding_constraint": r.binding_constraint,
                    "message": res.message, "workload": res.workload})
        if kind == "infer":
            row.update(min_chips=r.min_chips, objective=r.objective,
                       plan=r.plan.as_dict() if r.plan else None,
                       min_chips_plan=res.plans[0].as_dict() if res.feasible else None,
                       nearest=res.nearest.as_dict() if res.nearest else None, targets=res.targets)
        else:
            row.update(objective=res.objective, plan=res.plan.as_dict() if res.plan else None,
                       warnings=res.warnings)
        out_rows.append(row)
    model = rows[0].result.model if rows else None
    return {"kind": kind, "label": label_name, "sweep": sweep, "model": model, "rows": out_rows}


def comparison_csv(rows, kind: str, label_name: str) -> str:
    """CSV of a comparison: one row per chip (or swept value): the label, ``feasible``,
    ``binding_constraint``, ``min_chips`` (infer), then every plan field of the row's plan (the nearest plan
    when nothing is feasible), SI units as in the JSON, then ``message``."""
    if kind == "infer":
        fields = _plan_fields(Plan)
    else:
        from gpt4plan.training import TrainPlan

        fields = _plan_fields(TrainPlan)
    fields = [f for f in fields if f != "bands"]
    out = []
    for r in rows:
        res = r.result
        p = r.plan or (res.nearest if kind == "infer" else res.plan)
        extra = [r.min_chips] if kind == "infer" else []
        out.append([r.label, res.model["name"], r.feasible, r.binding_constraint or "", *extra,
                    *((getattr(p, f) for f in fields) if p else ("" for _ in fields)), res.message or ""])
    head = [label_name, "model", "feasible", "binding_constraint"] + (["min_chips"] if kind == "infer" else [])
    return _csv(head + fields + ["message"], out)


def _infer_cells(r) -> list[str]:
    p = r.plan
    if p is None:
        return ["—"] * len(INFER_COMPARE_COLUMNS)
    return [f"{p.chips:,} ({r.min_chips:,})", _compact_layout(p.tp, p.pp, p.ep), f"{p.batch:,}",
            _usd(p.usd_per_1k_input_tokens), _usd(p.usd_per_1k_output_tokens),
            _usd(p.usd_per_1k_output_tokens_all_in), f"{p.tokens_per_s_per_user:.1f}"]


def _train_cells(r) -> list[str]:
    p = r.plan
    if p is None:
        return ["—"] * len(TRAIN_COMPARE_COLUMNS)
    return [f"{p.chips:,}", _compact_layout(p.tp, p.pp, p.ep, p.dp), _days(p.days), _usd(p.usd), f"{p.mfu:.1%}"]


#: table headers of the label column of a sweep (JSON keeps the option's name with underscores)
SWEEP_HEADERS = {"prompt_tokens": "prompt tokens", "output_tokens": "output tokens",
                 "tokens_per_s_per_user": "tok/s/user target", "price_per_hour": "$ per chip-hour"}


def _label_text(x) -> str:
    """A row label: a chip name as is, a swept number as 2,048 or 2.5."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.6g}"


#: "decode" is the decode share of $/1k output tokens, "all-in" the whole spend per 1k output tokens
INFER_COMPARE_COLUMNS = ["chips (min)", "TP×PP", "batch", "$/1k input", "$/1k out decode", "$/1k out all-in",
                         "tok/s /user"]
TRAIN_COMPARE_COLUMNS = ["chips", "TP×PP×DP", "days", "cost", "MFU"]


def comparison_headline(rows, kind: str, label_name: str) -> str:
    """One or two sentences: the cheapest row, the fewest chips, how many rows have no plan (plain text)."""
    ok = [r for r in rows if r.feasible]
    bad = [r for r in rows if not r.feasible]
    model = rows[0].result.model["name"] if rows else "?"
    what = "chip" if label_name == "hardware" else label_name
    if not ok:
        return f"{model}: no {what} has a feasible plan."
    if label_name != "hardware" and kind == "infer":  # a sweep: rows in value order
        hw = rows[0].result.hardware["name"]
        parts = []
        for r in rows if len(rows) <= 6 else [rows[0], rows[-1]]:
            if r.feasible:
                parts.append(f"{_label_text(r.label)} → {_usd(r.plan.usd_per_1k_output_tokens)}/1k output tokens on "
                             f"{_plural(r.plan.chips, 'chip')} (min {r.min_chips})")
            else:
                parts.append(f"{_label_text(r.label)} → no plan ({r.binding_constraint})")
        return f"{model} on {hw} by {SWEEP_HEADERS.get(what, what)}: " + "; ".join(parts) + "."
    best = ok[0]
    p = best.plan
    if kind == "infer":
        s = (f"{model}: cheapest on {best.label} at {_usd(p.usd_per_1k_output_tokens)}/1k output tokens "
             f"({_plural(p.chips, 'chip')}, {_layout(p)}, batch {p.batch:,}, {p.tokens_per_s_per_user:.1f} tokens/s per user).")
        fewest = min(r.min_chips for r in ok)
        names = [str(r.label) for r in ok if r.min_chips == fewest]
        s += f" Fewest chips: {_plural(fewest, 'chip')} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})."
    else:
        s = (f"{model}: cheapest on {best.label}: {_usd(p.usd)}, {_days(p.days).replace(' d', ' days')} on "
             f"{plural(p.chips, 'chip')} ({_train_layout(p)}, {p.mfu:.1%} MFU).")
    if bad:
        s += f" {len(bad)} of {len(rows)} {what}{'s' if len(rows) != 1 else ''} without a feasible plan."
    return s


def print_comparison(rows, kind: str, label_name: str, console: Console, title: str,
                     notes: list[str] | None = None) -> None:
    """Rich table, one row per chip (or swept value), cheapest first; rows without a plan last, naming
    the constraint that binds; then why each of those fails, and the inputs."""
    console.print(Panel(escape(comparison_headline(rows, kind, label_name)), title=escape(title), title_align="left",
                        expand=False))
    # two-line headers and collapsed padding: every figure fits an 80-column CI log unwrapped
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True)
    body = []
    cols = INFER_COMPARE_COLUMNS if kind == "infer" else TRAIN_COMPARE_COLUMNS
    # the terminal leaves out $/1k input (in JSON, CSV and Markdown): the all-in figure holds the prompt's
    # cost, and every other column then fits an 80-column log
    keep = [j for j, c in enumerate(cols) if c != "$/1k input"]
    cols = [cols[j] for j in keep]
    for r in rows:
        cells = [escape(_label_text(r.label))]
        if label_name == "hardware":
            cells.append(f"{r.result.hardware['price_usd_per_hour']:.2f}")
        row_cells = _infer_cells(r) if kind == "infer" else _train_cells(r)
        cells += [row_cells[j] for j in keep]
        if not all(x.feasible for x in rows):  # a 'binds' column only when some row has no plan
            cells.append("—" if r.feasible else escape(r.binding_constraint or "?"))
        body.append(cells)
    heads = ["chip" if label_name == "hardware" else SWEEP_HEADERS.get(label_name, label_name)]
    heads += ["$/h"] if label_name == "hardware" else []
    heads += cols + ([] if all(x.feasible for x in rows) else ["binds"])
    for j, head in enumerate(heads):
        lines = head.split(" ") if j else head.rsplit(" ", 1)
        width = max([len(x) for x in lines] + [len(row[j]) for row in body])
        t.add_column("\n".join(lines), justify="left" if j == 0 or head.startswith("TP") or j == len(heads) - 1
                     else "right", no_wrap=True, min_width=width)
    for r, cells in zip(rows, body, strict=True):
        t.add_row(*cells, style=None if r.feasible else "red")
    console.print(t)
    bad = [r for r in rows if not r.feasible]
    if bad:
        console.print("[bold]No feasible plan[/]")
        for r in bad:
            console.print(f"  {escape(_label_text(r.label))}: {escape(r.result.message or '')}")
    for n in notes or []:
        console.print(escape(n), style="dim")


def comparison_markdown(rows, kind: str, label_name: str) -> str:
    """Markdown: the headline and one table row per chip (or swept value)."""
    cols = INFER_COMPARE_COLUMNS if kind == "infer" else TRAIN_COMPARE_COLUMNS
    header = [label_name] + (["$/h"] if label_name == "hardware" else []) + [c.replace(" /", "/") for c in cols]
    header.append("binding constraint")
    body = []
    for r in rows:
        row = [_label_text(r.label)] + ([f"{r.result.hardware['price_usd_per_hour']:.2f}"] if label_name == "hardware" else [])
        row += _infer_cells(r) if kind == "infer" else _train_cells(r)
        row.append("—" if r.feasible else (r.result.message or r.binding_constraint or "?"))
        body.append(row)
    right = set(range(1, len(header) - 1)) - {header.index(c) for c in header if c.startswith("TP")}
    return f"{_md_cell(comparison_headline(rows, kind, label_name))}\n\n{_md_table(header, body, right=right)}\n"


# ---------------------------------------------------------------------------------------------
# Frontier plots: $/1k output tokens vs tokens/s per user (gpt4plan[plot])


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
    targets = {s["tpot_target_tokens_per_s"] for s in series if s["tpot_target_tokens_per_s"]}
    for t in targets:
        ax.axvline(t, color="black", ls="--", lw=1)
        lo = min(xs_all + [t]) / 1.3
        ax.axvspan(lo, t, color="grey", alpha=0.12, lw=0)
        ax.annotate(f"TPOT target: ≥ {t:.3g} tokens/s per user", (t, 0.98), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points", va="top", fontsize=8)
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
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
    return drawn
