"""Demand that varies over a day, and what serving it costs (docs/design.md): replicas per time step, a
static fleet sized for the peak against an autoscaled one, utilisation and the effective $/1k output tokens.

The seed (SemiAnalysis 2023) warns that inference clusters run at low utilisation unless they are shut down
or repurposed in the daily downturns ("more than 2x the cost estimate" otherwise); this module puts numbers
on it.  Everything is numpy over the ``N`` time steps of one period (24 hours, or the steps of a CSV); the
period repeats (the day after the last hour starts again at the first), which only matters for the
scale-up lag at the last step.

Per step ``t`` (``step_s`` seconds each) with demand ``d[t]`` (output tokens/s) and one replica serving ``R``
output tokens/s at the targets (the plan's own throughput, fully used)::

    needed[t]     = ceil(d[t] / R)                                replicas the demand needs (0 at no demand)
    static        = max(1, max_t needed[t])                       a fleet sized for the peak, left on
    base[t]       = max(needed[t], min_replicas)                  what an autoscaler keeps
    W_k[t]        = max(base[t], base[t+1], ..., base[t+k])       (indices wrap around the period)
    q, r          = divmod(scale_up_lag_s, step_s)
    paid[t]       = (step_s - r) * W_q[t] + r * W_{q+1}[t]        replica-seconds paid in step t

A replica asked for takes ``scale_up_lag_s`` to come up (weights loaded, engine warmed), so the autoscaler
starts it that long before the step that needs it and pays for it while it loads: at any instant the fleet
holds the most replicas any step within the next ``lag`` seconds needs.  Scaling down is immediate.
``q`` whole steps ahead are held for the whole step, the step after them for the last ``r`` seconds.

Cost.  The chips released in the downturns (``reference x period - held`` chip-hours, ``reference`` the
autoscaled fleet's peak) recover a fraction ``idle_value`` of their price: 1 = not paid for at all (chips
rented by the hour and given back), 0 = paid for and idle (owned chips with no other use), in between =
resold or repurposed (spot, batch jobs) at that fraction.  Then, for either fleet::

    usd                                = price x chips per replica x (paid replica-hours
                                         + (1 - idle_value) x released replica-hours)
    usd_per_1k_output_tokens_all_in    = usd / output tokens served x 1000
    utilization                        = output tokens served / (paid replica-seconds x R)
    usd_per_1k_output_tokens           = the same figure scaled by the plan's decode share
                                         (its decode-share $/1k over its all-in $/1k): the plans' meaning

A flat demand that fills whole replicas has utilisation 1 and costs the plan's fully-used $/1k; a profile
whose peak is twice its mean doubles the static fleet's cost per token (README, "Daily demand").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpt4plan.serving import costs

__all__ = ["SCALE_UP_LAG_S", "MIN_REPLICAS", "IDLE_VALUE", "FleetDay", "DemandDay", "demand_day",
           "replica_tokens_per_s", "plan_demand_day"]

#: Seconds from asking for a replica to its serving traffic.  An assumption with its reasoning: a cloud VM
#: is provisioned in 1-2 min, a GPU container image pulled in 0.5-1.5 min, CUDA graphs captured and the
#: engine warmed in about a minute, and the weights read from object storage: the seed's GPT-4 replica holds
#: 3.6 TB (1.8T parameters at 16 bits, seed S1/S16), ~6 min at an aggregate 10 GB/s.  Ten minutes in all;
#: a small model from local NVMe starts in well under one (``--scale-up-lag``).
SCALE_UP_LAG_S = 600.0

#: Replicas an autoscaled fleet keeps at any hour (1: a request at a quiet hour finds a warm replica rather
#: than waiting the scale-up lag; 0 scales to zero).
MIN_REPLICAS = 1

#: Fraction of the released chip-hours' price recovered: 1.0 = not paid for (chips rented by the hour and handed
#: back: the most autoscaling can save; owned or reserved chips recover less, ``--idle-value``).
IDLE_VALUE = 1.0


@dataclass(frozen=True)
class FleetDay:
    """One fleet policy over the period.  Arrays have shape ``(N,)``, one entry per time step."""

    #: replicas held in each step (the most at any instant of it)
    replicas: np.ndarray
    #: replica-hours paid in each step (the scale-up lag included)
    replica_hours: np.ndarray
    #: output tokens served / capacity paid for, per step
    step_utilization: np.ndarray
    peak_replicas: int
    peak_chips: int
    chip_hours: float
    #: chip-hours below the fleet's peak not held (0 for the static fleet)
    released_chip_hours: float
    #: USD recovered from the released chip-hours (idle_value x their price)
    usd_recovered: float
    usd: float
    utilization: float
    usd_per_1k_output_tokens: float
    usd_per_1k_output_tokens_all_in: float


@dataclass(frozen=True)
class DemandDay:
    """A demand profile priced on one replica layout: the static (peak) and the autoscaled fleet."""

    demand_tokens_per_s: np.ndarray
    step_s: float
    needed: np.ndarray
    replica_tokens_per_s: float
    replica_chips: int
    usd_per_chip_hour: float
    min_replicas: int
    scale_up_lag_s: float
    idle_value: float
    #: the plan's decode-share $/1k over its all-in $/1k
    decode_share: float
    output_tokens: float
    static: FleetDay
    autoscaled: FleetDay

    @property
    def period_s(self) -> float:
        return self.step_s * self.demand_tokens_per_s.size

    @property
    def full_use_usd_per_1k_output_tokens_all_in(self) -> float:
        """One replica fully used: its $/s over its output tokens/s, per 1k (the flat-demand figure)."""
        return costs.usd_per_1k(costs.usd_per_s(self.replica_chips, self.usd_per_chip_hour), self.replica_tokens_per_s)

    @property
    def full_use_usd_per_1k_output_tokens(self) -> float:
        """The same, the decode share."""
        return self.full_use_usd_per_1k_output_tokens_all_in * self.decode_share


def replica_tokens_per_s(plan) -> float:
    """Output tokens/s one replica of ``plan`` (a :class:`~gpt4plan.serving.plan.Plan`) serves fully used:
    ``batch x tokens per cycle / round`` (as :func:`gpt4plan.serving.evaluation.evaluate` computes it; the
    plan's ``throughput_tokens_per_s`` is the fleet's, at the demand it was sized for)."""
    tokens_per_cycle = plan.expected_tokens_per_cycle or 1.0
    return plan.microbatch * plan.pp * tokens_per_cycle / plan.round_s


def _window_max(base: np.ndarray, k: int) -> np.ndarray:
    """``max(base[t], ..., base[t+k])`` for every ``t``, indices wrapping around the period."""
    out = base.copy()
    for j in range(1, min(k, base.size - 1) + 1):
        out = np.maximum(out, np.roll(base, -j))
    return out


def _priced(replicas, paid_s, demand, day: dict, reference: float) -> FleetDay:
    """A fleet's cost and utilisation from the replicas it holds and the replica-seconds it pays per step."""
    step_s, R, chips, price = day["step_s"], day["R"], day["chips"], day["price"]
    tokens = float(np.sum(demand) * step_s)
    paid_h = paid_s / 3600.0
    chip_hours = float(paid_h.sum()) * chips
    released = max(0.0, reference * day["period_s"] / 3600.0 * chips - chip_hours)
    recovered = day["idle_value"] * released * price
    usd = (chip_hours + released) * price - recovered
    all_in = usd / tokens * 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        step_util = np.where(paid_s > 0, demand * step_s / (paid_s * R), 0.0)
    return FleetDay(
        replicas=replicas, replica_hours=paid_h, step_utilization=step_util, peak_replicas=int(replicas.max()),
        peak_chips=int(replicas.max()) * chips, chip_hours=chip_hours, released_chip_hours=released,
        usd_recovered=recovered, usd=usd, utilization=tokens / (float(paid_s.sum()) * R),
        usd_per_1k_output_tokens=all_in * day["decode_share"], usd_per_1k_output_tokens_all_in=all_in,
    )  # fmt: skip


def demand_day(demand_tokens_per_s, step_s: float, replica_tokens_per_s: float, replica_chips: int,
               usd_per_chip_hour: float, decode_share: float = 1.0, min_replicas: int = MIN_REPLICAS,
               scale_up_lag_s: float = SCALE_UP_LAG_S, idle_value: float = IDLE_VALUE) -> DemandDay:
    """Price a demand profile on one replica layout (the formulas: this module's docstring).

    Args:
        demand_tokens_per_s: output tokens/s per step, shape ``(N,)``, each >= 0, not all 0.
        step_s: seconds per step (3600 for hourly values).
        replica_tokens_per_s: output tokens/s one replica serves at the targets, fully used (> 0).
        replica_chips: chips per replica; ``usd_per_chip_hour``: their price.
        decode_share: the plan's decode-share $/1k over its all-in $/1k (1: report the all-in figure).
        min_replicas: replicas the autoscaled fleet keeps (>= 0); ``scale_up_lag_s``: seconds a replica takes
            to come up (>= 0); ``idle_value``: fraction of the released chip-hours' price recovered, in [0, 1].

    Raises:
        ValueError: on a demand that is negative, not finite or all zero, or a setting out of range.
    """
    d = np.asarray(demand_tokens_per_s, dtype=float)
    if d.ndim != 1 or d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0) or not np.any(d > 0):
        raise ValueError("demand: one or more finite values >= 0, not all 0, output tokens/s")
    if not (step_s > 0 and replica_tokens_per_s > 0 and replica_chips >= 1 and usd_per_chip_hour >= 0):
        raise ValueError("step, replica throughput, chips and price must be positive")
    if min_replicas < 0 or scale_up_lag_s < 0 or not (0.0 <= idle_value <= 1.0):
        raise ValueError("min_replicas >= 0, scale_up_lag_s >= 0 and idle_value in [0, 1]")
    # any demand needs a replica; a step a hair over whole replicas (float noise, 1e-9 of one) does not add one
    needed = np.where(d > 0, np.maximum(1.0, np.ceil(d / replica_tokens_per_s - 1e-9)), 0.0)
    day = {"step_s": float(step_s), "R": float(replica_tokens_per_s), "chips": int(replica_chips),
           "price": float(usd_per_chip_hour), "period_s": float(step_s) * d.size, "idle_value": float(idle_value),
           "decode_share": float(decode_share)}
    peak = max(1.0, float(needed.max()))
    static = _priced(np.full(d.size, peak), np.full(d.size, peak * step_s), d, day, peak)
    base = np.maximum(needed, float(min_replicas))
    q = math.floor(scale_up_lag_s / step_s)
    r = scale_up_lag_s - q * step_s
    w_q, w_next = _window_max(base, q), _window_max(base, q + 1)
    paid_s = (step_s - r) * w_q + r * w_next
    held = w_next if r > 0 else w_q
    autoscaled = _priced(held, paid_s, d, day, max(peak, float(held.max())))
    return DemandDay(d, float(step_s), needed, float(replica_tokens_per_s), int(replica_chips),
                     float(usd_per_chip_hour), int(min_replicas), float(scale_up_lag_s), float(idle_value),
                     float(decode_share), float(d.sum() * step_s), static, autoscaled)


def plan_demand_day(plan, demand_tokens_per_s, step_s: float, **settings) -> DemandDay:
    """:func:`demand_day` on the replicas of ``plan`` (a :class:`~gpt4plan.serving.plan.Plan`): its chips per
    replica, its chips' price, its throughput fully used and its decode share; ``settings``: ``min_replicas``,
    ``scale_up_lag_s``, ``idle_value`` (None keeps the default)."""
    replica_chips = plan.chips // plan.replicas
    share = plan.usd_per_1k_output_tokens / plan.usd_per_1k_output_tokens_all_in
    return demand_day(demand_tokens_per_s, step_s, replica_tokens_per_s(plan), replica_chips,
                      plan.usd_per_hour / plan.chips, share, **{k: v for k, v in settings.items() if v is not None})
