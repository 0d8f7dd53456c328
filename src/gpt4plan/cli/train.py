"""``gpt4plan train``: plan a pre-training run.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, add_notes, err_console
from gpt4plan.cli.options import (
    BytesPerImageTokenOpt,
    CheckpointOpt,
    DataOpt,
    DaysOpt,
    Emit,
    EpochsOpt,
    FailureRateOpt,
    GlobalBatchOpt,
    ImageFractionOpt,
    PerfModelOpt,
    PlanFormat,
    PrecisionOpt,
    Recompute,
    RestartOpt,
    SeqLenOpt,
    TokensOpt,
    TrainPrecision,
    UniqueTokensOpt,
    no_conflict,
    picked,
)
from gpt4plan.cli.train_options import train_options, word
from gpt4plan.specs.vocabulary import PerformanceModel

TRAIN_EPILOG = """
[bold]Examples[/bold]

  gpt4plan train --model gpt-4 --hardware a100-40gb --tokens 13T --chips 25000 --price-per-hour 1

  gpt4plan train --model gpt-4 --hardware h100-sxm --tokens 13T --days 90 --global-batch 60M

  gpt4plan train --model llama-3.1-70b --hardware h100-sxm --tokens 15T --chips 2048 --emit megatron

  gpt4plan train --data text=5.5T:2,code=0.5T:4 --chips 25000   # the seed's 13T: text 2 epochs, code 4

[bold]Defaults and their sources[/bold]: sequence length = the model's max_context capped at 8192
(GPT-4: 8k pre-training, seed S9); global batch 4M tokens (Llama 2/3 practice; GPT-4 ramped to 60M,
seed S10); failure rate 1.97e-5 per GPU-hour (Meta, Llama 3 paper §3.3.4: 419 interruptions in
54 days on 16,384 GPUs); checkpoint stall 60 s and restart 300 s (assumptions).
"""


def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name or path (YAML spec or HF config.json).")] = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog name or YAML path.")] = "a100-40gb",
    tokens: TokensOpt = None,
    unique_tokens: UniqueTokensOpt = None,
    epochs: EpochsOpt = None,
    data: DataOpt = None,
    chips: Annotated[int | None, typer.Option("--chips", min=1, max=10_000_000, help="Fastest plan on at most N chips.")] = None,
    days: DaysOpt = None,
    max_chips: Annotated[str, typer.Option("--max-chips", help="Cluster limit for --days and the cheapest search, e.g. 100000 or 100k.")] = "100000",
    seq_len: SeqLenOpt = None,
    global_batch: GlobalBatchOpt = "4M",
    precision: PrecisionOpt = TrainPrecision.bf16,
    image_token_fraction: ImageFractionOpt = None,
    bytes_per_image_token: BytesPerImageTokenOpt = None,
    performance_model: PerfModelOpt = PerformanceModel.roofline,
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour; overrides the spec.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", min=1, max=100_000)] = None,
    pp: Annotated[int | None, typer.Option("--pp", min=1, max=100_000)] = None,
    dp: Annotated[int | None, typer.Option("--dp", min=1, max=10_000_000)] = None,
    ep: Annotated[int | None, typer.Option("--ep", min=1, max=100_000)] = None,
    zero: Annotated[int | None, typer.Option("--zero", min=0, max=3, help="ZeRO stage 0-3 (3 = FSDP).")] = None,
    microbatch: Annotated[int | None, typer.Option("--microbatch", min=1, max=100_000)] = None,
    recompute: Annotated[Recompute | None, typer.Option("--recompute")] = None,
    interleave: Annotated[int | None, typer.Option("--interleave", min=1, max=64, help="Virtual pipeline chunks per stage.")] = None,
    cp: Annotated[int | None, typer.Option("--cp", min=1, max=1024, help="Context parallel: ranks sharing each sequence (ring attention); long sequences. Not searched: pin it.")] = None,
    checkpoint_s: CheckpointOpt = 60.0,
    restart_s: RestartOpt = 300.0,
    failure_rate: FailureRateOpt = None,
    emit: Annotated[Emit | None, typer.Option("--emit", help="Print launch arguments for the chosen plan.")] = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per plan).")] = PlanFormat.table,
):
    """Plan a pre-training run: chips, TP/PP/DP/EP layout, ZeRO, recompute, days and dollars."""
    # One piece: long only in its signature (Typer reads one parameter per option); the body is short.
    from gpt4plan.emit.megatron import megatron_args
    from gpt4plan.report import print_train, to_json, train_json, train_message
    from gpt4plan.scenario import train_pin_problem
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model
    from gpt4plan.training import TrainPins, plan_training

    opts = train_options(**picked(train_options, locals()))
    if emit is not None and fmt.value != "table":
        raise BadInput("--emit prints launch arguments; it does not combine with --format")
    m = resolve_model(model)
    max_chips = opts.max_chips
    no_conflict(train_pin_problem(m, tp, pp, dp, ep, interleave, chips, max_chips, cp))
    h = opts.hardware(resolve_hardware(hardware))
    problem = opts.precision_issue(h)
    if problem:
        raise BadInput(f"--precision {opts.precision}: {word(problem)}")
    wl = opts.workload(m)
    s = wl.seq_len
    if cp is not None and cp > 1 and s % (2 * cp):
        raise BadInput(f"--cp {cp}: the sequence of {s:,} tokens must split into 2 x cp = {2 * cp} equal chunks "
                       "(load-balanced ring attention gives each rank one chunk from each end)")
    pins = TrainPins(tp, pp, dp, ep, zero, microbatch, recompute.value if recompute else None, interleave, cp)
    res = plan_training(m, h, wl, chips=chips, days=days, max_chips=max_chips, pins=pins, rel=opts.reliability())
    from gpt4plan.accuracy import bands  # imported where used: a fast start
    res.band_notes = bands.attach([res.plan] + res.alternatives, h.name, bands.TRAIN_FIELDS, res.performance_model)
    if fmt in (PlanFormat.csv, PlanFormat.markdown) and wl.performance_model != "roofline":  # no room in the rows
        from gpt4plan.report import performance_model_line

        add_notes([f"note: {performance_model_line(res.performance_model)}"])
    if fmt is PlanFormat.csv and res.data:  # the rows are plans: the data mix and its warning go to stderr
        from gpt4plan.report import data_text, train_warnings

        add_notes([f"note: {data_text(res.data)}"] + [f"note: {w}" for w in train_warnings(res) if "Muennighoff" in w])
    if fmt is PlanFormat.csv and res.data_loading:  # the data-loading check goes to stderr too
        from gpt4plan.report import loading_text

        add_notes([f"note: {loading_text(res.data_loading)}"])
    if emit is Emit.megatron and res.feasible:
        typer.echo(megatron_args(res.plan, m, s, precision.value))
    elif fmt is PlanFormat.json:
        typer.echo(to_json(train_json(res)))
    elif fmt is PlanFormat.csv:
        from gpt4plan.report import train_csv

        typer.echo(train_csv(res), nl=False)
    elif fmt is PlanFormat.markdown:
        from gpt4plan.report import train_markdown

        typer.echo(train_markdown(res), nl=False)
    else:
        print_train(res, ResultConsole(highlight=False), opts.sources(h))
    if not res.feasible:
        if fmt is not PlanFormat.json:
            err_console.print(f"gpt4plan: no feasible plan: {train_message(res)}", markup=False)
        raise typer.Exit(1)
