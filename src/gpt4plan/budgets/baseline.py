"""Baseline comparison for ``gpt4plan check --baseline``: each limited value's change since a previous run
(docs/design.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from gpt4plan.budgets.check import CheckReport
from gpt4plan.specs import SpecError
from gpt4plan.specs.loader import read_small_text

__all__ = ["load_baseline", "apply_baseline", "parse_regression"]


def parse_regression(text: str) -> float:
    """``'10%'`` or ``'0.1'`` -> 0.1.  A bare number above 1 is refused as ambiguous."""
    s = str(text).strip()
    try:
        x = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a relative change; write e.g. 10% or 0.1") from None
    if not s.endswith("%") and x > 1:
        raise ValueError(f"{text!r} is ambiguous; write a percentage such as {s}% or a fraction such as 0.1")
    if not (math.isfinite(x) and 0 <= x <= 100):
        raise ValueError(f"must be between 0% and 10000%, got {text!r}")
    return x


def load_baseline(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a previous ``gpt4plan check --format json`` output -> ``{scenario name: values}``."""
    file = str(path)
    try:  # bounded, and never a FIFO or /dev/zero (they would block or fill the memory)
        text = read_small_text(path)
    except SpecError as exc:
        if exc.message == "no such file":
            raise SpecError(file, None, None, "no such file (a previous 'gpt4plan check --format json' output)") from None
        raise
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(file, exc.lineno, None, f"not JSON ({exc.msg}); expected 'gpt4plan check --format json' "
                        "output") from None
    except (RecursionError, ValueError) as exc:  # nested too deeply, an integer of 5000 digits
        raise SpecError(file, None, None, f"unreadable JSON ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios"), list):
        raise SpecError(file, 1, "scenarios", "missing: expected 'gpt4plan check --format json' output")
    out: dict[str, dict[str, float]] = {}
    for s in data["scenarios"]:
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str):
            raise SpecError(file, None, "scenarios", "each scenario needs a name")
        vals = s.get("values") or {}
        if not isinstance(vals, Mapping):
            raise SpecError(file, None, f"scenarios.{s['name']}.values", "expected a mapping of value name: number")
        out[s["name"]] = {k: float(v) for k, v in vals.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return out


def apply_baseline(report: CheckReport, baseline: dict[str, dict[str, float]], max_regression: float | None,
                   baseline_file: str | None = None) -> CheckReport:
    """Attach each limited value's relative change vs the baseline; with ``max_regression`` (a fraction),
    a change in the bad direction (up for a max limit, down for a min limit) beyond it fails the limit."""
    report.baseline_file, report.max_regression = baseline_file, max_regression
    for s in report.scenarios:
        old_vals = baseline.get(s.name, {})
        for c in s.limits:
            old = old_vals.get(c.name)
            if old is None or c.value is None or old == 0:
                continue
            c.baseline = old
            c.change = (c.value - old) / abs(old)
            worse = c.change if c.bound == "max" else -c.change
            if max_regression is not None and worse > max_regression + 1e-9:
                c.regressed = True
    return report
