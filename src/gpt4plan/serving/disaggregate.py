"""Disaggregated prefill/decode: separate prefill and decode pools (``gpt4plan infer --disaggregate``).

Aggregated serving (:mod:`gpt4plan.serving`) mixes every new request's prefill into the decode batch, so
each round of decode steps also carries ``batch / output_tokens`` prefills: long prompts stall decoding
and a tight TPOT forces a small batch.  Disaggregated serving (DistServe, Zhong et al. 2024; Splitwise,
Patel et al. 2024) runs prefill and decode on separate replicas, each with its own layout:

* both pools search the aggregated planner's layouts (:func:`~gpt4plan.serving.search.candidate_layouts`:
  TP × PP, and attention DP × wide EP for MoE models, as DeepSeek and SGLang serve DeepSeek-V3 in both pools).
* decode pool: ``R_d`` replicas of ``tp × pp`` (or ``attention_dp × tp``) chips; with no prefill mixed in,
  ``TPOT = pp * t_dec`` (speculation: ``pp * (g * t_draft + t_verify) / E``; the ``tpot_decode`` of
  :func:`~gpt4plan.serving.evaluation.evaluate`); each replica emits
  ``batch / TPOT`` tokens/s, i.e. ``λ_d = batch / TPOT / output_tokens`` requests/s.  ``R_d`` is 1, or
  what ``--demand`` / ``--users`` need.
* prefill pool: ``R_p = ceil(R_d λ_d / (ρ_max μ_p))`` replicas (``+ 1`` is also tried), sized to the
  request rate the decode pool drains with ``ρ_max = 0.8`` headroom (:data:`PREFILL_MAX_UTILIZATION`:
  the queue wait stays within 2 prefill stage times); a replica prefills ``μ_p = 1 / t_pre`` requests/s
  (one prompt per pipeline stage at a time; with attention DP one per attention group, ``μ_p = A / t_pre``
  with ``t_pre`` the pass of ``A`` prompts), each taking ``pp_p * t_pre`` (``prefill_latency``).  Load per replica
  ``ρ = λ / (R_p μ_p)``; queueing wait M/D/1: ``W = ρ / (2 μ_p (1 - ρ))``.
* KV-cache transfer per request: ``prompt_tokens × KV bytes per token`` (target and draft) over the
  scale-out links, ``min(chips of a prefill replica, chips of a decode replica)`` of them in parallel:
  ``t_kv = bytes / (links × scale-out bandwidth × eff) + latency``.  A decode replica must also ingest
  ``λ_d × prompt × KV bytes`` per second within its chips' scale-out bandwidth.
* ``TTFT = W + pp_p * t_pre + t_kv`` (the first token streams once the decode pool holds the cache).
* cost: ``$/1k output = decode pool $/s / output tokens/s``; ``$/1k input = prefill pool $/s / input
  tokens/s``; blended over input + output tokens; idle capacity (a prefill pool busy ``ρ < 1``, demand
  below capacity) is paid for.

Every quantity is a numpy array over (decode layout × batch) × prefill layout × ``R_p`` choices.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.serving import costs
from gpt4plan.serving.evaluation import BOUNDS, Evaluation, evaluate
from gpt4plan.serving.plan import InferenceResult, Plan
from gpt4plan.serving.reasons import ServeIssue
from gpt4plan.serving.search import candidate_layouts
from gpt4plan.serving.workload import Pins, Targets, Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["DisaggPlan", "DisaggResult", "plan_disaggregated", "aggregated_prefill_share", "PREFILL_MAX_UTILIZATION"]

#: The prefill pool is sized so that each replica is busy at most this fraction of the time (M/D/1 wait
#: ``ρ / (2 (1 - ρ))`` = 2 service times at 0.8; at 0.99 it would be 50).
PREFILL_MAX_UTILIZATION = 0.8


@dataclass
class DisaggPlan:
    """Two pools serving one model.  Times in s, memory in bytes, money in USD."""

    objective: str
    chips: int
    decode_chips: int
    prefill_chips: int
    decode_replicas: int
    decode_tp: int
    decode_pp: int
    decode_ep: int
    decode_attention_dp: int  # attention-DP groups of a decode replica (1: TP x PP)
    batch: int  # sequences in flight per decode replica
    prefill_replicas: int
    prefill_tp: int
    prefill_pp: int
    prefill_ep: int
    prefill_attention_dp: int  # attention-DP groups of a prefill replica, each prefilling its own prompts
    ttft_s: float
    tpot_s: float
    tokens_per_s_per_user: float
    throughput_tokens_per_s: float
    prefill_latency_s: float
    prefill_queue_s: float
    kv_transfer_s: float
    kv_transfer_bytes_per_request: float
    prefill_utilization: float
    decode_memory_per_chip_bytes: float
    prefill_memory_per_chip_bytes: float
    usd_per_1k_input_tokens: float
    usd_per_1k_output_tokens: float
    #: both pools' whole spend per 1k output tokens (the decode pool's share is usd_per_1k_output_tokens)
    usd_per_1k_output_tokens_all_in: float
    usd_per_1k_tokens_blended: float
    usd_per_hour: float
    decode_bound: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DisaggResult:
    """The disaggregated plans and how they compare with the aggregated ones.  ``reason`` (None when feasible)
    says why there is no pair of pools and ``verdict_reason`` why the verdict, as reason codes
    (:class:`~gpt4plan.serving.reasons.ServeIssue`) for the caller to word."""

    feasible: bool
    reason: ServeIssue | None = None
    plans: list[DisaggPlan] = field(default_factory=list)  # min_chips, min_cost
    #: ``wins`` / ``loses`` / ``ties`` against the aggregated min_cost plan (blended $/1k tokens); None
    #: when neither has a feasible plan
    verdict: str | None = None
    verdict_reason: ServeIssue | None = None
    aggregated_prefill_share: float | None = None

    @property
    def binding_constraint(self) -> str | None:
        """The code of :attr:`reason`; None when feasible."""
        return self.reason.code if self.reason is not None else None


def aggregated_prefill_share(p: Plan) -> float:
    """Fraction of an aggregated plan's decode round (:attr:`Plan.round_s`: pp cycles plus every prefill mixed
    into them) spent on the prefills."""
    return max(0.0, 1.0 - p.pp * p.cycle_s / p.round_s) if p.round_s > 0 else 0.0


def _kv_bytes_per_token(model: ModelSpec, wl: Workload) -> float:
    b = arch.kv_bytes_per_token(model, wl.kv_cache)
    sp = wl.speculation
    if sp is not None and sp.draft is not None:
        b += arch.kv_bytes_per_token(sp.draft, wl.kv_cache)
    return b


def plan_disaggregated(model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets,
                       aggregated: InferenceResult | None = None, keep_decode: int = 96) -> DisaggResult:
    """Search decode-pool layouts × batches and prefill-pool layouts; return the min-chips and min-cost
    pairs, and (given the aggregated result) whether disaggregation wins and why."""
    grid = candidate_layouts(model, hw, wl, tg, Pins())
    if grid[0].size == 0:
        return _finish(DisaggResult(False, ServeIssue("layout", {"pool": "pools"})), aggregated, wl)
    kv_tok = _kv_bytes_per_token(model, wl)
    dec = _decode_pool(model, hw, wl, tg, grid, kv_tok, keep_decode)
    if isinstance(dec, ServeIssue):
        return _finish(DisaggResult(False, dec), aggregated, wl)
    pre = _prefill_pool(model, hw, wl, grid)
    if pre is None:
        return _finish(DisaggResult(False, ServeIssue("memory", {"pool": "prefill"})), aggregated, wl)
    pools = _pair(dec, pre, wl, tg, hw, kv_tok)
    pair = pools.pair
    ttft_ok = pair["ttft"] <= (tg.ttft_max_s or math.inf) * (1 + 1e-9)
    chips_ok = pair["chips"] <= tg.max_chips
    ok = ttft_ok & chips_ok & np.isfinite(pair["usd_blend"])
    if not ok.any():
        if not ttft_ok.any():
            why = ServeIssue("ttft", {"pool": "pools", "ttft": float(np.min(pair["ttft"]))})
        else:
            why = ServeIssue("demand", {"pool": "pools", "max_chips": tg.max_chips})
        return _finish(DisaggResult(False, why), aggregated, wl)
    flat = np.flatnonzero(ok.ravel())
    blend, chips = pair["usd_blend"].ravel()[flat], pair["chips"].ravel()[flat]
    i_chips = flat[np.lexsort((blend, chips))[0]]
    i_cost = flat[np.lexsort((chips, blend))[0]]
    res = DisaggResult(True, plans=[_plan(pools, i_chips, "min_chips"), _plan(pools, i_cost, "min_cost")])
    return _finish(res, aggregated, wl)


@dataclass(frozen=True)
class _DecodePool:
    """Decode candidates (no prefill mixed in): the evaluation ``r``, per candidate ``tpot``, output
    tokens/s ``thr``, ``chips`` and ``usd_s`` of a replica; ``di`` the candidates kept for pairing."""

    r: Evaluation
    tpot: np.ndarray
    thr: np.ndarray
    chips: np.ndarray
    usd_s: np.ndarray
    di: np.ndarray


@dataclass(frozen=True)
class _PrefillPool:
    """Prefill candidates (each layout once): the evaluation ``rp``, the fitting ones ``pj`` and, for them,
    the service rate ``mu`` (requests/s), the latency ``lat`` (s), ``chips`` and ``usd_s`` of a replica."""

    rp: Evaluation
    pj: np.ndarray
    mu: np.ndarray
    lat: np.ndarray
    chips: np.ndarray
    usd_s: np.ndarray


@dataclass(frozen=True)
class _Pools:
    """Decode x prefill pairs: ``pair`` holds arrays of shape (2 R_p choices, decode kept, prefill fitting);
    ``r_d`` decode replicas and ``out_tps`` output tokens/s per decode candidate (column arrays)."""

    dec: _DecodePool
    pre: _PrefillPool
    pair: dict
    r_d: np.ndarray
    out_tps: np.ndarray
    kv_request: float  # KV-cache bytes moved per request


def _decode_pool(model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets, grid, kv_tok: float,
                 keep_decode: int = 96) -> _DecodePool | ServeIssue:
    """The decode candidates that fit, meet the TPOT and can take in their requests' KV caches, the cheapest
    ``keep_decode`` of them per output token and the cheapest few of every replica size; else why there are
    none."""
    P, n_out = float(wl.prompt_tokens), float(wl.output_tokens)
    T, PP, EP, A, R, B = grid
    with np.errstate(all="ignore"):
        r = evaluate(model, hw, wl, T, PP, EP, B, attention_dp=A, redundant=R)
    tpot_d = r.tpot_decode
    thr_d = r.batch / tpot_d
    chips_d = r.chips
    usd_d = costs.usd_per_s(chips_d, hw.price)
    finite = np.isfinite(tpot_d) & np.isfinite(r.mem) & (tpot_d > 0)
    mem_ok = finite & (r.mem <= hw.memory * hw.usable_memory)
    tpot_ok = tpot_d <= (tg.tpot_max_s or math.inf) * (1 + 1e-9)
    ingest_ok = thr_d / n_out * P * kv_tok <= chips_d * (hw.scale_out.bandwidth * hw.efficiency.network)
    d_ok = mem_ok & tpot_ok & ingest_ok
    if not d_ok.any():
        if not mem_ok.any():
            return ServeIssue("memory", {"pool": "decode"})
        if not (mem_ok & tpot_ok).any():
            return ServeIssue("tpot", {"pool": "decode", "tpot": float(tpot_d[mem_ok].min())})
        return ServeIssue("network", {"pool": "decode"})
    idx = np.flatnonzero(d_ok)
    cost_tok = (usd_d / thr_d)[idx]
    keep = set(idx[np.argsort(cost_tok, kind="stable")[:keep_decode]].tolist())
    for c in np.unique(chips_d[idx]):  # and the cheapest few of every replica size (granularity)
        sub = idx[chips_d[idx] == c]
        keep.update(sub[np.argsort((usd_d / thr_d)[sub], kind="stable")[:4]].tolist())
    return _DecodePool(r=r, tpot=tpot_d, thr=thr_d, chips=chips_d, usd_s=usd_d, di=np.array(sorted(keep)))


def _prefill_pool(model: ModelSpec, hw: HardwareSpec, wl: Workload, grid) -> _PrefillPool | None:
    """Every layout once (batch plays no part), memory for one prompt per stage (attention DP: one per group,
    prefilled together, so a replica serves ``attention_dp`` prompts per prefill); None if none fits."""
    T, PP, EP, A, R, _ = grid
    _, first = np.unique(np.stack([T, PP, EP, A, R]), axis=1, return_index=True)
    first = np.sort(first)  # each layout once, in the grid's order
    a = A[first]
    with np.errstate(all="ignore"):
        rp = evaluate(model, hw, wl, T[first], PP[first], EP[first], a, prefill_seqs=a, attention_dp=a,
                      redundant=R[first])
    p_ok = np.isfinite(rp.t_pre) & (rp.mem <= hw.memory * hw.usable_memory) & (rp.t_pre > 0)
    if not p_ok.any():
        return None
    pj = np.flatnonzero(p_ok)
    t_pre = rp.t_pre[pj]
    chips_p = rp.chips[pj]
    return _PrefillPool(rp=rp, pj=pj, mu=rp.attention_dp[pj] / t_pre, lat=rp.prefill_latency[pj], chips=chips_p,
                        usd_s=costs.usd_per_s(chips_p, hw.price))


def _pair(dec: _DecodePool, pre: _PrefillPool, wl: Workload, tg: Targets, hw: HardwareSpec,
          kv_tok: float) -> _Pools:
    """Decode candidate (rows) x prefill candidate (columns) x R_p in {ceil, ceil + 1}."""
    P, n_out = float(wl.prompt_tokens), float(wl.output_tokens)
    di, mu_p = dec.di, pre.mu[None, :]
    thr = dec.thr[di][:, None]
    if tg.demand_tokens_per_s:
        r_d = np.ceil(tg.demand_tokens_per_s / thr - 1e-9)
    else:
        r_d = np.ones_like(thr)
    if tg.users:
        r_d = np.maximum(r_d, np.ceil(tg.users / dec.r.batch[di][:, None] - 1e-9))
    out_tps = r_d * thr
    if tg.demand_tokens_per_s:
        out_tps = np.minimum(out_tps, tg.demand_tokens_per_s)
    load = out_tps / n_out  # requests/s the prefill pool must take
    base_rp = np.maximum(1.0, np.ceil(load / (PREFILL_MAX_UTILIZATION * mu_p) - 1e-9))
    bw_out = hw.scale_out.bandwidth * hw.efficiency.network
    rows = []
    for extra in (0.0, 1.0):
        R_p = base_rp + extra
        rho = load / (R_p * mu_p)
        wait = np.where(rho < 1.0, rho / (2 * mu_p * np.maximum(1.0 - rho, 1e-12)), np.inf)
        links = np.minimum(dec.chips[di][:, None], pre.chips[None, :])
        t_kv = P * kv_tok / (links * bw_out) + hw.scale_out.latency
        usd_s = r_d * dec.usd_s[di][:, None] + R_p * pre.usd_s[None, :]
        rows.append({
            "R_p": R_p, "rho": rho, "wait": wait, "t_kv": t_kv, "ttft": wait + pre.lat[None, :] + t_kv,
            "chips": r_d * dec.chips[di][:, None] + R_p * pre.chips[None, :], "usd_s": usd_s,
            "usd_out": costs.usd_per_1k(r_d * dec.usd_s[di][:, None], out_tps),
            "usd_in": costs.usd_per_1k(R_p * pre.usd_s[None, :], load * P),
            "usd_blend": costs.usd_per_1k(usd_s, costs.tokens_per_s_in_and_out(out_tps, P, n_out)),
        })  # fmt: skip
    shape = (len(di), len(pre.pj))
    pair = {k: np.stack([np.broadcast_to(x[k], shape) for x in rows]) for k in rows[0]}  # (2, n_d, n_p)
    return _Pools(dec=dec, pre=pre, pair=pair, r_d=r_d, out_tps=out_tps, kv_request=P * kv_tok)


def _plan(c: _Pools, flat_index: int, objective: str) -> DisaggPlan:
    pair = c.pair
    e, i, j = np.unravel_index(int(flat_index), pair["chips"].shape)
    r, rp = c.dec.r, c.pre.rp
    d, p = int(c.dec.di[i]), int(c.pre.pj[j])
    r_d = float(c.r_d[i, 0])
    R_p = float(pair["R_p"][e, i, j])
    tpot = float(c.dec.tpot[d])
    out_tps = float(c.out_tps[i, 0])
    return DisaggPlan(
        objective=objective,
        chips=int(pair["chips"][e, i, j]),
        decode_chips=int(r_d * c.dec.chips[d]),
        prefill_chips=int(R_p * c.pre.chips[j]),
        decode_replicas=int(r_d),
        decode_tp=int(r.tp[d]), decode_pp=int(r.pp[d]), decode_ep=int(r.ep[d]),
        decode_attention_dp=int(r.attention_dp[d]),
        batch=int(round(float(r.batch[d]))),
        prefill_replicas=int(R_p),
        prefill_tp=int(rp.tp[p]), prefill_pp=int(rp.pp[p]), prefill_ep=int(rp.ep[p]),
        prefill_attention_dp=int(rp.attention_dp[p]),
        ttft_s=float(pair["ttft"][e, i, j]),
        tpot_s=tpot,
        tokens_per_s_per_user=1.0 / tpot,
        throughput_tokens_per_s=out_tps,
        prefill_latency_s=float(rp.prefill_latency[p]),
        prefill_queue_s=float(pair["wait"][e, i, j]),
        kv_transfer_s=float(pair["t_kv"][e, i, j]),
        kv_transfer_bytes_per_request=c.kv_request,
        prefill_utilization=float(pair["rho"][e, i, j]),
        decode_memory_per_chip_bytes=float(r.mem[d]),
        prefill_memory_per_chip_bytes=float(rp.mem[p]),
        usd_per_1k_input_tokens=float(pair["usd_in"][e, i, j]),
        usd_per_1k_output_tokens=float(pair["usd_out"][e, i, j]),
        usd_per_1k_output_tokens_all_in=float(costs.usd_per_1k(pair["usd_s"][e, i, j], out_tps)),
        usd_per_1k_tokens_blended=float(pair["usd_blend"][e, i, j]),
        usd_per_hour=float(pair["usd_s"][e, i, j]) * 3600.0,
        decode_bound=BOUNDS[int(r.bound[d])],
    )


def _finish(res: DisaggResult, agg: InferenceResult | None, wl: Workload) -> DisaggResult:
    """Set the verdict against the aggregated min_cost plan, and why."""
    if agg is None:
        return res
    if not agg.feasible:
        if res.feasible:
            res.verdict = "wins"
            res.verdict_reason = ServeIssue("only_disaggregated", {"aggregated": agg.reason})
        return res  # neither meets the targets: no verdict
    a = agg.plans[1]
    share = aggregated_prefill_share(a)
    res.aggregated_prefill_share = share
    if not res.feasible:
        res.verdict = "loses"
        res.verdict_reason = ServeIssue("only_aggregated", {"disaggregated": res.reason})
        return res
    d = res.plans[1]
    ratio = d.usd_per_1k_tokens_blended / a.usd_per_1k_tokens_blended
    res.verdict = "wins" if ratio < 0.99 else ("loses" if ratio > 1.01 else "ties")
    res.verdict_reason = ServeIssue("pools_pay" if res.verdict == "wins" else "pools_do_not_pay", {
        "usd": d.usd_per_1k_tokens_blended, "aggregated_usd": a.usd_per_1k_tokens_blended, "ratio": ratio,
        "chips": d.chips, "aggregated_chips": a.chips, "prompt_tokens": wl.prompt_tokens, "share": share,
        "prefill_replicas": d.prefill_replicas, "prefill_chips": d.prefill_chips,
        "prefill_utilization": d.prefill_utilization, "kv_transfer_s": d.kv_transfer_s, "ttft_s": d.ttft_s,
        "aggregated_ttft_s": a.ttft_s, "batch": d.batch, "aggregated_batch": a.batch,
    })  # fmt: skip
    return res
