"""What one model costs to train and to serve, priced by the planners (docs/design.md).

A model shape is priced once by each planner and the price is reused for any number of training tokens:

* **Training** (:func:`gpt4plan.training.plan_training`): the fastest layout on at most ``chips`` chips for
  :data:`REFERENCE_TOKENS` tokens.  At a fixed layout the step time, the goodput (which depends on the chips
  and the failure rate, not on the run's length) and the chips do not change with the tokens, so days and
  dollars are linear in them: ``days(D) = days_ref * D / D_ref``, the same for dollars (the whole number of
  steps, ``ceil(D / global batch)``, is ignored: under 1e-6 of a 1e12-token run).  The search's choice
  among layouts does not depend on ``D`` either (every candidate scales by the same factor).
* **Serving** (:func:`gpt4plan.serving.plan_inference`): the min-cost fleet for an average demand of
  ``tokens_per_day / 86,400`` output tokens/s (as ``gpt4plan infer --demand``: replicas to sustain it, the
  request shape and latency targets of ``infer``).  The fleet is paid for every hour of the service,
  idle capacity included: ``serve_usd = fleet chips x $/chip-hour x 24 x days``.  With no demand there is no
  fleet: no chips, no dollars (the plan of one replica is still searched, for its $/1k tokens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gpt4plan.physics import arch

if TYPE_CHECKING:
    from gpt4plan.serving import Plan, Targets, Workload
    from gpt4plan.specs import HardwareSpec, ModelSpec
    from gpt4plan.training import Reliability, TrainPlan

__all__ = ["REFERENCE_TOKENS", "TrainSetup", "ServeSetup", "ShapePrice", "price_shape"]

#: training tokens of the one training search per shape (its days and dollars scale linearly to any D)
REFERENCE_TOKENS = 1e12


@dataclass(frozen=True)
class TrainSetup:
    """How every shape is trained: on ``hw``, the fastest plan on at most ``chips`` chips, sequences of
    ``seq_len`` tokens (None: the shape's context, at most 8,192, as ``gpt4plan train``), a global batch of
    ``global_batch_tokens``, in ``precision``."""

    hw: HardwareSpec
    chips: int
    seq_len: int | None = None
    global_batch_tokens: float = 4e6
    precision: str = "bf16"
    rel: Reliability | None = None
    performance_model: str = "roofline"


@dataclass(frozen=True)
class ServeSetup:
    """How every shape is served: on ``hw``, requests of ``workload``, under ``targets`` (their demand is
    replaced by ``tokens_per_day``), for ``days`` days."""

    hw: HardwareSpec
    workload: Workload
    targets: Targets
    tokens_per_day: float
    days: float

    @property
    def demand_tokens_per_s(self) -> float:
        """The average demand: output tokens per day over 86,400 s."""
        return self.tokens_per_day / 86_400.0

    @property
    def lifetime_tokens(self) -> float:
        return self.tokens_per_day * self.days


@dataclass
class ShapePrice:
    """One model priced by both planners.  ``params``: total parameters; ``train_usd_per_token`` and
    ``train_days_per_token`` (inf when it cannot be trained: ``train_issue`` says why); ``serve_usd_per_day``
    and ``serve_chips`` of the fleet (inf / 0 when it cannot be served: ``serve_issue``)."""

    model: ModelSpec
    params: float
    train_usd_per_token: float
    train_days_per_token: float
    serve_usd_per_day: float
    serve_chips: int
    train_plan: TrainPlan | None = None
    serve_plan: Plan | None = None
    train_issue: object | None = None
    serve_issue: object | None = None

    @property
    def feasible(self) -> bool:
        return math.isfinite(self.train_usd_per_token) and math.isfinite(self.serve_usd_per_day)


def price_shape(model: ModelSpec, train: TrainSetup, serve: ServeSetup) -> ShapePrice:
    """Price ``model``: one training search and one serving search (module docstring)."""
    from gpt4plan.serving import plan_inference
    from gpt4plan.training import TrainWorkload, plan_training

    seq_len = train.seq_len or min(model.max_context, 8192)
    wl = TrainWorkload(tokens=REFERENCE_TOKENS, seq_len=seq_len, global_batch_tokens=train.global_batch_tokens,
                       precision=train.precision, performance_model=train.performance_model)
    tr = plan_training(model, train.hw, wl, chips=train.chips, max_chips=train.chips, rel=train.rel,
                       n_alternatives=0)
    usd_tok = days_tok = math.inf
    if tr.feasible:
        usd_tok, days_tok = tr.plan.usd / REFERENCE_TOKENS, tr.plan.days / REFERENCE_TOKENS
    demand = serve.demand_tokens_per_s
    targets = replace(serve.targets, demand_tokens_per_s=demand if demand > 0 else None)
    sr = plan_inference(model, serve.hw, serve.workload, targets, frontier_points=0)
    plan = sr.plans[1] if sr.feasible else None
    if plan is None:
        usd_day, chips = math.inf, 0
    elif demand > 0:
        usd_day, chips = plan.usd_per_hour * 24.0, plan.chips
    else:
        usd_day, chips = 0.0, 0
    return ShapePrice(model, float(arch.params(model).total), usd_tok, days_tok, usd_day, chips,
                      tr.plan if tr.feasible else None, plan, tr.reason, sr.reason)
