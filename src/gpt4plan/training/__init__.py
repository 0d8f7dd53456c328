"""Training performance model and layout search (docs/design.md).

Modules: :mod:`.workload` (what is asked: workload, pins; what is answered: plan, result), :mod:`.step`
(time and memory of one optimizer step, the formulas), :mod:`.grid` (candidate layouts), :mod:`.search`
(:func:`plan_training`), :mod:`.problems` (why a request cannot be planned), :mod:`.reasons` (the reason
codes and their wording), :mod:`.reliability` (failures, checkpoints, goodput), :mod:`.data`
(unique tokens and epochs: the token total and what repeated data is worth), :mod:`.loading` (data
loading against the host link).  This package only re-exports.
"""

from __future__ import annotations

from gpt4plan.lazy import lazy_exports

__all__ = [
    "TrainWorkload",
    "DataMix",
    "DataSource",
    "repeat_issue",
    "data_loading",
    "loading_issue",
    "SEED_BYTES_PER_IMAGE_TOKEN",
    "SEED_BYTES_PER_TEXT_TOKEN",
    "HOST_IO_WARN_FRACTION",
    "Reliability",
    "TrainPins",
    "TrainPlan",
    "TrainResult",
    "train_flops_per_token",
    "batch_budget_issue",
    "sequence_batch_issue",
    "precision_issue",
    "TrainIssue",
    "word_train_issue",
    "attention_train_flops_per_token",
    "model_state_bytes_per_param",
    "bubble_fraction",
    "goodput",
    "plan_training",
    "RECOMPUTE",
    "FAILURE_RATE_PER_GPU_HOUR",
    "BATCH_TOLERANCE",
    "INTERLEAVE",
    "MICROBATCHES",
    "grid",
    "DEFAULT_GLOBAL_BATCH_TOKENS",
    "MAX_CHIPS_LIMIT",
    "pin_issues",
    "BYTES_PER_PARAM_STATES",
    "DP_OVERLAP",
    "ELEMENTWISE_TRAFFIC",
    "EXPERT_GEMM_HOST_S",
    "GEMM_HALF_RIDGES",
    "MOE_PERMUTE_TRAFFIC",
    "evaluate_training",
]

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'BATCH_TOLERANCE': ('layouts', 'BATCH_TOLERANCE'),
    'BYTES_PER_PARAM_STATES': ('step', 'BYTES_PER_PARAM_STATES'),
    'DEFAULT_GLOBAL_BATCH_TOKENS': ('problems', 'DEFAULT_GLOBAL_BATCH_TOKENS'),
    'DP_OVERLAP': ('step', 'DP_OVERLAP'),
    'ELEMENTWISE_TRAFFIC': ('step', 'ELEMENTWISE_TRAFFIC'),
    'EXPERT_GEMM_HOST_S': ('step', 'EXPERT_GEMM_HOST_S'),
    'FAILURE_RATE_PER_GPU_HOUR': ('reliability', 'FAILURE_RATE_PER_GPU_HOUR'),
    'GEMM_HALF_RIDGES': ('step', 'GEMM_HALF_RIDGES'),
    'INTERLEAVE': ('layouts', 'INTERLEAVE'),
    'MAX_CHIPS_LIMIT': ('problems', 'MAX_CHIPS_LIMIT'),
    'MICROBATCHES': ('layouts', 'MICROBATCHES'),
    'MOE_PERMUTE_TRAFFIC': ('step', 'MOE_PERMUTE_TRAFFIC'),
    'RECOMPUTE': ('layouts', 'RECOMPUTE'),
    'DataMix': ('data', 'DataMix'),
    'DataSource': ('data', 'DataSource'),
    'Reliability': ('reliability', 'Reliability'),
    'repeat_issue': ('data', 'repeat_issue'),
    'data_loading': ('loading', 'data_loading'),
    'loading_issue': ('loading', 'loading_issue'),
    'SEED_BYTES_PER_IMAGE_TOKEN': ('loading', 'SEED_BYTES_PER_IMAGE_TOKEN'),
    'SEED_BYTES_PER_TEXT_TOKEN': ('loading', 'SEED_BYTES_PER_TEXT_TOKEN'),
    'HOST_IO_WARN_FRACTION': ('loading', 'HOST_IO_WARN_FRACTION'),
    'TrainPins': ('workload', 'TrainPins'),
    'TrainPlan': ('workload', 'TrainPlan'),
    'TrainResult': ('workload', 'TrainResult'),
    'TrainWorkload': ('workload', 'TrainWorkload'),
    'attention_train_flops_per_token': ('step', 'attention_train_flops_per_token'),
    'TrainIssue': ('reasons', 'TrainIssue'),
    'batch_budget_issue': ('problems', 'batch_budget_issue'),
    'bubble_fraction': ('step', 'bubble_fraction'),
    'evaluate_training': ('step', 'evaluate_training'),
    'goodput': ('reliability', 'goodput'),
    'grid': ('layouts', 'grid'),
    'model_state_bytes_per_param': ('step', 'model_state_bytes_per_param'),
    'pin_issues': ('problems', 'pin_issues'),
    'plan_training': ('search', 'plan_training'),
    'precision_issue': ('problems', 'precision_issue'),
    'sequence_batch_issue': ('problems', 'sequence_batch_issue'),
    'train_flops_per_token': ('step', 'train_flops_per_token'),
    'word_train_issue': ('reasons', 'word_train_issue'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

