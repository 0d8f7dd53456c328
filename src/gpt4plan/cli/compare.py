"""``gpt4plan compare``: the same model, workload and targets planned on each chip, cheapest first;
also the output and exit status that ``infer --sweep`` shares.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, add_notes, err_console
from gpt4plan.cli.infer_options import infer_options
from gpt4plan.cli.options import (
    AcceptanceOpt,
    BatchOpt,
    DaysOpt,
    DemandOpt,
    DraftCostOpt,
    DraftModelOpt,
    DraftTokensOpt,
    Dtype,
    EpOpt,
    GlobalBatchOpt,
    KernelEngineOpt,
    KvCacheOpt,
    ModelOpt,
    MtpOpt,
    OutputTokensOpt,
    PerfModelOpt,
    PlanFormat,
    PlotOpt,
    PpOpt,
    PrecisionOpt,
    PromptTokensOpt,
    SeqLenOpt,
    TokensOpt,
    TpOpt,
    TpotOpt,
    TpsOpt,
    TrainPrecision,
    TtftOpt,
    UsersOpt,
    WeightsOpt,
    no_conflict,
    picked,
)
from gpt4plan.cli.plotfile import need_matplotlib, write_plot
from gpt4plan.cli.train_options import train_options
from gpt4plan.specs.units import plural
from gpt4plan.specs.vocabulary import Objective, PerformanceModel

COMPARE_EPILOG = """
[bold]Examples[/bold]

  gpt4plan compare --model llama-3.1-70b                         # every catalog chip, cheapest first

  gpt4plan compare -m llama-3.1-70b -H h100-sxm,h200,b200,mi300x --tpot 50ms --ttft 1s --format markdown

  gpt4plan compare --train -m llama-3.1-70b --tokens 15T --chips 4096     # fastest run per chip on 4,096 chips

  gpt4plan compare --train -m gpt-4 --tokens 13T --days 90                # fewest chips for 90 days, per chip

The workload, targets and pins are those of 'gpt4plan infer' (with --train: of 'gpt4plan train').
Rows are ranked by $/1k output tokens (--train: by dollars); chips without a feasible plan come last
with the constraint that binds. Exit 0 when any chip has a plan, 1 when none has.
"""


def _hardware_list(text: str | None) -> list[str]:
    from gpt4plan.specs.catalog import hardware_names

    if text is None:
        return hardware_names()
    names = []
    for n in text.split(","):
        n = n.strip()
        if n and n not in names:
            names.append(n)
    if not names:
        raise BadInput("--hardware: give one or more chips, comma-separated (see 'gpt4plan hardware')")
    return names


def compare(
    model: ModelOpt = "gpt-4",
    hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Comma-separated chips (catalog names or YAML paths). Default: the whole hardware catalog.")] = None,
    train_mode: Annotated[bool, typer.Option("--train", help="Compare training runs (days and dollars) instead of serving.")] = False,
    prompt_tokens: PromptTokensOpt = None,
    output_tokens: OutputTokensOpt = None,
    weights: WeightsOpt = Dtype.bf16,
    kv_cache: KvCacheOpt = Dtype.bf16,
    ttft: TtftOpt = None,
    tpot: TpotOpt = None,
    tokens_per_s_per_user: TpsOpt = None,
    demand: DemandOpt = None,
    users: UsersOpt = None,
    tp: TpOpt = None,
    pp: PpOpt = None,
    ep: EpOpt = None,
    batch: BatchOpt = None,
    chips: Annotated[int | None, typer.Option("--chips", min=1, max=10_000_000, help="Serving: pin chips per replica. --train: fastest plan on at most N chips.")] = None,
    max_chips: Annotated[str | None, typer.Option("--max-chips", help="Cap on total chips (default 4096; --train: 100,000); 10k = 10,000.")] = None,
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour for every chip (default: each spec's own price).")] = None,
    objective: Annotated[Objective, typer.Option("--objective", help="Serving: the plan each row shows.")] = Objective.min_cost,
    draft_model: DraftModelOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    draft_cost_fraction: DraftCostOpt = None,
    mtp: MtpOpt = None,
    plot: PlotOpt = None,
    tokens: TokensOpt = None,
    days: DaysOpt = None,
    seq_len: SeqLenOpt = None,
    global_batch: GlobalBatchOpt = None,
    precision: PrecisionOpt = TrainPrecision.bf16,
    performance_model: PerfModelOpt = PerformanceModel.roofline,
    engine: KernelEngineOpt = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per chip).")] = PlanFormat.table,
):
    """Compare chips: the same model, workload and targets planned on each, cheapest first."""
    # Long only in its signature, which must be one piece (Typer reads one parameter per option); the body is short.
    from gpt4plan.specs.catalog import resolve_model

    given = locals()
    names = _hardware_list(hardware)
    m = resolve_model(model)
    if train_mode:
        _refuse_serving_options(given)
        return _compare_train(m, names, train_options(**picked(train_options, {**given, "max_chips": max_chips or 100_000})),
                              tp, pp, ep, fmt)
    training_only = [opt for opt, v in (("--tokens", tokens), ("--days", days), ("--seq-len", seq_len),
                                        ("--global-batch", global_batch)) if v is not None]
    if precision is not TrainPrecision.bf16:
        training_only.append("--precision")
    if training_only:
        raise BadInput(f"{', '.join(training_only)}: training options; add --train")
    opts = infer_options(**picked(infer_options, {**given, "max_chips": max_chips or 4096}))
    if opts.percentile_targets:
        raise BadInput("compare: percentile targets (pNN:TIME) are verified by replaying each plan; run "
                       "'gpt4plan infer' per chip, or give a bare --ttft/--tpot (the steady-state mean)")
    _compare_infer(m, names, opts, given, objective, fmt)


def _refuse_serving_options(given: dict) -> None:
    """``compare --train`` given serving options (``given``: the command's parameters) is bad input."""
    serving_only = [opt for opt, k in (("--prompt-tokens", "prompt_tokens"), ("--output-tokens", "output_tokens"),
                                       ("--ttft", "ttft"), ("--tpot", "tpot"),
                                       ("--tokens-per-s-per-user", "tokens_per_s_per_user"),
                                       ("--demand", "demand"), ("--users", "users"), ("--batch", "batch"),
                                       ("--draft-model", "draft_model"), ("--draft-cost-fraction", "draft_cost_fraction"),
                                       ("--mtp", "mtp"),
                                       ("--plot", "plot"), ("--engine", "engine"))
                    if given[k] is not None]
    if given["weights"] is not Dtype.bf16 or given["kv_cache"] is not Dtype.bf16:
        serving_only.append("--weights/--kv-cache")
    if serving_only:
        raise BadInput(f"{', '.join(serving_only)}: serving options; compare --train takes --tokens, --chips, "
                       "--days, --seq-len, --global-batch, --precision")


def _mixed_models_note(models: list[tuple[str, dict | None]]) -> list[str]:
    """One note when the rows were priced by different performance models (measured kernels on the chips
    that have tables, the roofline elsewhere): their numbers come from different models."""
    measured = [n for n, pm in models if pm and pm["kind"] == "measured-kernels"]
    other = [n for n, pm in models if not pm or pm["kind"] != "measured-kernels"]
    if not measured or not other:
        return []
    return [f"performance model: measured kernels for {', '.join(measured)}; the roofline for {', '.join(other)} "
            "(no measured tables): the rows come from different models"]


def _compare_infer(m, names: list[str], opts, given: dict, objective: Objective, fmt: PlanFormat) -> None:
    """Serving: plan model ``m`` on each chip of ``names``, rank the rows, draw the plot, print."""
    from gpt4plan.compare import InferRow, rank_infer_rows
    from gpt4plan.scenario import infer_pin_problem
    from gpt4plan.serving import plan_inference
    from gpt4plan.specs.catalog import resolve_hardware

    tp, pp, ep, batch, chips = (given[k] for k in ("tp", "pp", "ep", "batch", "chips"))
    no_conflict(infer_pin_problem(m, tp, pp, ep, batch, chips, opts.max_chips))
    wl, tg, pins = opts.workload(m), opts.targets(), opts.pins()
    plot = need_matplotlib(given["plot"])
    rows = []
    for n in names:
        h = opts.hardware(resolve_hardware(n))
        res = plan_inference(m, h, wl, tg, pins, plot_points=200 if plot else 0)
        from gpt4plan.accuracy import bands  # imported where used: a fast start
        res.band_notes = bands.attach(res.plans + [res.nearest], h.name, bands.INFER_FIELDS, res.performance_model)
        rows.append(InferRow(h.name, res, objective.value))
    add_notes(_mixed_models_note([(r.label, r.result.performance_model) for r in rows]))
    rows = rank_infer_rows(rows)
    if plot:
        from gpt4plan.report import frontier_series

        write_plot([frontier_series(r.result, r.label) for r in rows], plot,
                   f"{m.name}: cost vs speed frontier per chip")
    show_comparison(rows, "infer", fmt, f"gpt4plan compare: {m.name}",
                    compare_notes(rows[0].result, opts) + _price_dates_note([r.label for r in rows], opts)
                    + [f"note: {n}" for n in opts.shape_notes(m)])
    exit_if_none_feasible(rows, fmt, "no chip has a feasible plan")


def exit_if_none_feasible(rows, fmt: PlanFormat, what: str) -> None:
    """Exit 1 when no row has a plan, with one line on stderr (not for JSON, whose rows say why)."""
    if any(r.feasible for r in rows):
        return
    if fmt is not PlanFormat.json:
        binds = sorted({r.binding_constraint or "?" for r in rows})
        err_console.print(f"gpt4plan: {what} (binding: {', '.join(binds)})", markup=False)
    raise typer.Exit(1)


def _price_dates_note(names, opts) -> list[str]:
    """One line when the compared chips' spec prices are quoted more than six months apart."""
    from gpt4plan.specs.catalog import resolve_hardware

    if opts.price_per_hour is not None:
        return []
    dated = []
    for n in names:
        d = resolve_hardware(n).price_date or ""
        if len(d) >= 7 and d[:4].isdigit() and d[5:7].isdigit():
            dated.append((int(d[:4]) * 12 + int(d[5:7]), d[:7], n))
    if len(dated) < 2 or max(dated)[0] - min(dated)[0] <= 6:
        return []
    old, new = min(dated), max(dated)
    return [f"prices are quoted {old[1]} ({old[2]}) to {new[1]} ({new[2]}): older quotes may not match today's "
            "market; --price-per-hour compares every chip at one price"]


def compare_notes(res, opts, swept: str | None = None) -> list[str]:
    """The inputs lines under a comparison (workload, targets, where prices come from); ``swept`` names the
    option a sweep varies (shown as 'swept')."""
    from gpt4plan.report import targets_text

    w, t = res.workload, res.targets
    tg = targets_text(t, swept)
    prompt = "swept" if swept == "prompt-tokens" else w["prompt_tokens"]
    output = "swept" if swept == "output-tokens" else w["output_tokens"]
    lines = [f"workload: {prompt} prompt + {output} output tokens; weights {w['weights']}, "
             f"KV cache {w['kv_cache']}; targets: {'; '.join(tg)}"]
    if swept is None:
        lines.append("prices: " + ("--price-per-hour for every chip" if opts.price_per_hour is not None
                                   else "each chip's spec (dated; 'gpt4plan hardware')") + "; $/1k of the row's "
                     "plan (min_cost unless --objective min_chips); chips (min): the plan's chips (the fewest of any "
                     "feasible plan); $/1k out: decode share, and all-in (the whole spend, prefill included)")
    else:
        price = ("swept" if swept == "price-per-hour" else
                 f"${res.hardware['price_usd_per_hour']:.4g}/chip-hour"
                 + (" (--price-per-hour)" if opts.price_per_hour is not None else " (spec)"))
        lines.append(f"hardware {res.hardware['name']}, price {price}; $/1k of each value's min_cost plan; "
                     "chips (min): the plan's chips (the fewest of any feasible plan); $/1k out: decode share, "
                     "and all-in (the whole spend, prefill included)")
    if opts.tps_source and swept != "tokens-per-s-per-user":
        lines.append(f"target source: {opts.tps_source}")
    return lines


def _compare_train(m, names, opts, tp, pp, ep, fmt) -> None:
    from gpt4plan.compare import TrainRow, rank_train_rows
    from gpt4plan.scenario import train_pin_problem
    from gpt4plan.specs.catalog import resolve_hardware
    from gpt4plan.training import TrainPins, TrainResult, plan_training

    # pins the model cannot take are bad input (exit 2), as in `train`, not a chip without a plan
    no_conflict(train_pin_problem(m, tp, pp, None, ep, None, None, opts.max_chips))
    wl = opts.workload(m)
    pins = TrainPins(tp=tp, pp=pp, ep=ep)
    rows = []
    for n in names:
        h = opts.hardware(resolve_hardware(n))
        problem = opts.precision_issue(h)
        if problem:
            res = TrainResult(model={"name": m.name}, hardware={"name": h.name, "price_usd_per_hour": h.price},
                              workload={}, objective="-", feasible=False, reason=problem)
        else:
            res = plan_training(m, h, wl, chips=opts.chips, days=opts.days, max_chips=opts.max_chips, pins=pins,
                                rel=opts.reliability())
            from gpt4plan.accuracy import bands  # imported where used: a fast start
            res.band_notes = bands.attach([res.plan], h.name, bands.TRAIN_FIELDS, res.performance_model)
        rows.append(TrainRow(h.name, res))
    rows = rank_train_rows(rows)
    if opts.chips is not None:
        question = f"fastest plan on at most {plural(opts.chips, 'chip')}"
    elif opts.days is not None:
        question = f"fewest chips that finish within {opts.days:g} days"
    else:
        question = f"cheapest plan on at most {plural(opts.max_chips, 'chip')}"
    from gpt4plan.specs.units import format_si

    notes = [f"workload: {format_si(wl.tokens)} tokens, sequence {wl.seq_len:,}, global batch "
             f"{format_si(wl.global_batch_tokens)} tokens, {wl.precision}; per chip: {question}; days include "
             "failures and restarts",
             "prices: " + ("--price-per-hour for every chip" if opts.price_per_hour is not None
                           else "each chip's spec (dated; 'gpt4plan hardware')")]
    notes += _price_dates_note([r.label for r in rows], opts)
    show_comparison(rows, "train", fmt, f"gpt4plan compare --train: {m.name}", notes)
    exit_if_none_feasible(rows, fmt, "no chip has a feasible plan")


def show_comparison(rows, kind: str, fmt: PlanFormat, title: str, notes: list[str], label: str = "hardware",
                      sweep: dict | None = None) -> None:
    from gpt4plan.report import (
        comparison_csv,
        comparison_json,
        comparison_markdown,
        print_comparison,
        to_json,
    )

    if fmt is PlanFormat.json:
        typer.echo(to_json(comparison_json(rows, kind, label, sweep)))
    elif fmt is PlanFormat.csv:
        typer.echo(comparison_csv(rows, kind, label), nl=False)
    elif fmt is PlanFormat.markdown:
        typer.echo(comparison_markdown(rows, kind, label), nl=False)
    else:
        print_comparison(rows, kind, label, ResultConsole(highlight=False), title, notes)
