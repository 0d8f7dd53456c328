"""The layout and batch search (docs/design.md): every allowed ``tp x pp x ep`` layout with every microbatch
of :data:`BATCH_GRID` is evaluated at once (:func:`gpt4plan.serving.evaluation.evaluate`), replicas are added
to meet the demand, and :func:`plan_inference` returns the min-chips and min-cost plans, the cost/speed
frontier, or -- when nothing is feasible -- the binding constraint, the nearest plan and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.serving import costs
from gpt4plan.serving.evaluation import Evaluation, evaluate
from gpt4plan.serving.plan import Fleet, InferenceResult, layout_words, plan_at, summaries
from gpt4plan.serving.reasons import ServeIssue
from gpt4plan.serving.step import image_tokens_in, prices_by_roofline
from gpt4plan.serving.workload import Pins, Speculation, Targets, Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.serving.traffic import Traffic
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["BATCH_GRID", "candidate_grid", "candidate_layouts", "wide_ep_grid", "plan_inference", "pareto", "speculation_notes", "no_layout_issue",
           "infeasible_issue"]

#: Microbatch sizes searched per pipeline stage (sequences): 1, 2, 3, 4, 6, 8, 12, ... 4096.
#: (Sorted in Python: np.unique imports numpy.ma, 8 ms of a fast start.)
BATCH_GRID = np.array(sorted(b for b in {2.0 ** k for k in range(13)} | {3.0 * 2 ** k for k in range(11)} if b <= 4096))


def candidate_grid(model: ModelSpec, hw: HardwareSpec, targets: Targets, pins: Pins):
    """The layouts and microbatches to evaluate: flat float arrays ``(tp, pp, ep, microbatch)``, every
    allowed layout within the chip cap and the pins with every microbatch of :data:`BATCH_GRID` (or the
    pinned batch split over the stages)."""
    dom = hw.scale_up.domain
    tps = [t for t in arch.allowed_tp(model) if t <= targets.max_chips]
    if pins.tp is not None:
        tps = [t for t in tps if t == pins.tp]
    else:
        # a TP group neither straddles scale-up domains nor leaves part of one idle:
        # tp divides the domain size, or spans whole domains
        tps = [t for t in tps if (dom % t == 0) or (t % dom == 0)]
        if model.dense_layers and model.ffn:
            tps = [t for t in tps if model.ffn % t == 0]  # dense FFN columns split evenly
    pps = list(range(1, min(model.layers, 128) + 1))
    if pins.pp is not None:
        pps = [pins.pp] if 1 <= pins.pp <= model.layers else []
    E = model.moe.experts if model.moe else 1
    eps = [e for e in range(1, E + 1) if E % e == 0]
    if pins.ep is not None:
        eps = [pins.ep] if E % pins.ep == 0 else []
    T, PP, EP = np.meshgrid(np.array(tps, float), np.array(pps, float), np.array(eps, float), indexing="ij")
    T, PP, EP = T.ravel(), PP.ravel(), EP.ravel()
    keep = (EP <= T) & (T % EP == 0) & (T * PP <= targets.max_chips)
    if (pins.attention_dp or 1) > 1 or (pins.redundant_experts or 0) > 0:
        keep &= False  # the attention-DP layout only (wide_ep_grid)
    if model.moe and pins.tp is None:
        keep &= (model.moe.expert_ffn % (T / EP)) == 0  # expert-TP splits each expert's FFN evenly
    if pins.batch is not None:
        keep &= PP <= pins.batch  # every pipeline stage needs a microbatch of >= 1 sequence
    if pins.chips is not None:
        keep &= T * PP == pins.chips
    # a pipeline deeper than needed for the same stage size is never better: keep the smallest pp per
    # distinct ceil(L/pp) (fewer chips, same stage memory)
    Ls = np.ceil(model.layers / np.maximum(PP, 1))
    smallest = np.ceil(model.layers / Ls) == PP
    if pins.pp is None:
        keep &= smallest
    T, PP, EP = T[keep], PP[keep], EP[keep]
    if pins.batch is not None:
        B = np.full(T.shape, float(pins.batch))
        return T, PP, EP, B / PP
    n, m = T.size, BATCH_GRID.size
    return (np.repeat(T, m), np.repeat(PP, m), np.repeat(EP, m), np.tile(BATCH_GRID, n))


def wide_ep_grid(model: ModelSpec, hw: HardwareSpec, targets: Targets, pins: Pins):
    """The attention-DP x wide-EP layouts to evaluate (MoE only): flat float arrays ``(tp, ep, attention_dp,
    redundant, microbatch)``.  ``attention_dp`` groups of ``tp`` chips (tp within one scale-up domain)
    hold the attention; the experts, with ``redundant`` extra slots (0 or one per expert-parallel rank unless
    pinned; ``E + redundant`` divisible by ``ep``), spread over ``ep`` expert-parallel ranks of the
    ``attention_dp * tp`` chips, each expert TP-split over ``attention_dp * tp / ep`` chips of one scale-up
    domain (expert TP 1, 2, 4 or 8: SGLang's ``moe_tp_size = tp_size / ep_size``; a model with few experts,
    GPT-4's 16, can only fill many chips so); one pipeline stage.  The microbatch is every group's
    microbatch of :data:`BATCH_GRID` (or the pinned batch)."""
    empty = (np.zeros(0),) * 5
    if model.moe is None or pins.attention_dp == 1 or pins.pp not in (None, 1) or model.moe.experts < 2:
        return empty
    E, dom = model.moe.experts, hw.scale_up.domain
    tps = [t for t in arch.allowed_tp(model) if dom % t == 0 and (pins.tp is None or t == pins.tp)]
    if pins.tp is None and model.dense_layers and model.ffn:
        tps = [t for t in tps if model.ffn % t == 0]
    rows = []
    for t in tps:  # every attention_dp a >= 2 at once: ep = a * t / etp must divide the E + r expert slots
        a_all = np.arange(2, targets.max_chips // t + 1)
        for etp in (1, 2, 4, 8):
            if etp > dom:
                continue
            a = a_all[(a_all * t) % etp == 0]
            ep = a * t // etp
            keep = ((pins.attention_dp is None) | (a == pins.attention_dp)) & ((pins.ep is None) | (ep == pins.ep))
            keep &= (ep >= 2) & ((etp == 1) | (a * t > E))  # expert TP only where E experts cannot fill the chips
            a, ep = a[keep], ep[keep]
            for r in ([pins.redundant_experts] if pins.redundant_experts is not None else [0, None]):
                slots = E + (ep if r is None else r)  # None: one redundant slot per expert-parallel rank
                ok = (slots % ep == 0) & (ep <= slots)
                rows += [(t, int(e), int(x), int(e if r is None else r)) for e, x in zip(ep[ok], a[ok], strict=True)]
    rows.sort(key=lambda row: (tps.index(row[0]), row[2], row[3]))  # by tp, attention_dp, then redundant
    if pins.chips is not None:
        rows = [row for row in rows if row[0] * row[2] == pins.chips]
    if not rows:
        return empty
    T, EP, A, R = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    if pins.batch is not None:
        return T, EP, A, R, np.full(T.shape, float(pins.batch))
    m = BATCH_GRID.size
    return (*(np.repeat(x, m) for x in (T, EP, A, R)), np.repeat(A, m) * np.tile(BATCH_GRID, T.size))


def plan_inference(
    model: ModelSpec,
    hw: HardwareSpec,
    workload: Workload | None = None,
    targets: Targets | None = None,
    pins: Pins | None = None,
    frontier_points: int = 12,
    plot_points: int = 0,
    traffic: Traffic | None = None,
) -> InferenceResult:
    """Search every layout x batch for the min-chips and min-cost plans and the cost/speed frontier.

    Args:
        model, hw: specs (``hw.price`` in USD per chip-hour is used for every dollar figure).
        workload: request shape and precisions (default :class:`Workload`).
        targets: TTFT/TPOT maxima (s), demand (output tokens/s) or concurrent users, chip cap.
        pins: fixed tp/pp/ep/batch/chips, for evaluating an existing deployment.
        frontier_points: at most this many plans on ``frontier`` (blended cost vs tokens/s per user).
        plot_points: when > 0, ``plot_frontier`` holds up to this many plans on the frontier of $/1k output
            tokens vs tokens/s per user over the candidates that meet every target but the TPOT (so a plot
            shows where the TPOT target cuts it).
        traffic: when given, the min_chips and min_cost plans carry their TTFT, TPOT and end-to-end latency
            percentiles from a replay of this traffic, and percentile targets are verified by replay
            (:mod:`gpt4plan.serving.verify`; not with speculative decoding or images, which the replay does not model).

    Returns:
        :class:`InferenceResult`; when nothing is feasible, ``feasible`` is False, ``reason`` says why
        (:class:`~gpt4plan.serving.reasons.ServeIssue`: its code, the ``binding_constraint``, is one of
        ``memory``, ``tpot``, ``ttft``, ``demand``, ``layout``; with ``traffic``, ``ttft_percentile`` or
        ``tpot_percentile``) and ``nearest`` is the candidate closest to meeting every constraint.
    """
    wl = workload or Workload()
    tg = targets or Targets()
    pins = pins or Pins()
    T, PP, EP, A, R, b = candidate_layouts(model, hw, wl, tg, pins)
    summary = summaries(model, hw, wl, tg)
    if T.size == 0:
        return InferenceResult(
            **summary, feasible=False, reason=no_layout_issue(model, pins, tg), candidates_evaluated=0,
        )  # fmt: skip
    with np.errstate(all="ignore"):  # absurd specs overflow to inf: those candidates are dropped below
        r = evaluate(model, hw, wl, T, PP, EP, b, attention_dp=A, redundant=R,
                     two_batch_overlap=pins.two_batch_overlap)
    fleet = _fleet(r, tg)
    ok = _Checks.of(r, fleet, tg, hw)
    feasible = ok.mem & ok.tpot & ok.ttft & ok.chips
    result = InferenceResult(**summary, feasible=bool(feasible.any()), candidates_evaluated=int(T.size))
    _beside(result, model, hw, wl, tg, pins, r, fleet, ok, plot_points, traffic is not None)
    if feasible.any():
        idx = np.flatnonzero(feasible)
        result.plans, result.frontier, chosen = _chosen(r, fleet, idx, hw, frontier_points)
        if traffic is not None and wl.speculation is None and not wl.images_per_request:
            _replayed(result, model, hw, wl, tg, traffic, r, fleet, idx, chosen)
        elif traffic is not None and wl.images_per_request:
            result.notes.append("latency percentiles: not replayed (the replay does not model images yet)")
        return result
    _infeasible(result, r, fleet, ok, tg, hw, wl)
    return result


def _infeasible(result: InferenceResult, r: Evaluation, fleet: Fleet, ok: _Checks, tg: Targets, hw, wl: Workload):
    """Nothing feasible: name the binding constraint and show the nearest plan."""
    result.nearest = plan_at(r, fleet, ok.nearest(r, fleet, tg), "nearest", hw)
    result.reason = infeasible_issue(ok.binding(), r, fleet, ok, tg, hw)
    if r.prefill_chunks is not None and np.isinf(r.prefill_chunks).all():  # chunked prefill starves every batch
        result.reason = ServeIssue("budget", {"max_batched_tokens": wl.max_batched_tokens})


def _beside(result: InferenceResult, model, hw, wl: Workload, tg: Targets, pins: Pins, r: Evaluation, fleet: Fleet,
            ok: _Checks, plot_points: int, replay: bool) -> None:
    """What a search returns beside its plans: the plot's frontier, the plans without speculation, notes."""
    if plot_points > 0:
        near = np.flatnonzero(ok.mem & ok.ttft & ok.chips)
        result.plot_frontier = [plan_at(r, fleet, i, "frontier", hw)
                                for i in pareto(r, fleet, near, plot_points, "usd_out")]
    if wl.speculation is not None:
        base = plan_inference(model, hw, replace(wl, speculation=None), tg, pins, frontier_points=0)
        result.without_speculation = base.plans
        result.notes = speculation_notes(model, wl.speculation) + (
            ["latency percentiles: not replayed (the replay does not model speculative decoding)"] if replay else [])


def _replayed(result: InferenceResult, model, hw, wl: Workload, tg: Targets, traffic: Traffic, r: Evaluation,
              fleet: Fleet, idx, chosen: list[int]) -> None:
    """The plans' latency from a replay of ``traffic``; percentile targets verified (serving/verify.py)."""
    from gpt4plan.serving.verify import Verifier, attach_latency  # replays only when asked (a fast start)

    attach_latency(result, Verifier(model, hw, wl, tg, traffic, r, fleet), idx, chosen)


def candidate_layouts(model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets, pins: Pins):
    """Every candidate: ``(tp, pp, ep, attention_dp, redundant, microbatch)``, the TP x PP layouts of
    :func:`candidate_grid` first, then the attention-DP layouts of :func:`wide_ep_grid` (priced by the
    roofline, and not with a draft model, whose own layout follows the target's TP x PP, or cross-attention image
    tokens, so far)."""
    T, PP, EP, b = candidate_grid(model, hw, tg, pins)
    A, R = np.ones_like(T), np.zeros_like(T)
    if ((wl.speculation is not None and wl.speculation.draft is not None) or not prices_by_roofline(hw, wl)
            or image_tokens_in(model, wl)[1]):
        return T, PP, EP, A, R, b
    wT, wEP, wA, wR, wb = wide_ep_grid(model, hw, tg, pins)
    return tuple(np.concatenate(x) for x in ((T, wT), (PP, np.ones_like(wT)), (EP, wEP), (A, wA), (R, wR), (b, wb)))


def _chosen(r: Evaluation, fleet: Fleet, idx, hw: HardwareSpec, frontier_points: int) -> tuple[list, list, list]:
    """The min-chips and min-cost plans among the feasible candidates ``idx``, their frontier, and the two
    plans' candidate indices."""
    # min_cost ranks by what a request costs in all (prefill + decode share, per token of
    # prompt and output), not by the decode share alone: $/1k output tokens alone would favour
    # layouts with slow prefill.
    cost = costs.at_utilisation(r.usd_blend[idx], fleet.util[idx])
    chips = fleet.chips
    i_chips = idx[np.lexsort((cost, chips[idx]))[0]]
    i_cost = idx[np.lexsort((chips[idx], cost))[0]]
    plans = [plan_at(r, fleet, i_chips, "min_chips", hw), plan_at(r, fleet, i_cost, "min_cost", hw)]
    return plans, [plan_at(r, fleet, i, "frontier", hw) for i in pareto(r, fleet, idx, frontier_points)], [
        int(i_chips), int(i_cost)]


def _fleet(r: Evaluation, tg: Targets) -> Fleet:
    """Replicas each candidate needs for the demand and the users, its chips, and the demand's utilisation."""
    replicas = np.ones_like(r.tp)
    if tg.demand_tokens_per_s:
        replicas = np.maximum(replicas, np.ceil(tg.demand_tokens_per_s / r.throughput - 1e-9))
    if tg.users:
        replicas = np.maximum(replicas, np.ceil(tg.users / r.batch - 1e-9))
    chips = r.chips * replicas
    # with demand set, provisioned replicas are not fully used: cost per token rises by 1/utilisation
    util = np.ones_like(chips)
    if tg.demand_tokens_per_s:
        util = costs.utilisation(tg.demand_tokens_per_s, replicas, r.throughput)
    return Fleet(replicas=replicas, chips=chips, util=util)


@dataclass(frozen=True)
class _Checks:
    """Which candidates meet each constraint: ``mem`` (fits ``capacity``, bytes per chip, and is finite),
    ``tpot``, ``ttft``, ``chips`` (within the chip cap)."""

    mem: np.ndarray
    tpot: np.ndarray
    ttft: np.ndarray
    chips: np.ndarray
    capacity: float

    @classmethod
    def of(cls, r: Evaluation, fleet: Fleet, tg: Targets, hw: HardwareSpec) -> _Checks:
        finite = np.all(np.isfinite(np.stack([r.mem, r.tpot, r.ttft, r.throughput, r.usd_blend])), axis=0)
        finite &= r.tpot > 0
        capacity = hw.memory * hw.usable_memory
        mem_ok = (r.mem <= capacity) & finite
        tpot_ok = np.ones_like(mem_ok) if tg.tpot_max_s is None else r.tpot <= tg.tpot_max_s * (1 + 1e-9)
        ttft_ok = np.ones_like(mem_ok) if tg.ttft_max_s is None else r.ttft <= tg.ttft_max_s * (1 + 1e-9)
        return cls(mem_ok, tpot_ok, ttft_ok, fleet.chips <= tg.max_chips, capacity)

    def binding(self) -> str:
        """The first constraint, in the order memory, TPOT, TTFT, demand, that no candidate meeting the
        earlier ones meets."""
        ok = np.ones_like(self.mem)
        for name, c in (("memory", self.mem), ("tpot", self.tpot), ("ttft", self.ttft), ("demand", self.chips)):
            if not (ok & c).any():
                return name
            ok &= c
        return "memory"

    def nearest(self, r: Evaluation, fleet: Fleet, tg: Targets) -> int:
        """The candidate whose worst ratio of need to limit (memory, TPOT, TTFT, chips) is smallest."""
        ratios = [r.mem / self.capacity]
        if tg.tpot_max_s:
            ratios.append(r.tpot / tg.tpot_max_s)
        if tg.ttft_max_s:
            ratios.append(r.ttft / tg.ttft_max_s)
        ratios.append(fleet.chips / tg.max_chips)
        return int(np.argmin(np.max(np.stack(ratios), axis=0)))


def speculation_notes(model: ModelSpec, spec: Speculation) -> list[str]:
    """Warnings about a draft model that cannot serve this target well (tokenizer, size)."""
    notes = []
    dm = spec.draft
    if dm is not None:
        if dm.vocab != model.vocab:
            notes.append(f"draft {dm.name} has a {dm.vocab:,}-token vocabulary, the target {model.vocab:,}: "
                         "speculative decoding needs a shared tokenizer")
        if arch.params(dm).total >= arch.params(model).total:
            notes.append(f"draft {dm.name} is not smaller than the target {model.name}")
    return notes


def pareto(r: Evaluation, fleet: Fleet, idx, n_points: int, cost_key: str = "usd_blend") -> list:
    """Indices (into r) of the Pareto frontier of cost per token (``cost_key``: blended, or ``usd_out``)
    vs tokens/s per user, cheapest first."""
    cost = costs.at_utilisation(getattr(r, cost_key)[idx], fleet.util[idx])
    speed = 1.0 / r.tpot[idx]
    order = np.lexsort((cost, -speed))  # fastest first, then cheapest
    best = math.inf
    front = []
    for j in order:
        if cost[j] < best * (1 - 1e-9):
            front.append(idx[j])
            best = cost[j]
    if len(front) > n_points:  # thin evenly, keeping both ends
        pick = sorted(set(np.round(np.linspace(0, len(front) - 1, n_points)).astype(int).tolist()))  # (no numpy.ma)
        front = [front[i] for i in pick]
    return front[::-1]  # cheapest (slowest) first


def no_layout_issue(model: ModelSpec, pins: Pins, tg: Targets) -> ServeIssue:
    """Why no layout satisfies the pins and the chip cap (code ``layout``)."""
    allowed = arch.allowed_tp(model)
    issues = []
    if pins.tp is not None and pins.tp not in allowed:
        issues.append(ServeIssue("tp_heads", {"tp": pins.tp, "heads": model.heads, "kv_heads": model.kv_heads,
                                              "allowed": allowed}))
    if model.moe and pins.ep is not None and model.moe.experts % pins.ep:
        issues.append(ServeIssue("ep_experts", {"ep": pins.ep, "experts": model.moe.experts}))
    if pins.pp is not None and pins.pp > model.layers:
        issues.append(ServeIssue("pp_layers", {"pp": pins.pp, "layers": model.layers}))
    if pins.ep is not None and pins.ep > 1 and not model.moe:
        issues.append(ServeIssue("ep_dense", {"ep": pins.ep, "model": model.name}))
    if pins.batch is not None and pins.pp is not None and pins.batch < pins.pp:
        issues.append(ServeIssue("batch_pp", {"batch": pins.batch, "pp": pins.pp}))
    if pins.chips is not None:
        issues.append(ServeIssue("chips_layout", {"chips": pins.chips, "allowed": allowed}))
    if model.moe and pins.attention_dp is not None and pins.attention_dp > 1:
        issues.append(ServeIssue("attention_dp_experts", {"attention_dp": pins.attention_dp,
                                                          "experts": model.moe.experts,
                                                          "redundant": pins.redundant_experts}))
    if not issues:
        issues.append(ServeIssue("no_layout", {"max_chips": tg.max_chips}))
    return ServeIssue("layout", {"issues": issues})


def infeasible_issue(binding: str, r: Evaluation, fleet: Fleet, ok: _Checks, tg: Targets, hw: HardwareSpec) -> ServeIssue:
    """Why the ``binding`` constraint cannot be met, with the best any candidate does."""
    mem_ok, tpot_ok, ttft_ok = ok.mem, ok.tpot, ok.ttft
    if binding == "memory":
        i = int(r.mem.argmin())
        tpot_too = None
        if tg.tpot_max_s:
            t = float(r.tpot.min())
            if t > tg.tpot_max_s:  # even ignoring memory
                tpot_too = t
        layout = layout_words(int(r.tp[i]), int(r.pp[i]), int(r.ep[i]), int(r.attention_dp[i]), int(r.redundant[i]))
        return ServeIssue("memory", {"memory": float(r.mem.min()), "tp": int(r.tp[i]), "pp": int(r.pp[i]),
                                     "layout": layout,
                                     "batch": int(r.batch[i]), "hardware": hw.name, "capacity": ok.capacity,
                                     "tpot": tpot_too, "tpot_max": tg.tpot_max_s})
    if binding == "tpot":
        return ServeIssue("tpot", {"tpot": float(r.tpot[mem_ok].min()), "tpot_max": tg.tpot_max_s})
    if binding == "ttft":
        return ServeIssue("ttft", {"ttft": float(r.ttft[mem_ok & tpot_ok].min()), "ttft_max": tg.ttft_max_s})
    # the fewest chips among the layouts that meet every other target (memory, TPOT, TTFT)
    return ServeIssue("demand", {"chips": int(fleet.chips[mem_ok & tpot_ok & ttft_ok].min()), "max_chips": tg.max_chips})
