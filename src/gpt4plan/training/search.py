"""Training layout search: the plan that answers the objective, and its alternatives (docs/design.md).

Objectives: ``chips`` given -> fastest plan on at most that many chips; ``days`` given -> fewest chips
finishing within ``days``; neither -> cheapest up to ``max_chips``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.training.data import repeat_issue
from gpt4plan.training.layouts import grid
from gpt4plan.training.loading import data_loading, loading_issue
from gpt4plan.training.problems import MAX_CHIPS_LIMIT, pin_issues
from gpt4plan.training.reasons import TrainIssue
from gpt4plan.training.reliability import Reliability
from gpt4plan.training.step import (
    evaluate_training,
    memory_per_chip,
    performance_model,
    train_flops_per_token,
)
from gpt4plan.training.workload import TrainPins, TrainPlan, TrainResult, TrainWorkload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["plan_training"]



def plan_training(
    model: ModelSpec,
    hw: HardwareSpec,
    wl: TrainWorkload,
    chips: int | None = None,
    days: float | None = None,
    max_chips: int = 100_000,
    pins: TrainPins | None = None,
    rel: Reliability | None = None,
    n_alternatives: int = 4,
) -> TrainResult:
    """Search training layouts.

    Objectives: ``chips`` given -> fastest plan on at most that many chips (``fastest``); ``days``
    given -> fewest chips finishing within ``days`` (``min_chips``); neither -> cheapest up to
    ``max_chips`` (``min_cost``).  Infeasible -> ``reason`` (:class:`~gpt4plan.training.reasons.TrainIssue`), its
    code the ``binding_constraint``: ``memory``, ``days`` or ``layout``.
    """
    if chips is not None and days is not None:
        raise ValueError("give chips or days, not both")
    pins = pins or TrainPins()
    rel = rel or Reliability()
    objective = "fastest" if chips is not None else ("min_chips" if days is not None else "min_cost")
    summary = _summary(model, hw, wl)
    c = grid(model, hw, wl, pins, chips, max_chips)
    if c is None or c["tp"].size == 0:
        return TrainResult(**summary, objective=objective, feasible=False,
                           reason=TrainIssue("layout", {"pins": pin_issues(model, wl, pins, chips, max_chips)}))
    capacity = hw.memory * hw.usable_memory
    r, mem_ok, feasible = _evaluate_kept(model, hw, wl, rel, c, capacity, days)
    res = TrainResult(**summary, objective=objective, feasible=bool(feasible.any()),
                      candidates_evaluated=int(c["tp"].size))
    if not feasible.any():
        _explain_infeasible(res, r, mem_ok, hw, wl, capacity, days, max_chips)
        return res
    if objective == "min_chips" and pins.dp is None:
        r, feasible, extra = _refine_dp(model, hw, wl, rel, pins, max_chips, days, r, feasible, capacity)
        res.candidates_evaluated += extra
    _rank(res, r, feasible, wl, objective, n_alternatives)
    res.data_loading = data_loading(res.plan, hw, wl)
    res.warnings += [w for w in (loading_issue(res.data_loading, hw.name),) if w is not None]
    return res


def _explain_infeasible(res: TrainResult, r: dict, mem_ok, hw: HardwareSpec, wl: TrainWorkload, capacity: float,
                        days: float | None, max_chips: int) -> None:
    """Fill in why there is no plan (``memory`` or ``days``) and the nearest plan."""
    finite = np.isfinite(r["days"]) & np.isfinite(r["mem"])
    if not mem_ok.any():
        i = int(np.argmin(np.where(finite, r["mem"], np.inf)))
        res.reason = TrainIssue("memory", {"memory": float(r["mem"][i]), "tp": int(r["tp"][i]), "pp": int(r["pp"][i]),
                                           "dp": int(r["dp"][i]), "zero": int(r["zero"][i]),
                                           "recompute": str(r["rec"][i]), "hardware": hw.name, "capacity": capacity})
        res.plan = _plan(r, i, "nearest")
        return
    idx = np.flatnonzero(mem_ok)
    i = int(idx[np.argmin(r["days"][idx])])
    used = int(r["chips"][i])
    if used < 0.9 * max_chips:  # more chips would not help: DP x microbatch cannot exceed the batch
        hint = "batch_caps_dp"
    elif max_chips < MAX_CHIPS_LIMIT:
        hint = "raise_max_chips"
    else:  # max_chips is at its upper bound: only the target or the work can give
        hint = "max_chips_at_limit"
    res.reason = TrainIssue("days", {"max_chips": max_chips, "days": float(r["days"][i]), "chips": used,
                                     "target": days, "hint": hint, "limit": MAX_CHIPS_LIMIT,
                                     "sequences": float(wl.global_batch_tokens / wl.seq_len)})
    res.plan = _plan(r, i, "nearest")


def _rank(res: TrainResult, r: dict, feasible, wl: TrainWorkload, objective: str, n_alternatives: int) -> None:
    """The best feasible plan for ``objective``, its warnings, and up to ``n_alternatives`` other layouts."""
    idx = np.flatnonzero(feasible)
    if objective == "fastest":
        order = np.lexsort((r["usd"][idx], r["days"][idx]))
    elif objective == "min_chips":
        order = np.lexsort((r["days"][idx], r["chips"][idx]))
    else:
        order = np.lexsort((r["days"][idx], r["usd"][idx]))
    ranked = idx[order]
    res.plan = _plan(r, ranked[0], objective)
    res.warnings = res.warnings + _warnings(res.plan, wl, objective)
    seen = {_layout_key(res.plan)}
    for j in ranked[1:]:
        p = _plan(r, j, "alternative")
        key = _layout_key(p)
        if key in seen:
            continue
        seen.add(key)
        res.alternatives.append(p)
        if len(res.alternatives) >= n_alternatives:
            break


def _refine_dp(model, hw, wl, rel, pins, max_chips, days, r, feasible, capacity):
    """The DP grid is coarse at scale: for the best few (tp, pp), try every DP degree between the largest
    grid value that misses the deadline and the smallest that meets it."""
    idx = np.flatnonzero(feasible)
    best = idx[np.argsort(r["chips"][idx])[:8]]
    dp_values: dict = {}
    for i in best:
        t, p, d = float(r["tp"][i]), float(r["pp"][i]), float(r["dp"][i])
        same = (r["tp"] == t) & (r["pp"] == p) & (r["dp"] < d) & ~feasible
        lo = float(r["dp"][same].max()) if same.any() else 1.0
        dp_values.setdefault((int(t), int(p)), set()).update(range(int(lo), int(d) + 1))
    c = grid(model, hw, wl, pins, None, max_chips, {k: sorted(v) for k, v in dp_values.items()})
    if c is None or c["tp"].size == 0:
        return r, feasible, 0
    r2, _, ok2 = _evaluate_kept(model, hw, wl, rel, c, capacity, days)
    merged = {k: np.concatenate([r[k], r2[k]]) for k in r if isinstance(r[k], np.ndarray) and k in r2}
    return merged, np.concatenate([feasible, ok2]), int(c["tp"].size)


def _evaluate_kept(model, hw, wl, rel, c, capacity, days, chunk: int = 150_000):
    """Evaluate candidates in chunks (bounded memory); keep the feasible ones plus, for diagnosis, the
    leanest candidate and the fastest one that fits memory.  Returns ``(r, mem_ok, feasible)``."""
    n = c["tp"].size
    kept, lean, fast = [], None, None
    for start in range(0, n, chunk):
        cc = {k: v[start:start + chunk] for k, v in c.items()}
        r, i = _evaluate_fitting(model, hw, wl, rel, cc, capacity)
        finite = np.isfinite(r["days"]) & np.isfinite(r["mem"])
        mem_ok = (r["mem"] <= capacity) & finite
        feas = mem_ok & (True if days is None else r["days"] <= days)
        kept.append({k: v[feas] for k, v in r.items()})
        if lean is None or r["mem"][i] < lean["mem"][0]:
            lean = {k: v[i:i + 1] for k, v in r.items()}
        if mem_ok.any():
            j = int(np.argmin(np.where(mem_ok, r["days"], np.inf)))
            if fast is None or r["days"][j] < fast["days"][0]:
                fast = {k: v[j:j + 1] for k, v in r.items()}
    parts = kept + [p for p in (lean, fast) if p is not None]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n_feas = sum(p["tp"].size for p in kept)
    feasible = np.zeros(out["tp"].size, dtype=bool)
    feasible[:n_feas] = True
    mem_ok = out["mem"] <= capacity
    mem_ok[:n_feas] = True
    return out, mem_ok & np.isfinite(out["mem"]), feasible


def _evaluate_fitting(model, hw, wl, rel, c, capacity):
    """``(r, i)``: :func:`evaluate_training` of the candidates in ``c`` that fit in ``capacity`` (in order)
    and of the leanest one (:func:`_leanest`), at ``r``'s row ``i``.

    Only memory is computed for the others: most of a large grid does not fit, and of those the search
    keeps only the leanest.  Every value is elementwise in its own candidate, so a row's values do not
    depend on which rows are evaluated with it.
    """
    with np.errstate(all="ignore"):
        mem = memory_per_chip(model, wl, c)
        fits = np.flatnonzero((mem <= capacity) & np.isfinite(mem))
        lean = _leanest(model, hw, wl, rel, c, mem)
        i = int(np.searchsorted(fits, lean))
        rows = fits if i < fits.size and fits[i] == lean else np.insert(fits, i, lean)
        return evaluate_training(model, hw, wl, rel, _rows(c, rows)), i


def _leanest(model, hw, wl, rel, c, mem) -> int:
    """The candidate of least memory among those with a finite step and memory (the first of equals), or
    the first candidate when none has (the argmin of an all-inf array)."""
    least = np.where(np.isfinite(mem), mem, np.inf)
    n = int(np.isfinite(mem).sum())
    first = np.array([np.argmin(least)])
    ok = np.flatnonzero(np.isfinite(evaluate_training(model, hw, wl, rel, _rows(c, first))["days"])) if n else []
    if len(ok):
        return int(first[0])
    if n > 1:  # a degenerate grid: the leanest has no finite step; the next in order of least memory
        by_mem = np.argsort(least, kind="stable")[:n]
        ok = np.flatnonzero(np.isfinite(evaluate_training(model, hw, wl, rel, _rows(c, by_mem))["days"]))
        if ok.size:
            return int(by_mem[ok[0]])
    return 0


def _rows(c: dict, rows) -> dict:
    return {k: v[rows] for k, v in c.items()}


def _warnings(p: TrainPlan, wl: TrainWorkload, objective: str) -> list[TrainIssue]:
    """Flags on a chosen plan: things a planner should look at before signing."""
    out = []
    if abs(p.global_batch_tokens - wl.global_batch_tokens) > 0.005 * wl.global_batch_tokens:
        out.append(TrainIssue("batch_rounded", {"sequences": p.global_batch_tokens / wl.seq_len,
                                                "change": p.global_batch_tokens / wl.global_batch_tokens - 1,
                                                "target_tokens": wl.global_batch_tokens}))
    if p.step_time_s > 0 and p.bubble_s / p.step_time_s > 0.2:
        out.append(TrainIssue("bubble", {"share": p.bubble_s / p.step_time_s}))
    if objective == "min_cost" and p.days > 365:
        out.append(TrainIssue("slow_cheapest", {"days": p.days}))
    return out


def _layout_key(p: TrainPlan):
    return (p.tp, p.pp, p.dp, p.ep)


def _plan(r: dict, i, objective: str) -> TrainPlan:
    i = int(i)

    def f(k):
        return float(r[k][i])

    return TrainPlan(
        objective=objective, chips=int(f("chips")), tp=int(f("tp")), pp=int(f("pp")), dp=int(f("dp")),
        ep=int(f("ep")), zero_stage=int(f("zero")), microbatch=int(f("mb")), microbatches_per_step=int(f("m")),
        interleave=int(f("v")), recompute=str(r["rec"][i]), sequence_parallel=f("tp") > 1,
        global_batch_tokens=f("gb_tokens"), step_time_s=f("step"), steps=float(math.ceil(f("steps") - 1e-9)), mfu=f("mfu"), hfu=f("hfu"),
        total_flops=f("total_flops"), days=f("days"), gpu_hours=f("gpu_hours"), usd=f("usd"),
        memory_per_chip_bytes=f("mem"), weights_bytes=f("weights_b"), grads_bytes=f("grads_b"),
        optimizer_bytes=f("opt_b"), activations_bytes=f("act_b"), goodput=f("goodput"),
        checkpoint_interval_s=f("tau"), mtbf_s=f("mtbf"), compute_s=f("t_compute"), bubble_s=f("t_bubble"),
        tp_comm_s=f("t_tp"), ep_comm_s=f("t_ep"), dp_comm_s=f("t_dp"), pp_comm_s=f("t_pp"), optimizer_s=f("t_opt"),
        cp=int(f("cp")), cp_comm_s=f("t_cp"),
    )  # fmt: skip


def _summary(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload) -> dict:
    p = arch.params(model)
    mf, _ = train_flops_per_token(model, wl.seq_len)
    return {
        "model": {"name": model.name, "params_total": p.total, "params_active": p.active,
                  "train_flops_per_token": mf},
        "hardware": {"name": hw.name, "price_usd_per_hour": hw.price, "memory_bytes": hw.memory,
                     "usable_memory_bytes": hw.memory * hw.usable_memory,
                     "peak_flops_per_s": hw.peak(wl.precision)},
        "workload": {"tokens": wl.tokens, "seq_len": wl.seq_len, "global_batch_tokens": wl.global_batch_tokens,
                     "precision": wl.precision, "image_token_fraction": wl.image_token_fraction},
        "performance_model": performance_model(hw, wl),
        "data": wl.data.as_dict() if wl.data is not None else None,
        # the input's own warning (repeated data), with or without a plan; the plan's are added to it
        "warnings": [w for w in (repeat_issue(wl.data),) if w is not None],
    }  # fmt: skip
