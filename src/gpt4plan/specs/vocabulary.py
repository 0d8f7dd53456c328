"""The option vocabulary, declared once: precisions, recompute, serving engines, plan objectives.

The command line's Typer options (:mod:`gpt4plan.cli.options`), the budgets file schema
(:mod:`gpt4plan.budgets.schema`), the measurements schema (:mod:`gpt4plan.accuracy.schema`), the training
grid and the engine flags all take their values from here, so a value one of them accepts the others
accept too (``tests/test_vocabulary.py``).  Bytes per element of each precision: :data:`DTYPE_BYTES` (re-exported
by :mod:`gpt4plan.specs.fields`; here, without pydantic, for the planners: a fast start).
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

__all__ = ["DTYPE_BYTES", "DTYPES", "Precision", "TrainPrecision", "Recompute", "Engine", "PerformanceModel", "Objective",
           "literal", "values"]

#: Bytes stored per element of each precision gpt4plan knows (weights, KV cache, compute).
#:
#: * ``fp4`` is NVFP4 (NVIDIA Blackwell): 4-bit E2M1 values in blocks of 16, each block with one FP8
#:   (E4M3) scale, so ``(16 * 4 + 8) / 16 = 4.5`` bits = 0.5625 bytes per value (the per-tensor FP32
#:   scale is negligible).  Llama-3-8B's KV cache in NVFP4: ``32 * 8 * 128 * 2 * 0.5625 = 36,864`` B/token.
#: * ``int4`` is the bare 4-bit payload, 0.5 bytes: group-wise weight quantisation (GPTQ/AWQ) adds its
#:   scales and zero points on top (one FP16 scale per group of 128 is +0.0156 B/value, about 3%),
#:   but the group size (32 to 128) and the scale format vary by recipe, so they are not counted.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": (16 * 4 + 8) / 16 / 8,  # NVFP4: 16 E2M1 values share one FP8 scale -> 0.5625 B
    "int4": 0.5,
}
DTYPES = tuple(DTYPE_BYTES)


class Precision(str, Enum):
    """Weights and KV cache in serving (int4: weight-only; fp4: NVFP4, one FP8 scale per 16 values)."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"
    int8 = "int8"
    int4 = "int4"
    fp4 = "fp4"


class TrainPrecision(str, Enum):
    """Training compute precision (mixed precision with fp32 master weights)."""

    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"


class Recompute(str, Enum):
    """Activation recomputation: none, selective (attention only: Korthikanti et al. 2022), full."""

    none = "none"
    selective = "selective"
    full = "full"


class Engine(str, Enum):
    """Serving engines whose launch arguments ``--emit`` writes."""

    vllm = "vllm"
    sglang = "sglang"
    trtllm = "trtllm"


class PerformanceModel(str, Enum):
    """What prices a forward pass: the roofline (datasheet peaks x calibrated efficiencies) or the chip's
    measured kernel tables (docs/kernels.md; chips without tables fall back to the roofline)."""

    roofline = "roofline"
    measured = "measured"


class Objective(str, Enum):
    """Which plan a comparison row or a budget checks: the cheapest, or the one on fewest chips."""

    min_cost = "min_cost"
    min_chips = "min_chips"


def values(enum: type[Enum]) -> tuple[str, ...]:
    """The values of a vocabulary, in declaration order: ``values(Recompute) -> ('none', 'selective', 'full')``."""
    return tuple(m.value for m in enum)


def literal(enum: type[Enum]):
    """``typing.Literal`` of a vocabulary's values, for pydantic schemas."""
    return Literal[values(enum)]  # type: ignore[valid-type]
