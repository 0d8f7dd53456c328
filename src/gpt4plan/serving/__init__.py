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
* :mod:`.reasons` -- why there is no plan, and a disaggregation verdict's why, as reason codes
  (:class:`ServeIssue`); :func:`word_serve_issue` words them for a caller that names the settings its own way.
* :mod:`.disaggregate` -- separate prefill and decode pools; :mod:`.replay` -- a benchmark replayed pass
  by pass.

This ``__init__`` only re-exports.
"""

from gpt4plan.lazy import lazy_exports
from gpt4plan.physics.step import (
    ACT_BYTES,
    ELEMENTWISE_TRAFFIC_FORWARD,
    LAYER_OVERHEAD_S,
    ROOFLINE_OVERLAP,
    StageModel,
    compute_dtype,
    roofline_s,
)

__all__ = [
    "Speculation",
    "Workload",
    "Targets",
    "Pins",
    "Plan",
    "InferenceResult",
    "ServeIssue",
    "word_serve_issue",
    "Evaluation",
    "evaluate",
    "plan_inference",
    "candidate_grid",
    "wide_ep_grid",
    "layout_words",
    "summaries",
    "compute_dtype",
    "expected_tokens_per_cycle",
    "expected_tokens_per_chain",
    "mtp_acceptances",
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

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'BATCH_GRID': ('search', 'BATCH_GRID'),
    'BOUNDS': ('evaluation', 'BOUNDS'),
    'Evaluation': ('evaluation', 'Evaluation'),
    'InferenceResult': ('plan', 'InferenceResult'),
    'Pins': ('workload', 'Pins'),
    'Plan': ('plan', 'Plan'),
    'RUNTIME_TTFT_OVERHEAD_S': ('step', 'RUNTIME_TTFT_OVERHEAD_S'),
    'SEED_TOKENS_PER_S_PER_USER': ('workload', 'SEED_TOKENS_PER_S_PER_USER'),
    'SERVING_TTFT_OVERHEAD_S': ('step', 'SERVING_TTFT_OVERHEAD_S'),
    'ServeIssue': ('reasons', 'ServeIssue'),
    'Speculation': ('workload', 'Speculation'),
    'Targets': ('workload', 'Targets'),
    'Workload': ('workload', 'Workload'),
    'candidate_grid': ('search', 'candidate_grid'),
    'wide_ep_grid': ('search', 'wide_ep_grid'),
    'layout_words': ('plan', 'layout_words'),
    'evaluate': ('evaluation', 'evaluate'),
    'expected_tokens_per_cycle': ('workload', 'expected_tokens_per_cycle'),
    'expected_tokens_per_chain': ('workload', 'expected_tokens_per_chain'),
    'mtp_acceptances': ('workload', 'mtp_acceptances'),
    'plan_inference': ('search', 'plan_inference'),
    'stage_model': ('step', 'stage_model'),
    'summaries': ('plan', 'summaries'),
    'with_price': ('workload', 'with_price'),
    'word_serve_issue': ('reasons', 'word_serve_issue'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

