"""Cost budgets for CI (``gpt4plan check``): load a budgets file, plan every scenario, check its limits.

Modules: :mod:`.schema` (the file's sections, the limits and their units), :mod:`.load` (reading and
validating a file into scenarios), :mod:`.check` (planning each scenario, checking its limits),
:mod:`.baseline` (changes since a previous run).  This package only re-exports (docs/design.md).

No Rich, no Typer: results are dataclasses that :mod:`gpt4plan.report` renders.
"""

from __future__ import annotations

from gpt4plan.budgets.baseline import apply_baseline, load_baseline, parse_regression
from gpt4plan.budgets.check import (
    INFER_VALUES,
    TRAIN_VALUES,
    CheckReport,
    LimitCheck,
    ScenarioResult,
    check_budgets,
    evaluate_scenario,
)
from gpt4plan.budgets.load import LimitSpec, Scenario, load_budgets
from gpt4plan.budgets.schema import (
    KINDS,
    LIMITS,
    InferLayoutIn,
    InferTargetsIn,
    InferWorkloadIn,
    Limit,
    ScenarioIn,
    TrainLayoutIn,
    TrainTargetsIn,
    TrainWorkloadIn,
    parse_limit,
)

__all__ = [
    "LIMITS",
    "Limit",
    "LimitCheck",
    "Scenario",
    "ScenarioResult",
    "CheckReport",
    "load_budgets",
    "evaluate_scenario",
    "check_budgets",
    "load_baseline",
    "apply_baseline",
    "parse_regression",
    "parse_limit",
    "KINDS",
    "LimitSpec",
    "INFER_VALUES",
    "TRAIN_VALUES",
    "ScenarioIn",
    "InferWorkloadIn",
    "InferTargetsIn",
    "InferLayoutIn",
    "TrainWorkloadIn",
    "TrainTargetsIn",
    "TrainLayoutIn",
]
