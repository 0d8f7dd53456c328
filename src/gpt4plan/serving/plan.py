"""What a search returns: one evaluated layout (:class:`Plan`) and everything one ``gpt4plan infer`` run found
(:class:`InferenceResult`), with the builders that fill them from an :class:`~gpt4plan.serving.evaluation.Evaluation`
(docs/design.md).  Times in s, memory in bytes, money in USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch, vision
from gpt4plan.physics.step import compute_dtype
from gpt4plan.serving import costs
from gpt4plan.serving.evaluation import BOUNDS, Evaluation
from gpt4plan.serving.reasons import ServeIssue
from gpt4plan.serving.step import performance_model
from gpt4plan.serving.workload import Targets, Workload
from gpt4plan.specs.banded import BREAKDOWN, NESTED, Banded
from gpt4plan.specs.vocabulary import DTYPE_BYTES

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["Plan", "InferenceResult", "Fleet", "plan_at", "summaries", "layout_words"]


def layout_words(tp: int, pp: int, ep: int, attention_dp: int = 1, redundant_experts: int = 0) -> str:
    """A serving layout in words: ``TP 8 × PP 2, EP 8``; the attention-DP layout ``DP-attn 16 × EP 16``,
    ``DP-attn 4 × TP 4 × EP 16``, ``DP-attn 16 × TP 8 × EP 16 (expert TP 8)``, with ``+ 16 redundant experts``
    where it has them."""
    if attention_dp > 1:
        s = f"DP-attn {attention_dp}" + (f" × TP {tp}" if tp > 1 else "") + (f" × PP {pp}" if pp > 1 else "")
        etp = attention_dp * tp // max(ep, 1)
        s += f" × EP {ep}" + (f" (expert TP {etp})" if etp > 1 else "")
        return s + (f" + {redundant_experts} redundant experts" if redundant_experts else "")
    return f"TP {tp} × PP {pp}" + (f", EP {ep}" if ep > 1 else "")


@dataclass
class Plan(Banded):
    """One evaluated layout.  Times in s, memory in bytes, money in USD."""

    objective: str
    chips: int
    replicas: int
    tp: int
    pp: int
    ep: int
    #: attention data-parallel groups of tp chips each (1: the TP x PP layout); > 1: the experts, with
    #: redundant_experts extra slots (EPLB), spread over ep = attention_dp x tp chips
    attention_dp: int
    redundant_experts: int
    batch: int
    microbatch: float
    layers_per_stage: int
    ttft_s: float
    tpot_s: float
    tokens_per_s_per_user: float
    throughput_tokens_per_s: float
    memory_per_chip_bytes: float
    weights_per_chip_bytes: float
    kv_cache_per_chip_bytes: float
    reserve_per_chip_bytes: float
    free_per_chip_bytes: float
    usd_per_1k_input_tokens: float
    #: the decode share: what the decode passes cost per 1k output tokens (prefills not included)
    usd_per_1k_output_tokens: float
    #: the whole spend (decode, prefills mixed in, drafts) per 1k output tokens: usd_per_hour / 3.6 / output
    #: tokens/s
    usd_per_1k_output_tokens_all_in: float
    usd_per_1k_tokens_blended: float
    usd_per_hour: float
    mfu: float
    mbu: float
    bound: str
    decode_step_s: float
    decode_compute_s: float
    decode_memory_s: float
    decode_comm_s: float
    prefill_stage_s: float
    #: one decode pass of a stage that also carries max(1, prompts per pass) whole prompts (mixed batching)
    mixed_step_s: float
    # the parts of TPOT and TTFT the tables print (not in the JSON and CSV): one stage's cycle for one
    # microbatch (draft steps and the verification pass; decode_step_s without speculation), the other
    # sequences' prefills a sequence waits for per cycle (TPOT x tokens per cycle = pp x cycle + these), and
    # a prompt's prefill through the pp stages
    cycle_s: float = field(metadata=BREAKDOWN)
    others_prefills_s: float = field(metadata=BREAKDOWN)
    prefill_latency_s: float = field(metadata=BREAKDOWN)
    #: one round of pp cycles plus every prefill mixed into it (s); TPOT x tokens per cycle counts only the
    #: other sequences' prefills
    round_s: float
    experts_touched_per_layer: float | None = None
    #: largest batch (sequences per replica) whose KV cache fits next to the weights at this layout
    max_batch_by_memory: int | None = None
    # speculative decoding (None without): draft step per token per stage, tokens per cycle, the draft's
    # memory per chip, TPOT at the same layout and batch without speculation, and the speed-up
    draft_tokens: int | None = None
    draft_step_s: float | None = None
    expected_tokens_per_cycle: float | None = None
    draft_memory_per_chip_bytes: float | None = None
    tpot_without_speculation_s: float | None = None
    speculative_speedup: float | None = None
    #: the attention-DP passes run as two overlapped halves (SGLang --enable-two-batch-overlap)
    two_batch_overlap: bool = False
    #: MTP speculation (None without): tokens drafted per cycle by the model's multi-token-prediction module
    mtp: int | None = None
    # prefix caching: $ per 1k cached and uncached input tokens (usd_per_1k_input_tokens is their blend over
    # the prompt: cached x prefix x hit rate + uncached x the rest; without prefix caching no token is cached,
    # uncached = usd_per_1k_input_tokens and cached is what a token found in the cache would cost) and the
    # shared prefix's KV per chip (held once, part of kv_cache_per_chip_bytes; 0 without)
    usd_per_1k_input_tokens_cached: float | None = None
    usd_per_1k_input_tokens_uncached: float | None = None
    prefix_kv_per_chip_bytes: float | None = None
    #: chunked prefill (None without a token budget per pass): passes one prompt's prefill takes (mean)
    prefill_chunks: float | None = None
    #: TTFT, TPOT and end-to-end latency percentiles from a replay of the plan (serving/verify.py):
    #: ``{ttft_s: {p50, p90, p99}, tpot_s: {...}, e2e_s: {...}, replay: {requests, load, replicas, seed,
    #: request_rate_per_s}}``; None where no replay was run (frontier plans, speculative decoding)
    latency: dict | None = field(default=None, metadata=NESTED)
    # images (None without): the encoder's time for one request's images on the first stage, and the image
    # tokens' share of the prompt's prefill through the stages; both are in TTFT and $/1k input
    image_encoder_s: float | None = None
    image_prefill_s: float | None = None


@dataclass
class InferenceResult:
    """Everything one ``gpt4plan infer`` run found.  ``plans`` holds min_chips and min_cost; ``reason`` (None
    when feasible) says why there is none, as a reason code (:class:`~gpt4plan.serving.reasons.ServeIssue`)
    for the caller to word."""

    model: dict
    hardware: dict
    workload: dict
    targets: dict
    feasible: bool
    reason: ServeIssue | None = None
    plans: list[Plan] = field(default_factory=list)
    frontier: list[Plan] = field(default_factory=list)
    nearest: Plan | None = None
    candidates_evaluated: int = 0
    band_notes: list[str] = field(default_factory=list)
    #: with speculative decoding: min_chips and min_cost plans of the same search without it
    without_speculation: list[Plan] = field(default_factory=list)
    #: frontier of $/1k output tokens vs tokens/s per user, TPOT target ignored (``plot_points`` > 0)
    plot_frontier: list[Plan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: which model priced the passes (:func:`gpt4plan.serving.step.performance_model`)
    performance_model: dict | None = None
    #: how the plans' latency replay drew its requests, or the request log it replayed (set by the caller)
    traffic: dict | None = None

    @property
    def binding_constraint(self) -> str | None:
        """``memory``, ``tpot``, ``ttft``, ``demand``, ``layout`` (or a sweep's ``context``): the code of
        :attr:`reason`; None when feasible."""
        return self.reason.code if self.reason is not None else None


@dataclass(frozen=True)
class Fleet:
    """Per candidate: ``replicas`` provisioned, ``chips`` in all, and ``util``, the fraction of their capacity
    the demand uses (1 without a demand)."""

    replicas: np.ndarray
    chips: np.ndarray
    util: np.ndarray


def plan_at(r: Evaluation, fleet: Fleet, i, objective: str, hw: HardwareSpec) -> Plan:
    """Candidate ``i`` of ``r`` as a :class:`Plan`; costs and utilisations scaled by the fleet's
    utilisation."""
    i = int(i)

    def at(a) -> float:
        return float(a[i])

    capacity = hw.memory * hw.usable_memory
    util, chips, replicas = at(fleet.util), at(fleet.chips), at(fleet.replicas)
    return Plan(
        objective=objective,
        chips=int(chips),
        replicas=int(replicas),
        tp=int(at(r.tp)),
        pp=int(at(r.pp)),
        ep=int(at(r.ep)),
        attention_dp=int(at(r.attention_dp)),
        redundant_experts=int(at(r.redundant)),
        batch=int(round(at(r.batch))),
        microbatch=at(r.b),
        layers_per_stage=int(at(r.Ls)),
        ttft_s=at(r.ttft),
        tpot_s=at(r.tpot),
        tokens_per_s_per_user=1.0 / at(r.tpot),
        throughput_tokens_per_s=at(r.throughput) * replicas * util,
        memory_per_chip_bytes=at(r.mem),
        weights_per_chip_bytes=at(r.weights_mem),
        kv_cache_per_chip_bytes=at(r.kv_mem),
        reserve_per_chip_bytes=hw.memory - capacity,
        free_per_chip_bytes=capacity - at(r.mem),
        usd_per_1k_input_tokens=costs.at_utilisation(at(r.usd_in), util),
        usd_per_1k_output_tokens=costs.at_utilisation(at(r.usd_out), util),
        usd_per_1k_output_tokens_all_in=costs.at_utilisation(at(r.usd_out_all_in), util),
        usd_per_1k_tokens_blended=costs.at_utilisation(at(r.usd_blend), util),
        usd_per_hour=chips * hw.price,
        mfu=at(r.mfu) * util,
        mbu=at(r.mbu) * util,
        bound=BOUNDS[int(at(r.bound))],
        decode_step_s=at(r.t_dec),
        decode_compute_s=at(r.t_compute),
        decode_memory_s=at(r.t_memory),
        decode_comm_s=at(r.t_comm),
        mixed_step_s=at(r.t_mixed),
        cycle_s=at(r.cycle),
        others_prefills_s=at(r.others_prefills),
        prefill_latency_s=at(r.prefill_latency),
        round_s=at(r.round),
        prefill_stage_s=at(r.t_pre),
        experts_touched_per_layer=at(r.experts_touched) if r.experts_touched.any() else None,
        max_batch_by_memory=_max_batch(r, i, capacity),
        two_batch_overlap=bool(r.two_batch_overlap is not None and r.two_batch_overlap[i]),
        **_speculation_fields(r, i),
        **_image_fields(r, i),
        **_prefix_and_chunk_fields(r, i, util),
    )


def _max_batch(r: Evaluation, i: int, capacity: float) -> int:
    """Largest batch whose KV cache (target and draft) fits next to the weights, in whole microbatches."""
    # the shared prefix's KV (prefix caching) is held once, whatever the batch
    kv, draft_kv, mem = float(r.kv_mem[i]) - float(np.broadcast_to(r.kv_shared, r.kv_mem.shape)[i]), float(r.draft_kv[i]), float(r.mem[i])
    per_seq = (kv + draft_kv) / max(float(r.batch[i]), 1e-12)
    free = capacity - (mem - kv - draft_kv)
    if per_seq <= 0:
        return 0
    n = max(0.0, math.floor(free / per_seq))
    return int(min(n, 1e12))


def _image_fields(r: Evaluation, i: int) -> dict:
    if not r.t_encoder.any():
        return {}
    return {"image_encoder_s": float(r.t_encoder[i]), "image_prefill_s": float(r.image_prefill[i])}


def _speculation_fields(r: Evaluation, i: int) -> dict:
    if r.expected_tokens is None:
        return {}
    return {"draft_tokens": int(r.draft_tokens), "draft_step_s": float(r.t_draft[i]),
            "expected_tokens_per_cycle": float(r.expected_tokens),
            "draft_memory_per_chip_bytes": float(r.draft_mem[i]), "tpot_without_speculation_s": float(r.tpot_plain[i]),
            "speculative_speedup": float(r.speedup[i]), "mtp": int(r.draft_tokens) if r.mtp else None}


def _vision_summary(model: ModelSpec) -> dict | None:
    """The model's image encoder in numbers (None without a vision block)."""
    v = model.vision
    if v is None:
        return None
    return {"encoder_params": vision.encoder_params(v), "encoder_flops_per_image": vision.encoder_flops_per_image(v),
            "encoder_tokens_per_image": vision.encoder_sequence(v), "tokens_per_image": v.tokens_per_image,
            "injection": v.injection, "cross_attention_layers": vision.cross_attention_layers(model)}


def _prefix_and_chunk_fields(r: Evaluation, i: int, util: float) -> dict:
    out = {"prefix_kv_per_chip_bytes": float(np.broadcast_to(r.kv_shared, r.kv_mem.shape)[i])}
    if r.usd_in_cached is not None:
        out["usd_per_1k_input_tokens_cached"] = costs.at_utilisation(float(r.usd_in_cached[i]), util)
        out["usd_per_1k_input_tokens_uncached"] = costs.at_utilisation(float(r.usd_in_uncached[i]), util)
    if r.prefill_chunks is not None:
        out["prefill_chunks"] = float(r.prefill_chunks[i])
    return out


def summaries(model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets) -> dict:
    """The model, hardware, workload and targets of a search, as the dicts :class:`InferenceResult` holds."""
    p = arch.params(model)
    return {
        "model": {
            "name": model.name,
            "params_total": p.total,
            "params_active": p.active,
            "flops_per_token": arch.flops_per_token(model),
            "kv_cache_bytes_per_token": arch.kv_bytes_per_token(model, wl.kv_cache),
            "weights_bytes": p.total * DTYPE_BYTES[wl.weights],
            "layers": model.layers,
            "experts": model.moe.experts if model.moe else None,
            "top_k": model.moe.top_k if model.moe else None,
            "vision": _vision_summary(model),
        },
        "hardware": {
            "name": hw.name,
            "price_usd_per_hour": hw.price,
            "memory_bytes": hw.memory,
            "usable_memory_bytes": hw.memory * hw.usable_memory,
            "memory_bandwidth_bytes_per_s": hw.memory_bandwidth,
            "peak_flops_per_s": hw.peak(compute_dtype(wl.weights)),
            "scale_up_domain": hw.scale_up.domain,
        },
        "workload": {
            "prompt_tokens": wl.prompt_tokens,
            "output_tokens": wl.output_tokens,
            "weights": wl.weights,
            "kv_cache": wl.kv_cache,
            "images_per_request": wl.images_per_request,
            "image_tokens_per_request": vision.image_tokens(model, wl.images_per_request),
            "compute": hw.peak_dtype(compute_dtype(wl.weights)),  # what the chip's tensor cores run
            "prefix_tokens": wl.prefix_tokens,
            "prefix_hit_rate": wl.prefix_hit_rate if wl.prefix_tokens else None,
            "max_batched_tokens": wl.max_batched_tokens,
            "speculation": None if wl.speculation is None else {
                "method": ("mtp" if wl.speculation.mtp else "draft_model" if wl.speculation.draft
                           else "cost_fraction"),
                "draft_model": wl.speculation.draft.name if wl.speculation.draft else None,
                "draft_tokens": wl.speculation.tokens,
                "mtp": wl.speculation.tokens if wl.speculation.mtp else None,
                "acceptance": wl.speculation.acceptance,
                "acceptance_per_depth": list(wl.speculation.acceptances) if wl.speculation.acceptances else None,
                "draft_cost_fraction": wl.speculation.cost_fraction,
                "expected_tokens_per_cycle": wl.speculation.expected_tokens,
            },
        },
        "targets": {
            "ttft_max_s": tg.ttft_max_s,
            "tpot_max_s": tg.tpot_max_s,
            "tokens_per_s_per_user_min": tg.tokens_per_s_per_user_min,
            "demand_tokens_per_s": tg.demand_tokens_per_s,
            "users": tg.users,
            "max_chips": tg.max_chips,
            "ttft_percentile": tg.ttft_percentile,
            "tpot_percentile": tg.tpot_percentile,
        },
        "performance_model": performance_model(hw, wl, model),
    }
