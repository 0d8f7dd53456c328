"""Command line: ``gpt4plan infer | models | hardware``.

Parses options, calls the planners, hands results to :mod:`gpt4plan.report`.  Exit codes: 0 success;
1 no feasible plan (or a broken budget); 2 bad input (one line ``file:line: field: what is wrong``, no
traceback); 3 the result could not be written.  A closed pipe never changes the status (:func:`main`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from gpt4plan import __version__
from gpt4plan.accuracy import bands
from gpt4plan.cli.check import check
from gpt4plan.specs.units import plural

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

def _keep_option_names_whole() -> None:
    """Keep option names whole in ``--help`` at narrow terminals (80 columns).

    Typer's rich help lays options out in a table whose columns rich shrinks evenly when the terminal is
    narrow, cutting long names (``--tokens-per-s-per-u…``).  Here the options table's first column (the
    long names) never wraps or shrinks; the help text column gives the room instead, and a word too long
    for it folds onto the next line rather than ending in an ellipsis.  Typer builds the
    table with ``rich_utils.Table``: a subclass is put there.  If a later Typer builds it differently this
    does nothing (names may then be cut again; ``tests/test_surprises.py`` checks it).
    """
    try:
        import typer.rich_utils as rich_utils
        from rich.table import Table
    except ImportError:  # pragma: no cover - typer without rich
        return
    if getattr(rich_utils, "Table", None) is not Table:
        return

    class _HelpTable(Table):
        def add_row(self, *renderables, **kwargs):
            super().add_row(*renderables, **kwargs)
            if self.columns and not self.show_header:
                self.columns[0].no_wrap = True
                first = renderables[0] if renderables else ""
                width = len(str(getattr(first, "plain", first)))
                self.columns[0].min_width = max(self.columns[0].min_width or 0, width)
                self.columns[-1].overflow = "fold"  # a long word in the help text folds, never '…'

    rich_utils.Table = _HelpTable


_keep_option_names_whole()


class _Console(Console):
    """Rich console for results.  Writes go to ``sys.stdout`` (a :class:`_GuardedStdout` while :func:`main`
    runs), so a closed pipe or a full disk never reaches rich as an exception."""


class _GuardedStdout:
    """Stand-in for ``sys.stdout`` while :func:`main` runs: a write or flush that fails is recorded, not raised.

    A closed pipe (``gpt4plan check b.yaml | head -1``) or a full disk (``> /dev/full``) would otherwise raise
    ``OSError`` at whatever line happened to print when the reader went away, so the exit status would depend
    on timing: the planner would stop before it knew its own result.  Here the first failure is kept in
    :attr:`error`, later output is dropped, and the program runs to its end; :func:`main` then returns the
    status the result deserves (broken pipe) or 3 (any other write error: "the result could not be written").
    File descriptor 1 is pointed at ``/dev/null`` on failure so that the interpreter's last flush at exit
    cannot fail again.  Every other attribute (``encoding``, ``isatty``, ``fileno``) is the real stream's.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.error: OSError | None = None if stream is not None else OSError(9, "standard output is closed")

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        import os

        self.error = exc
        try:
            fd = self._stream.fileno()
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
        except (OSError, ValueError, AttributeError):  # no real descriptor (a test's capture)
            pass

    @property
    def broken_pipe(self) -> bool:
        import errno

        return isinstance(self.error, BrokenPipeError) or getattr(self.error, "errno", None) == errno.EPIPE

    def __getattr__(self, name: str):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


#: Exit status when the result could not be written (full disk, closed or unwritable standard output).
EXIT_WRITE_FAILED = 3


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
    fp4 = "fp4"


def _seconds(value: str | None, option: str) -> float | None:
    """``--tpot`` / ``--ttft`` in seconds; a bare number of a second (TPOT) or a minute (TTFT) or more is
    refused as a likely slip for milliseconds (:func:`gpt4plan.specs.units.parse_latency`)."""
    if value is None:
        return None
    from gpt4plan.specs.units import UnitError, parse_latency

    try:
        x = parse_latency(value, option.lstrip("-"))
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None
    if not (1e-6 <= x <= 1e6):
        bare = " (a bare number is seconds)" if value.strip().replace(".", "", 1).isdigit() else ""
        raise BadInput(f"{option}: must be between 1 us and 1e6 s, got {value!r}{bare}")
    return x


#: Notes about the input printed on stderr after a run that did not fail on bad input (exit 2 stays one line).
_PENDING_NOTES: list[str] = []


def _whole(value: str | int | None, option: str, upper: int = 10_000_000) -> int | None:
    """A whole count from the command line, with the suffixes --tokens takes (2k, 1.5M): 1 to ``upper``."""
    if value is None or isinstance(value, int):
        x = value
    else:
        from gpt4plan.specs.units import UnitError, parse_count

        try:
            x = parse_count(value)
        except UnitError as exc:
            raise BadInput(f"{option}: {exc}") from None
        if x != math.floor(x):
            raise BadInput(f"{option}: a whole number, got {value!r}")
    if x is not None and not (1 <= x <= upper):
        raise BadInput(f"{option}: must be between 1 and {upper:,}, got {value!r}")
    return None if x is None else int(x)


def _rate(value: str | float | None, option: str) -> float | None:
    """A rate from the command line, with count suffixes (50k = 50,000 per second)."""
    if value is None or isinstance(value, float | int):
        return value
    from gpt4plan.specs.units import UnitError, parse_count

    try:
        return parse_count(value)
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None


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


# ---------------------------------------------------------------------------------------------
# Options of infer, shared with compare (one definition each; parsed once by _infer_options)

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Catalog name (see 'gpt4plan models') or path to a YAML spec or a Hugging Face config.json.")]
PromptTokensOpt = Annotated[int | None, typer.Option("--prompt-tokens", min=1, help="Prompt (input) tokens per request. Default 2048 (shortened to fit the model's context).")]
OutputTokensOpt = Annotated[int | None, typer.Option("--output-tokens", min=1, help="Output tokens per request. Default 512 (at most a quarter of the model's context).")]
WeightsOpt = Annotated[Dtype, typer.Option("--weights", metavar="DTYPE", help="Weight precision: fp32, bf16, fp16, fp8, int8, int4 or fp4 (int4 = weight-only, computed in fp16; fp4 = NVFP4, computed in fp4 where the chip has FP4 tensor cores).")]
KvCacheOpt = Annotated[Dtype, typer.Option("--kv-cache", metavar="DTYPE", help="KV-cache precision: fp32, bf16, fp16, fp8, int8, int4 or fp4.")]
TtftOpt = Annotated[str | None, typer.Option("--ttft", help="Max time to first token, e.g. '2s', '500ms' (default: none).")]
TpotOpt = Annotated[str | None, typer.Option("--tpot", help="Max time per output token, e.g. '50ms'. Give this or the per-user rate (the option below), not both.")]
TpsOpt = Annotated[float | None, typer.Option("--tokens-per-s-per-user", help="Min output tokens/s per user. Default 8.33 (seed S20, reading speed) unless --tpot is given.")]
DemandOpt = Annotated[str | None, typer.Option("--demand", help="Output tokens/s the fleet must sustain, e.g. 50000 or 50k; sets the replica count.")]
UsersOpt = Annotated[str | None, typer.Option("--users", help="Concurrent users (sequences in flight) the fleet must hold, e.g. 2000 or 2k.")]
TpOpt = Annotated[int | None, typer.Option("--tp", min=1, help="Pin tensor parallelism.")]
PpOpt = Annotated[int | None, typer.Option("--pp", min=1, help="Pin pipeline parallelism.")]
EpOpt = Annotated[int | None, typer.Option("--ep", min=1, help="Pin expert parallelism (MoE; divides the experts and TP).")]
BatchOpt = Annotated[int | None, typer.Option("--batch", min=1, help="Pin sequences in flight per replica.")]
PriceOpt = Annotated[float | None, typer.Option("--price-per-hour", help="USD per chip-hour; overrides the hardware spec's price.")]
FormatOpt = Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per plan).")]
class EngineName(str, Enum):
    vllm = "vllm"
    sglang = "sglang"
    trtllm = "trtllm"


EmitEngineOpt = Annotated[EngineName | None, typer.Option("--emit", metavar="ENGINE", help="Print one server's launch arguments for the min-cost plan: vllm, sglang or trtllm (trtllm-serve).")]
DisaggregateOpt = Annotated[bool, typer.Option("--disaggregate", help="Also plan separate prefill and decode pools (KV cache sent over the scale-out links) and compare them with the aggregated plan.")]
SweepOpt = Annotated[list[str] | None, typer.Option("--sweep", metavar="NAME=V1,V2", help="Plan once per value: NAME=v1,v2,... with NAME prompt-tokens, output-tokens, tokens-per-s-per-user or price-per-hour; one row per value.")]
PlotOpt = Annotated[str | None, typer.Option("--plot", help="Write the cost vs speed frontier ($/1k output tokens vs tokens/s per user) as a PNG; needs gpt4plan\\[plot] (matplotlib).")]
DraftModelOpt = Annotated[str | None, typer.Option("--draft-model", help="Speculative decoding: draft model (catalog name or path), on the target's chips.")]
DraftTokensOpt = Annotated[int | None, typer.Option("--draft-tokens", min=1, max=64, help="Speculative decoding: tokens drafted per cycle (g). Default 4 (seed: ~4).")]
AcceptanceOpt = Annotated[float | None, typer.Option("--acceptance", help="Speculative decoding: probability a draft token is accepted (a). Default 0.8 (an assumption; it depends on the draft, target and task).")]
DraftCostOpt = Annotated[float | None, typer.Option("--draft-cost-fraction", help="Speculative decoding without a draft model (n-gram, Medusa heads): cost of one draft token as a fraction of a target decode step.")]


@dataclass(frozen=True)
class InferOptions:
    """The validated options of ``infer`` (and ``compare``): everything but the model and the chip."""

    prompt_tokens: int | None
    output_tokens: int | None
    weights: str
    kv_cache: str
    ttft_s: float | None
    tpot_s: float
    tps_source: str | None
    demand: float | None
    users: int | None
    tp: int | None
    pp: int | None
    ep: int | None
    batch: int | None
    chips: int | None
    max_chips: int
    price_per_hour: float | None
    draft_model: str | None = None
    draft_tokens: int = 4
    acceptance: float = 0.8
    draft_cost_fraction: float | None = None

    def hardware(self, h):
        """The chip's spec with ``--price-per-hour`` applied."""
        return h if self.price_per_hour is None else h.with_price(self.price_per_hour)

    def request_shape(self, m) -> tuple[int, int]:
        """(prompt, output) tokens for model ``m``; the defaults fit its context."""
        prompt, output = self.prompt_tokens, self.output_tokens
        if output is None:
            output = max(1, min(512, m.max_context // 4) if prompt is None else min(512, m.max_context - prompt))
        if prompt is None:
            prompt = max(1, min(2048, m.max_context - output))
        return prompt, output

    def shape_notes(self, m) -> list[str]:
        """One note per default length shortened to fit model ``m``'s context (none when both were given)."""
        prompt, output = self.request_shape(m)
        if prompt + output > m.max_context:
            return []
        ctx = f"{m.name}'s context of {m.max_context:,} tokens"
        notes = []
        if self.output_tokens is None and output < 512:
            why = (f"the {prompt:,}-token prompt leaves {output:,} of {ctx}" if self.prompt_tokens is not None
                   else f"a quarter of {ctx}")
            notes.append(f"output tokens: {output:,}, not the default 512: {why}; set --output-tokens to choose")
        if self.prompt_tokens is None and prompt < 2048:
            notes.append(f"prompt tokens: {prompt:,}, not the default 2,048: {output:,} output tokens leave {prompt:,} "
                         f"of {ctx}; set --prompt-tokens to choose")
        return notes

    def workload(self, m):
        """The request shape for model ``m``: defaults fit its context; a request longer than it is bad input."""
        from gpt4plan.serving import Workload

        prompt, output = self.request_shape(m)
        if prompt + output > m.max_context:
            if self.output_tokens is None:  # the default output was shrunk to nothing: the prompt alone is too long
                raise BadInput(f"--prompt-tokens {prompt} leaves no room for an output token in {m.name}'s "
                               f"max_context {m.max_context}")
            raise BadInput(f"--prompt-tokens + --output-tokens = {prompt + output} exceeds "
                           f"{m.name}'s max_context {m.max_context}")
        return Workload(prompt, output, self.weights, self.kv_cache, self.speculation())

    def speculation(self):
        """Speculative decoding settings, or None without a draft."""
        if self.draft_model is None and self.draft_cost_fraction is None:
            return None
        from gpt4plan.serving import Speculation
        from gpt4plan.specs import SpecError
        from gpt4plan.specs.catalog import resolve_model

        draft = None
        if self.draft_model is not None:
            try:
                draft = resolve_model(self.draft_model)
            except SpecError as exc:  # name the option the user typed
                if exc.file == "--model":
                    raise SpecError("--draft-model", exc.line, exc.field, exc.message) from None
                raise
        return Speculation(self.draft_tokens, self.acceptance, draft, self.draft_cost_fraction)

    def targets(self):
        from gpt4plan.serving import Targets

        return Targets(ttft_max_s=self.ttft_s, tpot_max_s=self.tpot_s, demand_tokens_per_s=self.demand,
                       users=self.users, max_chips=self.max_chips)

    def pins(self):
        from gpt4plan.serving import Pins

        return Pins(tp=self.tp, pp=self.pp, ep=self.ep, batch=self.batch, chips=self.chips)

    @property
    def pinned(self) -> bool:
        """The layout is fixed (chips, or both tp and pp): the headline says 'pinned layout'."""
        return self.chips is not None or (self.tp is not None and self.pp is not None)

    def sources(self, h) -> dict[str, str]:
        src = {"price": f"{h.price:.4g} USD/chip-hour " + ("(--price-per-hour)" if self.price_per_hour
                                                           else f"from the {h.name} spec ({h.price_date or 'undated'})")}
        if self.tps_source:
            src["target source"] = self.tps_source
        return src


def _infer_options(
    prompt_tokens: int | None = None, output_tokens: int | None = None, weights: Dtype = Dtype.bf16,
    kv_cache: Dtype = Dtype.bf16, ttft: str | None = None, tpot: str | None = None,
    tokens_per_s_per_user: float | None = None, demand: str | float | None = None, users: str | int | None = None,
    tp: int | None = None, pp: int | None = None, ep: int | None = None, batch: int | None = None,
    chips: int | None = None, max_chips: str | int = 4096, price_per_hour: float | None = None,
    draft_model: str | None = None, draft_tokens: int | None = None, acceptance: float | None = None,
    draft_cost_fraction: float | None = None,
) -> InferOptions:
    """Check the options of ``infer``/``compare`` (bad ones raise :class:`BadInput`) and resolve defaults."""
    from gpt4plan.serving import SEED_TOKENS_PER_S_PER_USER

    if tpot is not None and tokens_per_s_per_user is not None:
        raise BadInput("--tpot and --tokens-per-s-per-user set the same target; give one")
    _positive(tokens_per_s_per_user, "--tokens-per-s-per-user", 1e6)
    demand = _positive(_rate(demand, "--demand"), "--demand", 1e12)
    users = _whole(users, "--users")
    max_chips = _whole(max_chips, "--max-chips")
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
    if draft_model is not None and draft_cost_fraction is not None:
        raise BadInput("--draft-model and --draft-cost-fraction both describe the draft; give one")
    if draft_model is None and draft_cost_fraction is None and (draft_tokens is not None or acceptance is not None):
        raise BadInput("--draft-tokens/--acceptance need a draft: add --draft-model M or --draft-cost-fraction F")
    if acceptance is not None and not (0.0 <= acceptance <= 1.0):
        raise BadInput(f"--acceptance: a probability in [0, 1], got {acceptance!r}")
    if draft_cost_fraction is not None and not (0.0 <= draft_cost_fraction <= 1.0):
        raise BadInput(f"--draft-cost-fraction: a fraction of a target step in [0, 1], got {draft_cost_fraction!r}")
    return InferOptions(prompt_tokens, output_tokens, Dtype(weights).value, Dtype(kv_cache).value, ttft_s, tpot_s,
                        tps_source, demand, users, tp, pp, ep, batch, chips, max_chips, price_per_hour,
                        draft_model, 4 if draft_tokens is None else draft_tokens,
                        0.8 if acceptance is None else acceptance, draft_cost_fraction)


def _no_conflict(problem: str | None) -> None:
    """Pins that contradict the model or each other (:mod:`gpt4plan.scenario`) are bad input: exit 2."""
    if problem:
        raise BadInput(problem)


def _need_matplotlib(path: str | None) -> str | None:
    """``--plot`` checked before any planning: without matplotlib, or a path that cannot be a new file
    (a directory, a folder that does not exist, a format matplotlib cannot write), is bad input.  Returns
    the path that will really be written (``.png`` added when the name has no extension)."""
    if path is None:
        return None
    from gpt4plan.report import require_matplotlib

    try:
        plt = require_matplotlib()
    except ImportError as exc:
        raise BadInput(str(exc)) from None
    return _plot_path(path, plt)


def _plot_path(path: str, plt=None) -> str:
    """The file ``--plot PATH`` writes: PATH itself, or PATH.png when it names no format."""
    from pathlib import Path

    p = Path(path).expanduser()
    if not path.strip() or p.is_dir() or path.endswith(("/", "\\")):
        raise BadInput(f"--plot: {path} is a directory; give a file name, e.g. {Path(path) / 'frontier.png'}")
    if not p.suffix:
        p = p.with_name(p.name + ".png")
    elif plt is not None:
        kinds = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
        if p.suffix[1:].lower() not in kinds:
            raise BadInput(f"--plot: cannot write {path}: matplotlib writes {', '.join(sorted(kinds))}, "
                           f"not {p.suffix[1:]!r} (or give no extension for .png)")
    parent = p.parent
    if not parent.is_dir():
        raise BadInput(f"--plot: cannot write {p}: the folder {parent} does not exist")
    return str(p)


def _write_plot(series: list[dict], path: str, title: str) -> None:
    from gpt4plan.report import plot_frontiers

    try:
        plot_frontiers(series, path, title)
    except ImportError as exc:
        raise BadInput(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"--plot: cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    err_console.print(f"wrote {path}", markup=False)


def _picked(fn, values: dict) -> dict:
    """The entries of ``values`` (a command's ``locals()``) that ``fn`` takes as parameters."""
    import inspect

    names = inspect.signature(fn).parameters
    return {k: v for k, v in values.items() if k in names}


@app.command(epilog=INFER_EPILOG)
def infer(
    model: ModelOpt = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog name (see 'gpt4plan hardware') or path to a YAML spec.")] = "a100-40gb",
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
    chips: Annotated[int | None, typer.Option("--chips", min=1, help="Pin chips per replica (TP × PP), e.g. 8 for one 8-GPU box.")] = None,
    max_chips: Annotated[str, typer.Option("--max-chips", help="Cap on total chips, e.g. 4096 or 10k.")] = "4096",
    price_per_hour: PriceOpt = None,
    draft_model: DraftModelOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    draft_cost_fraction: DraftCostOpt = None,
    plot: PlotOpt = None,
    sweep: SweepOpt = None,
    disaggregate: DisaggregateOpt = False,
    emit: EmitEngineOpt = None,
    fmt: FormatOpt = PlanFormat.table,
):
    """Plan LLM serving: fewest chips, cheapest $/1k tokens and the cost/speed frontier under latency targets."""
    from gpt4plan.report import infer_json, print_infer, to_json
    from gpt4plan.scenario import infer_pin_problem
    from gpt4plan.serving import plan_inference
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model

    if sweep is not None:  # one sweep per run: a second --sweep would otherwise silently replace the first
        if len(sweep) > 1:
            raise BadInput(f"--sweep: give one sweep (NAME=v1,v2,...), got {len(sweep)}: {', '.join(sweep)}")
        sweep = sweep[0]
    opts = _infer_options(**_picked(_infer_options, locals()))
    m = resolve_model(model)
    _no_conflict(infer_pin_problem(m, tp, pp, ep, batch, chips, opts.max_chips))
    plot = _need_matplotlib(plot)
    if emit is not None:
        if fmt is not PlanFormat.table:
            raise BadInput("--emit prints launch arguments; it does not combine with --format")
        if sweep is not None or disaggregate:
            raise BadInput("--emit prints one server's arguments; not with --sweep or --disaggregate")
    if disaggregate:
        if sweep is not None:
            raise BadInput("--disaggregate and --sweep: give one")
        if any(v is not None for v in (tp, pp, ep, batch, chips)):
            raise BadInput("--disaggregate searches both pools' layouts; drop --tp/--pp/--ep/--batch/--chips")
        if fmt in (PlanFormat.csv, PlanFormat.markdown):
            raise BadInput("--disaggregate: use --format table or json (csv and markdown hold one kind of plan)")
    if sweep is not None:
        _infer_sweep(m, resolve_hardware(hardware), opts, sweep, fmt, plot, given=locals())
        return
    h = opts.hardware(resolve_hardware(hardware))
    wl = opts.workload(m)
    res = plan_inference(m, h, wl, opts.targets(), opts.pins(), plot_points=200 if plot else 0)
    res.band_notes = bands.attach(res.plans + res.frontier + [res.nearest], h.name, bands.INFER_FIELDS)
    shape_notes = opts.shape_notes(m)
    res.notes = shape_notes + res.notes
    if fmt in (PlanFormat.csv, PlanFormat.markdown):  # no room for notes in the rows: say it on stderr
        _PENDING_NOTES.extend(f"note: {n}" for n in shape_notes)
    dis = None
    if disaggregate:
        from gpt4plan.serving.disaggregate import plan_disaggregated

        dis = plan_disaggregated(m, h, wl, opts.targets(), res)
    if plot:
        from gpt4plan.report import frontier_series

        _write_plot([frontier_series(res, "frontier")], plot, f"{m.name} on {h.name}: cost vs speed frontier")
    if emit is not None and res.feasible:
        from gpt4plan.emit.engines import engine_args

        typer.echo(engine_args(emit.value, res.plans[1], m, wl, h))
        return
    if fmt is PlanFormat.json:
        d = infer_json(res)
        if dis is not None:
            d["disaggregated"] = dis.as_dict()
        typer.echo(to_json(d))
    elif fmt is PlanFormat.csv:
        from gpt4plan.report import infer_csv

        typer.echo(infer_csv(res), nl=False)
    elif fmt is PlanFormat.markdown:
        from gpt4plan.report import infer_markdown

        typer.echo(infer_markdown(res), nl=False)
    else:
        print_infer(res, _Console(highlight=False), opts.sources(h), pinned=opts.pinned, disaggregated=dis)
    if not res.feasible and (dis is None or not dis.feasible):
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
    from gpt4plan.specs.units import UnitError, parse_count

    try:
        x = parse_count(value)
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None
    if not (1 <= x <= 1e18):
        raise BadInput(f"{option}: must be between 1 and 1e18, got {value!r}")
    return x


TokensOpt = Annotated[str | None, typer.Option("--tokens", help="Training tokens: 13e12, 13T. Default 13T (seed S8).")]
DaysOpt = Annotated[float | None, typer.Option("--days", help="Fewest chips that finish within D days.")]
SeqLenOpt = Annotated[int | None, typer.Option("--seq-len", min=1, max=10_000_000, help="Sequence length (default: max_context capped at 8192).")]
GlobalBatchOpt = Annotated[str | None, typer.Option("--global-batch", help="Global batch in tokens: 4M, 60M. Default 4M.")]
PrecisionOpt = Annotated[TrainPrecision, typer.Option("--precision", help="Matmul precision (peak FLOP/s used).")]
CheckpointOpt = Annotated[float, typer.Option("--checkpoint-s", min=0, max=1e5, help="Stall per checkpoint save (s).")]
RestartOpt = Annotated[float, typer.Option("--restart-s", min=0, max=1e6, help="Time lost per failure to restart (s).")]
FailureRateOpt = Annotated[float | None, typer.Option("--failure-rate", help="Failures per GPU-hour (default 1.97e-5, Llama 3 paper).")]


@dataclass(frozen=True)
class TrainOptions:
    """The validated options of ``train`` (and ``compare --train``): everything but the model and the chip."""

    tokens: float
    chips: int | None
    days: float | None
    max_chips: int
    seq_len: int | None
    global_batch: float
    global_batch_text: str
    precision: str
    price_per_hour: float | None
    failure_rate: float | None
    checkpoint_s: float
    restart_s: float

    def hardware(self, h):
        return h if self.price_per_hour is None else h.with_price(self.price_per_hour)

    def precision_problem(self, h) -> str | None:
        """Why ``h`` cannot train in the asked precision (None if it can)."""
        if self.precision == "fp8" and "fp8" not in h.peak_flops:
            return (f"--precision fp8: {h.name} has no FP8 peak in its spec (it would run FP8 at its 16-bit rate); "
                    "use --precision bf16")
        return None

    def workload(self, m):
        from gpt4plan.training import TrainWorkload

        s = self.seq_len or min(m.max_context, 8192)
        if s > m.max_context:
            raise BadInput(f"--seq-len {s} exceeds {m.name}'s max_context {m.max_context}")
        if self.global_batch < s:
            raise BadInput(f"--global-batch {self.global_batch_text} is smaller than one sequence of {s} tokens")
        return TrainWorkload(tokens=self.tokens, seq_len=s, global_batch_tokens=self.global_batch,
                             precision=self.precision)

    def reliability(self):
        from gpt4plan.training import FAILURE_RATE_PER_GPU_HOUR, Reliability

        return Reliability(self.failure_rate or FAILURE_RATE_PER_GPU_HOUR, self.checkpoint_s, self.restart_s)

    def sources(self, h) -> dict[str, str]:
        return {"price": f"{h.price:.4g} USD/chip-hour " + ("(--price-per-hour)" if self.price_per_hour
                                                            else f"from the {h.name} spec ({h.price_date or 'undated'})")}


def _train_options(
    tokens: str | None = None, chips: int | None = None, days: float | None = None, max_chips: str | int = 100_000,
    seq_len: int | None = None, global_batch: str | None = None, precision: TrainPrecision = TrainPrecision.bf16,
    price_per_hour: float | None = None, failure_rate: float | None = None, checkpoint_s: float = 60.0,
    restart_s: float = 300.0,
) -> TrainOptions:
    """Check the options of ``train``/``compare --train`` (bad ones raise :class:`BadInput`)."""
    if chips is not None and days is not None:
        raise BadInput("--chips and --days ask different questions (fastest on N chips / fewest chips for D days); give one")
    if days is not None:
        _positive(days, "--days", 1e6)
    _positive(price_per_hour, "--price-per-hour", 1e4)
    if failure_rate is not None and not (0 < failure_rate < 1):
        raise BadInput(f"--failure-rate: failures per GPU-hour must be in (0, 1), got {failure_rate!r}")
    max_chips = _whole(max_chips, "--max-chips")
    tokens = tokens if tokens is not None else "13T"
    global_batch = global_batch if global_batch is not None else "4M"
    n_tokens, n_batch = _count(tokens, "--tokens"), _count(global_batch, "--global-batch")
    from gpt4plan.training import batch_budget_problem

    problem = batch_budget_problem(n_tokens, n_batch, tokens, global_batch)
    if problem:
        blamed, why = problem
        raise BadInput(f"{blamed} {tokens if blamed == '--tokens' else global_batch}: {why}")
    return TrainOptions(n_tokens, chips, days, max_chips, seq_len, n_batch,
                        global_batch, TrainPrecision(precision).value, price_per_hour, failure_rate, checkpoint_s,
                        restart_s)


@app.command(epilog=TRAIN_EPILOG)
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name or path (YAML spec or HF config.json).")] = "gpt-4",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog name or YAML path.")] = "a100-40gb",
    tokens: TokensOpt = "13T",
    chips: Annotated[int | None, typer.Option("--chips", min=1, max=10_000_000, help="Fastest plan on at most N chips.")] = None,
    days: DaysOpt = None,
    max_chips: Annotated[str, typer.Option("--max-chips", help="Cluster limit for --days and the cheapest search, e.g. 100000 or 100k.")] = "100000",
    seq_len: SeqLenOpt = None,
    global_batch: GlobalBatchOpt = "4M",
    precision: PrecisionOpt = TrainPrecision.bf16,
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
    from gpt4plan.report import megatron_args, print_train, to_json, train_json
    from gpt4plan.scenario import train_pin_problem
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model
    from gpt4plan.training import TrainPins, plan_training

    opts = _train_options(**_picked(_train_options, locals()))
    if emit is not None and fmt.value != "table":
        raise BadInput("--emit prints launch arguments; it does not combine with --format")
    m = resolve_model(model)
    max_chips = opts.max_chips
    _no_conflict(train_pin_problem(m, tp, pp, dp, ep, interleave, chips, max_chips, cp))
    h = opts.hardware(resolve_hardware(hardware))
    problem = opts.precision_problem(h)
    if problem:
        raise BadInput(problem)
    wl = opts.workload(m)
    s = wl.seq_len
    if cp is not None and cp > 1 and s % (2 * cp):
        raise BadInput(f"--cp {cp}: the sequence of {s:,} tokens must split into 2 x cp = {2 * cp} equal chunks "
                       "(load-balanced ring attention gives each rank one chunk from each end)")
    pins = TrainPins(tp, pp, dp, ep, zero, microbatch, recompute.value if recompute else None, interleave, cp)
    res = plan_training(m, h, wl, chips=chips, days=days, max_chips=max_chips, pins=pins, rel=opts.reliability())
    res.band_notes = bands.attach([res.plan] + res.alternatives, h.name, bands.TRAIN_FIELDS)
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
        print_train(res, _Console(highlight=False), opts.sources(h))
    if not res.feasible:
        if fmt is not PlanFormat.json:
            err_console.print(f"gpt4plan: no feasible plan: {res.message}", markup=False)
        raise typer.Exit(1)


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


class Objective(str, Enum):
    min_cost = "min_cost"
    min_chips = "min_chips"


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


@app.command(epilog=COMPARE_EPILOG)
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
    plot: PlotOpt = None,
    tokens: TokensOpt = None,
    days: DaysOpt = None,
    seq_len: SeqLenOpt = None,
    global_batch: GlobalBatchOpt = None,
    precision: PrecisionOpt = TrainPrecision.bf16,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format (csv, markdown: one row per chip).")] = PlanFormat.table,
):
    """Compare chips: the same model, workload and targets planned on each, cheapest first."""
    from gpt4plan.specs.catalog import resolve_hardware, resolve_model

    given = locals()
    names = _hardware_list(hardware)
    m = resolve_model(model)
    if train_mode:
        serving_only = [opt for opt, v in (("--prompt-tokens", prompt_tokens), ("--output-tokens", output_tokens),
                                           ("--ttft", ttft), ("--tpot", tpot), ("--tokens-per-s-per-user", tokens_per_s_per_user),
                                           ("--demand", demand), ("--users", users), ("--batch", batch),
                                           ("--draft-model", draft_model), ("--draft-cost-fraction", draft_cost_fraction),
                                           ("--plot", plot))
                        if v is not None]
        if weights is not Dtype.bf16 or kv_cache is not Dtype.bf16:
            serving_only.append("--weights/--kv-cache")
        if serving_only:
            raise BadInput(f"{', '.join(serving_only)}: serving options; compare --train takes --tokens, --chips, "
                           "--days, --seq-len, --global-batch, --precision")
        return _compare_train(m, names, _train_options(**_picked(_train_options, {**given, "max_chips": max_chips or 100_000})),
                              tp, pp, ep, fmt)
    training_only = [opt for opt, v in (("--tokens", tokens), ("--days", days), ("--seq-len", seq_len),
                                        ("--global-batch", global_batch)) if v is not None]
    if precision is not TrainPrecision.bf16:
        training_only.append("--precision")
    if training_only:
        raise BadInput(f"{', '.join(training_only)}: training options; add --train")
    opts = _infer_options(**_picked(_infer_options, {**given, "max_chips": max_chips or 4096}))
    from gpt4plan.scenario import infer_pin_problem

    _no_conflict(infer_pin_problem(m, tp, pp, ep, batch, chips, opts.max_chips))
    from gpt4plan.compare import InferRow, rank_infer_rows
    from gpt4plan.serving import plan_inference

    wl, tg, pins = opts.workload(m), opts.targets(), opts.pins()
    plot = _need_matplotlib(plot)
    rows = []
    for n in names:
        h = opts.hardware(resolve_hardware(n))
        res = plan_inference(m, h, wl, tg, pins, plot_points=200 if plot else 0)
        res.band_notes = bands.attach(res.plans + [res.nearest], h.name, bands.INFER_FIELDS)
        rows.append(InferRow(h.name, res, objective.value))
    rows = rank_infer_rows(rows)
    if plot:
        from gpt4plan.report import frontier_series

        _write_plot([frontier_series(r.result, r.label) for r in rows], plot,
                    f"{m.name}: cost vs speed frontier per chip")
    _print_comparison(rows, "infer", fmt, f"gpt4plan compare: {m.name}",
                      _compare_notes(rows[0].result, opts) + _price_dates_note([r.label for r in rows], opts)
                      + [f"note: {n}" for n in opts.shape_notes(m)])
    _exit_if_none_feasible(rows, fmt, "no chip has a feasible plan")


def _exit_if_none_feasible(rows, fmt: PlanFormat, what: str) -> None:
    """Exit 1 when no row has a plan, with one line on stderr (not for JSON, whose rows say why)."""
    if any(r.feasible for r in rows):
        return
    if fmt is not PlanFormat.json:
        binds = sorted({r.binding_constraint or "?" for r in rows})
        err_console.print(f"gpt4plan: {what} (binding: {', '.join(binds)})", markup=False)
    raise typer.Exit(1)


#: a sweep whose planning is estimated to take longer than this shows a progress bar on stderr
SWEEP_PROGRESS_AFTER_S = 1.0


def _infer_sweep(m, h0, opts: InferOptions, text: str, fmt: PlanFormat, plot: str | None, given: dict) -> None:
    """``infer --sweep NAME=v1,v2,...``: the plan for each value, one row each, in the order given."""
    import time
    from dataclasses import replace

    from gpt4plan.compare import SWEEPABLE, InferRow, parse_sweep
    from gpt4plan.serving import InferenceResult, Workload, plan_inference
    from gpt4plan.serving import summaries as _summaries

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
            if p + n > m.max_context:
                res = InferenceResult(**_summaries(m, h, Workload(p, n, o.weights, o.kv_cache), o.targets()),
                                      feasible=False, binding_constraint="context",
                                      message=f"context: {p:,} prompt + {n:,} output tokens exceed {m.name}'s "
                                              f"max_context {m.max_context:,}")
            else:
                res = plan_inference(m, h, o.workload(m), o.targets(), o.pins(), plot_points=200 if plot else 0)
                res.band_notes = bands.attach(res.plans + [res.nearest], h.name, bands.INFER_FIELDS)
            rows.append(InferRow(label, res))
            if progress is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    if plot:
        from gpt4plan.report import frontier_series

        _write_plot([frontier_series(r.result, f"{name} = {r.label:g}") for r in rows], plot,
                    f"{m.name} on {h0.name}: cost vs speed frontier by {name}")
    label = name.replace("-", "_")
    notes = _compare_notes(rows[0].result, base, swept=name)
    _print_comparison(rows, "infer", fmt, f"gpt4plan infer --sweep {name}: {m.name} on {h0.name}", notes, label=label,
                      sweep={"name": name, "values": [r.label for r in rows]})
    _exit_if_none_feasible(rows, fmt, f"no value of {name} has a feasible plan")


def _swept(o: InferOptions, name: str, v: float) -> InferOptions:
    from dataclasses import replace

    if name == "prompt-tokens":
        return replace(o, prompt_tokens=int(v))
    if name == "output-tokens":
        return replace(o, output_tokens=int(v))
    if name == "tokens-per-s-per-user":
        _positive(v, "--sweep tokens-per-s-per-user", 1e6)
        return replace(o, tpot_s=1.0 / v, tps_source=None)
    _positive(v, "--sweep price-per-hour", 1e4)
    return replace(o, price_per_hour=v)


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


def _compare_notes(res, opts, swept: str | None = None) -> list[str]:
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
    from gpt4plan.specs.catalog import resolve_hardware
    from gpt4plan.training import TrainPins, TrainResult, plan_training

    wl = opts.workload(m)
    pins = TrainPins(tp=tp, pp=pp, ep=ep)
    rows = []
    for n in names:
        h = opts.hardware(resolve_hardware(n))
        problem = opts.precision_problem(h)
        if problem:
            res = TrainResult(model={"name": m.name}, hardware={"name": h.name, "price_usd_per_hour": h.price},
                              workload={}, objective="-", feasible=False, binding_constraint="precision",
                              message=problem.replace("--precision fp8: ", "", 1))
        else:
            res = plan_training(m, h, wl, chips=opts.chips, days=opts.days, max_chips=opts.max_chips, pins=pins,
                                rel=opts.reliability())
            res.band_notes = bands.attach([res.plan], h.name, bands.TRAIN_FIELDS)
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
    _print_comparison(rows, "train", fmt, f"gpt4plan compare --train: {m.name}", notes)
    _exit_if_none_feasible(rows, fmt, "no chip has a feasible plan")


def _print_comparison(rows, kind: str, fmt: PlanFormat, title: str, notes: list[str], label: str = "hardware",
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
        print_comparison(rows, kind, label, _Console(highlight=False), title, notes)


VALIDATE_EPILOG = """
[bold]Examples[/bold]

  gpt4plan validate                                # the shipped development set of published measurements

  gpt4plan validate my-runs.yaml --format json

The file format is that of the shipped development set, src/gpt4plan/data/measurements/validation-dev.yaml
(one record per measured run, each with its source): copy a record to start.
"""


@app.command(epilog=VALIDATE_EPILOG)
def validate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    write_bands: Annotated[str | None, typer.Option("--write-bands", help="Write the per-chip error-band table (YAML) here.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write predicted vs measured as a PNG (needs gpt4plan\\[plot]).")] = None,
):
    """Replay published measurements through the models: predicted vs measured, with the error."""
    from gpt4plan.accuracy.replay import replay_file, summarise
    from gpt4plan.report import print_validate, to_json
    from gpt4plan.specs.catalog import catalog_dir

    if file is not None and not file.strip():  # '' would otherwise replay the shipped set
        raise BadInput("FILE: empty path; give a measurements file, or omit it for the shipped development set")
    plot = _need_matplotlib(plot)
    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    records = replay_file(path)
    summary = summarise(records)
    if write_bands:
        bands.write_bands(records, write_bands, _basename(path))
    if plot:
        from gpt4plan.report import plot_validation

        try:
            plot_validation(records, plot)
        except ImportError as exc:
            raise BadInput(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise BadInput(f"--plot: cannot write {plot}: {getattr(exc, 'strerror', None) or exc}") from None
        err_console.print(f"wrote {plot}", markup=False)
    if fmt is Format.json:
        typer.echo(to_json({"file": path, "records": [r.as_dict() for r in records], "summary": summary}))
    else:
        print_validate(records, summary, _Console(highlight=False), path)
    if all(r.skipped for r in records):
        err_console.print(f"gpt4plan: nothing replayed: all {plural(len(records), 'metric')} of {_basename(path)} were skipped "
                          "(reasons in the 'Not replayed' list)", markup=False)
        raise typer.Exit(1)


@app.command()
def calibrate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Catalog hardware name whose factors to fit (required), e.g. h100-sxm.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the calibrated spec here (default: NAME.calibrated.yaml in the current directory).")] = None,
    factors: Annotated[str, typer.Option("--factors", help="Comma-separated factors to fit.")] = "compute,memory,network",
):
    """Fit a chip's efficiency factors (compute, memory, network) to the measurements on that chip (10-60 s)
    and write its spec with the fitted values to NAME.calibrated.yaml in the current directory (or --output)."""
    from gpt4plan.specs import SpecError
    from gpt4plan.specs.catalog import catalog_dir

    if hardware is None:
        raise BadInput("--hardware: name the chip whose factors to fit, e.g. --hardware h100-sxm "
                       "(see 'gpt4plan hardware'); the spec is written to NAME.calibrated.yaml here unless --output")
    if file is not None and not file.strip():  # '' would otherwise fit the shipped set
        raise BadInput("FILE: empty path; give a measurements file, or omit it for the shipped development set")
    from gpt4plan.accuracy.replay import calibrate as fit
    from gpt4plan.accuracy.replay import write_calibrated_spec

    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    wanted = tuple(f.strip() for f in factors.split(",") if f.strip())
    unknown = [f for f in wanted if f not in ("compute", "memory", "network")]
    if unknown or not wanted:
        raise BadInput(f"--factors: choose from compute, memory, network (got {factors!r})")
    try:
        with err_console.status(f"fitting {hardware}'s {', '.join(wanted)} factors to {_basename(path)} "
                                "(a coordinate search; 10-60 s)"):
            res = fit(path, hardware, wanted)
    except SpecError:  # a bad measurements file or --hardware: already "file:line: ..." / "--hardware: ..."
        raise
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    out = write_calibrated_spec(hardware, res["fitted"], _basename(path), res["records"],
                                output or f"{hardware}.calibrated.yaml")
    b, a = res["summary_before"], res["summary_after"]
    typer.echo(f"{hardware}: fitted {res['fitted']} on {plural(res['records'], 'metric')}; mean squared log error "
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
    from gpt4plan.physics import arch
    from gpt4plan.report import print_models, to_json
    from gpt4plan.specs.catalog import model_names, resolve_model

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
    from gpt4plan.report import hardware_json, print_hardware, to_json
    from gpt4plan.specs.catalog import hardware_names, resolve_hardware

    rows = [(n, resolve_hardware(n)) for n in hardware_names()]
    if fmt is Format.json:
        typer.echo(to_json([hardware_json(h) for _, h in rows]))
    else:
        print_hardware(rows, _Console(highlight=False))


app.command("check")(check)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the Typer app and returns the exit status.

    0 a plan was found (every budget holds); 1 no feasible plan (a budget broken); 2 bad input, one line on
    stderr; 3 the result could not be written (full disk, unwritable standard output), one line on stderr.
    The status never depends on how the output is consumed: a reader that closes the pipe early
    (``| head -1``) leaves the status the result deserves (see :class:`_GuardedStdout`).
    """
    guard = _GuardedStdout(sys.stdout)
    sys.stdout = guard
    try:
        rc = _run_app(argv)
        guard.flush()
    finally:
        sys.stdout = guard._stream
    if guard.error is not None and not guard.broken_pipe and rc != 2:
        reason = guard.error.strerror or str(guard.error)
        err_console.print(f"gpt4plan: error: the result could not be written to standard output: {reason}",
                          markup=False)
        return EXIT_WRITE_FAILED
    return rc


def _run_app(argv: list[str] | None) -> int:
    """Run the Typer app: bad input becomes one line and 2; click's exits keep their codes."""
    from gpt4plan.specs import ResultNotWritten, SpecError

    _PENDING_NOTES.clear()
    try:
        rv = int(app(args=argv, standalone_mode=False) or 0)
        _print_notes()
        return rv
    except SpecError as exc:  # already "file:line: field: what is wrong"; an option's: "gpt4plan: error: --opt: ..."
        text = str(exc)
        err_console.print(f"gpt4plan: error: {text}" if text.startswith("-") else text, markup=False)
        return 2
    except BadInput as exc:
        err_console.print(f"gpt4plan: error: {exc}", markup=False)
        return 2
    except ResultNotWritten as exc:  # a result file on a full disk: not the user's input
        err_console.print(f"gpt4plan: error: {exc.strerror}", markup=False)
        return EXIT_WRITE_FAILED
    except KeyboardInterrupt:
        err_console.print("gpt4plan: interrupted")
        return 130
    except Exception as exc:
        # Typer vendors its own click: recognise its exceptions by class name, not by import.
        names = {c.__name__ for c in type(exc).__mro__}
        if "Exit" in names:
            code = int(getattr(exc, "exit_code", 0) or 0)
            if code != 2:
                _print_notes()
            return code
        if "Abort" in names:
            err_console.print("gpt4plan: aborted")
            return 130
        if "ClickException" in names:  # bad option or usage: one line
            err_console.print(f"gpt4plan: error: {exc.format_message()}", markup=False)
            return 2
        raise


def _print_notes() -> None:
    for note in _PENDING_NOTES:
        err_console.print(note, markup=False)
    _PENDING_NOTES.clear()


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
