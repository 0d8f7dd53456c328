"""The stage model for a :class:`~gpt4plan.serving.workload.Workload`, and what a request pays outside the
forward passes (docs/design.md).

:func:`stage_model` is :func:`gpt4plan.physics.step.stage_model` with the request shape and precisions
taken from the workload: the steady-state model (:mod:`gpt4plan.serving.evaluation`) and the pass-by-pass
replay (:mod:`gpt4plan.serving.replay`) time their passes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import step as physics_step
from gpt4plan.physics import vision
from gpt4plan.physics.kernels import KernelTables, deepep_tables, select_tables
from gpt4plan.physics.step import StageModel, compute_dtype
from gpt4plan.serving.workload import Workload
from gpt4plan.specs.vocabulary import DTYPE_BYTES

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["RUNTIME_TTFT_OVERHEAD_S", "SERVING_TTFT_OVERHEAD_S", "stage_model", "kernel_tables",
           "performance_model", "prices_by_roofline", "image_tokens_in", "EncoderPass", "encoder_pass"]

#: Time the runtime spends on a request outside the forward passes before its first token: input copy,
#: buffer setup, sampling and returning the token (seconds); fitted on the single-request TTFT runs of the
#: development set (docs/accuracy.md).
RUNTIME_TTFT_OVERHEAD_S = 0.002
#: Time a request spends in the serving stack before its first token on top of the runtime's: HTTP,
#: tokenisation, scheduling (seconds); fitted on the served runs of the development set (docs/accuracy.md).
SERVING_TTFT_OVERHEAD_S = 0.006


def stage_model(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep, attention_dp=1, redundant=0,
                two_batch_overlap: bool = True) -> StageModel:
    """The per-stage physics of layouts ``tp``, ``pp``, ``ep`` (arrays broadcastable to ``(N,)``; with
    ``attention_dp`` > 1 attention groups and ``redundant`` expert slots, the attention-DP x wide-EP layout)
    serving ``wl``: ``forward(nb, q, n_pre)`` times one pass of the largest stage over ``nb`` decoding
    sequences with ``q`` new tokens each plus ``n_pre`` prompts of ``wl.prompt_tokens`` tokens;
    ``two_batch_overlap`` False keeps the attention-DP passes whole (no two overlapped halves); with prefix caching
    a prompt's uncached part is prefilled."""
    sp = wl.speculation
    if sp is not None and sp.draft is not None and np.any(np.asarray(attention_dp) > 1):
        raise ValueError("a draft model with attention data parallelism is not modelled yet (MTP is)")
    inline, cross = image_tokens_in(model, wl)
    return physics_step.stage_model(model, hw, tp, pp, ep, prompt_tokens=wl.prompt_tokens + inline,
                                    output_tokens=wl.output_tokens, weights=wl.weights, kv_cache=wl.kv_cache,
                                    kernels=kernel_tables(hw, wl), attention_dp=attention_dp, redundant=redundant,
                                    two_batch_overlap=two_batch_overlap, a2a_tables=a2a_tables(model, hw, attention_dp),
                                    cross_image_tokens=cross, prefix_tokens=wl.prefix_tokens,
                                    prefix_hit_rate=wl.prefix_hit_rate)


def a2a_tables(model: ModelSpec, hw: HardwareSpec, attention_dp=1) -> KernelTables | None:
    """Measured DeepEP tables for the attention-DP layouts' all-to-all (any performance model: the layout is
    otherwise priced by the roofline's two-tier all-to-all), where the chip has them
    (:func:`gpt4plan.physics.kernels.deepep_tables`); None for dense models and TP x PP layouts."""
    if model.moe is None or not np.any(np.asarray(attention_dp) > 1):
        return None
    return deepep_tables(hw)


def image_tokens_in(model: ModelSpec, wl: Workload) -> tuple[int, int]:
    """(image tokens that join the prompt, image tokens each cross-attention layer holds) per request: the
    request's ``images_per_request x tokens_per_image`` go to one or the other as the model's vision block
    says (:mod:`gpt4plan.physics.vision`); (0, 0) for a text-only request."""
    n = vision.image_tokens(model, wl.images_per_request)
    if not n:
        return 0, 0
    return (0, n) if model.vision.injection == "cross_attention" else (n, 0)


@dataclass(frozen=True)
class EncoderPass:
    """The vision encoder's work for one request's images on one chip of the first stage's TP group, arrays
    ``(N,)``: ``t`` (s), ``flops``, ``nbytes`` (weights read), ``mem`` (its weights, bytes per chip)."""

    t: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray
    mem: np.ndarray


def encoder_pass(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp) -> EncoderPass:
    """The request's ``images_per_request`` images through the encoder, TP-split over the first stage's ``tp``
    chips, which also hold its weights (in the weights' precision): the roofline at the chip's peak and
    bandwidth times their efficiencies, ``roofline_s(FLOP / tp / peak, weight bytes / tp / bandwidth)`` plus
    the per-layer overhead, as a pass of the language model (:mod:`gpt4plan.physics.step`).  Left out: the
    encoder's TP all-reduces and its activations' traffic (a small encoder's weights and images are read in
    microseconds); the measured kernel tables do not price it.  Zeros without a vision block or images (the
    encoder's weights are then not loaded)."""
    tp = np.asarray(tp, dtype=float)
    v, n = model.vision, wl.images_per_request
    if v is None or not n:
        zero = np.zeros_like(tp)
        return EncoderPass(zero, zero, zero, zero)
    mem = vision.encoder_params(v) * DTYPE_BYTES[wl.weights] / tp
    flops = n * vision.encoder_flops_per_image(v) / tp
    peak = hw.peak(compute_dtype(wl.weights)) * hw.efficiency.compute
    t = physics_step.roofline_s(flops / peak, mem / (hw.memory_bandwidth * hw.efficiency.memory))
    return EncoderPass(t + v.layers * physics_step.LAYER_OVERHEAD_S, flops, mem, mem)


def kernel_tables(hw: HardwareSpec, wl: Workload) -> KernelTables | None:
    """The measured tables that price ``wl`` on ``hw`` (:func:`gpt4plan.physics.kernels.select_tables`), or
    None for the roofline."""
    return select_tables(hw, wl.performance_model, wl.engine, _gemm_precision(wl.weights))[0]


def prices_by_roofline(hw: HardwareSpec, wl: Workload) -> bool:
    """The passes of ``wl`` on ``hw`` are priced by the roofline (no measured tables hold its matmul
    precision): what the attention-DP layout needs so far."""
    kt = kernel_tables(hw, wl)
    return kt is None or not kt.has_gemm(compute_dtype(wl.weights))


def performance_model(hw: HardwareSpec, wl: Workload, model: ModelSpec | None = None) -> dict:
    """Which model prices the passes: ``{kind: "measured-kernels" | "roofline", source, engine,
    engine_version}`` (see :func:`gpt4plan.physics.kernels.select_tables`); for a MoE ``model`` on a chip with
    measured DeepEP tables also ``all_to_all``, their source (they price the attention-DP layouts)."""
    out = select_tables(hw, wl.performance_model, wl.engine, _gemm_precision(wl.weights))[1]
    kt = a2a_tables(model, hw, 2) if model is not None else None
    if kt is not None:
        out = {**out, "all_to_all": f"attention-DP layouts: two-tier model, floored by measured DeepEP unit tests "
                                    f"({kt.meta['source']}, {kt.meta['engine_versions']['deepep']})"}
    return out


def _gemm_precision(weights: str) -> str:
    """The GEMM a weight precision runs as: its own for W=A precisions; weight-only int4 (16-bit compute on
    4-bit weights) is not a table's bf16 GEMM, which reads 16-bit weights."""
    dtype = compute_dtype(weights)
    return dtype if dtype == weights else f"{weights} weight-only"
