"""Pinned layout flags checked against each other and against the model, before any search.

A pin that the model cannot take (``--tp 3`` for 64 heads), or two flags that contradict each other
(``--chips 8 --tp 4 --pp 4``), is bad input: the CLI prints the one line these functions return and
exits 2 (DESIGN.md §2), instead of searching an empty grid and reporting "no feasible plan" (exit 1).
Pins that are allowed but do not fit (memory, latency, the chip cap) are left to the planners.
"""

from __future__ import annotations

import math

from gpt4plan.physics import arch
from gpt4plan.specs import ModelSpec
from gpt4plan.specs.units import plural

__all__ = ["tp_allowed", "infer_pin_problem", "train_pin_problem"]


def tp_allowed(model: ModelSpec, tp: int) -> bool:
    """The attention splits ``tp`` ways (the rule of :func:`gpt4plan.physics.arch.allowed_tp`)."""
    return tp >= 1 and tp in arch.allowed_tp(model, max_tp=tp)


def _model_pins(model: ModelSpec, tp: int | None, pp: int | None, ep: int | None) -> list[str]:
    out = []
    if tp is not None and not tp_allowed(model, tp):
        allowed = ", ".join(map(str, arch.allowed_tp(model)))
        kv = "" if model.mla is not None else f" and {model.kv_heads} KV heads"
        out.append(f"--tp {tp}: {model.name} has {model.heads} heads{kv}; tp must divide the heads"
                   + ("" if model.mla is not None else " and divide or be a multiple of the KV heads")
                   + f" (allowed: {allowed})")
    if pp is not None and pp > model.layers:
        out.append(f"--pp {pp}: more pipeline stages than {model.name}'s {model.layers} layers")
    if ep is not None and ep > 1:
        if model.moe is None:
            out.append(f"--ep {ep}: {model.name} is dense (no experts to split)")
        elif model.moe.experts % ep:
            out.append(f"--ep {ep}: must divide {model.name}'s {model.moe.experts} experts")
    return out


def infer_pin_problem(model: ModelSpec, tp: int | None = None, pp: int | None = None, ep: int | None = None,
                      batch: int | None = None, chips: int | None = None, max_chips: int | None = None) -> str | None:
    """Why the pins of ``gpt4plan infer`` contradict the model or each other (one line), or None."""
    out = _model_pins(model, tp, pp, ep)
    if ep is not None and tp is not None and ep > 1 and tp % ep:
        out.append(f"--ep {ep} must divide --tp {tp} (a stage's experts are split across its tensor-parallel chips)")
    if chips is not None:
        if tp is not None and pp is not None and tp * pp != chips:
            out.append(f"--chips {chips} contradicts --tp {tp} x --pp {pp} = {plural(tp * pp, 'chip')} per replica")
        elif tp is not None and chips % tp:
            out.append(f"--chips {chips} is not a multiple of --tp {tp} (chips per replica = tp x pp)")
        elif pp is not None and chips % pp:
            out.append(f"--chips {chips} is not a multiple of --pp {pp} (chips per replica = tp x pp)")
    if batch is not None and pp is not None and batch < pp:
        out.append(f"--batch {batch} < --pp {pp}: every pipeline stage needs at least one sequence in flight")
    if max_chips is not None:
        per_replica = chips if chips is not None else (tp or 1) * (pp or 1)  # at least tp x pp chips
        if per_replica > max_chips:
            out.append(f"one replica needs at least {per_replica:,} chips (--chips, --tp x --pp) > "
                       f"--max-chips {max_chips:,}")
    return "; ".join(out) or None


def train_pin_problem(model: ModelSpec, tp: int | None = None, pp: int | None = None, dp: int | None = None,
                      ep: int | None = None, interleave: int | None = None, chips: int | None = None,
                      max_chips: int | None = None, cp: int | None = None) -> str | None:
    """Why the pins of ``gpt4plan train`` contradict the model or each other (one line), or None."""
    out = _model_pins(model, tp, pp, ep)
    if ep is not None and dp is not None and ep > 1 and dp % ep:
        out.append(f"--ep {ep} must divide --dp {dp} (experts are spread over data-parallel ranks)")
    if interleave is not None and interleave > 1:
        if pp == 1:
            out.append(f"--interleave {interleave} needs --pp > 1 (it splits each pipeline stage into chunks)")
        elif pp is not None and pp <= model.layers and math.ceil(model.layers / pp) % interleave:
            out.append(f"--interleave {interleave} must divide the {math.ceil(model.layers / pp)} layers of a stage")
    given = [(flag, v) for flag, v in (("--tp", tp), ("--pp", pp), ("--dp", dp), ("--cp", cp)) if v is not None]
    cap, name = (chips, "--chips") if chips is not None else (max_chips, "--max-chips")
    if given and cap is not None and math.prod(v for _, v in given) > cap:
        need = math.prod(v for _, v in given)
        out.append(f"{' x '.join(f'{f} {v}' for f, v in given)} needs at least {need:,} chips > {name} {cap:,}")
    return "; ".join(out) or None
