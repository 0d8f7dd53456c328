"""Command line: ``gpt4plan infer | models | hardware``.

Parses options, calls the planners, hands results to :mod:`gpt4plan.report`.  Exit codes (DESIGN.md §2):
0 success; 1 no feasible plan; 2 bad input (one line ``file:line: field: what is wrong``, no traceback).
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from . import __version__, bands
from .cli_check import check

app = typer.Typer(
    name="gpt4plan",
    help=(
        "Capacity planner for large language models: minimum chips, parallel layout (TP/PP/EP), batch and "
        "$/1k tokens under latency targets.\n\n"
        "Run 'gpt4plan infer' with no arguments to plan the seed scenario: GPT-4 (SemiAnalysis 2023 rumour: "
        "1.8T params, 16 experts top-2, MQA) on A100-40GB at reading speed."
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

class _Console(Console):
    """Rich console whose broken pipe (`gpt4plan infer | head`) ends the run quietly with exit 0."""

    def on_broken_pipe(self) -> None:
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise BrokenPipeError


err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class BadInput(Exception):
    """Bad user input: printed as one line, exit code 2."""


class Format(str, Enum):
    table = "table"
    json = "json"


class PlanFormat(str, Enum):
    """Output of infer and train: csv and markdown give one row per plan."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Dtype(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"
    int8 = "int8"
    int4 = "int4"


def _seconds(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    from .units import UnitError, parse_quantity

    try:
        x = parse_quantity(value, "seconds")
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None
    if not (1e-6 <= x <= 1e6):
        raise BadInput(f"{option}: must be between 1 us and 1e6 s, got {value!r} (a bare number is seconds)")
    return x


def _positive(value: float | None, option: str, upper: float) -> float | None:
    if value is not None and not (1e-9 <= value <= upper):
        raise BadInput(f"{option}: must be between 1e-09 and {upper:g}, got {value!r}")
    return value


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
):
    if version:
        typer.echo(f"gpt4plan {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


INFER_EPILOG = """
[bold]Examples[/bold]

  gpt4plan infer                                   # the seed: gpt-4 on a100-40gb at >= 8.33 tokens/s/user

  gpt4plan infer --model llama-3.1-70b --hardware h100-sxm --tpot 50ms --ttft 1s

  gpt4plan infer --model gpt-4 --tp 8 --pp 16 --price-per-hour 1   # evaluate SemiAnalysis' 128-GPU layout

  gpt4plan infer --model mixtral-8x7b --hardware h100-sxm --demand 50000 --format json

  gpt4plan infer --model ./config.json --hardware mi300x --weights fp8 --kv-cache fp8

[bold]Defaults and their sources[/bold]: model gpt-4 and hardware a100-40gb are the seed article's
(SemiAnalysis 2023, 'GPT-4 Architecture, Infrastructure...'); 8.33 tokens/s per user is its reading
speed (S20: ~250 words/min); 2048 prompt + 512 output tokens fit its 8k context; bf16 weights and KV
cache are the 16-bit serving it assumes (S16: 'FP16'). Prices come from each hardware spec (dated, sourced).
"""


@app.command(epilog=INFER_EPILOG)
def infer(
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name (see 'gpt4plan models') or path to a YAML spec or a Hugging Face config.json.")] = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog name (see 'gpt4plan hardware') or path to a YAML spec.")] = "a100-40gb",
    prompt_tokens: Annotated[int | None, typer.Option("--prompt-tokens", min=1, help="Prompt (input) tokens per request. Default 2048 (shortened to fit the model's context).")] = None,
    output_tokens: Annotated[int | None, typer.Option("--output-tokens", min=1, help="Output tokens per request. Default 512 (at most a quarter of the model's context).")] = None,
    weights: Annotated[Dtype, typer.Option("--weights", help="Weight precision (int4 = weight-only, computed in fp16).")] = Dtype.bf16,
    kv_cache: Annotated[Dtype, typer.Option("--kv-cache", help="KV-cache precision.")] = Dtype.bf16,
    ttft: Annotated[str | None, typer.Option("--ttft", help="Max time to first token, e.g. '2s', '500ms' (default: none).")] = None,
    tpot: Annotated[str | None, typer.Option("--tpot", help="Max time per output token, e.g. '50ms'. Exclusive with --tokens-per-s-per-user.")] = None,
    tokens_per_s_per_user: Annotated[float | None, typer.Option("--tokens-per-s-per-user", help="Min output tokens/s per user. Default 8.33 (seed S20, reading speed) unless --tpot is given.")] = None,
    demand: Annotated[float | None, typer.Option("--demand", help="Output tokens/s the fleet must sustain; sets the replica count.")] = None,
    users: Annotated[int | None, typer.Option("--users", min=1, help="Concurrent users (sequences in flight) the fleet must hold.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", min=1, help="Pin tensor parallelism.")] = None,
    pp: Annotated[int | None, typer.Option("--pp", min=1, help="Pin pipeline parallelism.")] = None,
    ep: Annotated[int | None, typer.Option("--ep", min=1, help="Pin expert parallelism (MoE; divides the experts and TP).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Pin sequences in flight per replica.")] = None,
    chips: Annotated[int | None, typer.Option("--chips", min=1, help="Pin chips per replica (TP × PP), e.g. 8 for one 8-GPU box.")] = None,
    max_chips: Annotated[int, typer.Option("--max-chips", min=1, help="Cap on total chips.")] = 4096,
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour; overrides the hardware spec's price.")] = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per plan).")] = PlanFormat.table,
):
    """Plan LLM serving: fewest chips, cheapest $/1k tokens and the cost/speed frontier under latency targets."""
    from .catalog import resolve_hardware, resolve_model
    from .inference import SEED_TOKENS_PER_S_PER_USER, Pins, Targets, Workload, plan_inference
    from .report import infer_json, print_infer, to_json

    if tpot is not None and tokens_per_s_per_user is not None:
        raise BadInput("--tpot and --tokens-per-s-per-user set the same target; give one")
    _positive(tokens_per_s_per_user, "--tokens-per-s-per-user", 1e6)
    _positive(demand, "--demand", 1e12)
    _positive(price_per_hour, "--price-per-hour", 1e4)
    tpot_s = _seconds(tpot, "--tpot")
    ttft_s = _seconds(ttft, "--ttft")
    for name, v in (("--users", users), ("--batch", batch), ("--chips", chips), ("--max-chips", max_chips),
                    ("--tp", tp), ("--pp", pp), ("--ep", ep)):
        if v is not None and v > 10_000_000:
            raise BadInput(f"{name}: {v} is beyond any real deployment (max 10,000,000)")
    if (prompt_tokens or 0) > 10_000_000 or (output_tokens or 0) > 10_000_000:
        raise BadInput("--prompt-tokens/--output-tokens: at most 10,000,000 tokens")
    tps_source = None
    if tpot_s is None:
        if tokens_per_s_per_user is None:
            tokens_per_s_per_user = SEED_TOKENS_PER_S_PER_USER
            tps_source = "8.33 tokens/s per user = reading speed, seed figure S20 (default)"
        tpot_s = 1.0 / tokens_per_s_per_user
    m = resolve_model(model)
    h = resolve_hardware(hardware)
    if price_per_hour is not None:
        h = h.with_price(price_per_hour)
    if output_tokens is None:
        output_tokens = max(1, min(512, m.max_context // 4) if prompt_tokens is None else min(512, m.max_context - prompt_tokens))
    if prompt_tokens is None:
        prompt_tokens = max(1, min(2048, m.max_context - output_tokens))
    if prompt_tokens + output_tokens > m.max_context:
        raise BadInput(f"--prompt-tokens + --output-tokens = {prompt_tokens + output_tokens} exceeds "
                       f"{m.name}'s max_context {m.max_context}")
    wl = Workload(prompt_tokens, output_tokens, weights.value, kv_cache.value)
    tg = Targets(ttft_max_s=ttft_s, tpot_max_s=tpot_s, demand_tokens_per_s=demand, users=users, max_chips=max_chips)
    res = plan_inference(m, h, wl, tg, Pins(tp=tp, pp=pp, ep=ep, batch=batch, chips=chips))
    res.band_notes = bands.attach(res.plans + res.frontier + [res.nearest], h.name, bands.INFER_FIELDS)
    if fmt is PlanFormat.json:
        typer.echo(to_json(infer_json(res)))
    elif fmt is PlanFormat.csv:
        from .report import infer_csv

        typer.echo(infer_csv(res), nl=False)
    elif fmt is PlanFormat.markdown:
        from .report import infer_markdown

        typer.echo(infer_markdown(res), nl=False)
    else:
        sources = {"price": f"{h.price:.3g} USD/chip-hour " + ("(--price-per-hour)" if price_per_hour else f"from the {h.name} spec ({h.price_date or 'undated'})")}
        if tps_source:
            sources["target source"] = tps_source
        pinned = any(v is not None for v in (tp, pp, chips)) and (chips is not None or (tp is not None and pp is not None))
        print_infer(res, _Console(highlight=False), sources, pinned=pinned)
    if not res.feasible:
        if fmt is not PlanFormat.json:
            err_console.print(f"gpt4plan: no feasible plan: {res.message}", markup=False)
        raise typer.Exit(1)


TRAIN_EPILOG = """
[bold]Examples[/bold]

  gpt4plan train --model gpt-4 --hardware a100-40gb --tokens 13T --chips 25000 --price-per-hour 1

  gpt4plan train --model gpt-4 --hardware h100-sxm --tokens 13T --days 90 --global-batch 60M

  gpt4plan train --model llama-3.1-70b --hardware h100-sxm --tokens 15T --chips 2048 --emit megatron

[bold]Defaults and their sources[/bold]: sequence length = the model's max_context capped at 8192
(GPT-4: 8k pre-training, seed S9); global batch 4M tokens (Llama 2/3 practice; GPT-4 ramped to 60M,
seed S10); failure rate 1.97e-5 per GPU-hour (Meta, Llama 3 paper §3.3.4: 419 interruptions in
54 days on 16,384 GPUs); checkpoint stall 60 s and restart 300 s (assumptions).
"""


class Recompute(str, Enum):
    none = "none"
    selective = "selective"
    full = "full"


class TrainPrecision(str, Enum):
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"


class Emit(str, Enum):
    megatron = "megatron"


def _count(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    from .units import UnitError, parse_count

    try:
        x = parse_count(value)
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None
    if not (1 <= x <= 1e18):
        raise BadInput(f"{option}: must be between 1 and 1e18, got {value!r}")
    return x


@app.command(epilog=TRAIN_EPILOG)
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name or path (YAML spec or HF config.json).")] = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog name or YAML path.")] = "a100-40gb",
    tokens: Annotated[str, typer.Option("--tokens", help="Training tokens: 13e12, 13T. Default 13T (seed S8).")] = "13T",
    chips: Annotated[int | None, typer.Option("--chips", min=1, max=10_000_000, help="Fastest plan on at most N chips.")] = None,
    days: Annotated[float | None, typer.Option("--days", help="Fewest chips that finish within D days.")] = None,
    max_chips: Annotated[int, typer.Option("--max-chips", min=1, max=10_000_000, help="Cluster limit for --days and the cheapest search.")] = 100_000,
    seq_len: Annotated[int | None, typer.Option("--seq-len", min=1, max=10_000_000, help="Sequence length (default: max_context capped at 8192).")] = None,
    global_batch: Annotated[str, typer.Option("--global-batch", help="Global batch in tokens: 4M, 60M.")] = "4M",
    precision: Annotated[TrainPrecision, typer.Option("--precision", help="Matmul precision (peak FLOP/s used).")] = TrainPrecision.bf16,
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour; overrides the spec.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", min=1, max=100_000)] = None,
    pp: Annotated[int | None, typer.Option("--pp", min=1, max=100_000)] = None,
    dp: Annotated[int | None, typer.Option("--dp", min=1, max=10_000_000)] = None,
    ep: Annotated[int | None, typer.Option("--ep", min=1, max=100_000)] = None,
    zero: Annotated[int | None, typer.Option("--zero", min=0, max=3, help="ZeRO stage 0-3 (3 = FSDP).")] = None,
    microbatch: Annotated[int | None, typer.Option("--microbatch", min=1, max=100_000)] = None,
    recompute: Annotated[Recompute | None, typer.Option("--recompute")] = None,
    interleave: Annotated[int | None, typer.Option("--interleave", min=1, max=64, help="Virtual pipeline chunks per stage.")] = None,
    checkpoint_s: Annotated[float, typer.Option("--checkpoint-s", min=0, max=1e5, help="Stall per checkpoint save (s).")] = 60.0,
    restart_s: Annotated[float, typer.Option("--restart-s", min=0, max=1e6, help="Time lost per failure to restart (s).")] = 300.0,
    failure_rate: Annotated[float | None, typer.Option("--failure-rate", help="Failures per GPU-hour (default 1.97e-5, Llama 3 paper).")] = None,
    emit: Annotated[Emit | None, typer.Option("--emit", help="Print launch arguments for the chosen plan.")] = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per plan).")] = PlanFormat.table,
):
    """Plan a pre-training run: chips, TP/PP/DP/EP layout, ZeRO, recompute, days and dollars."""
    from .catalog import resolve_hardware, resolve_model
    from .report import megatron_args, print_train, to_json, train_json
    from .training import FAILURE_RATE_PER_GPU_HOUR, Reliability, TrainPins, TrainWorkload, plan_training

    if chips is not None and days is not None:
        raise BadInput("--chips and --days ask different questions (fastest on N chips / fewest chips for D days); give one")
    if days is not None:
        _positive(days, "--days", 1e6)
    _positive(price_per_hour, "--price-per-hour", 1e4)
    if failure_rate is not None and not (0 < failure_rate < 1):
        raise BadInput(f"--failure-rate: failures per GPU-hour must be in (0, 1), got {failure_rate!r}")
    if emit is not None and fmt.value != "table":
        raise BadInput("--emit prints launch arguments; it does not combine with --format")
    n_tokens = _count(tokens, "--tokens")
    gb = _count(global_batch, "--global-batch")
    m = resolve_model(model)
    h = resolve_hardware(hardware)
    if price_per_hour is not None:
        h = h.with_price(price_per_hour)
    if precision.value == "fp8" and "fp8" not in h.peak_flops:
        raise BadInput(f"--precision fp8: {h.name} has no FP8 peak in its spec (it would run FP8 at its 16-bit rate); "
                       "use --precision bf16")
    s = seq_len or min(m.max_context, 8192)
    if s > m.max_context:
        raise BadInput(f"--seq-len {s} exceeds {m.name}'s max_context {m.max_context}")
    if gb < s:
        raise BadInput(f"--global-batch {global_batch} is smaller than one sequence of {s} tokens")
    wl = TrainWorkload(tokens=n_tokens, seq_len=s, global_batch_tokens=gb, precision=precision.value)
    rel = Reliability(failure_rate or FAILURE_RATE_PER_GPU_HOUR, checkpoint_s, restart_s)
    pins = TrainPins(tp, pp, dp, ep, zero, microbatch, recompute.value if recompute else None, interleave)
    res = plan_training(m, h, wl, chips=chips, days=days, max_chips=max_chips, pins=pins, rel=rel)
    res.band_notes = bands.attach([res.plan] + res.alternatives, h.name, bands.TRAIN_FIELDS)
    if emit is Emit.megatron and res.feasible:
        typer.echo(megatron_args(res.plan, m, s, precision.value))
    elif fmt is PlanFormat.json:
        typer.echo(to_json(train_json(res)))
    elif fmt is PlanFormat.csv:
        from .report import train_csv

        typer.echo(train_csv(res), nl=False)
    elif fmt is PlanFormat.markdown:
        from .report import train_markdown

        typer.echo(train_markdown(res), nl=False)
    else:
        src = {"price": f"{h.price:.4g} USD/chip-hour " + ("(--price-per-hour)" if price_per_hour else f"from the {h.name} spec ({h.price_date or 'undated'})")}
        print_train(res, _Console(highlight=False), src)
    if not res.feasible:
        if fmt is not PlanFormat.json:
            err_console.print(f"gpt4plan: no feasible plan: {res.message}", markup=False)
        raise typer.Exit(1)


VALIDATE_EPILOG = """
[bold]Examples[/bold]

  gpt4plan validate                                # the shipped development set of published measurements

  gpt4plan validate my-runs.yaml --format json

The file format is the measurements file of DESIGN.md §2a (one record per measured run, each with its source).
"""


@app.command(epilog=VALIDATE_EPILOG)
def validate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    write_bands: Annotated[str | None, typer.Option("--write-bands", help="Write the per-chip error-band table (YAML) here.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write predicted vs measured as a PNG (needs gpt4plan[plot]).")] = None,
):
    """Replay published measurements through the models: predicted vs measured, with the error."""
    from .catalog import catalog_dir
    from .report import print_validate, to_json
    from .validate import replay_file, summarise

    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    records = replay_file(path)
    summary = summarise(records)
    if write_bands:
        bands.write_bands(records, write_bands, _basename(path))
    if plot:
        from .report import plot_validation

        try:
            plot_validation(records, plot)
        except ImportError as exc:
            raise BadInput(str(exc)) from None
    if fmt is Format.json:
        typer.echo(to_json({"file": path, "records": [r.as_dict() for r in records], "summary": summary}))
    else:
        print_validate(records, summary, _Console(highlight=False), path)


@app.command()
def calibrate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog hardware name whose factors to fit.")] = "h100-sxm",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the calibrated spec here (default: NAME.calibrated.yaml).")] = None,
    factors: Annotated[str, typer.Option("--factors", help="Comma-separated factors to fit.")] = "compute,memory,network",
):
    """Fit a chip's efficiency factors (compute, memory, network) to the measurements on that chip."""
    from .catalog import catalog_dir
    from .validate import calibrate as fit
    from .validate import write_calibrated_spec

    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    wanted = tuple(f.strip() for f in factors.split(",") if f.strip())
    unknown = [f for f in wanted if f not in ("compute", "memory", "network")]
    if unknown or not wanted:
        raise BadInput(f"--factors: choose from compute, memory, network (got {factors!r})")
    try:
        res = fit(path, hardware, wanted)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    out = write_calibrated_spec(hardware, res["fitted"], _basename(path), res["records"],
                                output or f"{hardware}.calibrated.yaml")
    b, a = res["summary_before"], res["summary_after"]
    typer.echo(f"{hardware}: fitted {res['fitted']} on {res['records']} metrics; mean squared log error "
               f"{res['before']:.4f} -> {res['after']:.4f}")
    for kind in ("train", "infer"):
        if b[kind]["count"]:
            typer.echo(f"  {kind}: median |error| {b[kind]['median_abs_error']:.1%} -> {a[kind]['median_abs_error']:.1%}, "
                       f"p90 {b[kind]['p90_abs_error']:.1%} -> {a[kind]['p90_abs_error']:.1%}")
    typer.echo(f"wrote {out}")


def _basename(path: str) -> str:
    from pathlib import Path

    return Path(path).name


@app.command("models")
def models_cmd(fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table):
    """List the shipped model specs (names usable as --model)."""
    from . import arch
    from .catalog import model_names, resolve_model
    from .report import print_models, to_json

    rows = []
    for n in model_names():
        m = resolve_model(n)
        p = arch.params(m)
        rows.append((n, m, {"total": p.total, "active": p.active, "kv": arch.kv_bytes_per_token(m, "bf16")}))
    if fmt is Format.json:
        typer.echo(to_json([{"name": n, "params_total": i["total"], "params_active": i["active"],
                             "kv_cache_bytes_per_token_bf16": i["kv"], **m.model_dump()} for n, m, i in rows]))
    else:
        print_models(rows, _Console(highlight=False))


@app.command("hardware")
def hardware_cmd(fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table):
    """List the shipped hardware specs (names usable as --hardware)."""
    from .catalog import hardware_names, resolve_hardware
    from .report import print_hardware, to_json

    rows = [(n, resolve_hardware(n)) for n in hardware_names()]
    if fmt is Format.json:
        typer.echo(to_json([h.model_dump() for _, h in rows]))
    else:
        print_hardware(rows, _Console(highlight=False))


app.command("check")(check)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the Typer app, turning bad input into one line and exit code 2."""
    from .specs import SpecError

    try:
        rv = app(args=argv, standalone_mode=False)
        return int(rv or 0)
    except SpecError as exc:  # already "file:line: field: what is wrong"
        err_console.print(str(exc), markup=False)
        return 2
    except BadInput as exc:
        err_console.print(f"gpt4plan: error: {exc}", markup=False)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        err_console.print("gpt4plan: interrupted")
        return 130
    except Exception as exc:
        # Typer vendors its own click: recognise its exceptions by class name, not by import.
        names = {c.__name__ for c in type(exc).__mro__}
        if "Exit" in names:
            return int(getattr(exc, "exit_code", 0) or 0)
        if "Abort" in names:
            err_console.print("gpt4plan: aborted")
            return 130
        if "ClickException" in names:  # bad option or usage: one line
            err_console.print(f"gpt4plan: error: {exc.format_message()}", markup=False)
            return 2
        raise


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
