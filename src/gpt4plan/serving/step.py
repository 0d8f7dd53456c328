"""The stage model for a :class:`~gpt4plan.serving.workload.Workload`, and what a request pays outside the
forward passes (docs/design.md).

:func:`stage_model` is :func:`gpt4plan.physics.step.stage_model` with the request shape and precisions
taken from the workload: the steady-state model (:mod:`gpt4plan.serving.evaluation`) and the pass-by-pass
replay (:mod:`gpt4plan.serving.replay`) time their passes with it.
"""

from __future__ import annotations

from gpt4plan.physics import step as physics_step
from gpt4plan.physics.kernels import KernelTables, tables_for
from gpt4plan.physics.step import StageModel, compute_dtype
from gpt4plan.serving.workload import Workload
from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["RUNTIME_TTFT_OVERHEAD_S", "SERVING_TTFT_OVERHEAD_S", "stage_model", "kernel_tables",
           "performance_model"]

#: Time the runtime spends on a request outside the forward passes before its first token: input copy,
#: buffer setup, sampling and returning the token (seconds); fitted on the single-request TTFT runs of the
#: development set (docs/accuracy.md).
RUNTIME_TTFT_OVERHEAD_S = 0.002
#: Time a request spends in the serving stack before its first token on top of the runtime's: HTTP,
#: tokenisation, scheduling (seconds); fitted on the served runs of the development set (docs/accuracy.md).
SERVING_TTFT_OVERHEAD_S = 0.006


def stage_model(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep) -> StageModel:
    """The per-stage physics of layouts ``tp``, ``pp``, ``ep`` (arrays broadcastable to ``(N,)``) serving
    ``wl``: ``forward(nb, q, n_pre)`` times one pass of the largest stage over ``nb`` decoding sequences
    with ``q`` new tokens each plus ``n_pre`` prompts of ``wl.prompt_tokens`` tokens."""
    return physics_step.stage_model(model, hw, tp, pp, ep, prompt_tokens=wl.prompt_tokens,
                                    output_tokens=wl.output_tokens, weights=wl.weights, kv_cache=wl.kv_cache,
                                    kernels=kernel_tables(hw, wl))


def kernel_tables(hw: HardwareSpec, wl: Workload) -> KernelTables | None:
    """The measured tables that price ``wl`` on ``hw``: with ``performance_model="measured"``, the engine's
    tables of a catalog chip that has them, holding the workload's matmul precision; else None (roofline)."""
    if wl.performance_model != "measured":
        return None
    kt = tables_for(hw.name, wl.engine)
    return kt if kt is not None and kt.has_gemm(compute_dtype(wl.weights)) else None


def performance_model(hw: HardwareSpec, wl: Workload) -> dict:
    """Which model prices the passes: ``{kind: "measured-kernels" | "roofline", source, engine,
    engine_version}`` (the last three None for the roofline, with ``reason`` when measured was asked for)."""
    kt = kernel_tables(hw, wl)
    if kt is not None:
        return {"kind": "measured-kernels", "source": kt.meta["source"], "engine": kt.meta["engine"],
                "engine_version": kt.meta["engine_versions"].get("gemm"), "device": kt.meta["device"]}
    out = {"kind": "roofline", "source": f"{hw.name} spec: datasheet peaks x calibrated efficiency "
           f"(compute {hw.efficiency.compute:g}, memory {hw.efficiency.memory:g})", "engine": None,
           "engine_version": None}
    if wl.performance_model == "measured":
        have = tables_for(hw.name, wl.engine)
        out["reason"] = (f"no measured {wl.engine} tables for {hw.name}" if have is None else
                         f"the {wl.engine} tables of {hw.name} hold no {compute_dtype(wl.weights)} GEMMs")
    return out
