"""Comparisons: the same workload and targets planned on several chips (``gpt4plan compare``), or one
input swept over several values (``gpt4plan infer --sweep``).

Each comparison is a list of :class:`InferRow` (or :class:`TrainRow`): a label (the chip, or the swept
value) and the planner's full result.  Rows are ranked cheapest first; rows without a feasible plan come
last and carry the binding constraint.  No physics here: every number comes from
:func:`gpt4plan.serving.plan_inference` or :func:`gpt4plan.training.plan_training`; no Rich either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gpt4plan.serving import InferenceResult, Plan
from gpt4plan.training import TrainPlan, TrainResult

__all__ = ["InferRow", "TrainRow", "rank_infer_rows", "rank_train_rows", "SWEEPABLE", "parse_sweep"]


@dataclass
class InferRow:
    """One chip (``compare``) or one swept value (``--sweep``) and what the planner found for it."""

    label: str
    result: InferenceResult
    #: objective of the plan the row shows (``min_cost`` or ``min_chips``)
    objective: str = "min_cost"

    @property
    def feasible(self) -> bool:
        return self.result.feasible

    @property
    def plan(self) -> Plan | None:
        """The row's plan: the ``objective`` plan when feasible, else None."""
        if not self.result.feasible:
            return None
        return self.result.plans[1] if self.objective == "min_cost" else self.result.plans[0]

    @property
    def min_chips(self) -> int | None:
        return self.result.plans[0].chips if self.result.feasible else None

    @property
    def binding_constraint(self) -> str | None:
        return self.result.binding_constraint


@dataclass
class TrainRow:
    """One chip of ``compare --train``."""

    label: str
    result: TrainResult

    @property
    def feasible(self) -> bool:
        return self.result.feasible

    @property
    def plan(self) -> TrainPlan | None:
        return self.result.plan if self.result.feasible else None

    @property
    def binding_constraint(self) -> str | None:
        return self.result.binding_constraint


def _cost(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else math.inf


def rank_infer_rows(rows: Iterable[InferRow]) -> list[InferRow]:
    """Feasible rows by $/1k output tokens of their plan (then fewer chips), then the infeasible rows
    in their given order."""
    rows = list(rows)
    ok = sorted((r for r in rows if r.feasible),
                key=lambda r: (_cost(r.plan.usd_per_1k_output_tokens), r.plan.chips, r.label))
    return ok + [r for r in rows if not r.feasible]


def rank_train_rows(rows: Iterable[TrainRow]) -> list[TrainRow]:
    """Feasible rows by dollars (then days), then the infeasible rows in their given order."""
    rows = list(rows)
    ok = sorted((r for r in rows if r.feasible), key=lambda r: (_cost(r.plan.usd), r.plan.days, r.label))
    return ok + [r for r in rows if not r.feasible]


#: ``--sweep NAME=v1,v2,...``: NAME -> (parser of one value, description)
SWEEPABLE: dict[str, tuple[Callable[[str], float], str]] = {
    "prompt-tokens": (int, "prompt tokens per request"),
    "output-tokens": (int, "output tokens per request"),
    "tokens-per-s-per-user": (float, "min output tokens/s per user"),
    "price-per-hour": (float, "USD per chip-hour"),
}
_ALIASES = {"price": "price-per-hour", "prompt": "prompt-tokens", "output": "output-tokens",
            "tps": "tokens-per-s-per-user", "tokens-per-s": "tokens-per-s-per-user"}


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """``'prompt-tokens=512,2048,8192'`` -> ``('prompt-tokens', [512, 2048, 8192])``.

    Raises ValueError with a one-line reason (unknown name, a value that does not parse, none given,
    more than 64 values).
    """
    name, sep, values = text.partition("=")
    name = name.strip().lstrip("-").replace("_", "-").lower()
    name = _ALIASES.get(name, name)
    if not sep or name not in SWEEPABLE:
        raise ValueError(f"expected NAME=v1,v2,... with NAME one of {', '.join(SWEEPABLE)}; got {text!r}")
    parse, _ = SWEEPABLE[name]
    out: list[float] = []
    items = [v.strip() for v in values.split(",")]
    if items and not items[-1]:  # a trailing comma is harmless
        items.pop()
    for v in items:
        if not v:
            raise ValueError(f"{name}: an empty value between commas in {values!r}")
        try:
            x = float(v)
            if parse is int and x != int(x):
                raise ValueError
        except ValueError:
            raise ValueError(f"{name}: {v!r} is not a {'whole ' if parse is int else ''}number") from None
        x = parse(x)
        if not (math.isfinite(x) and x > 0):
            raise ValueError(f"{name}: values must be positive, got {v!r}")
        if x not in out:
            out.append(x)
    if not out:
        raise ValueError(f"{name}: give at least one value (NAME=v1,v2,...)")
    if len(out) > 64:
        raise ValueError(f"{name}: at most 64 values, got {len(out)}")
    return name, out
