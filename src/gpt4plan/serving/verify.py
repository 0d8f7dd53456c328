"""Percentile latencies of a plan from a replay, and percentile targets verified by replay (docs/design.md).

The search ranks every candidate on the steady-state model (:mod:`gpt4plan.serving.evaluation`: means).  A
plan's TTFT, TPOT and end-to-end latency at p50, p90 and p99 come from replaying requests through it pass by
pass (:func:`gpt4plan.serving.replay.replay`), at this load:

* with a demand (``--demand``, or a request log's own rate), the fleet's requests at ``demand / mean output
  tokens`` per second; a drawn stream is one replica's share (``rate / replicas``), a log is dealt round-robin
  over the replicas;
* without one, one replica offered :data:`DEFAULT_UTILISATION` of its steady-state throughput (output
  tokens/s over the mean output length, requests/s).

With a percentile target (``Targets.ttft_percentile`` / ``tpot_percentile``), the candidates that meet every
steady-state target (the percentile target's value taken as a bound on the mean too: queueing skews these
latencies right, so a mean above the target leaves a median or tail above it) are taken in order of the
objective -- min_cost by $/1k tokens at utilisation, min_chips by chips -- and the first
:data:`VERIFY_CANDIDATES` are replayed.  With a demand a candidate that misses gets more replicas (x1.5 each
step, then halving the gap, within the chip cap) while it stays ahead of the best found; the answer is the
best that holds every percentile target.  When none does, the nearest (the smallest worst ratio of
percentile to target) is shown and the target it misses most binds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.serving import costs
from gpt4plan.serving.evaluation import Evaluation
from gpt4plan.serving.plan import Fleet, Plan, plan_at
from gpt4plan.serving.reasons import ServeIssue
from gpt4plan.serving.replay import PERCENTILES, ReplayResult, percentile, replay
from gpt4plan.serving.traffic import Traffic, requests_at
from gpt4plan.serving.workload import Targets, Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["VERIFY_CANDIDATES", "DEFAULT_UTILISATION", "Verifier", "percentile_targets"]

#: Candidates replayed per objective when a percentile target is set (the cheapest by the steady state).
VERIFY_CANDIDATES = 8
#: Load of a replay without a demand: this fraction of one replica's steady-state throughput (a replica
#: planned to run flat out queues without bound under any burst; 80 % is a common sizing rule).
DEFAULT_UTILISATION = 0.8
_GROWTH = 1.5  # replicas grow by this factor per step while a candidate misses its percentile targets


def percentile_targets(tg: Targets) -> list[tuple[str, float, float]]:
    """``(metric, percentile, target s)`` for each percentile target: ``ttft_s`` and ``tpot_s``."""
    out = []
    if tg.ttft_percentile is not None and tg.ttft_max_s is not None:
        out.append(("ttft_s", tg.ttft_percentile, tg.ttft_max_s))
    if tg.tpot_percentile is not None and tg.tpot_max_s is not None:
        out.append(("tpot_s", tg.tpot_percentile, tg.tpot_max_s))
    return out


@dataclass(frozen=True)
class _Trial:
    """A candidate replayed at ``replicas``: its latency, and its worst percentile / target ratio (<= 1: holds)
    with the target that sets it."""

    i: int
    replicas: int
    latency: dict
    worst: float
    binding: tuple[str, float, float, float] | None  # metric, percentile, value, target


class Verifier:
    """Replays the candidates of one search (``r``, ``fleet``) under ``traffic``; results cached by
    (candidate, replicas)."""

    def __init__(self, model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets, traffic: Traffic,
                 r: Evaluation, fleet: Fleet):
        self.model, self.hw, self.wl, self.tg, self.traffic, self.r, self.fleet = model, hw, wl, tg, traffic, r, fleet
        self.targets = percentile_targets(tg)
        self.cache: dict[tuple[int, int], _Trial] = {}
        self.fleet_load = tg.demand_tokens_per_s is not None or traffic.trace is not None

    def replay_at(self, i: int, replicas: int) -> _Trial:
        """Candidate ``i`` replayed with ``replicas`` replicas (module docstring: the load)."""
        key = (i, replicas)
        if key not in self.cache:
            res, load = self._replay(i, replicas)
            lat = {**res.percentiles(PERCENTILES), "replay": load}
            worst, binding = 0.0, None
            for metric, p, target in self.targets:
                v = percentile(getattr(res, metric), p) if getattr(res, metric).size else 0.0
                if v / target > worst:
                    worst, binding = v / target, (metric, p, v, target)
            self.cache[key] = _Trial(i, replicas, lat, worst, binding)
        return self.cache[key]

    def _replay(self, i: int, replicas: int) -> tuple[ReplayResult, dict]:
        r, wl, tr = self.r, self.wl, self.traffic
        layout = (int(r.tp[i]), int(r.pp[i]), int(r.ep[i]))
        kw = {"max_batch": max(1, round(float(r.batch[i]))), "attention_dp": int(r.attention_dp[i]),
              "redundant": int(r.redundant[i]), "seed": tr.seed}
        if wl.max_batched_tokens is not None:  # the engine's token budget per pass (chunked prefill): the
            # replay's pass is a round of pp microbatch passes over every attention group, each with the budget
            # (as the steady-state model, serving/prefill.py: chunked_prefill, gives it)
            kw["max_num_tokens"] = wl.max_batched_tokens * layout[1] * kw["attention_dp"]
        if tr.trace is not None:
            res = replay(self.model, self.hw, wl, *layout, tr.trace, replicas=replicas, **kw)
            return res, {"requests": tr.trace.n, "load": "trace", "replicas": replicas, "seed": tr.seed,
                         "request_rate_per_s": tr.trace.n / max(tr.trace.span_s, 1e-9)}
        if self.tg.demand_tokens_per_s is not None:
            rate, load = self.tg.demand_tokens_per_s / wl.output_tokens / replicas, "demand"
        else:
            rate, load = DEFAULT_UTILISATION * float(r.throughput[i]) / wl.output_tokens, "default"
        reqs = requests_at(tr, wl.prompt_tokens, wl.output_tokens, rate, self.model.max_context)
        res = replay(self.model, self.hw, wl, *layout, reqs, **kw)
        return res, {"requests": reqs.n, "load": load, "replicas": replicas, "seed": tr.seed,
                     "request_rate_per_s": rate * (replicas if load == "demand" else 1)}

    def cost_at(self, i: int, replicas: int) -> float:
        """$/1k tokens blended of candidate ``i`` with ``replicas`` replicas at the demand."""
        util = 1.0
        if self.tg.demand_tokens_per_s:
            util = float(costs.utilisation(self.tg.demand_tokens_per_s, replicas, float(self.r.throughput[i])))
        return float(costs.at_utilisation(self.r.usd_blend[i], util))

    def key(self, objective: str, i: int, replicas: int) -> tuple[float, float]:
        chips = float(self.r.chips[i]) * replicas
        cost = self.cost_at(i, replicas)
        return (chips, cost) if objective == "min_chips" else (cost, chips)

    def best(self, idx: np.ndarray, objective: str) -> _Trial | None:
        """The best candidate of ``idx`` by ``objective`` that holds every percentile target (None when none
        of the first :data:`VERIFY_CANDIDATES` does); every replay made stays in :attr:`cache`."""
        base = {int(i): int(self.fleet.replicas[i]) for i in idx}
        order = sorted(base, key=lambda i: self.key(objective, i, base[i]))[:VERIFY_CANDIDATES]
        found: _Trial | None = None
        for i in order:
            if found is not None and self.key(objective, i, base[i]) >= self.key(objective, found.i, found.replicas):
                break  # more replicas only cost more: no later candidate can beat the one found
            t = self._hold(i, base[i], objective, found)
            if t is not None:
                found = t
        return found

    def _hold(self, i: int, r0: int, objective: str, found: _Trial | None) -> _Trial | None:
        """The fewest replicas from ``r0`` with which candidate ``i`` holds the targets, while it beats
        ``found``; None if it cannot."""
        limit = self.tg.max_chips // max(int(self.r.chips[i]), 1)
        lo, hi, t = r0, None, self.replay_at(i, r0)
        if t.worst <= 1.0:
            return t
        while hi is None and self.fleet_load:
            nxt = min(limit, max(lo + 1, math.ceil(lo * _GROWTH)))
            if nxt <= lo or (found and self.key(objective, i, nxt) >= self.key(objective, found.i, found.replicas)):
                return None
            t = self.replay_at(i, nxt)
            lo, hi = (nxt, None) if t.worst > 1.0 else (lo, nxt)
        if hi is None:
            return None
        while hi - lo > 1:  # the fewest replicas that hold, between a miss and a hold
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.replay_at(i, mid).worst > 1.0 else (lo, mid)
        return self.replay_at(i, hi)

    def plan(self, trial: _Trial, objective: str) -> Plan:
        """The plan of a trial: candidate ``trial.i`` with its replicas, costs at their utilisation, latency."""
        i, R = trial.i, trial.replicas
        util = self.fleet.util.copy()
        if self.tg.demand_tokens_per_s:
            util[i] = costs.utilisation(self.tg.demand_tokens_per_s, R, float(self.r.throughput[i]))
        replicas = self.fleet.replicas.copy()
        replicas[i] = R
        fleet = Fleet(replicas=replicas, chips=self.r.chips * replicas, util=util)
        return replace(plan_at(self.r, fleet, i, objective, self.hw), latency=trial.latency)

    def issue(self, trials: list[_Trial]) -> tuple[ServeIssue, _Trial]:
        """Why no candidate holds the percentile targets: the nearest trial and the target it misses most."""
        near = min(trials, key=lambda t: (t.worst, t.replicas))
        metric, p, v, target = near.binding
        code = "ttft_percentile" if metric == "ttft_s" else "tpot_percentile"
        return ServeIssue(code, {"percentile": p, "value": v, "target": target, "replicas": near.replicas,
                                 "candidates": len({t.i for t in trials}), "load": near.latency["replay"]["load"]}), near


def attach_latency(result, v: Verifier, idx: np.ndarray, chosen: list[int]) -> None:
    """Give ``result``'s plans their replayed latency; with percentile targets, choose them by replay among the
    feasible candidates ``idx`` (module docstring), or make ``result`` infeasible with the nearest trial.
    ``chosen``: the candidates of ``result.plans`` by the steady state (min_chips, min_cost)."""
    if not v.targets:
        result.plans = [v.plan(v.replay_at(i, int(v.fleet.replicas[i])), p.objective)
                        for p, i in zip(result.plans, chosen, strict=True)]
        return
    for objective in ("min_chips", "min_cost"):
        v.best(idx, objective)
    trials = list(v.cache.values())  # every replay made, the replica searches' steps included
    held = [t for t in trials if t.worst <= 1.0]
    if not held:
        result.reason, near = v.issue(trials)
        result.feasible, result.plans, result.frontier = False, [], []
        result.nearest = v.plan(near, "nearest")
        return
    result.plans = [v.plan(min(held, key=lambda t: v.key(o, t.i, t.replicas)), o) for o in ("min_chips", "min_cost")]
