"""What is served and what is asked of it: the request shape and precisions (:class:`Workload`), speculative
decoding (:class:`Speculation`), latency and demand targets (:class:`Targets`) and the layout a user fixes
(:class:`Pins`) (docs/design.md).

Speculative decoding (Leviathan et al. 2023, ICML, eq. 1): a draft proposes ``g`` tokens, the target
verifies them in one pass over ``g + 1`` tokens per sequence; with acceptance probability ``a`` per token
a cycle yields ``E = (1 - a^(g+1)) / (1 - a)`` tokens (``g + 1`` when ``a = 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpt4plan.specs.vocabulary import DTYPE_BYTES

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = [
    "SEED_TOKENS_PER_S_PER_USER",
    "Speculation",
    "expected_tokens_per_cycle",
    "expected_tokens_per_chain",
    "mtp_acceptances",
    "MTP_ACCEPTANCE_FIRST",
    "MTP_ACCEPTANCE_LATER",
    "Workload",
    "Targets",
    "Pins",
    "with_price",
]

#: Seed figure S20: human reading speed ~250 words/min -> 8.33 tokens/s per user (SemiAnalysis 2023).
SEED_TOKENS_PER_S_PER_USER = 8.33


#: MTP acceptance of the first drafted token: 0.85, the low end of "between 85% and 90%" for DeepSeek-V3's
#: second-token prediction (DeepSeek-V3 technical report, arXiv 2412.19437, sec. 5.4.3).
MTP_ACCEPTANCE_FIRST = 0.85
#: MTP acceptance of each later drafted token, the one module reused autoregressively (SGLang's EAGLE-style
#: MTP, vLLM's ``deepseek_mtp``): 0.63, so that seven drafted tokens give the mean acceptance length 3.20
#: measured for DeepSeek-V3-0324's original MTP module at temperature 0 over MT-Bench, HumanEval and GSM8K
#: (nebius/MTP-DeepSeek-V3-0324 model card, 2026): ``1 + 0.85 (1 - 0.63^7) / (1 - 0.63) = 3.20``.
MTP_ACCEPTANCE_LATER = 0.63


def mtp_acceptances(depth: int, acceptance: float | None = None) -> tuple[float, ...]:
    """Acceptance per draft depth of MTP speculation ``depth`` tokens deep: ``acceptance`` at every depth
    when given, else :data:`MTP_ACCEPTANCE_FIRST` then :data:`MTP_ACCEPTANCE_LATER`."""
    if acceptance is not None:
        return (float(acceptance),) * depth
    return (MTP_ACCEPTANCE_FIRST,) + (MTP_ACCEPTANCE_LATER,) * (depth - 1)


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: ``tokens`` (g) drafted per cycle, each accepted with probability ``acceptance``
    (a); the draft is a model (``draft``), costs ``cost_fraction`` of a target decode step per token, or is
    the model's own multi-token-prediction module (``mtp``: DeepSeek-V3's MTP reused ``g`` times, one layer
    and the LM head per drafted token; :func:`gpt4plan.serving.evaluation.evaluate`).  ``acceptances``, when
    given, is the acceptance at each depth (a chain: token i is kept only if tokens 1..i-1 were) and
    ``acceptance`` is its first entry."""

    tokens: int = 4
    acceptance: float = 0.8
    draft: ModelSpec | None = None
    cost_fraction: float | None = None
    mtp: bool = False
    acceptances: tuple[float, ...] | None = None

    def __post_init__(self):
        if not 1 <= self.tokens <= 64:
            raise ValueError(f"draft tokens must be 1..64, got {self.tokens}")
        if not 0.0 <= self.acceptance <= 1.0:
            raise ValueError(f"acceptance must be in [0, 1], got {self.acceptance}")
        if (self.draft is not None) + (self.cost_fraction is not None) + self.mtp != 1:
            raise ValueError("give one draft: a draft model, a draft cost fraction or MTP")
        if self.cost_fraction is not None and not 0.0 <= self.cost_fraction <= 1.0:
            raise ValueError(f"draft cost fraction must be in [0, 1], got {self.cost_fraction}")
        if self.acceptances is not None and (len(self.acceptances) != self.tokens
                                             or not all(0.0 <= a <= 1.0 for a in self.acceptances)):
            raise ValueError(f"acceptances: {self.tokens} probabilities in [0, 1], one per draft depth")

    @property
    def expected_tokens(self) -> float:
        """Tokens per verification cycle: ``(1 - a^(g+1)) / (1 - a)`` (Leviathan et al. 2023, eq. 1), or with
        an acceptance per depth ``1 + a1 + a1 a2 + ... + a1...ag`` (:func:`expected_tokens_per_chain`)."""
        if self.acceptances is not None:
            return expected_tokens_per_chain(self.acceptances)
        return expected_tokens_per_cycle(self.acceptance, self.tokens)


def expected_tokens_per_cycle(acceptance: float, draft_tokens: int) -> float:
    """``(1 - a^(g+1)) / (1 - a)``; ``g + 1`` at ``a = 1``.  a = 0.8, g = 4: 3.3616."""
    a, g = float(acceptance), int(draft_tokens)
    if a >= 1.0:
        return g + 1.0
    return (1.0 - a ** (g + 1)) / (1.0 - a)


def expected_tokens_per_chain(acceptances) -> float:
    """Tokens per verification cycle when draft token i is accepted with probability ``a_i`` given the ones
    before it were: the verified token plus ``P(first i accepted) = a_1 ... a_i`` for each depth i (the
    expected length of the accepted prefix).  Equal to :func:`expected_tokens_per_cycle` when every ``a_i``
    is the same.  (0.85, 0.63, 0.63): 1 + 0.85 + 0.5355 + 0.337365 = 2.722865."""
    total, run = 1.0, 1.0
    for a in acceptances:
        run *= float(a)
        total += run
    return total


@dataclass(frozen=True)
class Workload:
    """One request shape, the precisions it is served in, and optional speculative decoding."""

    prompt_tokens: int = 2048
    output_tokens: int = 512
    weights: str = "bf16"
    kv_cache: str = "bf16"
    speculation: Speculation | None = None
    #: "roofline" (datasheet peaks x calibrated efficiencies) or "measured" (the chip's measured kernel
    #: tables where it has them, else the roofline); see gpt4plan.physics.kernels
    performance_model: str = "roofline"
    #: the engine whose measured kernel tables price the passes ("measured" only)
    engine: str = "trtllm"
    #: images in each request, through the model's vision encoder (0: text only; the model needs a vision block)
    images_per_request: int = 0
    #: prefix caching: the first ``prefix_tokens`` of every prompt are shared (a system prompt); a fraction
    #: ``prefix_hit_rate`` of the requests find their KV cached, skip their prefill and share one copy of it
    #: per replica (per attention group); 0 = no prefix caching
    prefix_tokens: int = 0
    prefix_hit_rate: float = 1.0
    #: chunked prefill: the engine's token budget per pass (decode + prompt tokens; vLLM's
    #: ``max_num_batched_tokens``); None = a prompt rides whole in one pass (the steady-state model's default)
    max_batched_tokens: int | None = None

    def __post_init__(self):
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise ValueError("prompt_tokens and output_tokens must be >= 1")
        if self.images_per_request < 0:
            raise ValueError(f"images_per_request must be >= 0, got {self.images_per_request}")
        if self.performance_model not in ("roofline", "measured"):
            raise ValueError(f"performance_model: 'roofline' or 'measured', got {self.performance_model!r}")
        if not 0 <= self.prefix_tokens < self.prompt_tokens:
            raise ValueError(f"prefix_tokens must be in [0, prompt_tokens), got {self.prefix_tokens}")
        if not 0.0 <= self.prefix_hit_rate <= 1.0:
            raise ValueError(f"prefix_hit_rate must be in [0, 1], got {self.prefix_hit_rate}")
        if self.max_batched_tokens is not None and self.max_batched_tokens < 1:
            raise ValueError(f"max_batched_tokens must be >= 1, got {self.max_batched_tokens}")
        for d in (self.weights, self.kv_cache):
            if d not in DTYPE_BYTES:
                raise ValueError(f"unknown precision {d!r}; choose from {', '.join(DTYPE_BYTES)}")


@dataclass(frozen=True)
class Targets:
    """Latency targets and demand.  ``None`` = no constraint.  ``ttft_percentile`` / ``tpot_percentile``
    (50..99.9): the target holds that percentile of a replay (:mod:`gpt4plan.serving.verify`); None: the
    steady-state figure (the mean) must meet it."""

    ttft_max_s: float | None = None
    tpot_max_s: float | None = None
    ttft_percentile: float | None = None
    tpot_percentile: float | None = None
    demand_tokens_per_s: float | None = None  # output tokens/s the whole fleet must sustain
    users: int | None = None  # concurrent users (sequences in flight) the fleet must hold
    max_chips: int = 4096

    @property
    def tokens_per_s_per_user_min(self) -> float | None:
        return None if not self.tpot_max_s else 1.0 / self.tpot_max_s


@dataclass(frozen=True)
class Pins:
    """Parts of the layout fixed by the user (``None`` = searched)."""

    tp: int | None = None
    pp: int | None = None
    ep: int | None = None
    batch: int | None = None  # sequences in flight per replica
    chips: int | None = None  # chips per replica (attention_dp * tp * pp)
    attention_dp: int | None = None  # attention data-parallel groups (MoE; > 1: experts over attention_dp * tp)
    redundant_experts: int | None = None  # redundant expert slots (EPLB) of the attention-DP layout
    two_batch_overlap: bool = True  # False: attention-DP passes never split into two overlapped halves


def with_price(hw: HardwareSpec, usd_per_hour: float | None) -> HardwareSpec:
    """``hw`` with its price replaced (``None`` keeps it)."""
    return hw if usd_per_hour is None else hw.with_price(usd_per_hour)

