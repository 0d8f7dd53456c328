"""Lifecycle cost (``gpt4plan lifecycle``): train and serve a model of a given quality at the least total cost
(docs/design.md).

Modules: :mod:`.shapes` (the family rule: a model of ``N`` parameters), :mod:`.price` (one shape priced by
the training and the serving planners), :mod:`.scan` (the iso-loss scan and its optimum).  The scaling
laws themselves are :mod:`gpt4plan.scaling`.  This package only re-exports.
"""

from __future__ import annotations

from gpt4plan.lifecycle.price import REFERENCE_TOKENS, ServeSetup, ShapePrice, TrainSetup, price_shape
from gpt4plan.lifecycle.scan import (
    MAX_TOKENS_PER_PARAM,
    LifecyclePoint,
    LifecycleResult,
    params_range,
    point_of,
    scan,
    target_issue,
)
from gpt4plan.lifecycle.shapes import (
    FAMILY,
    MAX_FAMILY_PARAMS,
    MIN_FAMILY_PARAMS,
    family_fields,
    family_model,
    family_params,
)

__all__ = ["FAMILY", "MAX_FAMILY_PARAMS", "MAX_TOKENS_PER_PARAM", "MIN_FAMILY_PARAMS", "REFERENCE_TOKENS",
           "LifecyclePoint", "LifecycleResult", "ServeSetup", "ShapePrice", "TrainSetup", "family_fields", "family_model",
           "family_params", "params_range", "point_of", "price_shape", "scan", "target_issue"]
