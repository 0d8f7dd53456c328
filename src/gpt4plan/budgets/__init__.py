"""Cost budgets for CI (``gpt4plan check``): load a budgets file, plan every scenario, check its limits.

Modules: :mod:`.schema` (the file's sections, the limits and their units), :mod:`.load` (reading and
validating a file into scenarios), :mod:`.check` (planning each scenario, checking its limits),
:mod:`.baseline` (changes since a previous run).  This package only re-exports (docs/design.md).

No Rich, no Typer: results are dataclasses that :mod:`gpt4plan.report` renders.
"""

from __future__ import annotations

from gpt4plan.lazy import lazy_exports

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

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'CheckReport': ('check', 'CheckReport'),
    'INFER_VALUES': ('check', 'INFER_VALUES'),
    'InferLayoutIn': ('schema', 'InferLayoutIn'),
    'InferTargetsIn': ('schema', 'InferTargetsIn'),
    'InferWorkloadIn': ('schema', 'InferWorkloadIn'),
    'KINDS': ('schema', 'KINDS'),
    'LIMITS': ('schema', 'LIMITS'),
    'Limit': ('schema', 'Limit'),
    'LimitCheck': ('check', 'LimitCheck'),
    'LimitSpec': ('load', 'LimitSpec'),
    'Scenario': ('load', 'Scenario'),
    'ScenarioIn': ('schema', 'ScenarioIn'),
    'ScenarioResult': ('check', 'ScenarioResult'),
    'TRAIN_VALUES': ('check', 'TRAIN_VALUES'),
    'TrainLayoutIn': ('schema', 'TrainLayoutIn'),
    'TrainTargetsIn': ('schema', 'TrainTargetsIn'),
    'TrainWorkloadIn': ('schema', 'TrainWorkloadIn'),
    'apply_baseline': ('baseline', 'apply_baseline'),
    'check_budgets': ('check', 'check_budgets'),
    'evaluate_scenario': ('check', 'evaluate_scenario'),
    'load_baseline': ('baseline', 'load_baseline'),
    'load_budgets': ('load', 'load_budgets'),
    'parse_limit': ('schema', 'parse_limit'),
    'parse_regression': ('baseline', 'parse_regression'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

