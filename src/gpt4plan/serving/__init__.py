"""Serving: the inference performance model and the layout/batch search (docs/design.md).

Modules, each one role:

* :mod:`.workload` -- what is served and asked: :class:`Workload`, :class:`Speculation`, :class:`Targets`,
  :class:`Pins`.
* :mod:`.step` -- the stage model for a workload (:func:`gpt4plan.physics.step.stage_model`: one forward
  pass of one pipeline stage) and the overheads a request pays outside the passes.
* :mod:`.evaluate` -- aggregated serving (mixed continuous batching, speculative decoding) at candidate
  layouts: :func:`evaluate` returns an :class:`Evaluation`.
* :mod:`.costs` -- the named cost formulas ($/1k input, output decode share, all-in, blended, utilisation).
* :mod:`.search` -- the candidate grid and :func:`plan_inference`.
* :mod:`.plan` -- :class:`Plan` and :class:`InferenceResult`.
* :mod:`.disaggregate` -- separate prefill and decode pools; :mod:`.replay` -- a benchmark replayed pass
  by pass.

This ``__init__`` only re-exports.
"""

from gpt4plan.physics.step import (
    ACT_BYTES,
    ELEMENTWISE_TRAFFIC_FORWARD,
    LAYER_OVERHEAD_S,
    ROOFLINE_OVERLAP,
    StageModel,
    compute_dtype,
    roofline_s,
)
from gpt4plan.serving.evaluate import BOUNDS, Evaluation, evaluate
from gpt4plan.serving.plan import InferenceResult, Plan, summaries
from gpt4plan.serving.search import BATCH_GRID, candidate_grid, plan_inference
from gpt4plan.serving.step import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, stage_model
from gpt4plan.serving.workload import (
    SEED_TOKENS_PER_S_PER_USER,
    Pins,
    Speculation,
    Targets,
    Workload,
    expected_tokens_per_cycle,
    with_price,
)

__all__ = [
    "Speculation",
    "Workload",
    "Targets",
    "Pins",
    "Plan",
    "InferenceResult",
    "Evaluation",
    "evaluate",
    "plan_inference",
    "candidate_grid",
    "summaries",
    "compute_dtype",
    "expected_tokens_per_cycle",
    "with_price",
    "stage_model",
    "StageModel",
    "roofline_s",
    "BOUNDS",
    "BATCH_GRID",
    "SEED_TOKENS_PER_S_PER_USER",
    "ACT_BYTES",
    "ROOFLINE_OVERLAP",
    "LAYER_OVERHEAD_S",
    "ELEMENTWISE_TRAFFIC_FORWARD",
    "RUNTIME_TTFT_OVERHEAD_S",
    "SERVING_TTFT_OVERHEAD_S",
]
