"""``gpt4plan lifecycle``: the model size and training tokens that reach a quality at the least cost of
training plus serving, against the Chinchilla-optimal point of the same loss.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, err_console
from gpt4plan.cli.infer_options import infer_options
from gpt4plan.cli.options import (
    Dtype,
    GlobalBatchOpt,
    KvCacheOpt,
    OutputTokensOpt,
    PlotOpt,
    PrecisionOpt,
    PromptTokensOpt,
    SeqLenOpt,
    TpotOpt,
    TpsOpt,
    TrainPrecision,
    TtftOpt,
    WeightsOpt,
    check_positive,
    parse_amount,
)
from gpt4plan.cli.plotfile import need_matplotlib, write_plot_file
from gpt4plan.cli.train_options import train_options, word

LIFECYCLE_EPILOG = """
[bold]Examples[/bold]

  gpt4plan lifecycle                                   # Chinchilla's quality (70B on 1.4T), 1B tokens/day, 2 years

  gpt4plan lifecycle --quality 70B:1.4T --serve-tokens-per-day 100B --serve-days 365 -H h100-sxm --plot lc.png

  gpt4plan lifecycle --loss 2.0 --law hoffmann2022 --serve-tokens-per-day 0     # the compute-optimal point

  gpt4plan lifecycle --quality llama-3.1-8b:15T --models llama-3.1-8b,llama-3.1-70b --format json

[bold]Defaults and their sources[/bold]: law besiroglu2024 (Besiroglu et al. 2024 refit of Hoffmann et al.'s
approach 3; its compute-optimal ratio, ~20 tokens per parameter, agrees with Hoffmann's approaches 1-2);
quality 70B:1.4T (Chinchilla); 1B output tokens/day for 730 days (assumptions); training: the fastest plan on
at most 2,048 chips (an assumption); serving: the request shape and latency targets of 'gpt4plan infer';
models: the Llama-like family rule (head dim 128, GQA 8, SwiGLU 3.5 d, d_model/layers ~ 128; see
gpt4plan.lifecycle.shapes); sizes from the larger of N_c/100 and 10,000 tokens per parameter (Sardana et
al. 2023) to 3 N_c.
"""


class LifecycleFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Law(str, Enum):
    hoffmann2022 = "hoffmann2022"
    besiroglu2024 = "besiroglu2024"


def lifecycle(
    quality: Annotated[str | None, typer.Option("--quality", help="The target: the loss of N parameters trained on D tokens, N:D, e.g. 70B:1.4T; N may be a model (catalog name or path). Default 70B:1.4T (Chinchilla).")] = None,
    loss: Annotated[float | None, typer.Option("--loss", help="The target loss (nats per token on the law's corpus) instead of --quality.")] = None,
    law: Annotated[Law, typer.Option("--law", help="Scaling law: hoffmann2022 (approach 3) or besiroglu2024 (its replication).")] = Law.besiroglu2024,
    serve_tokens_per_day: Annotated[str, typer.Option("--serve-tokens-per-day", help="Output tokens served per day (average), e.g. 1B; 0: training only.")] = "1B",
    serve_days: Annotated[float, typer.Option("--serve-days", help="Days the model is served.")] = 730.0,
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Chip for training and serving (catalog name or YAML path).")] = "h100-sxm",
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour; overrides the spec.")] = None,
    chips: Annotated[int, typer.Option("--chips", min=1, max=10_000_000, help="Training: the fastest plan on at most N chips.")] = 2048,
    seq_len: SeqLenOpt = None,
    global_batch: GlobalBatchOpt = None,
    precision: PrecisionOpt = TrainPrecision.bf16,
    prompt_tokens: PromptTokensOpt = None,
    output_tokens: OutputTokensOpt = None,
    weights: WeightsOpt = Dtype.bf16,
    kv_cache: KvCacheOpt = Dtype.bf16,
    ttft: TtftOpt = None,
    tpot: TpotOpt = None,
    tokens_per_s_per_user: TpsOpt = None,
    max_chips: Annotated[str, typer.Option("--max-chips", help="Serving: cap on the fleet's chips, e.g. 100k.")] = "100000",
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated models (catalog names or paths) to price instead of the family rule.")] = None,
    shapes: Annotated[int, typer.Option("--shapes", min=2, max=200, help="Family models priced by the planners.")] = 24,
    points: Annotated[int, typer.Option("--points", min=2, max=5000, help="Sizes scanned (rates interpolated between priced models).")] = 240,
    min_params: Annotated[str | None, typer.Option("--min-params", help="Smallest model scanned, e.g. 1B.")] = None,
    max_params: Annotated[str | None, typer.Option("--max-params", help="Largest model scanned, e.g. 300B.")] = None,
    plot: PlotOpt = None,
    fmt: Annotated[LifecycleFormat, typer.Option("--format", "-f", help="Output format (csv: one row per point).")] = LifecycleFormat.table,
):
    """Lifecycle cost: the model size and training tokens that reach a quality at the least training + serving cost."""
    # One piece: long only in its signature (Typer reads one parameter per option); the body is short.
    import time
    from functools import partial

    from gpt4plan import scaling
    from gpt4plan.lifecycle import ServeSetup, TrainSetup, family_model, price_shape, scan
    from gpt4plan.specs.catalog import resolve_hardware

    the_law = scaling.LAWS[law.value]
    target, quality_pair = _target_loss(the_law, quality, loss)
    per_day = parse_amount(serve_tokens_per_day, "--serve-tokens-per-day", 0, 1e16, " tokens per day")
    check_positive(serve_days, "--serve-days", 36_500)
    given = _models(models, min_params, max_params)
    n_range = _params_range(the_law, target, min_params, max_params)
    iopts = infer_options(prompt_tokens=prompt_tokens, output_tokens=output_tokens, weights=weights, kv_cache=kv_cache,
                          ttft=ttft, tpot=tpot, tokens_per_s_per_user=tokens_per_s_per_user, max_chips=max_chips,
                          price_per_hour=price_per_hour)
    topts = train_options(tokens="1T", chips=chips, seq_len=seq_len, global_batch=global_batch, precision=precision,
                          price_per_hour=price_per_hour, max_chips=chips)
    plot = need_matplotlib(plot)
    h = iopts.hardware(resolve_hardware(hardware))
    problem = topts.precision_issue(h)
    if problem:
        raise BadInput(f"--precision {topts.precision}: {word(problem)}")
    n_c, _ = scaling.chinchilla_point(the_law, target)
    for m in given or [family_model(n_c)]:  # lengths that fit the models (bad input otherwise)
        wl, twl = iopts.workload(m), topts.workload(m)
    serve = ServeSetup(h, wl, iopts.targets(), per_day, serve_days)
    # given models train at their own context (at most 8,192) unless --seq-len is given; the family's is 8,192
    seq = twl.seq_len if given is None else topts.seq_len
    train = TrainSetup(h, chips, seq, twl.global_batch_tokens, twl.precision, topts.reliability())
    start = time.perf_counter()
    with _Progress(start) as progress:
        res = scan(the_law, target, partial(price_shape, train=train, serve=serve), family_model, serve, shapes,
                   points, n_range, given, progress.update)
    elapsed = time.perf_counter() - start
    _show(res, fmt, plot, _inputs(res, quality_pair, h, train, iopts, given, elapsed), quality_pair)


def _target_loss(law, quality: str | None, loss: float | None) -> tuple[float, tuple[float, float] | None]:
    """The target loss and, from ``--quality N:D``, the (N, D) it came from."""
    from gpt4plan import scaling
    from gpt4plan.lifecycle import target_issue

    if quality is not None and loss is not None:
        raise BadInput("--quality and --loss both set the target; give one")
    if loss is not None:
        issue = target_issue(law, loss)
        if issue:
            raise BadInput(f"--loss {loss:g}: {issue}")
        return loss, None
    text = quality if quality is not None else "70B:1.4T"
    n, d = _parse_quality(text)
    target = float(scaling.loss(law, n, d))
    issue = target_issue(law, target)
    if issue:
        raise BadInput(f"--quality {text}: loss {target:.4g}: {issue}")
    return target, (n, d)


def _parse_quality(text: str) -> tuple[float, float]:
    """``'70B:1.4T'`` -> (7e10, 1.4e12); the parameters may be a model (its total parameter count)."""
    from gpt4plan.specs.units import UnitError, parse_count

    left, sep, right = text.rpartition(":")
    if not sep or not left.strip() or not right.strip():
        raise BadInput(f"--quality: expected PARAMS:TOKENS such as 70B:1.4T (or MODEL:TOKENS), got {text!r}")
    try:
        d = parse_count(right.strip())
    except UnitError:
        raise BadInput(f"--quality {text}: cannot read {right.strip()!r} as a number of tokens (e.g. 1.4T)") from None
    try:
        n = parse_count(left.strip())
    except UnitError:
        n = _model_params(left.strip(), text)
    for what, x in (("parameters", n), ("tokens", d)):
        if not (1e6 <= x <= 1e16):
            raise BadInput(f"--quality {text}: {what} must be between 1M and 1e16, got {x:g}")
    return n, d


def _model_params(ref: str, text: str) -> float:
    from gpt4plan.physics import arch
    from gpt4plan.specs import SpecError
    from gpt4plan.specs.catalog import resolve_model

    try:
        return float(arch.params(resolve_model(ref)).total)
    except SpecError:
        raise BadInput(f"--quality {text}: {ref!r} is neither a parameter count (70B) nor a model "
                       "(see 'gpt4plan models')") from None


def _models(text: str | None, min_params: str | None, max_params: str | None) -> list | None:
    """``--models a,b``: the specs (None without); the range options do not apply to them."""
    if text is None:
        return None
    if min_params is not None or max_params is not None:
        raise BadInput("--min-params/--max-params set the family's range; --models prices the given models only")
    from gpt4plan.specs.catalog import resolve_model

    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise BadInput("--models: give one or more models, comma-separated (see 'gpt4plan models')")
    from gpt4plan.specs import SpecError

    try:
        out = [resolve_model(n) for n in names]
    except SpecError as exc:  # name the option the user typed
        if exc.file == "--model":
            raise SpecError("--models", exc.line, exc.field, exc.message) from None
        raise
    if len({m.name for m in out}) != len(out):
        raise BadInput("--models: two of the models have the same name")
    return out


def _params_range(law, target: float, lo_text: str | None, hi_text: str | None) -> tuple[float, float] | None:
    """``--min-params``/``--max-params`` over the default range; bad input below the law's floor or crossed."""
    from gpt4plan import scaling
    from gpt4plan.lifecycle import MIN_FAMILY_PARAMS, params_range
    from gpt4plan.specs.units import UnitError, parse_count

    if lo_text is None and hi_text is None:
        return None
    lo, hi = params_range(law, target)
    parsed = []
    for opt, text, default in (("--min-params", lo_text, lo), ("--max-params", hi_text, hi)):
        try:
            x = default if text is None else parse_count(text)
        except UnitError as exc:
            raise BadInput(f"{opt}: {exc}") from None
        if not (MIN_FAMILY_PARAMS <= x <= 1e15):
            raise BadInput(f"{opt}: must be between {MIN_FAMILY_PARAMS / 1e6:.0f}M (the family's smallest model) "
                           f"and 1e15, got {text!r}")
        parsed.append(x)
    floor = scaling.params_floor(law, target)
    if parsed[0] <= floor:
        raise BadInput(f"--min-params {lo_text}: at or below {floor:.3g} parameters, where loss {target:.4g} is "
                       f"never reached under {law.name}")
    if parsed[0] >= parsed[1]:
        raise BadInput(f"--min-params ({parsed[0]:.3g}) must be below --max-params ({parsed[1]:.3g})")
    return parsed[0], parsed[1]


class _Progress:
    """A progress bar on stderr once the planner runs are estimated to take over a second."""

    AFTER_S = 1.0

    def __init__(self, start: float):
        self.start, self.bar, self.task = start, None, None

    def update(self, i: int, n: int) -> None:
        import time

        if self.bar is None and i and (time.perf_counter() - self.start) / i * n > self.AFTER_S:
            from rich.progress import Progress

            self.bar = Progress(console=err_console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("pricing models", total=n, completed=i)
        elif self.bar is not None:
            self.bar.update(self.task, completed=i)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _inputs(res, quality_pair, h, train, iopts, given, elapsed: float) -> dict:
    """What was asked, for the JSON and the lines under the table."""
    from gpt4plan.lifecycle import FAMILY

    w, t = res.serve.workload, res.serve.targets
    return {
        "quality": None if quality_pair is None else {"params": quality_pair[0], "tokens": quality_pair[1]},
        "hardware": {"name": h.name, "price_usd_per_hour": h.price},
        "training": {"max_chips": train.chips, "seq_len": train.seq_len,
                     "global_batch_tokens": train.global_batch_tokens, "precision": train.precision},
        "serving": {"tokens_per_day": res.serve.tokens_per_day, "days": res.serve.days,
                    "lifetime_tokens": res.serve.lifetime_tokens, "prompt_tokens": w.prompt_tokens,
                    "output_tokens": w.output_tokens, "weights": w.weights, "kv_cache": w.kv_cache,
                    "tpot_max_s": t.tpot_max_s, "ttft_max_s": t.ttft_max_s, "max_chips": t.max_chips},
        "models": "given" if given else FAMILY, "models_priced": len(res.shapes), "points": len(res.points),
        "elapsed_s": elapsed,
    }


def _show(res, fmt: LifecycleFormat, plot: str | None, inputs: dict, quality_pair) -> None:
    from gpt4plan.report import lifecycle_csv, lifecycle_json, plot_lifecycle, print_lifecycle, to_json

    if plot and res.optimum is not None:
        title = f"gpt4plan lifecycle: loss {res.target_loss:.4g} ({res.law.name}) on {inputs['hardware']['name']}"
        write_plot_file(plot, lambda tmp: plot_lifecycle(res, str(tmp), title))
    if fmt is LifecycleFormat.json:
        typer.echo(to_json(lifecycle_json(res, inputs)))
    elif fmt is LifecycleFormat.csv:
        typer.echo(lifecycle_csv(res), nl=False)
    else:
        print_lifecycle(res, ResultConsole(highlight=False), _input_lines(res, inputs, quality_pair))
    if res.optimum is None:
        if fmt is not LifecycleFormat.json:
            err_console.print("gpt4plan: no feasible point: no model in the range could be both trained and served "
                              "(see the notes)", markup=False)
        raise typer.Exit(1)


def _input_lines(res, inputs: dict, quality_pair) -> list[str]:
    from gpt4plan.specs.units import format_si

    law, s, tr = res.law, inputs["serving"], inputs["training"]
    target = (f"the loss of {format_si(quality_pair[0])} parameters on {format_si(quality_pair[1])} tokens"
              if quality_pair else "--loss")
    tpot = f"TPOT ≤ {s['tpot_max_s'] * 1e3:.4g} ms" + (f", TTFT ≤ {s['ttft_max_s']:.3g} s" if s["ttft_max_s"] else "")
    lo, hi = res.params_range
    return [
        f"law {law.name}: L = {law.E:g} + {law.A:g}/N^{law.alpha:g} + {law.B:g}/D^{law.beta:g} ({law.source}); "
        f"target {res.target_loss:.4g} = {target}",
        f"hardware {inputs['hardware']['name']} at ${inputs['hardware']['price_usd_per_hour']:.4g}/chip-hour",
        f"training: the fastest plan on at most {tr['max_chips']:,} chips, sequence "
        f"{format(tr['seq_len'], ',') if tr['seq_len'] else 'of each model (its context, at most 8,192)'}, global batch "
        f"{format_si(tr['global_batch_tokens'])} tokens, {tr['precision']}; days and dollars scale with the tokens",
        f"serving: {format_si(s['tokens_per_day'])} output tokens/day for {s['days']:,.0f} days "
        f"({format_si(s['lifetime_tokens'])} in all), {s['prompt_tokens']:,} prompt + {s['output_tokens']:,} output "
        f"tokens per request, {tpot}; the fleet is paid for every hour",
        f"models: {inputs['models']} ({inputs['models_priced']} priced by the planners), {inputs['points']} points "
        f"from {format_si(lo)} to {format_si(hi)} parameters; {inputs['elapsed_s']:.1f} s",
    ]

