"""What a training plan is asked for and what it answers: workload, pins, plan and result (docs/design.md).

Layout: ``chips = tp * pp * dp * cp``; a pipeline stage holds ``ceil(layers/pp)`` layers (uneven splits:
the largest stage binds); MoE experts are split ``ep`` ways across data-parallel ranks (``ep``
divides ``dp``, Megatron-core convention) and ``tp`` ways inside a rank (expert-TP = TP).
The global batch of ``B`` sequences is ``m`` microbatches of ``mb`` sequences per DP rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gpt4plan.specs.banded import Banded
from gpt4plan.training.reasons import TrainIssue

if TYPE_CHECKING:
    from gpt4plan.training.data import DataMix

__all__ = ["TrainWorkload", "TrainPins", "TrainPlan", "TrainResult"]


@dataclass(frozen=True)
class TrainWorkload:
    tokens: float
    seq_len: int = 8192
    global_batch_tokens: float = 4e6
    precision: str = "bf16"
    #: "roofline" or "measured" (the chip's measured GEMM and attention tables where it has them)
    performance_model: str = "roofline"
    #: the unique tokens and epochs ``tokens`` came from (``--unique-tokens``/``--epochs``, ``--data``), None
    #: when the total was given (``--tokens``); its ``tokens`` equals ``tokens``
    data: DataMix | None = None
    #: fraction of the tokens that are image tokens (``--image-token-fraction``; None: no data-loading check)
    #: and the bytes loaded per image and per text token (the seed's 600 and 4: gpt4plan.training.loading)
    image_token_fraction: float | None = None
    bytes_per_image_token: float = 600.0
    bytes_per_text_token: float = 4.0


@dataclass(frozen=True)
class TrainPins:
    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    ep: int | None = None
    zero: int | None = None
    microbatch: int | None = None
    recompute: str | None = None
    interleave: int | None = None
    cp: int | None = None  # context parallel (ring attention); only when pinned


@dataclass
class TrainPlan(Banded):
    objective: str
    chips: int
    tp: int
    pp: int
    dp: int
    ep: int
    zero_stage: int
    microbatch: int
    microbatches_per_step: int
    interleave: int
    recompute: str
    sequence_parallel: bool
    global_batch_tokens: float
    step_time_s: float
    steps: float
    mfu: float
    hfu: float
    total_flops: float
    days: float
    gpu_hours: float
    usd: float
    memory_per_chip_bytes: float
    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    goodput: float
    checkpoint_interval_s: float
    mtbf_s: float
    compute_s: float
    bubble_s: float
    tp_comm_s: float
    ep_comm_s: float
    dp_comm_s: float
    pp_comm_s: float
    optimizer_s: float
    cp: int = 1  # context-parallel ranks per sequence
    cp_comm_s: float = 0.0  # ring-attention K/V exchange not hidden under attention, per step


@dataclass
class TrainResult:
    """What a training search found.  ``reason`` (None when feasible) says why there is no plan and
    ``warnings`` what to look at in the chosen one, as reason codes
    (:class:`~gpt4plan.training.reasons.TrainIssue`) for the caller to word."""

    model: dict
    hardware: dict
    workload: dict
    objective: str
    feasible: bool
    reason: TrainIssue | None = None
    plan: TrainPlan | None = None
    alternatives: list[TrainPlan] = field(default_factory=list)
    candidates_evaluated: int = 0
    band_notes: list[str] = field(default_factory=list)
    warnings: list[TrainIssue] = field(default_factory=list)
    #: which model priced the microbatch (see gpt4plan.training.step.performance_model)
    performance_model: dict | None = None
    #: the data mix the tokens came from (:meth:`gpt4plan.training.data.DataMix.as_dict`), None for --tokens
    data: dict | None = None
    #: the plan's data-loading rate against the host link (:func:`gpt4plan.training.loading.data_loading`),
    #: None without an image-token fraction or a plan
    data_loading: dict | None = None

    @property
    def binding_constraint(self) -> str | None:
        """``layout``, ``memory``, ``days`` or ``precision`` (the code of :attr:`reason`), None when feasible."""
        return self.reason.code if self.reason is not None else None
