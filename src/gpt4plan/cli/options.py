"""Option declarations shared by the commands (one ``Annotated`` definition each) and the helpers that
parse option values; a bad value raises :class:`~gpt4plan.cli.console.BadInput`.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput
from gpt4plan.specs.vocabulary import Engine, PerformanceModel, Precision
from gpt4plan.specs.vocabulary import Recompute as Recompute  # re-exported for the commands
from gpt4plan.specs.vocabulary import TrainPrecision as TrainPrecision


class Format(str, Enum):
    table = "table"
    json = "json"


class PlanFormat(str, Enum):
    """Output of infer and train: csv and markdown give one row per plan."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


#: The vocabulary is declared once in gpt4plan.specs.vocabulary; these are its CLI names.
Dtype = Precision
EngineName = Engine


class Emit(str, Enum):
    megatron = "megatron"


ModelOpt = Annotated[str, typer.Option("--model", "-m", rich_help_panel="Model and chip", help="Catalog name (see 'gpt4plan models') or path to a YAML spec or a Hugging Face config.json.")]


PromptTokensOpt = Annotated[int | None, typer.Option("--prompt-tokens", min=1, rich_help_panel="Request", help="Prompt (input) tokens per request. Default 2048 (shortened to fit the model's context).")]


ImagesOpt = Annotated[int | None, typer.Option("--images-per-request", min=0, max=10_000, rich_help_panel="Request", help="Images per request through the model's vision encoder (needs a model spec with a vision: block): the encoder's time and the image tokens' prefill in TTFT and $/1k input, their KV cache in memory. Default 0.")]


OutputTokensOpt = Annotated[int | None, typer.Option("--output-tokens", min=1, rich_help_panel="Request", help="Output tokens per request. Default 512 (at most a quarter of the model's context).")]


WeightsOpt = Annotated[Dtype, typer.Option("--weights", metavar="DTYPE", rich_help_panel="Request", help="Weight precision: fp32, bf16, fp16, fp8, int8, int4 or fp4 (int4 = weight-only, computed in fp16; fp4 = NVFP4, computed in fp4 where the chip has FP4 tensor cores).")]


PerfModelOpt = Annotated[PerformanceModel, typer.Option("--performance-model", rich_help_panel="Model and chip", help="What prices a forward pass: roofline (datasheet peaks x calibrated efficiencies; the default: its in-sample error is lower, docs/accuracy.md) or measured (kernel latencies measured on the chip, distilled from aiconfigurator-core: a100-80gb, h100-sxm, h200, b200, gb200; other chips keep the roofline). See docs/kernels.md.")]
KernelEngineOpt = Annotated[EngineName | None, typer.Option("--engine", rich_help_panel="Model and chip", help="Whose measured kernel tables price the passes; needs --performance-model measured: trtllm (default: the most complete tables), vllm or sglang.")]
KvCacheOpt = Annotated[Dtype, typer.Option("--kv-cache", metavar="DTYPE", rich_help_panel="Request", help="KV-cache precision: fp32, bf16, fp16, fp8, int8, int4 or fp4.")]


TtftOpt = Annotated[str | None, typer.Option("--ttft", rich_help_panel="Targets and demand", help="Max time to first token, e.g. '2s', '500ms' (the steady-state mean), or a percentile of a replay: 'p99:2s' (default: none).")]


TpotOpt = Annotated[str | None, typer.Option("--tpot", rich_help_panel="Targets and demand", help="Max time per output token, e.g. '50ms' (the steady-state mean), or a percentile of a replay: 'p90:50ms'. Give this or the per-user rate (the option below), not both.")]


class LengthDist(str, Enum):
    lognormal = "lognormal"
    gamma = "gamma"


PromptCvOpt = Annotated[float | None, typer.Option("--prompt-cv", rich_help_panel="Latency replay", help="Spread of prompt lengths in the latency replay: coefficient of variation (std / mean; 0 = all --prompt-tokens, the default).")]
OutputCvOpt = Annotated[float | None, typer.Option("--output-cv", rich_help_panel="Latency replay", help="Spread of output lengths in the latency replay: coefficient of variation (0 = all --output-tokens, the default).")]
LengthDistOpt = Annotated[LengthDist | None, typer.Option("--length-dist", rich_help_panel="Latency replay", help="Distribution of drawn lengths: lognormal (default) or gamma.")]
ArrivalCvOpt = Annotated[float | None, typer.Option("--arrival-cv", rich_help_panel="Latency replay", help="Burstiness of arrivals in the latency replay: coefficient of variation of the gaps (1 = Poisson, the default; > 1 bursty, gamma gaps; 0 = evenly spaced).")]
LengthsFromOpt = Annotated[str | None, typer.Option("--lengths-from", metavar="FILE", rich_help_panel="Latency replay", help="Draw (prompt, output) lengths for the latency replay from a trace file's rows (CSV or JSON Lines, as --trace); arrivals stay drawn.")]
TraceOpt = Annotated[str | None, typer.Option("--trace", metavar="FILE", rich_help_panel="Latency replay", help="Replay a request log (CSV or JSON Lines: arrival_s, prompt_tokens, output_tokens; or the Azure or BurstGPT columns): its mean lengths and rate size the plan, its replay gives the percentiles.")]
ReplayRequestsOpt = Annotated[int | None, typer.Option("--replay-requests", rich_help_panel="Latency replay", help="Requests in the latency replay of each plan (default 2,000).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", rich_help_panel="Latency replay", help="Seed of the replay's draws: lengths, arrivals, MoE jitter (default 0).")]


TpsOpt = Annotated[float | None, typer.Option("--tokens-per-s-per-user", rich_help_panel="Targets and demand", help="Min output tokens/s per user. Default 8.33 (seed S20, reading speed) unless --tpot is given.")]


DemandOpt = Annotated[str | None, typer.Option("--demand", rich_help_panel="Targets and demand", help="Output tokens/s the fleet must sustain, e.g. 50000 or 50k; sets the replica count.")]


DemandProfileOpt = Annotated[str | None, typer.Option("--demand-profile", metavar="FILE|h0,h1,...", rich_help_panel="Targets and demand", help="Demand over a day: output tokens/s per hour (h0,h1,...,h23) or a CSV file of time,demand rows. Prices a fleet sized for the peak against an autoscaled one (replicas per hour, utilisation, effective $/1k output tokens). Not with --demand or --users.")]


MinReplicasOpt = Annotated[int | None, typer.Option("--min-replicas", min=0, max=10_000_000, rich_help_panel="Targets and demand", help="With --demand-profile: replicas the autoscaled fleet keeps at any hour. Default 1 (a warm replica at quiet hours; 0 scales to zero).")]


ScaleUpLagOpt = Annotated[str | None, typer.Option("--scale-up-lag", rich_help_panel="Targets and demand", help="With --demand-profile: time from asking for a replica to its serving (weights loaded, engine warm), e.g. 10min, 90s. Default 10min (an assumption: VM, image, weights, warm-up; README).")]


IdleValueOpt = Annotated[float | None, typer.Option("--idle-value", rich_help_panel="Targets and demand", help="With --demand-profile: fraction of the released chip-hours' price recovered: 1 = not paid for (rented by the hour; the default), 0 = paid and idle, 0.3 = resold or repurposed at 30%.")]


UsersOpt = Annotated[str | None, typer.Option("--users", rich_help_panel="Targets and demand", help="Concurrent users (sequences in flight) the fleet must hold, e.g. 2000 or 2k.")]


TpOpt = Annotated[int | None, typer.Option("--tp", min=1, rich_help_panel="Layout pins", help="Pin tensor parallelism.")]


PpOpt = Annotated[int | None, typer.Option("--pp", min=1, rich_help_panel="Layout pins", help="Pin pipeline parallelism.")]


EpOpt = Annotated[int | None, typer.Option("--ep", min=1, rich_help_panel="Layout pins", help="Pin expert parallelism (MoE; divides the experts and TP, or with attention data parallelism spans DP-attn × TP chips).")]
AttentionDpOpt = Annotated[int | None, typer.Option("--attention-dp", min=1, rich_help_panel="Layout pins", help="Pin attention data-parallel groups (MoE): each holds the attention and the KV cache of its own sequences; the experts spread over all DP-attn × TP chips (1: TP × PP only).")]
NoTwoBatchOverlapOpt = Annotated[bool, typer.Option("--no-two-batch-overlap", rich_help_panel="Layout pins", help="Attention-DP layouts: keep every pass whole. By default a pass runs as two halves whose all-to-all hides under the other half's compute where that is faster (SGLang's two-batch overlap, vLLM's dual-batch overlap).")]


RedundantExpertsOpt = Annotated[int | None, typer.Option("--redundant-experts", min=0, rich_help_panel="Layout pins", help="Pin redundant expert slots rebalanced by EPLB (attention-DP layouts; e.g. 32 for 256 + 32 slots).")]


BatchOpt = Annotated[int | None, typer.Option("--batch", min=1, rich_help_panel="Layout pins", help="Pin sequences in flight per replica.")]


PriceOpt = Annotated[float | None, typer.Option("--price-per-hour", rich_help_panel="Model and chip", help="USD per chip-hour; overrides the hardware spec's price.")]


FormatOpt = Annotated[PlanFormat, typer.Option("--format", "-f", rich_help_panel="Output", help="Output format (csv, markdown: one row per plan).")]


EmitEngineOpt = Annotated[EngineName | None, typer.Option("--emit", metavar="ENGINE", rich_help_panel="Output", help="Print one server's launch arguments for the min-cost plan: vllm, sglang or trtllm (trtllm-serve).")]


PrefixTokensOpt = Annotated[int | None, typer.Option("--prefix-tokens", min=0, rich_help_panel="Request", help="Prefix caching: tokens at the start of every prompt shared by all requests (a system prompt). The requests that find them cached (--prefix-hit-rate) skip their prefill and share one copy of their KV cache per replica. Default 0 (no prefix caching).")]
PrefixHitRateOpt = Annotated[float | None, typer.Option("--prefix-hit-rate", rich_help_panel="Request", help="Prefix caching: fraction of requests that find the --prefix-tokens prefix cached (the others prefill it). Default 1.")]
MaxBatchedTokensOpt = Annotated[int | None, typer.Option("--max-batched-tokens", min=1, rich_help_panel="Request", help="Chunked prefill: the engine's token budget per forward pass, decode + prompt tokens (emitted as each engine's flag); a longer prompt is prefilled over several passes. Default: none (a prompt rides whole in one pass).")]
SaveDirOpt = Annotated[str | None, typer.Option("--save-dir", metavar="DIR", rich_help_panel="Output", help="Also write DIR/frontier.csv, DIR/frontier.json and, for the top plans (at most 5), DIR/plan-N-LAYOUT/ with vllm.sh, sglang.sh and trtllm.sh, listed with their figures in DIR/README.md. DIR must be new, empty, or a previous --save-dir folder.")]


DisaggregateOpt = Annotated[bool, typer.Option("--disaggregate", rich_help_panel="Output", help="Also plan separate prefill and decode pools (KV cache sent over the scale-out links) and compare them with the aggregated plan.")]


SweepOpt = Annotated[list[str] | None, typer.Option("--sweep", metavar="NAME=V1,V2", rich_help_panel="Output", help="Plan once per value: NAME=v1,v2,... with NAME prompt-tokens, output-tokens, tokens-per-s-per-user or price-per-hour; one row per value.")]


PlotOpt = Annotated[str | None, typer.Option("--plot", rich_help_panel="Output", help="Write the cost vs speed frontier ($/1k output tokens vs tokens/s per user) as a PNG (with --demand-profile: the demand and the two fleets' capacity over the day); needs gpt4plan\\[plot] (matplotlib).")]


DraftModelOpt = Annotated[str | None, typer.Option("--draft-model", rich_help_panel="Speculative decoding", help="Speculative decoding: draft model (catalog name or path), on the target's chips.")]


DraftTokensOpt = Annotated[int | None, typer.Option("--draft-tokens", min=1, max=64, rich_help_panel="Speculative decoding", help="Speculative decoding: tokens drafted per cycle (g). Default 4 (seed: ~4).")]


AcceptanceOpt = Annotated[float | None, typer.Option("--acceptance", rich_help_panel="Speculative decoding", help="Speculative decoding: probability a draft token is accepted (a). Default 0.8 (an assumption; it depends on the draft, target and task).")]


MtpOpt = Annotated[int | None, typer.Option("--mtp", metavar="N", rich_help_panel="Speculative decoding", help="Speculative decoding with the model's own MTP (multi-token prediction) module, as DeepSeek-V3's, N tokens drafted per cycle (1 to 16). Acceptance 0.85 for the first (DeepSeek-V3 report sec. 5.4.3), 0.63 for each later one (unless --acceptance).")]


DraftCostOpt = Annotated[float | None, typer.Option("--draft-cost-fraction", rich_help_panel="Speculative decoding", help="Speculative decoding without a draft model (n-gram, Medusa heads): cost of one draft token as a fraction of a target decode step.")]


TokensOpt = Annotated[str | None, typer.Option("--tokens", rich_help_panel="Training run", help="Training tokens: 13e12, 13T. Default 13T (seed S8).")]


UniqueTokensOpt = Annotated[str | None, typer.Option("--unique-tokens", rich_help_panel="Training run", help="Unique training tokens, seen --epochs times (tokens = T x E): 6.5T. Not with --tokens.")]


EpochsOpt = Annotated[float | None, typer.Option("--epochs", rich_help_panel="Training run", help="Epochs over --unique-tokens (default 1). Beyond ~4 a warning cites Muennighoff et al. 2023.")]


DataOpt = Annotated[str | None, typer.Option("--data", metavar="NAME=T:E,...", rich_help_panel="Training run", help="A data mix: name=unique tokens:epochs per source, e.g. text=6T:2,code=250G:4 (the seed's 13T); tokens = the sum of T x E. Not with --tokens.")]


DaysOpt = Annotated[float | None, typer.Option("--days", rich_help_panel="Training run", help="Fewest chips that finish within D days.")]


ImageFractionOpt = Annotated[float | None, typer.Option("--image-token-fraction", rich_help_panel="Training run", help="Fraction (0-1) of the training tokens that are image tokens: checks the data-loading bandwidth each step needs against the chip's host link (host_io).")]
BytesPerImageTokenOpt = Annotated[float | None, typer.Option("--image-token-bytes", rich_help_panel="Training run", help="Bytes loaded per image token (default 600, the seed's figure; text tokens 4 bytes), with an image-token fraction.")]
SeqLenOpt = Annotated[int | None, typer.Option("--seq-len", min=1, max=10_000_000, rich_help_panel="Training run", help="Sequence length (default: max_context capped at 8192).")]


GlobalBatchOpt = Annotated[str | None, typer.Option("--global-batch", rich_help_panel="Training run", help="Global batch in tokens: 4M, 60M. Default 4M.")]


PrecisionOpt = Annotated[TrainPrecision, typer.Option("--precision", rich_help_panel="Training run", help="Matmul precision (peak FLOP/s used).")]


CheckpointOpt = Annotated[float, typer.Option("--checkpoint-s", min=0, max=1e5, rich_help_panel="Training run", help="Stall per checkpoint save (s).")]


RestartOpt = Annotated[float, typer.Option("--restart-s", min=0, max=1e6, rich_help_panel="Training run", help="Time lost per failure to restart (s).")]


FailureRateOpt = Annotated[float | None, typer.Option("--failure-rate", rich_help_panel="Training run", help="Failures per GPU-hour (default 1.97e-5, Llama 3 paper).")]


def parse_seconds(value: str | None, option: str) -> float | None:
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


def parse_target(value: str | None, option: str) -> tuple[float | None, float | None]:
    """``--ttft`` / ``--tpot``: ``(seconds, percentile)``; ``p99:2s`` is the 99th percentile of a replay, a bare
    ``2s`` the steady-state mean (percentile None).  Percentiles from 50 to 99.9."""
    if value is None or ":" not in value:
        return parse_seconds(value, option), None
    head, _, rest = value.partition(":")
    head = head.strip().lower()
    try:
        p = float(head[1:]) if head.startswith("p") else math.nan
    except ValueError:
        p = math.nan
    if not 50 <= p <= 99.9:
        raise BadInput(f"{option}: {value!r}: a percentile target is pNN:TIME with NN from 50 to 99.9, e.g. 'p99:2s'")
    if not rest.strip():
        raise BadInput(f"{option}: {value!r}: give a time after the colon, e.g. 'p99:2s'")
    return parse_seconds(rest, option), p


def parse_whole(value: str | int | None, option: str, upper: int = 10_000_000) -> int | None:
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


def parse_rate(value: str | float | None, option: str) -> float | None:
    """A rate from the command line, with count suffixes (50k = 50,000 per second)."""
    if value is None or isinstance(value, float | int):
        return value
    from gpt4plan.specs.units import UnitError, parse_count

    try:
        return parse_count(value)
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None


def check_positive(value: float | None, option: str, upper: float) -> float | None:
    if value is not None and not (1e-9 <= value <= upper):
        raise BadInput(f"{option}: must be between 1e-09 and {upper:g}, got {value!r}")
    return value


def _plain(x: float) -> str:
    """1, 1e18, 2.5e16: a bound as a user would write it (no ``e+``)."""
    return f"{x:g}".replace("e+", "e")


def parse_amount(value: str | None, option: str, low: float = 1, high: float = 1e18, what: str = "") -> float | None:
    """A count with suffixes (``15T``, ``1.5M``) between ``low`` and ``high`` (``what`` names its unit in the
    error), or None; bad input raises :class:`BadInput` naming ``option``."""
    if value is None:
        return None
    from gpt4plan.specs.units import UnitError, parse_count

    try:
        x = parse_count(value)
    except UnitError as exc:
        raise BadInput(f"{option}: {exc}") from None
    if not (low <= x <= high):
        raise BadInput(f"{option}: must be between {_plain(low)} and {_plain(high)}{what}, got {value!r}")
    return x


def picked(fn, values: dict) -> dict:
    """The entries of ``values`` (a command's ``locals()``) that ``fn`` takes as parameters."""
    import inspect

    names = inspect.signature(fn).parameters
    return {k: v for k, v in values.items() if k in names}


def no_conflict(problem: str | None) -> None:
    """Pins that contradict the model or each other (:mod:`gpt4plan.scenario`) are bad input: exit 2."""
    if problem:
        raise BadInput(problem)
