"""The tables of ``gpt4plan infer``'s table output: plans, why (memory and time per output token),
the cost-vs-speed frontier, and disaggregated prefill/decode pools next to the aggregated plan.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpt4plan.report.common import band_text, bar, compact_layout, layout_text, usd
from gpt4plan.scenario import cli_flag
from gpt4plan.serving import InferenceResult, Plan, ServeIssue, word_serve_issue
from gpt4plan.specs.units import format_bytes, format_seconds, plural


def serve_message(issue: ServeIssue | None) -> str | None:
    """A serving planner's reason code in the command line's words (``--max-chips``); None for None."""
    return word_serve_issue(issue, cli_flag) if issue is not None else None


def percentiles_text(p: Plan, key: str) -> str:
    """``120 ms/310 ms/1.2 s``: a plan's replayed p50/p90/p99 of ``key`` (``ttft_s``, ``tpot_s``, ``e2e_s``),
    three significant digits (a column of an 80-column table); ``—`` without a replay."""
    v = (p.latency or {}).get(key)
    if not v or v.get("p50") is None:
        return "—"
    return "/".join(f"{v[q] * 1e3:.3g} ms" if v[q] < 1 else f"{v[q]:.3g} s" for q in ("p50", "p90", "p99"))


def plans_table(plans: list[Plan], title: str) -> Table:
    """One column per plan, one row per figure: reads well in an 80-column CI log."""
    t = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    t.add_column("", style="bold")
    for p in plans:
        t.add_column(p.objective.replace("_", " "), justify="right")
    rows = [
        ("chips", lambda p: f"{p.chips:,}"),
        ("layout per replica", layout_text),
        ("replicas", lambda p: str(p.replicas)),
        ("batch (sequences/replica)", lambda p: f"{p.batch:,}"),
        ("TTFT", lambda p: format_seconds(p.ttft_s) + band_text(p, "ttft_s")),
        ("TPOT", lambda p: format_seconds(p.tpot_s) + band_text(p, "tpot_s")),
        ("tokens/s per user", lambda p: f"{p.tokens_per_s_per_user:.1f}"),
        ("output tokens/s (all replicas)", lambda p: f"{p.throughput_tokens_per_s:,.0f}"),
        ("memory per chip", lambda p: format_bytes(p.memory_per_chip_bytes)),
        ("$ / 1k input tokens", lambda p: usd(p.usd_per_1k_input_tokens) + band_text(p, "usd_per_1k_input_tokens")),
        ("$ / 1k output tokens (decode share)",
         lambda p: usd(p.usd_per_1k_output_tokens) + band_text(p, "usd_per_1k_output_tokens")),
        ("$ / 1k output tokens, all-in", lambda p: usd(p.usd_per_1k_output_tokens_all_in)),
        ("$ / hour (all chips)", lambda p: f"${p.usd_per_hour:,.2f}"),
        ("MFU / MBU", lambda p: f"{p.mfu:.1%} / {p.mbu:.1%}"),
        ("decode bound", lambda p: p.bound),
    ]
    if any(p.speculative_speedup for p in plans):
        rows.insert(6, ("speed-up by speculation", lambda p: f"{p.speculative_speedup:.2f}×"))
    if any(p.latency for p in plans):  # from a replay of the plan (serving/verify.py)
        at = 6 + any(p.speculative_speedup for p in plans)
        rows[at:at] = [(f"{name} p50/p90/p99", lambda p, k=key: percentiles_text(p, k))
                       for name, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("end-to-end", "e2e_s"))]
    _prefix_and_chunk_rows(rows, plans)
    for label, fn in rows:
        t.add_row(label, *(fn(p) for p in plans))
    return t


def _prefix_and_chunk_rows(rows: list, plans: list[Plan]) -> None:
    """With prefix caching: cached and uncached $/1k input tokens under the blended figure; with a token budget
    per pass: the passes a prompt's prefill takes, after TPOT."""
    if any(p.prefix_kv_per_chip_bytes for p in plans):
        at = next(i for i, r in enumerate(rows) if r[0] == "$ / 1k input tokens") + 1
        rows.insert(at, ("  cached / uncached", lambda p: f"{usd(p.usd_per_1k_input_tokens_cached)} / "
                         f"{usd(p.usd_per_1k_input_tokens_uncached)}"))
    if any(p.prefill_chunks is not None for p in plans):
        at = next(i for i, r in enumerate(rows) if r[0] == "TPOT") + 1
        rows.insert(at, ("prefill passes per prompt", lambda p: f"{p.prefill_chunks:.3g}"))


def why_table(plans: list[Plan], memory_bytes: float, measured: bool = False) -> Table:
    """Memory per chip and time per output token, one column per plan.  ``measured``: the step was priced by
    measured kernels, so its compute and memory rows are the datasheet bounds it is at or above, not parts."""
    t = Table(title="Why: memory per chip and time per output token", box=box.SIMPLE, title_justify="left",
              title_style="bold")
    t.add_column("", style="bold")
    for p in plans:
        t.add_column(p.objective.replace("_", " "), justify="right")
    spec = any(p.expected_tokens_per_cycle for p in plans)
    step = "verify pass" if spec else "decode step"
    bound, total = (" (datasheet bound)", "stage step (measured kernels)") if measured else ("", "= stage step")
    rows = [
        (f"weights (of {format_bytes(memory_bytes)})", lambda p: format_bytes(p.weights_per_chip_bytes)),
        ("KV cache", lambda p: format_bytes(p.kv_cache_per_chip_bytes)),
        ("runtime reserve", lambda p: format_bytes(p.reserve_per_chip_bytes)),
        ("free", lambda p: format_bytes(p.free_per_chip_bytes)),
        ("max batch that fits", lambda p: f"{p.max_batch_by_memory:,}" if p.max_batch_by_memory is not None else "—"),
        (f"{step}: compute{bound}", lambda p: format_seconds(p.decode_compute_s)),
        (f"{step}: memory reads{bound}", lambda p: format_seconds(p.decode_memory_s)),
        (f"{step}: communication", lambda p: format_seconds(p.decode_comm_s)),
        (total, lambda p: format_seconds(p.decode_step_s)),
        ("× pipeline stages", lambda p: f"× {p.pp} (≤ {plural(p.layers_per_stage, 'layer')} each)"),
        ("+ others' prefills", lambda p: format_seconds(p.others_prefills_s)),
        ("= TPOT", lambda p: format_seconds(p.tpot_s)),
    ]
    if spec:
        rows.insert(2, ("draft weights + KV", lambda p: format_bytes(p.draft_memory_per_chip_bytes or 0.0)))
        rows.insert(10, ("+ draft steps", lambda p: f"{_spec_g(p)} × {format_seconds(p.draft_step_s)}"))
        rows.insert(13, ("÷ tokens per cycle", lambda p: f"÷ {p.expected_tokens_per_cycle:.3g}"))
        rows.append(("TPOT without speculation", lambda p: format_seconds(p.tpot_without_speculation_s)))
    if any(p.experts_touched_per_layer for p in plans):
        rows.insert(4, ("experts read per MoE layer", lambda p: f"{p.experts_touched_per_layer:.1f}"))
    if any(p.image_encoder_s is not None for p in plans):  # in TTFT: the images, then the prompt's prefill
        rows += [("images: encoder (first stage)", lambda p: format_seconds(p.image_encoder_s or 0.0)),
                 ("prompt prefill, all stages", lambda p: format_seconds(p.prefill_latency_s - (p.image_encoder_s or 0.0))),
                 ("  of which image tokens", lambda p: format_seconds(p.image_prefill_s or 0.0)),
                 ("TTFT (with the wait for a slot)", lambda p: format_seconds(p.ttft_s))]
    for label, fn in rows:
        t.add_row(label, *(fn(p) for p in plans))
    return t


def _spec_g(p: Plan) -> int:
    return p.draft_tokens or 0


def frontier_table(front: list[Plan], console: Console | None = None) -> Table:
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
            cells = {"tok/s/user": f"{p.tokens_per_s_per_user:.1f}", "$/1k out": usd(p.usd_per_1k_output_tokens),
                     "(log)": bar(p.usd_per_1k_output_tokens, top, bottom=bottom), "chips": f"{p.chips:,}",
                     "layout": layout_text(p), "TP×PP": compact_layout(p.tp, p.pp, p.ep, attention_dp=p.attention_dp), "batch": f"{p.batch:,}",
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


def print_disaggregated(res: InferenceResult, dis, console: Console) -> None:
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

        def pool(n, tp, pp, ep, a=1):
            if a > 1:
                return f"{n} × DP-attn{a}·TP{tp}·EP{ep}"
            return f"{n} × TP{tp}·PP{pp}" + (f"·EP{ep}" if ep > 1 else "")

        rows = [
            ("chips", lambda p: f"{p.chips:,}"),
            ("decode pool", lambda p: pool(p.replicas, p.tp, p.pp, p.ep, p.attention_dp) if agg(p) else
             pool(p.decode_replicas, p.decode_tp, p.decode_pp, p.decode_ep, p.decode_attention_dp)),
            ("batch / replica", lambda p: f"{p.batch:,}"),
            ("prefill pool", lambda p: "mixed in" if agg(p) else
             pool(p.prefill_replicas, p.prefill_tp, p.prefill_pp, p.prefill_ep, p.prefill_attention_dp)),
            ("prefill pool busy", lambda p: "—" if agg(p) else f"{p.prefill_utilization:.0%}"),
            ("TTFT", lambda p: format_seconds(p.ttft_s)),
            ("  prefill queue", lambda p: "—" if agg(p) else format_seconds(p.prefill_queue_s)),
            ("  prefill", lambda p: format_seconds(p.prefill_latency_s)),
            ("  KV transfer", lambda p: "—" if agg(p) else format_seconds(p.kv_transfer_s)),
            ("TPOT", lambda p: format_seconds(p.tpot_s)),
            ("$/1k input", lambda p: usd(p.usd_per_1k_input_tokens)),
            ("$/1k output (decode share)", lambda p: usd(p.usd_per_1k_output_tokens)),
            ("$/1k output, all-in", lambda p: usd(p.usd_per_1k_output_tokens_all_in)),
            ("$/1k blended", lambda p: usd(p.usd_per_1k_tokens_blended)),
        ]
        for label, fn in rows:
            t.add_row(label, *(fn(p) for _, p in cols))
        console.print(t)
    if not dis.feasible:
        console.print(f"[bold]Disaggregated:[/] no feasible plan: {escape(serve_message(dis.reason) or '')}")
    if dis.verdict:
        colour = {"wins": "green", "loses": "red"}.get(dis.verdict, "yellow")
        console.print(f"[bold {colour}]Disaggregation {dis.verdict}[/]: {escape(serve_message(dis.verdict_reason) or '')}")
    console.print()


def _same_pools(a, b) -> bool:
    keys = ("decode_replicas", "decode_tp", "decode_pp", "decode_ep", "decode_attention_dp", "batch",
            "prefill_replicas", "prefill_tp", "prefill_pp", "prefill_ep", "prefill_attention_dp")
    return all(getattr(a, k) == getattr(b, k) for k in keys)
