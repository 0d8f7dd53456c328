"""``gpt4plan infer --sweep NAME=v1,v2,...``: one plan per value, printed as a comparison.
"""

from __future__ import annotations

from gpt4plan.cli.compare import compare_notes, exit_if_none_feasible, show_comparison
from gpt4plan.cli.console import BadInput, err_console
from gpt4plan.cli.infer_options import InferOptions
from gpt4plan.cli.options import PlanFormat, check_positive
from gpt4plan.cli.plotfile import write_plot

#: a sweep whose planning is estimated to take longer than this shows a progress bar on stderr
SWEEP_PROGRESS_AFTER_S = 1.0


def infer_sweep(m, h0, opts: InferOptions, text: str, fmt: PlanFormat, plot: str | None, given: dict) -> None:
    """``infer --sweep NAME=v1,v2,...``: the plan for each value, one row each, in the order given."""
    import time
    from dataclasses import replace

    from gpt4plan.compare import SWEEPABLE, InferRow, parse_sweep
    from gpt4plan.serving import InferenceResult, ServeIssue, Workload, plan_inference, summaries

    try:
        name, values = parse_sweep(text)
    except ValueError as exc:
        raise BadInput(f"--sweep: {exc}") from None
    clash = {"prompt-tokens": ("prompt_tokens",), "output-tokens": ("output_tokens",),
             "tokens-per-s-per-user": ("tpot", "tokens_per_s_per_user"), "price-per-hour": ("price_per_hour",)}[name]
    for k in clash:
        if given.get(k) is not None:
            raise BadInput(f"--sweep {name} and --{k.replace('_', '-')} both set it; give one")
    prompt, output = opts.request_shape(m)  # the other length stays fixed while one is swept
    base = replace(opts, prompt_tokens=prompt, output_tokens=output)
    rows, progress, task = [], None, None
    start = time.perf_counter()
    try:
        for i, v in enumerate(values):
            elapsed = time.perf_counter() - start
            if progress is None and i and elapsed / i * len(values) > SWEEP_PROGRESS_AFTER_S:
                from rich.progress import Progress

                progress = Progress(console=err_console, transient=True)
                progress.start()
                task = progress.add_task(f"sweep {name}", total=len(values), completed=i)
            o = _swept(base, name, v)
            h = o.hardware(h0)
            label = int(v) if SWEEPABLE[name][0] is int else v
            p, n = o.request_shape(m)
            if p + o.inline_image_tokens(m) + n > m.max_context:  # inline image tokens are prompt tokens
                res = InferenceResult(**summaries(m, h, Workload(p, n, o.weights, o.kv_cache, performance_model=o.performance_model, engine=o.engine), o.targets()),
                                      feasible=False, reason=ServeIssue("context", {
                                          "prompt_tokens": p, "output_tokens": n, "model": m.name,
                                          "image_tokens": o.inline_image_tokens(m),
                                          "max_context": m.max_context}))
            else:
                res = plan_inference(m, h, o.workload(m), o.targets(), o.pins(), plot_points=200 if plot else 0)
                from gpt4plan.accuracy import bands  # imported where used: a fast start
                res.band_notes = bands.attach(res.plans + [res.nearest], h.name, bands.INFER_FIELDS, res.performance_model)
            rows.append(InferRow(label, res))
            if progress is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    if plot:
        from gpt4plan.report import frontier_series

        write_plot([frontier_series(r.result, f"{name} = {r.label:g}") for r in rows], plot,
                    f"{m.name} on {h0.name}: cost vs speed frontier by {name}")
    label = name.replace("-", "_")
    notes = compare_notes(rows[0].result, base, swept=name)
    show_comparison(rows, "infer", fmt, f"gpt4plan infer --sweep {name}: {m.name} on {h0.name}", notes, label=label,
                      sweep={"name": name, "values": [r.label for r in rows]})
    exit_if_none_feasible(rows, fmt, f"no value of {name} has a feasible plan")


def _swept(o: InferOptions, name: str, v: float) -> InferOptions:
    from dataclasses import replace

    if name == "prompt-tokens":
        return replace(o, prompt_tokens=int(v))
    if name == "output-tokens":
        return replace(o, output_tokens=int(v))
    if name == "tokens-per-s-per-user":
        check_positive(v, "--sweep tokens-per-s-per-user", 1e6)
        return replace(o, tpot_s=1.0 / v, tps_source=None)
    check_positive(v, "--sweep price-per-hour", 1e4)
    return replace(o, price_per_hour=v)
