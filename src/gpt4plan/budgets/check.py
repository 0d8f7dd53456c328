"""Checking budgets: plan every scenario and check its limits against the chosen plan (docs/design.md).

Every limit is checked against one plan: for ``infer`` the ``min_cost`` plan (or ``min_chips`` with
``objective: min_chips``), for ``train`` the plan the search chose (fastest on ``targets.chips``,
fewest chips within ``targets.days``, else cheapest).  Headroom is ``(limit - value) / limit`` for a
``max`` limit and ``(value - limit) / limit`` for a ``min`` limit; negative headroom fails.  A scenario
with no feasible plan fails, naming the binding constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from gpt4plan.budgets.load import Scenario, load_budgets, setting_name

__all__ = ["LimitCheck", "ScenarioResult", "CheckReport", "evaluate_scenario", "check_budgets"]


@dataclass
class LimitCheck:
    """One limit of one scenario, checked.  ``headroom`` and ``change`` are fractions (0.12 = 12%)."""

    name: str
    bound: str
    limit: float
    value: float | None
    headroom: float | None
    passed: bool
    baseline: float | None = None
    change: float | None = None
    regressed: bool = False
    line: int | None = None  # line of the limit in the budgets file

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "bound", "limit", "value", "headroom", "passed",
                                               "baseline", "change", "regressed")}


@dataclass
class ScenarioResult:
    name: str
    kind: str
    model: str
    hardware: str
    objective: str
    feasible: bool
    binding_constraint: str | None
    message: str | None
    limits: list[LimitCheck]
    values: dict[str, float]
    plan: dict | None
    inputs: dict = field(default_factory=dict)
    line: int | None = None

    @property
    def passed(self) -> bool:
        return self.feasible and all(c.passed and not c.regressed for c in self.limits)


@dataclass
class CheckReport:
    file: str
    scenarios: list[ScenarioResult]
    baseline_file: str | None = None
    max_regression: float | None = None

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scenarios)

    @property
    def failed(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if not s.passed]


def _headroom(bound: str, limit: float, value: float) -> float:
    return (limit - value) / limit if bound == "max" else (value - limit) / limit


INFER_VALUES = ("usd_per_1k_output_tokens", "usd_per_1k_input_tokens", "usd_per_1k_tokens_blended", "usd_per_hour",
                "chips", "tpot_s", "ttft_s", "tokens_per_s_per_user", "throughput_tokens_per_s",
                "memory_per_chip_bytes", "mfu", "mbu")
TRAIN_VALUES = ("usd", "days", "gpu_hours", "chips", "memory_per_chip_bytes", "mfu", "hfu", "step_time_s")


def evaluate_scenario(sc: Scenario) -> ScenarioResult:
    """Plan one scenario and check its limits against the chosen plan."""
    inp = sc.inputs
    if sc.kind == "infer":
        from gpt4plan.scenario import cli_flag
        from gpt4plan.serving import Pins, Targets, Workload, plan_inference, word_serve_issue

        lay = inp["layout"]
        res = plan_inference(sc.model, sc.hardware, Workload(**inp["workload"]), Targets(**inp["targets"]),
                             Pins(**{k: lay[k] for k in ("tp", "pp", "ep", "batch", "chips")}))
        plan = None
        if res.feasible:
            plan = next(p for p in res.plans if p.objective == sc.objective)
        keys = INFER_VALUES
        objective = sc.objective or "min_cost"
        # today's wording: a serving reason names its settings as the command line does (--max-chips)
        why = word_serve_issue(res.reason, cli_flag) if res.reason is not None else None
    else:
        from gpt4plan.training import TrainPins, TrainWorkload, plan_training, word_train_issue

        lay, tg = inp["layout"], inp["targets"]
        res = plan_training(sc.model, sc.hardware, TrainWorkload(**inp["workload"]), chips=tg["chips"],
                            days=tg["days"], max_chips=tg["max_chips"], pins=TrainPins(**lay))
        plan = res.plan if res.feasible else None
        keys = TRAIN_VALUES
        objective = res.objective
        why = word_train_issue(res.reason, setting_name) if res.reason is not None else None  # budgets' names
    message = None
    values: dict[str, float] = {}
    if plan is None:
        binding = res.binding_constraint or "unknown"
        text = why or ""
        message = "no feasible plan: " + (text if text.startswith(f"{binding}:") else f"{binding}: {text}")
    else:
        d = plan.as_dict()
        values = {k: float(d[k]) for k in keys if d.get(k) is not None}
    checks = []
    for lim in sc.limits:
        v = values.get(lim.name)
        if v is None or not math.isfinite(v):
            checks.append(LimitCheck(lim.name, lim.bound, lim.limit, None, None, False, line=lim.line))
            continue
        h = _headroom(lim.bound, lim.limit, v)
        checks.append(LimitCheck(lim.name, lim.bound, lim.limit, v, h, h >= -1e-9, line=lim.line))  # float noise
    return ScenarioResult(
        name=sc.name, kind=sc.kind, model=sc.model.name, hardware=sc.hardware.name, objective=objective,
        feasible=plan is not None, binding_constraint=None if plan is not None else res.binding_constraint,
        message=message, limits=checks, values=values, plan=plan.as_dict() if plan is not None else None,
        inputs={**inp, "price_source": sc.price_source}, line=sc.line,
    )  # fmt: skip


def check_budgets(path: str | Path) -> CheckReport:
    """Load a budgets file and evaluate every scenario (bad input raises :class:`SpecError`)."""
    scenarios = load_budgets(path)
    return CheckReport(file=str(path), scenarios=[evaluate_scenario(s) for s in scenarios])
