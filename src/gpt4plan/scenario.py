"""Pinned layout flags checked against each other and against the model, before any search.

A pin that the model cannot take (``--tp 3`` for 64 heads), or two flags that contradict each other
(``--chips 8 --tp 4 --pp 4``), is bad input: the CLI prints the one line these functions return and
exits 2 (docs/design.md), instead of searching an empty grid and reporting "no feasible plan" (exit 1).
Pins that are allowed but do not fit (memory, latency, the chip cap) are left to the planners.

The checks return reason codes with their numbers (:class:`PinIssue`); :func:`word_pin_issues` words them
for a caller that names each setting its own way (the CLI: ``--tp``; a budgets file: ``tp``).
:func:`infer_pin_problem` and :func:`train_pin_problem` are the CLI's wording.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gpt4plan.physics import arch
from gpt4plan.specs.units import plural

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import ModelSpec

__all__ = [
    "tp_allowed",
    "PinIssue",
    "infer_pin_issues",
    "train_pin_issues",
    "word_pin_issues",
    "cli_flag",
    "infer_pin_problem",
    "train_pin_problem",
]


@dataclass(frozen=True)
class PinIssue:
    """Why pins cannot be taken: a reason ``code`` and the numbers and names the wording needs."""

    code: str
    values: dict = field(default_factory=dict)


def cli_flag(name: str) -> str:
    """A setting as the command line spells it: ``max_chips`` -> ``--max-chips``."""
    return "--" + name.replace("_", "-")


def tp_allowed(model: ModelSpec, tp: int) -> bool:
    """The attention splits ``tp`` ways (the rule of :func:`gpt4plan.physics.arch.allowed_tp`)."""
    return tp >= 1 and tp in arch.allowed_tp(model, max_tp=tp)


def _model_pins(model: ModelSpec, tp: int | None, pp: int | None, ep: int | None) -> list[PinIssue]:
    out = []
    if tp is not None and not tp_allowed(model, tp):
        out.append(PinIssue("tp_heads", {"tp": tp, "model": model.name, "heads": model.heads, "mla": model.mla is not None,
                                         "kv_heads": model.kv_heads, "allowed": arch.allowed_tp(model)}))
    if pp is not None and pp > model.layers:
        out.append(PinIssue("pp_layers", {"pp": pp, "model": model.name, "layers": model.layers}))
    if ep is not None and ep > 1:
        if model.moe is None:
            out.append(PinIssue("ep_dense", {"ep": ep, "model": model.name}))
        elif model.moe.experts % ep:
            out.append(PinIssue("ep_experts", {"ep": ep, "model": model.name, "experts": model.moe.experts}))
    return out


def infer_pin_issues(model: ModelSpec, tp: int | None = None, pp: int | None = None, ep: int | None = None,
                     batch: int | None = None, chips: int | None = None, max_chips: int | None = None,
                     attention_dp: int | None = None, redundant: int | None = None) -> list[PinIssue]:
    """Why the pins of an inference plan contradict the model or each other (empty: they do not).  ``ep``
    divides ``tp`` (TP x PP) or, with attention data parallelism, is ``attention_dp * tp`` (the
    attention-DP layout: one pipeline stage, the experts with ``redundant`` slots over ``ep`` chips)."""
    wide = (attention_dp or 1) > 1 or (redundant or 0) > 0
    out = _model_pins(model, tp, pp, None if wide else ep)
    if not wide and model.moe is not None and ep is not None and tp is not None and ep > tp and ep % tp == 0:
        wide, attention_dp = True, ep // tp  # experts over more chips than TP: the attention-DP layout
    if wide:
        return out + _wide_pins(model, tp, pp, ep, chips, attention_dp, redundant or 0)
    if ep is not None and tp is not None and ep > 1 and tp % ep:
        out.append(PinIssue("ep_tp", {"ep": ep, "tp": tp}))
    if chips is not None:
        if tp is not None and pp is not None and tp * pp != chips:
            out.append(PinIssue("chips_tp_pp", {"chips": chips, "tp": tp, "pp": pp}))
        elif tp is not None and chips % tp:
            out.append(PinIssue("chips_tp", {"chips": chips, "tp": tp}))
        elif pp is not None and chips % pp:
            out.append(PinIssue("chips_pp", {"chips": chips, "pp": pp}))
    if batch is not None and pp is not None and batch < pp:
        out.append(PinIssue("batch_pp", {"batch": batch, "pp": pp}))
    if max_chips is not None:
        per_replica = chips if chips is not None else (tp or 1) * (pp or 1)  # at least tp x pp chips
        if per_replica > max_chips:
            out.append(PinIssue("replica_max_chips", {"per_replica": per_replica, "max_chips": max_chips}))
    return out


def _wide_pins(model: ModelSpec, tp: int | None, pp: int | None, ep: int | None, chips: int | None,
               attention_dp: int | None, redundant: int) -> list[PinIssue]:
    """The attention-DP layout's pins: an MoE model, one pipeline stage, ep = attention_dp x tp, experts plus
    redundant slots divisible by ep, chips per replica = attention_dp x tp."""
    if model.moe is None:
        return [PinIssue("attention_dp_dense", {"model": model.name})]
    out = []
    if pp is not None and pp > 1:
        out.append(PinIssue("attention_dp_pp", {"pp": pp}))
    slots = model.moe.experts + redundant
    if ep is not None and tp is not None and attention_dp is not None and ep != attention_dp * tp:
        out.append(PinIssue("ep_attention_dp", {"ep": ep, "tp": tp, "attention_dp": attention_dp}))
    elif ep is not None and slots % ep:
        out.append(PinIssue("ep_slots", {"ep": ep, "experts": model.moe.experts, "redundant": redundant}))
    if chips is not None and tp is not None and attention_dp is not None and chips != attention_dp * tp:
        out.append(PinIssue("chips_attention_dp", {"chips": chips, "tp": tp, "attention_dp": attention_dp}))
    return out


def train_pin_issues(model: ModelSpec, tp: int | None = None, pp: int | None = None, dp: int | None = None,
                     ep: int | None = None, interleave: int | None = None, chips: int | None = None,
                     max_chips: int | None = None, cp: int | None = None) -> list[PinIssue]:
    """Why the pins of a training plan contradict the model or each other (empty: they do not)."""
    out = _model_pins(model, tp, pp, ep)
    if ep is not None and dp is not None and ep > 1 and dp % ep:
        out.append(PinIssue("ep_dp", {"ep": ep, "dp": dp}))
    if interleave is not None and interleave > 1:
        if pp == 1:
            out.append(PinIssue("interleave_pp1", {"interleave": interleave}))
        elif pp is not None and pp <= model.layers and math.ceil(model.layers / pp) % interleave:
            out.append(PinIssue("interleave_layers", {"interleave": interleave,
                                                      "stage_layers": math.ceil(model.layers / pp)}))
    given = [(name, v) for name, v in (("tp", tp), ("pp", pp), ("dp", dp), ("cp", cp)) if v is not None]
    cap, cap_name = (chips, "chips") if chips is not None else (max_chips, "max_chips")
    if given and cap is not None and math.prod(v for _, v in given) > cap:
        out.append(PinIssue("pins_over_cap", {"given": given, "need": math.prod(v for _, v in given), "cap": cap,
                                              "cap_name": cap_name}))
    return out


def _word_tp_heads(v: dict, f: Callable[[str], str]) -> str:
    kv = "" if v["mla"] else f" and {v['kv_heads']} KV heads"
    return (f"{f('tp')} {v['tp']}: {v['model']} has {v['heads']} heads{kv}; tp must divide the heads"
            + ("" if v["mla"] else " and divide or be a multiple of the KV heads")
            + f" (allowed: {', '.join(map(str, v['allowed']))})")


_WORDING: dict[str, Callable[[dict, Callable[[str], str]], str]] = {
    "tp_heads": _word_tp_heads,
    "pp_layers": lambda v, f: f"{f('pp')} {v['pp']}: more pipeline stages than {v['model']}'s {v['layers']} layers",
    "ep_dense": lambda v, f: f"{f('ep')} {v['ep']}: {v['model']} is dense (no experts to split)",
    "ep_experts": lambda v, f: f"{f('ep')} {v['ep']}: must divide {v['model']}'s {v['experts']} experts",
    "ep_tp": lambda v, f: (f"{f('ep')} {v['ep']} must divide {f('tp')} {v['tp']} (a stage's experts are split "
                           "across its tensor-parallel chips) or be a multiple of it (attention data parallelism)"),
    "chips_tp_pp": lambda v, f: (f"{f('chips')} {v['chips']} contradicts {f('tp')} {v['tp']} x {f('pp')} {v['pp']} = "
                                 f"{plural(v['tp'] * v['pp'], 'chip')} per replica"),
    "chips_tp": lambda v, f: (f"{f('chips')} {v['chips']} is not a multiple of {f('tp')} {v['tp']} (chips per "
                              "replica = tp x pp)"),
    "chips_pp": lambda v, f: (f"{f('chips')} {v['chips']} is not a multiple of {f('pp')} {v['pp']} (chips per "
                              "replica = tp x pp)"),
    "batch_pp": lambda v, f: (f"{f('batch')} {v['batch']} < {f('pp')} {v['pp']}: every pipeline stage needs at "
                              "least one sequence in flight"),
    "replica_max_chips": lambda v, f: (f"one replica needs at least {v['per_replica']:,} chips ({f('chips')}, "
                                       f"{f('tp')} x {f('pp')}) > {f('max_chips')} {v['max_chips']:,}"),
    "attention_dp_dense": lambda v, f: (f"{f('attention_dp')}/{f('redundant_experts')}: {v['model']} is dense "
                                        "(attention data parallelism spreads experts; a dense model takes replicas)"),
    "attention_dp_pp": lambda v, f: (f"{f('attention_dp')} with {f('pp')} {v['pp']}: the attention-DP layout has one "
                                     "pipeline stage"),
    "ep_attention_dp": lambda v, f: (f"{f('ep')} {v['ep']} must be {f('attention_dp')} {v['attention_dp']} x "
                                     f"{f('tp')} {v['tp']} = {v['attention_dp'] * v['tp']} (the experts spread over "
                                     "every chip of the attention groups)"),
    "ep_slots": lambda v, f: (f"{f('ep')} {v['ep']}: must divide the {v['experts']} experts + {v['redundant']} "
                              f"redundant slots ({f('redundant_experts')})"),
    "chips_attention_dp": lambda v, f: (f"{f('chips')} {v['chips']} contradicts {f('attention_dp')} "
                                        f"{v['attention_dp']} x {f('tp')} {v['tp']} chips per replica"),
    "ep_dp": lambda v, f: (f"{f('ep')} {v['ep']} must divide {f('dp')} {v['dp']} (experts are spread over "
                           "data-parallel ranks)"),
    "interleave_pp1": lambda v, f: (f"{f('interleave')} {v['interleave']} needs {f('pp')} > 1 (it splits each "
                                    "pipeline stage into chunks)"),
    "interleave_layers": lambda v, f: (f"{f('interleave')} {v['interleave']} must divide the {v['stage_layers']} "
                                       "layers of a stage"),
    "pins_over_cap": lambda v, f: (f"{' x '.join(f'{f(n)} {x}' for n, x in v['given'])} needs at least "
                                   f"{v['need']:,} chips > {f(v['cap_name'])} {v['cap']:,}"),
}


def word_pin_issues(issues: list[PinIssue], flag: Callable[[str], str] = cli_flag) -> str | None:
    """The issues as one line, each setting named by ``flag`` (``'tp'`` -> ``'--tp'`` by default), or None."""
    return "; ".join(_WORDING[i.code](i.values, flag) for i in issues) or None


def infer_pin_problem(model: ModelSpec, tp: int | None = None, pp: int | None = None, ep: int | None = None,
                      batch: int | None = None, chips: int | None = None, max_chips: int | None = None,
                      attention_dp: int | None = None, redundant: int | None = None) -> str | None:
    """Why the pins of ``gpt4plan infer`` contradict the model or each other (one line, CLI flags), or None."""
    return word_pin_issues(infer_pin_issues(model, tp, pp, ep, batch, chips, max_chips, attention_dp, redundant))


def train_pin_problem(model: ModelSpec, tp: int | None = None, pp: int | None = None, dp: int | None = None,
                      ep: int | None = None, interleave: int | None = None, chips: int | None = None,
                      max_chips: int | None = None, cp: int | None = None) -> str | None:
    """Why the pins of ``gpt4plan train`` contradict the model or each other (one line, CLI flags), or None."""
    return word_pin_issues(train_pin_issues(model, tp, pp, dp, ep, interleave, chips, max_chips, cp))
