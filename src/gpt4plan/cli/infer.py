"""``gpt4plan infer``: plan LLM serving (and, with ``--sweep``, one plan per value).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, add_notes, err_console
from gpt4plan.cli.infer_options import InferOptions, infer_options
from gpt4plan.cli.options import (
    AcceptanceOpt,
    ArrivalCvOpt,
    AttentionDpOpt,
    BatchOpt,
    DemandOpt,
    DemandProfileOpt,
    DisaggregateOpt,
    DraftCostOpt,
    DraftModelOpt,
    DraftTokensOpt,
    Dtype,
    EmitEngineOpt,
    EpOpt,
    FormatOpt,
    IdleValueOpt,
    ImagesOpt,
    KernelEngineOpt,
    KvCacheOpt,
    LengthDistOpt,
    LengthsFromOpt,
    MaxBatchedTokensOpt,
    MinReplicasOpt,
    ModelOpt,
    MtpOpt,
    NoTwoBatchOverlapOpt,
    OutputCvOpt,
    OutputTokensOpt,
    PerfModelOpt,
    PlanFormat,
    PlotOpt,
    PpOpt,
    PrefixHitRateOpt,
    PrefixTokensOpt,
    PriceOpt,
    PromptCvOpt,
    PromptTokensOpt,
    RedundantExpertsOpt,
    ReplayRequestsOpt,
    SaveDirOpt,
    ScaleUpLagOpt,
    SeedOpt,
    SweepOpt,
    TpOpt,
    TpotOpt,
    TpsOpt,
    TraceOpt,
    TtftOpt,
    UsersOpt,
    WeightsOpt,
    no_conflict,
    picked,
)
from gpt4plan.cli.plotfile import need_matplotlib, write_plot, write_plot_file
from gpt4plan.cli.profile import ProfileRequest, profile_request
from gpt4plan.cli.replay_options import replay_options
from gpt4plan.cli.sweep import infer_sweep
from gpt4plan.specs.vocabulary import PerformanceModel

INFER_EPILOG = """
[bold]Examples[/bold]

  gpt4plan infer                                   # the seed: gpt-4 on a100-40gb at >= 8.33 tokens/s/user

  gpt4plan infer --model llama-3.1-70b --hardware h100-sxm --tpot 50ms --ttft 1s

  gpt4plan infer --model gpt-4 --tp 8 --pp 16 --price-per-hour 1   # evaluate SemiAnalysis' 128-GPU layout

  gpt4plan infer --model mixtral-8x7b --hardware h100-sxm --demand 50000 --format json

  gpt4plan infer --model mixtral-8x7b --hardware h100-sxm --demand-profile day.csv --plot day.png
                                                   # a daily demand: static vs autoscaled fleet

  gpt4plan infer --model ./config.json --hardware mi300x --weights fp8 --kv-cache fp8

  gpt4plan infer --model llama-3.1-70b --hardware h200 --performance-model measured --engine vllm
                                                   # priced from kernels measured on the chip

  gpt4plan infer --model deepseek-v3 --hardware h100-sxm --weights fp8 --attention-dp 8 --tp 2 --ep 16
                                                   # attention data parallelism x wide expert parallelism

  gpt4plan infer -m llama-3.1-70b -H h100-sxm --ttft p99:2s --tpot p90:50ms --demand 20k --arrival-cv 2 --prompt-cv 0.5
                                                   # percentile targets, verified by replaying bursty traffic

  gpt4plan infer -m llama-3.1-8b -H h100-sxm --trace examples/trace-chat.csv --ttft p99:1s
                                                   # size replicas to hold a request log under the targets

[bold]Defaults and their sources[/bold]: model gpt-4 and hardware a100-40gb are the seed article's
(SemiAnalysis 2023, 'GPT-4 Architecture, Infrastructure...'); 8.33 tokens/s per user is its reading
speed (S20: ~250 words/min); 2048 prompt + 512 output tokens fit its 8k context; bf16 weights and KV
cache are the 16-bit serving it assumes (S16: 'FP16'). Prices come from each hardware spec (dated, sourced).
"""


def infer(
    model: ModelOpt = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", rich_help_panel="Model and chip", help="Catalog name (see 'gpt4plan hardware') or path to a YAML spec.")] = "a100-40gb",
    prompt_tokens: PromptTokensOpt = None,
    output_tokens: OutputTokensOpt = None,
    images_per_request: ImagesOpt = None,
    weights: WeightsOpt = Dtype.bf16,
    kv_cache: KvCacheOpt = Dtype.bf16,
    ttft: TtftOpt = None,
    tpot: TpotOpt = None,
    tokens_per_s_per_user: TpsOpt = None,
    demand: DemandOpt = None,
    users: UsersOpt = None,
    demand_profile: DemandProfileOpt = None,
    min_replicas: MinReplicasOpt = None,
    scale_up_lag: ScaleUpLagOpt = None,
    idle_value: IdleValueOpt = None,
    tp: TpOpt = None,
    pp: PpOpt = None,
    ep: EpOpt = None,
    attention_dp: AttentionDpOpt = None,
    redundant_experts: RedundantExpertsOpt = None,
    no_two_batch_overlap: NoTwoBatchOverlapOpt = False,
    batch: BatchOpt = None,
    chips: Annotated[int | None, typer.Option("--chips", min=1, rich_help_panel="Layout pins", help="Pin chips per replica (TP × PP), e.g. 8 for one 8-GPU box.")] = None,
    max_chips: Annotated[str, typer.Option("--max-chips", rich_help_panel="Targets and demand", help="Cap on total chips, e.g. 4096 or 10k.")] = "4096",
    price_per_hour: PriceOpt = None,
    draft_model: DraftModelOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    draft_cost_fraction: DraftCostOpt = None,
    mtp: MtpOpt = None,
    performance_model: PerfModelOpt = PerformanceModel.roofline,
    engine: KernelEngineOpt = None,
    plot: PlotOpt = None,
    sweep: SweepOpt = None,
    disaggregate: DisaggregateOpt = False,
    emit: EmitEngineOpt = None,
    trace: TraceOpt = None,
    prompt_cv: PromptCvOpt = None,
    output_cv: OutputCvOpt = None,
    length_dist: LengthDistOpt = None,
    arrival_cv: ArrivalCvOpt = None,
    lengths_from: LengthsFromOpt = None,
    replay_requests: ReplayRequestsOpt = None,
    seed: SeedOpt = None,
    prefix_tokens: PrefixTokensOpt = None,
    prefix_hit_rate: PrefixHitRateOpt = None,
    max_batched_tokens: MaxBatchedTokensOpt = None,
    save_dir: SaveDirOpt = None,
    fmt: FormatOpt = PlanFormat.table,
):
    """Plan LLM serving: fewest chips, cheapest $/1k tokens and the cost/speed frontier under latency targets."""
    # Long only in its signature, which must be one piece (Typer reads one parameter per option); the body is short.
    from gpt4plan.scenario import infer_pin_problem
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model

    sweep = _one_sweep(sweep)
    profile = profile_request(demand_profile, locals(), fmt.value,
                              {"--sweep": sweep, "--disaggregate": disaggregate, "--emit": emit})
    replay = replay_options(**picked(replay_options, locals()))
    opts = infer_options(**picked(infer_options, locals()))
    if profile is not None:  # the plan is sized for the peak step
        opts = replace(opts, demand=profile.peak)
    m = resolve_model(model)
    no_conflict(infer_pin_problem(m, tp, pp, ep, batch, chips, opts.max_chips, attention_dp, redundant_experts))
    plot = need_matplotlib(plot)
    _check_combinations(fmt, sweep, disaggregate, emit, pinned=any(v is not None for v in (
        tp, pp, ep, batch, chips, attention_dp, redundant_experts)))
    _check_replay(opts, sweep, disaggregate)
    opts.check_images(m, disaggregate, profile is not None)
    if save_dir is not None:
        _check_save_dir(save_dir, sweep)
    if sweep is not None:
        infer_sweep(m, resolve_hardware(hardware), opts, sweep, fmt, plot, given=locals())
        return
    _plan_and_print(m, opts.hardware(resolve_hardware(hardware)), opts, fmt, plot, disaggregate, emit, profile,
                    save_dir)


def _one_sweep(sweep: list[str] | None) -> str | None:
    """The one ``--sweep`` given: a second would otherwise silently replace the first."""
    if sweep is None:
        return None
    if len(sweep) > 1:
        raise BadInput(f"--sweep: give one sweep (NAME=v1,v2,...), got {len(sweep)}: {', '.join(sweep)}")
    return sweep[0]


def _check_combinations(fmt: PlanFormat, sweep: str | None, disaggregate: bool, emit, pinned: bool) -> None:
    """Options that do not go together: --emit with a format, a sweep or --disaggregate; --disaggregate with
    a sweep, pins, or a one-kind-of-plan format."""
    if emit is not None:
        if fmt is not PlanFormat.table:
            raise BadInput("--emit prints launch arguments; it does not combine with --format")
        if sweep is not None or disaggregate:
            raise BadInput("--emit prints one server's arguments; not with --sweep or --disaggregate")
    if disaggregate:
        if sweep is not None:
            raise BadInput("--disaggregate and --sweep: give one")
        if pinned:
            raise BadInput("--disaggregate searches both pools' layouts; drop --tp/--pp/--ep/--batch/--chips")
        if fmt in (PlanFormat.csv, PlanFormat.markdown):
            raise BadInput("--disaggregate: use --format table or json (csv and markdown hold one kind of plan)")


def _check_replay(opts: InferOptions, sweep: str | None, disaggregate: bool) -> None:
    """Percentile targets and the replay's options go with one aggregated plan, not with a sweep, the
    disaggregated pools or speculative decoding (the replay does not model them)."""
    asked = (["percentile targets (pNN:TIME)"] if opts.percentile_targets else []) + list(opts.replay.given)
    if not asked:
        return
    for on, what in ((sweep is not None, "--sweep"), (disaggregate, "--disaggregate"),
                     (opts.draft_model is not None or opts.draft_cost_fraction is not None or opts.mtp is not None,
                      "speculative decoding")):
        if on:
            raise BadInput(f"{asked[0]}: the latency replay is of the aggregated plan without speculation; "
                           f"not with {what}")


def _check_save_dir(save_dir: str, sweep: str | None) -> None:
    """--save-dir: one plan's frontier, not a sweep's; a folder it may write (:mod:`gpt4plan.cli.savedir`)."""
    from gpt4plan.cli.savedir import check_save_dir

    if sweep is not None:
        raise BadInput("--save-dir writes one search's frontier and plans; not with --sweep")
    check_save_dir(save_dir)


def _plan_and_print(m, h, opts: InferOptions, fmt: PlanFormat, plot: str | None, disaggregate: bool, emit,
                    profile: ProfileRequest | None = None, save_dir: str | None = None) -> None:
    """Plan model ``m`` on chip ``h`` (and the disaggregated pools, or the demand profile), draw the plot,
    write the --save-dir folder, print the result."""
    from gpt4plan.serving import plan_inference

    wl = opts.workload(m)
    frontier_plot = plot if profile is None else None  # with a profile, --plot draws the day
    res = plan_inference(m, h, wl, opts.targets(), opts.pins(), plot_points=200 if frontier_plot else 0,
                         traffic=opts.replay.traffic(m.max_context))
    res.traffic = opts.replay.describe()
    from gpt4plan.accuracy import bands  # imported where used: a fast start
    res.band_notes = bands.attach(res.plans + res.frontier + [res.nearest], h.name, bands.INFER_FIELDS, res.performance_model)
    shape_notes = opts.shape_notes(m)
    res.notes = shape_notes + res.notes
    if fmt in (PlanFormat.csv, PlanFormat.markdown):  # no room for notes in the rows: say it on stderr
        add_notes(f"note: {n}" for n in shape_notes)
        if wl.performance_model != "roofline":  # what priced the rows (the table view's inputs line)
            from gpt4plan.report import performance_model_line

            add_notes([f"note: {performance_model_line(res.performance_model)}"])
    dis = None
    if disaggregate:
        from gpt4plan.serving.disaggregate import plan_disaggregated

        dis = plan_disaggregated(m, h, wl, opts.targets(), res)
    if frontier_plot:
        from gpt4plan.report import frontier_series

        write_plot([frontier_series(res, "frontier")], plot, f"{m.name} on {h.name}: cost vs speed frontier")
    day = profile.day(res.plans[1]) if profile is not None and res.feasible else None
    if day is not None and plot:
        from gpt4plan.report import demand_series, plot_demand_profile

        series = demand_series(day, profile.profile.labels)
        write_plot_file(plot, lambda tmp: plot_demand_profile(series, str(tmp), f"{m.name} on {h.name}: demand and "
                                                              "fleet capacity"))
    if save_dir is not None and res.feasible:  # nothing to write without a plan (exit 1 below says why)
        from gpt4plan.cli.savedir import save_plans

        save_plans(save_dir, res, m, wl, h)
    if emit is not None and res.feasible:
        from gpt4plan.emit.engines import engine_args

        typer.echo(engine_args(emit.value, res.plans[1], m, wl, h))
        return
    _print_result(res, dis, fmt, opts, h, (day, profile.profile.labels) if profile is not None else None)


def _print_result(res, dis, fmt: PlanFormat, opts: InferOptions, h, day=None) -> None:
    """The result in the asked format (with ``day``, the demand profile priced, None without a plan, and its
    step labels); exit 1 when neither the plan nor the disaggregated pools are feasible."""
    from gpt4plan.report import infer_json, infer_message, print_infer, to_json

    if fmt is PlanFormat.json:
        out = infer_json(res, dis)
        if day is not None:  # null when no plan was found to price the profile on
            from gpt4plan.report import demand_json

            out["demand_profile"] = demand_json(day[0], res.plans[1], day[1]) if day[0] is not None else None
        typer.echo(to_json(out))
    elif fmt is PlanFormat.csv:
        from gpt4plan.report import infer_csv

        typer.echo(infer_csv(res), nl=False)
    elif fmt is PlanFormat.markdown:
        from gpt4plan.report import infer_markdown

        typer.echo(infer_markdown(res), nl=False)
    else:
        console = ResultConsole(highlight=False)
        print_infer(res, console, opts.sources(h), pinned=opts.pinned, disaggregated=dis)
        if day is not None and day[0] is not None:
            from gpt4plan.report import print_demand

            print_demand(day[0], res.plans[1], day[1], console)
    if not res.feasible and (dis is None or not dis.feasible):
        if fmt is not PlanFormat.json:
            err_console.print(f"gpt4plan: no feasible plan: {infer_message(res)}", markup=False)
        raise typer.Exit(1)
