"""Training performance model and layout search (docs/design.md).

Modules: :mod:`.workload` (what is asked: workload, pins; what is answered: plan, result), :mod:`.step`
(time and memory of one optimizer step, the formulas), :mod:`.grid` (candidate layouts), :mod:`.search`
(:func:`plan_training`), :mod:`.problems` (why a request cannot be planned), :mod:`.reliability`
(failures, checkpoints, goodput).  This package only re-exports.
"""

from __future__ import annotations

from gpt4plan.training.grid import BATCH_TOLERANCE, INTERLEAVE, MICROBATCHES, RECOMPUTE, grid
from gpt4plan.training.problems import (
    DEFAULT_GLOBAL_BATCH_TOKENS,
    MAX_CHIPS_LIMIT,
    batch_budget_problem,
    pin_problem,
    sequence_batch_problem,
)
from gpt4plan.training.reliability import FAILURE_RATE_PER_GPU_HOUR, Reliability, goodput
from gpt4plan.training.search import plan_training
from gpt4plan.training.step import (
    BYTES_PER_PARAM_STATES,
    DP_OVERLAP,
    ELEMENTWISE_TRAFFIC,
    EXPERT_GEMM_HOST_S,
    GEMM_HALF_RIDGES,
    MOE_PERMUTE_TRAFFIC,
    attention_train_flops_per_token,
    bubble_fraction,
    evaluate_training,
    model_state_bytes_per_param,
    train_flops_per_token,
)
from gpt4plan.training.workload import TrainPins, TrainPlan, TrainResult, TrainWorkload

__all__ = [
    "TrainWorkload",
    "Reliability",
    "TrainPins",
    "TrainPlan",
    "TrainResult",
    "train_flops_per_token",
    "batch_budget_problem",
    "sequence_batch_problem",
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
    "pin_problem",
    "BYTES_PER_PARAM_STATES",
    "DP_OVERLAP",
    "ELEMENTWISE_TRAFFIC",
    "EXPERT_GEMM_HOST_S",
    "GEMM_HALF_RIDGES",
    "MOE_PERMUTE_TRAFFIC",
    "evaluate_training",
]
