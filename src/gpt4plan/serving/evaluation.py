"""Aggregated serving at candidate layouts: latency, throughput, memory and cost of each (docs/design.md).

Decode (continuous batching, mixed prefill/decode): ``pp`` microbatches of ``b`` sequences are in
flight, so a replica holds ``batch = b * pp`` sequences.  A stage's forward pass is timed by
:func:`gpt4plan.serving.step.stage_model`.  Every sequence finishes after ``output_tokens`` tokens, so
each round of ``pp`` passes admits ``arrivals = batch / output_tokens`` prompts, i.e. ``n = arrivals / pp``
per pass.  A prompt rides whole in a decode pass, sharing its weight read (Orca; Sarathi-Serve): a
fraction ``f = min(n, 1)`` of the passes carry ``max(n, 1)`` prompts (``t_mix``), the rest decode only
(``t_dec``)::

    round  = pp * t_dec + prefills,  prefills = pp * f * (t_mix - t_dec)   # all the replica's work per round
    TPOT   = pp * t_dec + prefills * (1 - 1 / batch)                 # the other sequences' prefills only
    TTFT   = pp * t_mix + round / 2 + runtime and serving overheads  # mixed passes through all stages + mean wait
    output tokens/s per replica = batch / round

and the costs of :mod:`gpt4plan.serving.costs`.  A sequence's own prefill comes before its first token
(TTFT), not between its output tokens: over its ``output_tokens`` tokens every one of the ``batch`` slots
turns over once, so it waits for ``batch - 1`` other prompts' prefills -- a fraction ``1 - 1/batch`` of
the round's prefill time.  At batch 1 TPOT is the bare decode step (what a single-stream benchmark
measures as inter-token latency).  ``t_pre`` (a prompt alone on a stage) is what a static batch, an idle
server and a disaggregated prefill pool pay.

Speculative decoding (:class:`~gpt4plan.serving.workload.Speculation`): the verification pass is the
decode step with ``b * (g+1)`` tokens of FLOPs, activations and (MoE) routed tokens, but weights read once
and the KV cache of ``b`` sequences read once -- so it costs about one plain step while the step is
bandwidth-bound (small batch) and ``g + 1`` steps once it is compute-bound (large batch)::

    cycle  = g * t_draft + t_verify                                  # per stage and microbatch
    round  = pp * cycle + prefills (mixed passes and the draft's prefills)   # every sequence gains E tokens
    TPOT   = (pp * cycle + prefills * (1 - 1 / batch)) / E;  speed-up = TPOT without speculation / TPOT

A draft model shares the target's chips: TP-sharded like the target where its heads (and FFN width)
allow that tp, else replicated on every chip of the TP group, each running ``b / tp`` of the
sequences; it is split into ``min(pp, its layers)`` stages; its weights and KV cache add to memory per
chip and its prefill to ``t_pre``.  A draft given as a cost fraction ``f`` (n-gram lookup, Medusa-style
heads) costs ``f`` plain target steps per draft token and no memory.

Images (``wl.images_per_request`` > 0, a model with a vision block; :mod:`gpt4plan.physics.vision`): inline
image tokens lengthen the prompt the stage model sees, cross-attention ones add their KV and attention there
(:func:`gpt4plan.serving.step.stage_model`); the encoder's time per request ``t_enc``
(:func:`gpt4plan.serving.step.encoder_pass`) runs on the first stage before the prompt's prefill::

    prefills += arrivals * t_enc;  TTFT += t_enc;  prefill_latency = pp * t_pre + t_enc
    $/1k input = replica $/s * (prompt's marginal pass time + t_enc) / (prompt + image tokens) * 1000

Its weights add to memory per chip.  Without images every figure is what it was, bit for bit.

Every quantity is computed on flat numpy arrays over all candidates at once (no Python loop per
candidate).  Units: seconds, bytes, FLOP, USD; ``*_per_s`` rates per second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch, vision
from gpt4plan.physics.step import StageModel, StagePass, compute_dtype, roofline_s
from gpt4plan.serving import costs
from gpt4plan.serving.prefill import chunked_prefill, prefix_and_chunk_fields
from gpt4plan.serving.step import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, encoder_pass, stage_model
from gpt4plan.serving.workload import Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["BOUNDS", "Evaluation", "evaluate"]

#: What bounds a decode step, indexed by :attr:`Evaluation.bound`.
BOUNDS = ("compute", "memory", "network")


@dataclass
class Evaluation:
    """Candidate layouts evaluated: float arrays of shape ``(N,)`` unless noted.

    Layout: ``tp``, ``pp``, ``ep``, ``attention_dp`` (attention groups per stage, 1 for TP x PP),
    ``redundant`` (redundant expert slots), ``chips`` (per replica: ``attention_dp * tp * pp``), ``b``
    (microbatch: sequences per stage, all groups), ``batch`` (sequences per replica), ``Ls`` (layers on the
    largest stage).  Memory in bytes per chip: ``weights_mem``, ``kv_mem``, ``draft_mem``,
    ``draft_kv``, ``mem`` (the total).  Times in s: ``t_dec`` (the verification pass with speculation),
    ``t_pre``, ``t_mixed``, ``tpot`` (counts the other sequences' prefills), ``ttft``, ``round`` (all the
    prefills), its parts ``t_compute``, ``t_memory``, ``t_comm``, and ``t_draft``, ``tpot_plain`` (TPOT
    without speculation), ``speedup``; the parts of TPOT and TTFT: ``cycle`` (one stage, one microbatch:
    ``g`` draft steps and the verification pass; ``t_dec`` without speculation), ``others_prefills`` (the
    other sequences' prefills a sequence waits for per cycle: ``tpot * E = pp * cycle + others_prefills``),
    ``prefill_latency`` (``t_pre`` through the ``pp`` stages); with no prompt mixed in (a static batch, a
    disaggregated pool): ``tpot_decode`` (``pp`` cycles per ``E`` tokens) and ``ttft_static``
    (``prefill_latency`` and the runtime's overhead, no serving front end, no wait for a slot).  ``bound`` indexes :data:`BOUNDS`; ``throughput`` is output
    tokens/s per replica; ``usd_in``/``usd_out``/``usd_out_all_in``/``usd_blend`` are per 1k tokens for a
    fully used replica (``usd_out`` the decode share, ``usd_out_all_in`` the whole spend per 1k output
    tokens); ``mfu``, ``mbu``; ``experts_touched``; ``expected_tokens`` (float, None without speculation)
    and ``draft_tokens`` (int), ``mtp`` (the draft is the model's MTP module), ``two_batch_overlap``; the FLOPs and
    bytes of one decode step and one prefill on a stage.  With prefix caching: ``kv_shared`` (the shared prefix's
    KV per chip, in ``kv_mem``); ``usd_in_cached`` and ``usd_in_uncached`` ($ per 1k cached and uncached input
    tokens; without prefix caching every token is uncached and ``usd_in_uncached`` is ``usd_in``); with a token
    budget per pass (chunked prefill): ``prefill_chunks`` (passes a prompt's prefill takes, mean over hits and
    misses; inf where the budget cannot admit the prompts the batch needs; None without a budget).
    """

    tp: np.ndarray
    pp: np.ndarray
    ep: np.ndarray
    attention_dp: np.ndarray
    redundant: np.ndarray
    chips: np.ndarray
    b: np.ndarray
    batch: np.ndarray
    Ls: np.ndarray
    weights_mem: np.ndarray
    kv_mem: np.ndarray
    mem: np.ndarray
    draft_mem: np.ndarray
    draft_kv: np.ndarray
    t_dec: np.ndarray
    t_pre: np.ndarray
    t_mixed: np.ndarray
    tpot: np.ndarray
    ttft: np.ndarray
    round: np.ndarray
    t_compute: np.ndarray
    t_memory: np.ndarray
    t_comm: np.ndarray
    bound: np.ndarray
    t_draft: np.ndarray
    cycle: np.ndarray
    others_prefills: np.ndarray
    prefill_latency: np.ndarray
    tpot_decode: np.ndarray
    ttft_static: np.ndarray
    tpot_plain: np.ndarray
    speedup: np.ndarray
    throughput: np.ndarray
    usd_in: np.ndarray
    usd_out: np.ndarray
    usd_blend: np.ndarray
    usd_out_all_in: np.ndarray
    mfu: np.ndarray
    mbu: np.ndarray
    experts_touched: np.ndarray
    expected_tokens: float | None
    draft_tokens: int
    flops_dec: np.ndarray
    bytes_dec: np.ndarray
    flops_pre: np.ndarray
    bytes_pre: np.ndarray
    #: the vision encoder's time for one request's images (s, on the first stage; zeros without images) and
    #: the image tokens' share of ``prefill_latency``
    t_encoder: np.ndarray
    image_prefill: np.ndarray
    mtp: bool = False
    two_batch_overlap: np.ndarray | None = None  # bool: the decode step or the prefill runs as two halves
    kv_shared: np.ndarray | float = 0.0
    usd_in_cached: np.ndarray | None = None
    usd_in_uncached: np.ndarray | None = None
    prefill_chunks: np.ndarray | None = None


@dataclass(frozen=True)
class _Draft:
    """The draft's share per stage: a draft step (``t``, ``flops``, ``nbytes``), its prefill of one prompt
    (``t_pre``, ``flops_pre``, ``bytes_pre``) and its memory per chip (``mem``, of which ``kv``)."""

    t: np.ndarray
    mem: np.ndarray
    kv: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray
    t_pre: np.ndarray
    flops_pre: np.ndarray
    bytes_pre: np.ndarray


@dataclass(frozen=True)
class _Round:
    """One round of ``pp`` cycles with the prompts mixed in (see the module docstring)."""

    arrivals: np.ndarray  # prompts admitted per round
    f_mix: np.ndarray  # fraction of the passes that carry prompts
    n_eff: np.ndarray  # prompts per such pass
    mixed: StagePass  # one such pass
    round_s: np.ndarray
    others_prefills: np.ndarray  # the other sequences' prefills a sequence waits for per cycle
    tpot: np.ndarray
    ttft: np.ndarray
    chunks: np.ndarray | float  # passes a prompt's prefill takes (1: whole in one pass)


def evaluate(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep, b, prefill_seqs: float = 1.0,
             attention_dp=1, redundant=0, two_batch_overlap: bool = True) -> Evaluation:
    """Evaluate candidate layouts: ``model``, ``hw``, ``wl`` (specs and workload); ``tp``, ``pp``, ``ep``
    integer arrays (broadcastable, shape ``(N,)``) -- tensor, pipeline, expert parallel; ``b`` the microbatch per
    stage in sequences (float array broadcastable to ``(N,)``); ``prefill_seqs`` prompts prefilled together in
    ``t_pre`` (1 for continuous batching; the whole batch for a static batch; one per attention group for a
    disaggregated prefill pool), scalar or array; ``attention_dp``, ``redundant``, ``two_batch_overlap``:
    attention groups and redundant expert slots (like ``tp``), False to keep the attention-DP passes whole
    (``--no-two-batch-overlap``); see StageModel.

    Returns :class:`Evaluation`: times, memory, throughput, utilisation and costs of every candidate.
    """
    tp, pp, ep, A, R = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(tp, pp, ep, attention_dp, redundant))
    b = np.broadcast_to(np.asarray(b, dtype=float), tp.shape)
    st = stage_model(model, hw, wl, tp, pp, ep, A, R, two_batch_overlap)
    batch, zero, spec = b * pp, np.zeros_like(b), wl.speculation
    kv_mem, q_step = batch * st.kv_per_seq + st.kv_shared, 1.0 + spec.tokens if spec else 1.0
    enc = encoder_pass(model, hw, wl, tp)  # zeros without images
    plain = st.forward(b, 1.0, zero)
    step = st.forward(b, q_step, zero) if spec else plain
    pre_alone = st.forward(zero, 1.0, zero + np.asarray(prefill_seqs, dtype=float))  # prompts alone on a stage
    draft = _draft(model, hw, wl, st, b, prefill_seqs, plain, pre_alone, zero)
    n_tok, g = (spec.expected_tokens, spec.tokens) if spec else (1.0, 0)  # tokens gained per cycle, draft steps
    cycle = g * draft.t + step.t  # one stage, one microbatch: g draft steps + the verification pass
    rnd = _mixed_round(st, wl, pp, b, q_step, n_tok, step.t, cycle, draft, enc.t)
    tpot_plain = _tpot_without_speculation(st, wl, pp, b, plain, zero, enc.t) if spec else rnd.tpot
    t_pre = pre_alone.t + draft.t_pre  # prompts alone on one stage, the draft's prefill included
    prefill_latency = pp * t_pre + enc.t  # the images through the encoder, then the prompt through the stages
    input_tokens = float(wl.prompt_tokens + vision.image_tokens(model, wl.images_per_request))
    replica_usd_per_s = costs.usd_per_s(tp * pp * A, hw.price)
    usd_out_all_in = costs.usd_per_1k_output_all_in(replica_usd_per_s, rnd.round_s, batch * n_tok)
    weights_mem = st.weights_mem + enc.mem  # the encoder's weights on the first stage (the largest binds)
    mfu, mbu = _utilisation(hw, wl, pp, g, rnd, step, draft, enc)
    prompt_s = (rnd.mixed.t - step.t) / rnd.n_eff + draft.t_pre + enc.t  # what a prompt adds to the round
    return Evaluation(
        tp=tp, pp=pp, ep=ep, attention_dp=A, redundant=R, chips=tp * pp * A, b=b, batch=batch, Ls=st.Ls,
        weights_mem=weights_mem, kv_mem=kv_mem, mem=weights_mem + kv_mem + draft.mem,
        draft_mem=draft.mem, draft_kv=draft.kv,
        t_dec=step.t, t_pre=t_pre, t_mixed=rnd.mixed.t, tpot=rnd.tpot, ttft=rnd.ttft,
        round=rnd.round_s, t_compute=step.t_c, t_memory=step.t_m, t_comm=step.t_x,
        bound=np.argmax(np.stack([step.t_c, step.t_m, step.t_x]), axis=0),
        t_draft=draft.t, cycle=cycle, others_prefills=rnd.others_prefills, prefill_latency=prefill_latency,
        tpot_decode=pp * cycle / n_tok, ttft_static=prefill_latency + RUNTIME_TTFT_OVERHEAD_S,
        tpot_plain=tpot_plain, speedup=tpot_plain / rnd.tpot, throughput=batch * n_tok / rnd.round_s,
        usd_in=costs.usd_per_1k_input(replica_usd_per_s, prompt_s, input_tokens),
        usd_out=costs.usd_per_1k_output_decode_share(replica_usd_per_s, pp, cycle, batch * n_tok),
        usd_blend=costs.usd_per_1k_blended(usd_out_all_in, input_tokens, float(wl.output_tokens)),
        usd_out_all_in=usd_out_all_in,
        mfu=mfu, mbu=mbu,
        experts_touched=step.touched, expected_tokens=n_tok if spec else None, draft_tokens=g,
        flops_dec=step.flops, bytes_dec=step.nbytes,
        flops_pre=pre_alone.flops + draft.flops_pre, bytes_pre=pre_alone.nbytes + draft.bytes_pre,
        t_encoder=enc.t, image_prefill=_image_prefill_s(model, hw, wl, tp, pp, ep, A, R, prefill_seqs, pre_alone,
                                                             two_batch_overlap),
        mtp=bool(spec is not None and spec.mtp), two_batch_overlap=(step.overlapped > 0) | (pre_alone.overlapped > 0),
        **prefix_and_chunk_fields(st, wl, replica_usd_per_s, prompt_s, rnd.chunks),
    )  # fmt: skip


def _utilisation(hw: HardwareSpec, wl: Workload, pp, g: int, rnd: _Round, step: StagePass, draft: _Draft, enc):
    """(MFU, MBU): the FLOPs and bytes of one round (decode passes, mixed passes, draft steps and each arriving
    prompt's draft prefill and image encoding) over the round's time at the datasheet peak and bandwidth."""
    def per_round(key, draft_step, draft_pre):
        return (pp * ((1 - rnd.f_mix) * getattr(step, key) + rnd.f_mix * getattr(rnd.mixed, key) + g * draft_step)
                + rnd.arrivals * draft_pre)

    return (per_round("flops", draft.flops, draft.flops_pre + enc.flops) / rnd.round_s / hw.peak(compute_dtype(wl.weights)),
            per_round("nbytes", draft.nbytes, draft.bytes_pre + enc.nbytes) / rnd.round_s / hw.memory_bandwidth)


def _no_draft(zero) -> _Draft:
    return _Draft(zero, zero, zero, zero, zero, zero, zero, zero)


def _draft(model: ModelSpec, hw: HardwareSpec, wl: Workload, st: StageModel, b, prefill_seqs: float,
           plain: StagePass, pre_alone: StagePass, zero) -> _Draft:
    """The draft of speculative decoding on the target's chips (zeros without speculation)."""
    spec = wl.speculation
    if spec is None:
        return _no_draft(zero)
    if spec.mtp:
        return _mtp_draft(st, b, st.pp, plain, pre_alone)
    tp, pp = st.tp, st.pp
    if spec.draft is None:  # n-gram / Medusa-style: a fraction of a plain target step per draft token
        return _Draft(spec.cost_fraction * plain.t, zero, zero, zero, zero, zero, zero, zero)
    dm = spec.draft
    ok = np.isin(tp, arch.allowed_tp(dm))
    if dm.dense_layers and dm.ffn:
        ok &= (dm.ffn % tp) == 0
    if dm.moe:
        ok &= (dm.moe.expert_ffn % tp) == 0
    tp_d = np.where(ok, tp, 1.0)  # TP-sharded like the target, else replicated on each TP rank ...
    b_d = np.where(ok, b, np.maximum(b / tp, 1.0))  # ... which then drafts for b/tp of the sequences
    pp_d = np.minimum(pp, dm.layers)
    rd = evaluate(dm, hw, replace(wl, speculation=None, max_batched_tokens=None), tp_d, pp_d, 1, b_d, prefill_seqs)
    # KV for every sequence in flight (b per stage across pp microbatches), on pp_d draft stages
    kv = rd.kv_mem * pp / pp_d
    return _Draft(t=rd.t_dec, mem=rd.weights_mem + kv, kv=kv, flops=rd.flops_dec, nbytes=rd.bytes_dec,
                  t_pre=rd.t_pre, flops_pre=rd.flops_pre, bytes_pre=rd.bytes_pre)


def _image_prefill_s(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep, A, R, prefill_seqs: float,
                     pre_alone: StagePass, two_batch_overlap: bool = True):
    """The image tokens' share of a prompt's prefill through the ``pp`` stages (s): the prefill with them less
    the prefill of the text alone (zeros without images)."""
    if not vision.image_tokens(model, wl.images_per_request):
        return np.zeros_like(tp)
    text = stage_model(model, hw, replace(wl, images_per_request=0), tp, pp, ep, A, R, two_batch_overlap)
    zero = np.zeros_like(tp)
    return pp * (pre_alone.t - text.forward(zero, 1.0, np.full_like(tp, float(prefill_seqs))).t)


def _mtp_draft(st: StageModel, b, pp, plain: StagePass, pre_alone: StagePass) -> _Draft:
    """The model's multi-token-prediction module as the draft (DeepSeek-V3, arXiv 2412.19437 sec. 2.2: one
    transformer layer ``TRM`` fed ``M [RMSNorm(h); RMSNorm(emb)]`` with ``M`` a ``d x 2d`` projection, sharing
    the embedding and the LM head with the model), reused for every drafted token as SGLang and vLLM do.

    A drafted token costs one layer of the stage's plain decode pass (``plain.t / Ls``: its weights read,
    its KV, its communication: a MoE layer like the model's own where the model is MoE) plus the projection
    and the LM head over the group's sequences (``2 (2 d^2 + d V)`` FLOPs per sequence, their weights read
    once; roofline).  Memory per chip: that layer's weights (attention, and the MoE FFN with every expert
    slot as the stage holds them, or the dense FFN) and the projection, TP-split like the stage; and one
    layer of KV cache for every sequence in flight.  The prompt passes through the module too: ``t_pre`` is
    one layer of the prompt's prefill.  With pipeline stages the module sits on the last one; priced on the
    largest stage like the rest."""
    lc, d = st.lc, float(st.model.d_model)
    proj = 2.0 * d * d
    seqs = np.asarray(b, dtype=float) / st.attention_dp  # the sequences of one attention group
    head_flops = 2 * seqs * (lc.head + proj) / st.tp
    head_bytes = st.wb * (lc.head + proj) / st.tp
    ffn = (lc.shared / lc.moe_layer_frac + (lc.experts + st.redundant) * lc.expert / st.attention_dp
           if lc.moe_layer_frac > 0 else lc.dense_ffn)
    weights = st.wb * (lc.attn + ffn + proj) / st.tp
    kv = b * pp * st.kv_per_seq / st.Ls
    Ls = st.Ls
    return _Draft(t=plain.t / Ls + roofline_s(head_flops / st.peak, head_bytes / st.bw), mem=weights + kv, kv=kv,
                  flops=plain.flops / Ls + head_flops, nbytes=plain.nbytes / Ls + head_bytes,
                  t_pre=pre_alone.t / Ls, flops_pre=pre_alone.flops / Ls, bytes_pre=pre_alone.nbytes / Ls)


def _mixed_round(st: StageModel, wl: Workload, pp, b, q_step: float, n_tok: float, t_dec, cycle,
                 draft: _Draft, t_encoder=0.0) -> _Round:
    """Mixed continuous batching (Yu et al. 2022 "Orca", OSDI; Agrawal et al. 2024 "Sarathi-Serve", OSDI).

    Every sequence finishes after ``output_tokens`` tokens, so each round of pp stage passes admits
    ``arrivals`` new prompts.  A prompt rides whole in one decode pass (sharing its weight read); with
    ``n_mix`` prompts per pass on average, a fraction ``f_mix = min(n_mix, 1)`` of the passes carry
    ``max(n_mix, 1)`` prompts each and the rest decode only.  (Spreading prompts thinly over every pass
    would make each MoE decode pass touch many more experts; engines prefill in chunks of thousands of
    tokens.)  With attention data parallelism (``A`` groups stepping in lockstep, a prompt on one group) the
    prompts are taken ``A`` at a time, one per group: ``f_mix = min(n_mix / A, 1)`` of the passes carry
    ``max(n_mix, A)`` -- the best a scheduler can do, as one group's prompt stalls every group's pass.  With a
    token budget per pass (``wl.max_batched_tokens``) prompts are prefilled in chunks (:func:`_chunked`).
    """
    batch = b * pp
    arrivals = batch * n_tok / float(wl.output_tokens)  # requests finished (and prefilled) per round
    n_mix = arrivals / pp
    A = st.attention_dp  # prompts gathered per mixed pass: 1, or one per attention group
    f_mix, n_eff, unit, chunks = np.minimum(n_mix / A, 1.0), np.maximum(n_mix, A), 1.0, 1.0
    if wl.max_batched_tokens is not None:
        f_mix, n_eff, unit, chunks = chunked_prefill(st, wl, b * q_step, n_mix)
    mixed = st.forward(b, q_step, n_eff, unit)
    # the round's prefill work (the images of each prompt through the encoder on the first stage included)
    prefills_s = pp * f_mix * (mixed.t - t_dec) + arrivals * (draft.t_pre + t_encoder)
    round_s = pp * cycle + prefills_s
    # a sequence's own prefill precedes its first token: between its tokens it waits for the other
    # batch - 1 slots' prefills (each slot turns over once per output_tokens tokens)
    others_prefills = (1.0 - 1.0 / batch) * prefills_s
    tpot = (pp * cycle + others_prefills) / n_tok
    # a new prompt waits for a slot (half a round on average), then rides through the pp stages in mixed
    # passes, once per chunk (its images through the encoder first)
    ttft = (pp * (mixed.t * chunks + draft.t_pre) + t_encoder + round_s / 2 + RUNTIME_TTFT_OVERHEAD_S
            + SERVING_TTFT_OVERHEAD_S)
    return _Round(arrivals=arrivals, f_mix=f_mix, n_eff=n_eff, mixed=mixed, round_s=round_s,
                  others_prefills=others_prefills, tpot=tpot, ttft=ttft, chunks=chunks)


def _tpot_without_speculation(st: StageModel, wl: Workload, pp, b, plain: StagePass, zero, t_encoder=0.0):
    """TPOT at the same layout and batch with plain decode steps (the baseline of the speed-up)."""
    return _mixed_round(st, wl, pp, b, 1.0, 1.0, plain.t, plain.t, _no_draft(zero), t_encoder).tpot
