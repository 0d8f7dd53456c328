"""Inference performance model and layout/batch search (DESIGN.md §4).

A *replica* is ``tp * pp`` chips serving one copy of the model: ``pp`` pipeline stages of
``ceil(layers/pp)`` layers (the largest stage binds), each stage tensor-parallel over ``tp`` chips.
For MoE, a stage's experts are split ``ep`` ways across its chips (expert-TP ``tp/ep`` for the rest).
Replicas are added to meet demand.

Decode (continuous batching, mixed prefill/decode): ``pp`` microbatches of ``b`` sequences are in
flight, so a replica holds ``batch = b * pp`` sequences.  One forward pass of a stage over ``nb``
decoding sequences plus ``n`` prompts takes ``roofline_s(compute, memory) + non-matmul traffic +
communication + layers * LAYER_OVERHEAD_S`` (a roofline per stage with partial overlap; norms,
activations and residuals moving each token's activation bytes; TP all-reduces, EP all-to-all and the PP
send, each with a latency per step).  Every sequence finishes after ``output_tokens`` tokens, so each
round of ``pp`` passes admits ``arrivals = batch / output_tokens`` prompts, i.e. ``n = arrivals / pp``
per pass.  A prompt rides whole in a decode pass, sharing its weight read (Orca; Sarathi-Serve): a
fraction ``f = min(n, 1)`` of the passes carry ``max(n, 1)`` prompts (``t_mix``), the rest decode only
(``t_dec``)::

    round  = pp * t_dec + prefills,  prefills = pp * f * (t_mix - t_dec)   # all the replica's work per round
    TPOT   = pp * t_dec + prefills * (1 - 1 / batch)                 # the other sequences' prefills only
    TTFT   = pp * t_mix + round / 2 + runtime and serving overheads  # mixed passes through all stages + mean wait
    output tokens/s per replica = batch / round
    $ per output token = replica $/s * pp * t_dec / batch            # the decode share
    $ per output token, all-in = replica $/s * round / batch         # the whole spend, prefills included
    $ per input token  = replica $/s * (t_mix - t_dec) / max(n, 1) / prompt   # what a prompt adds to the round

A sequence's own prefill comes before its first token (TTFT), not between its output tokens: over its
``output_tokens`` tokens every one of the ``batch`` slots turns over once, so it waits for ``batch - 1``
other prompts' prefills -- a fraction ``1 - 1/batch`` of the round's prefill time.  At batch 1 TPOT is
the bare decode step (what a single-stream benchmark measures as inter-token latency).

``t_pre`` (a prompt alone on a stage) is what a static batch, an idle server and a disaggregated prefill
pool pay.

Speculative decoding (Leviathan et al. 2023, ICML, eq. 1): a draft proposes ``g`` tokens, the target
verifies them in one pass over ``g + 1`` tokens per sequence; with acceptance probability ``a`` per token
a cycle yields ``E = (1 - a^(g+1)) / (1 - a)`` tokens (``g + 1`` when ``a = 1``).  The verification pass
is the decode step with ``b * (g+1)`` tokens of FLOPs, activations and (MoE) routed tokens, but weights
read once and the KV cache of ``b`` sequences read once -- so it costs about one plain step while the
step is bandwidth-bound (small batch) and ``g + 1`` steps once it is compute-bound (large batch)::

    cycle  = g * t_draft + t_verify                                  # per stage and microbatch
    round  = pp * cycle + prefills (mixed passes and the draft's prefills)   # every sequence gains E tokens
    TPOT   = (pp * cycle + prefills * (1 - 1 / batch)) / E;  speed-up = TPOT without speculation / TPOT

A draft model shares the target's chips: TP-sharded like the target where its heads (and FFN width)
allow that tp, else replicated on every chip of the TP group, each running ``b / tp`` of the
sequences; it is split into ``min(pp, its layers)`` stages; its weights and KV cache add to memory per
chip and its prefill to ``t_pre``.  A draft given as a cost fraction ``f`` (n-gram lookup, Medusa-style
heads) costs ``f`` plain target steps per draft token and no memory.

Decode context per sequence averages ``prompt + output/2`` (continuous batching); KV memory is
reserved for ``prompt + output``.  MoE decode reads only touched experts:
``E * (1 - (1 - k/E)^b)`` (:func:`gpt4plan.physics.arch.expected_experts_touched`).

Every quantity is computed on flat numpy arrays over all candidates at once (no Python loop per
candidate).  Units: seconds, bytes, FLOP, USD; ``*_per_s`` rates per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from gpt4plan.accuracy.bands import Banded
from gpt4plan.physics import arch
from gpt4plan.physics.comm import all_reduce_s, all_to_all_s, link, p2p_s
from gpt4plan.specs import DTYPE_BYTES, HardwareSpec, ModelSpec
from gpt4plan.specs.units import plural

__all__ = [
    "Speculation",
    "Workload",
    "Targets",
    "Pins",
    "Plan",
    "InferenceResult",
    "evaluate",
    "plan_inference",
    "compute_dtype",
    "BATCH_GRID",
    "SEED_TOKENS_PER_S_PER_USER",
]

#: Seed figure S20: human reading speed ~250 words/min -> 8.33 tokens/s per user (SemiAnalysis 2023).
SEED_TOKENS_PER_S_PER_USER = 8.33

#: Microbatch sizes searched per pipeline stage (sequences): 1, 2, 3, 4, 6, 8, 12, ... 4096.
BATCH_GRID = np.unique(np.concatenate([2 ** np.arange(13), 3 * 2 ** np.arange(11)])).astype(float)
BATCH_GRID = BATCH_GRID[BATCH_GRID <= 4096]

ACT_BYTES = 2.0  # activations exchanged in 16-bit (bf16/fp16)
#: Fraction of the shorter of (compute, memory) time hidden under the longer one.  1 = the ideal
#: roofline max(); real kernels near the ridge point overlap only partly (fitted on the development set,
#: docs/accuracy.md).
ROOFLINE_OVERLAP = 0.25
#: Fixed time per transformer layer per forward pass (kernel launches, synchronisation, small ops),
#: seconds; fitted on the development set (docs/accuracy.md).
LAYER_OVERHEAD_S = 15e-6
#: Memory traffic of the non-matmul kernels of a forward pass (norms, activation function, residual adds,
#: rotary, KV-cache writes' layout) per token per layer, as a multiple of the layer's Korthikanti activation
#: bytes (:func:`gpt4plan.physics.arch.activation_bytes_per_token_per_layer`): each is read or written about once.
#: These kernels run between the matmuls, so their time adds to the roofline.  Scanned 0, 1, 1.67, 2.5 on
#: the development set; 1 fits best (docs/accuracy.md).  Training's counterpart is
#: :data:`gpt4plan.training.ELEMENTWISE_TRAFFIC` (forward and backward).
ELEMENTWISE_TRAFFIC_FORWARD = 1.0
#: Time the runtime spends on a request outside the forward passes before its first token: input copy,
#: buffer setup, sampling and returning the token (seconds); fitted on the single-request TTFT runs of the
#: development set (docs/accuracy.md).
RUNTIME_TTFT_OVERHEAD_S = 0.002
#: Time a request spends in the serving stack before its first token on top of the runtime's: HTTP,
#: tokenisation, scheduling (seconds); fitted on the served runs of the development set (docs/accuracy.md).
SERVING_TTFT_OVERHEAD_S = 0.006


def roofline_s(compute_s, memory_s):
    """Time of a kernel sequence bound by compute or memory: ``max + (1 - overlap) * min``."""
    return np.maximum(compute_s, memory_s) + (1 - ROOFLINE_OVERLAP) * np.minimum(compute_s, memory_s)
BOUNDS = ("compute", "memory", "network")


def compute_dtype(weights: str) -> str:
    """The matmul precision used for a weight precision: fp8 -> fp8, int8 -> int8 (W8A8), fp4 -> fp4
    (NVFP4 W4A4 on chips with FP4 tensor cores; :meth:`HardwareSpec.peak` falls back to fp8, then 16-bit,
    on chips without), int4 -> fp16 (weight-only quantisation dequantises to 16-bit), fp32 -> fp32, else
    16-bit."""
    return {"fp8": "fp8", "int8": "int8", "int4": "fp16", "fp4": "fp4", "fp32": "fp32"}.get(weights, weights)


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: ``tokens`` (g) drafted per cycle, each accepted with probability ``acceptance``
    (a); the draft is a model (``draft``) or costs ``cost_fraction`` of a target decode step per token."""

    tokens: int = 4
    acceptance: float = 0.8
    draft: ModelSpec | None = None
    cost_fraction: float | None = None

    def __post_init__(self):
        if not 1 <= self.tokens <= 64:
            raise ValueError(f"draft tokens must be 1..64, got {self.tokens}")
        if not 0.0 <= self.acceptance <= 1.0:
            raise ValueError(f"acceptance must be in [0, 1], got {self.acceptance}")
        if (self.draft is None) == (self.cost_fraction is None):
            raise ValueError("give a draft model or a draft cost fraction, not both or neither")
        if self.cost_fraction is not None and not 0.0 <= self.cost_fraction <= 1.0:
            raise ValueError(f"draft cost fraction must be in [0, 1], got {self.cost_fraction}")

    @property
    def expected_tokens(self) -> float:
        """Tokens per verification cycle, ``(1 - a^(g+1)) / (1 - a)`` (Leviathan et al. 2023, eq. 1)."""
        return expected_tokens_per_cycle(self.acceptance, self.tokens)


def expected_tokens_per_cycle(acceptance: float, draft_tokens: int) -> float:
    """``(1 - a^(g+1)) / (1 - a)``; ``g + 1`` at ``a = 1``.  a = 0.8, g = 4: 3.3616."""
    a, g = float(acceptance), int(draft_tokens)
    if a >= 1.0:
        return g + 1.0
    return (1.0 - a ** (g + 1)) / (1.0 - a)


@dataclass(frozen=True)
class Workload:
    """One request shape, the precisions it is served in, and optional speculative decoding."""

    prompt_tokens: int = 2048
    output_tokens: int = 512
    weights: str = "bf16"
    kv_cache: str = "bf16"
    speculation: Speculation | None = None

    def __post_init__(self):
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise ValueError("prompt_tokens and output_tokens must be >= 1")
        for d in (self.weights, self.kv_cache):
            if d not in DTYPE_BYTES:
                raise ValueError(f"unknown precision {d!r}; choose from {', '.join(DTYPE_BYTES)}")


@dataclass(frozen=True)
class Targets:
    """Latency targets and demand.  ``None`` = no constraint."""

    ttft_max_s: float | None = None
    tpot_max_s: float | None = None
    demand_tokens_per_s: float | None = None  # output tokens/s the whole fleet must sustain
    users: int | None = None  # concurrent users (sequences in flight) the fleet must hold
    max_chips: int = 4096

    @property
    def tokens_per_s_per_user_min(self) -> float | None:
        return None if not self.tpot_max_s else 1.0 / self.tpot_max_s


@dataclass(frozen=True)
class Pins:
    """Parts of the layout fixed by the user (``None`` = searched)."""

    tp: int | None = None
    pp: int | None = None
    ep: int | None = None
    batch: int | None = None  # sequences in flight per replica
    chips: int | None = None  # chips per replica (tp * pp)


@dataclass
class Plan(Banded):
    """One evaluated layout.  Times in s, memory in bytes, money in USD."""

    objective: str
    chips: int
    replicas: int
    tp: int
    pp: int
    ep: int
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
    #: one round of pp cycles plus every prefill mixed into it (s); TPOT x tokens per cycle counts only the
    #: other sequences' prefills
    round_s: float | None = None
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


@dataclass
class InferenceResult:
    """Everything one ``gpt4plan infer`` run found.  ``plans`` holds min_chips and min_cost."""

    model: dict
    hardware: dict
    workload: dict
    targets: dict
    feasible: bool
    binding_constraint: str | None
    message: str | None
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


# ---------------------------------------------------------------------------------------------
# The physics: one function, arrays in, arrays out


def evaluate(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep, b, prefill_seqs: float = 1.0
             ) -> dict[str, np.ndarray]:
    """Evaluate candidate layouts.

    Args:
        model, hw, wl: specs and workload.
        tp, pp, ep: integer arrays (broadcastable, shape ``(N,)``) -- tensor, pipeline, expert parallel.
        b: microbatch per stage in sequences, float array broadcastable to ``(N,)``.
        prefill_seqs: prompts prefilled together in ``t_pre`` (1 for continuous batching; the whole
            batch for a static batch): FLOPs, KV writes and activations scale with it, weights are read once.

    Returns:
        dict of float arrays of shape ``(N,)``: times in s (``t_dec`` -- the verification pass with
        speculation --, ``t_pre``, ``tpot``, ``ttft``, ``round``, ``t_compute``, ``t_memory``, ``t_comm``,
        ``t_draft`` and ``tpot_plain``, the TPOT without speculation; ``speedup``; ``tpot`` counts the other
        sequences' prefills, ``round`` all of them), memory in bytes per chip
        (``weights_mem``, ``kv_mem``, ``draft_mem``, ``mem``), ``throughput`` (output tokens/s per
        replica), ``mfu``, ``mbu``, ``bound`` (index into ``BOUNDS``), ``usd_in``/``usd_out``/``usd_blend``
        per 1k tokens for a fully used replica (``usd_out`` the decode share; ``usd_out_all_in`` the whole
        spend per 1k output tokens), ``experts_touched``, and the FLOPs and bytes of one
        decode step and one prefill on a stage.
    """
    tp, pp, ep = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(tp, pp, ep))
    b = np.broadcast_to(np.asarray(b, dtype=float), tp.shape)
    P, n_out = float(wl.prompt_tokens), float(wl.output_tokens)
    st = stage_model(model, hw, wl, tp, pp, ep)
    forward, weights_mem, Ls = st.forward, st.weights_mem, st.Ls
    batch = b * pp
    kv_mem = batch * st.kv_per_seq
    mem = weights_mem + kv_mem

    zero = np.zeros_like(b)
    spec = wl.speculation
    q_step = 1.0 + spec.tokens if spec else 1.0
    plain = forward(b, 1.0, zero)
    step = forward(b, q_step, zero) if spec else plain
    t_compute, t_memory, t_comm, t_dec = step["t_c"], step["t_m"], step["t_x"], step["t"]
    flops_dec, bytes_dec, touched_dec = step["flops"], step["bytes"], step["touched"]
    bound = np.argmax(np.stack([t_compute, t_memory, t_comm]), axis=0)

    # Prefill of prefill_seqs prompts alone on one stage (static batch, TTFT of an idle server,
    # disaggregated prefill pool)
    pre_alone = forward(zero, 1.0, np.full_like(b, float(prefill_seqs)))
    t_pre, flops_pre, bytes_pre = pre_alone["t"], pre_alone["flops"], pre_alone["bytes"]

    # Speculative decoding: the draft's step, memory and prefill ------------------------------------
    t_pre_draft, flops_pre_draft, bytes_pre_draft = zero, zero, zero
    t_draft, draft_mem, draft_kv, draft_flops, draft_bytes = zero, zero, zero, zero, zero
    n_tok = 1.0  # tokens each sequence gains per cycle
    if spec:
        n_tok = spec.expected_tokens
        if spec.draft is None:  # n-gram / Medusa-style: a fraction of a plain target step per draft token
            t_draft = spec.cost_fraction * plain["t"]
        else:
            dm = spec.draft
            ok = np.isin(tp, arch.allowed_tp(dm))
            if dm.dense_layers and dm.ffn:
                ok &= (dm.ffn % tp) == 0
            if dm.moe:
                ok &= (dm.moe.expert_ffn % tp) == 0
            tp_d = np.where(ok, tp, 1.0)  # TP-sharded like the target, else replicated on each TP rank ...
            b_d = np.where(ok, b, np.maximum(b / tp, 1.0))  # ... which then drafts for b/tp of the sequences
            pp_d = np.minimum(pp, dm.layers)
            rd = evaluate(dm, hw, replace(wl, speculation=None), tp_d, pp_d, 1, b_d, prefill_seqs)
            t_draft = rd["t_dec"]
            # KV for every sequence in flight (b per stage across pp microbatches), on pp_d draft stages
            draft_kv = rd["kv_mem"] * pp / pp_d
            draft_mem = rd["weights_mem"] + draft_kv
            draft_flops, draft_bytes = rd["flops_dec"], rd["bytes_dec"]
            t_pre_draft, flops_pre_draft, bytes_pre_draft = rd["t_pre"], rd["flops_pre"], rd["bytes_pre"]
            t_pre = t_pre + rd["t_pre"]
            flops_pre, bytes_pre = flops_pre + rd["flops_pre"], bytes_pre + rd["bytes_pre"]
        mem = mem + draft_mem
    g = spec.tokens if spec else 0
    cycle = g * t_draft + t_dec  # one stage, one microbatch: g draft steps + the verification pass

    # Mixed continuous batching (Yu et al. 2022 "Orca", OSDI; Agrawal et al. 2024 "Sarathi-Serve", OSDI) -----
    # Every sequence finishes after n_out tokens, so each round of pp stage passes admits `arrivals` new
    # prompts.  A prompt rides whole in one decode pass (sharing its weight read); with n_mix prompts per
    # pass on average, a fraction f_mix = min(n_mix, 1) of the passes carry max(n_mix, 1) prompts each
    # and the rest decode only.  (Spreading prompts thinly over every pass would make each MoE decode
    # pass touch many more experts; engines prefill in chunks of thousands of tokens.)
    arrivals = batch * n_tok / n_out  # requests finished (and prefilled) per round
    n_mix = arrivals / pp
    f_mix, n_eff = np.minimum(n_mix, 1.0), np.maximum(n_mix, 1.0)
    mixed = forward(b, q_step, n_eff)
    prefills_s = pp * f_mix * (mixed["t"] - t_dec) + arrivals * t_pre_draft  # the round's prefill work
    round_s = pp * (g * t_draft + t_dec) + prefills_s
    # a sequence's own prefill precedes its first token: between its tokens it waits for the other
    # batch - 1 slots' prefills (each slot turns over once per output_tokens tokens)
    others = 1.0 - 1.0 / batch
    tpot = (pp * (g * t_draft + t_dec) + others * prefills_s) / n_tok
    # a new prompt waits for a slot (half a round on average), then rides through the pp stages in mixed passes
    ttft = pp * (mixed["t"] + t_pre_draft) + round_s / 2 + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S
    throughput = batch * n_tok / round_s
    if spec:
        n_plain = batch / n_out / pp
        pre_plain = pp * np.minimum(n_plain, 1.0) * (forward(b, 1.0, np.maximum(n_plain, 1.0))["t"] - plain["t"])
        tpot_plain = pp * plain["t"] + others * pre_plain
    else:
        tpot_plain = tpot
    usd_per_s = tp * pp * hw.price / 3600.0
    usd_out = usd_per_s * pp * cycle / (batch * n_tok) * 1000
    # an input token costs what its prompt adds to the round: the marginal time of the mixed pass
    usd_in = usd_per_s * ((mixed["t"] - t_dec) / n_eff + t_pre_draft) / P * 1000
    # the whole spend of a round (decode, mixed prefills, drafts) over the output tokens it yields
    usd_out_all_in = usd_per_s * round_s / (batch * n_tok) * 1000
    usd_blend = usd_out_all_in * n_out / (P + n_out)
    peak_raw = hw.peak(compute_dtype(wl.weights))

    def per_round(key, draft_step, draft_pre):  # FLOPs or bytes of one round
        return pp * ((1 - f_mix) * step[key] + f_mix * mixed[key] + g * draft_step) + arrivals * draft_pre

    mfu = per_round("flops", draft_flops, flops_pre_draft) / round_s / peak_raw
    mbu = per_round("bytes", draft_bytes, bytes_pre_draft) / round_s / hw.memory_bandwidth
    return {
        "tp": tp, "pp": pp, "ep": ep, "b": b, "batch": batch, "Ls": Ls,
        "weights_mem": weights_mem, "kv_mem": kv_mem, "mem": mem, "draft_mem": draft_mem, "draft_kv": draft_kv,
        "t_dec": t_dec, "t_pre": t_pre, "t_mixed": mixed["t"], "tpot": tpot, "ttft": ttft, "round": round_s,
        "t_compute": t_compute, "t_memory": t_memory, "t_comm": t_comm, "bound": bound,
        "t_draft": t_draft, "tpot_plain": tpot_plain, "speedup": tpot_plain / tpot,
        "throughput": throughput, "usd_in": usd_in, "usd_out": usd_out, "usd_blend": usd_blend,
        "usd_out_all_in": usd_out_all_in,
        "mfu": mfu, "mbu": mbu, "experts_touched": touched_dec, "expected_tokens": n_tok if spec else None, "draft_tokens": g,
        "flops_dec": flops_dec, "bytes_dec": bytes_dec, "flops_pre": flops_pre, "bytes_pre": bytes_pre,
    }  # fmt: skip


@dataclass(frozen=True)
class StageModel:
    """The physics of one pipeline stage at given layouts: ``forward(nb, q, n_pre)`` times one forward
    pass (see :func:`stage_model`); ``weights_mem`` and ``kv_per_seq`` are bytes per chip (the KV cache
    reserved for one sequence of prompt + output tokens), ``Ls`` the layers on the largest stage."""

    forward: Callable[..., dict[str, np.ndarray]]
    weights_mem: np.ndarray
    kv_per_seq: np.ndarray
    Ls: np.ndarray


def stage_model(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp, pp, ep) -> StageModel:
    """Build the per-stage physics for layouts ``tp``, ``pp``, ``ep`` (arrays broadcastable to ``(N,)``).

    ``forward(nb, q, n_pre)`` returns a dict of ``(N,)`` arrays for one forward pass of the largest stage
    over ``nb`` decoding sequences with ``q`` new tokens each plus ``n_pre`` prompts of
    ``wl.prompt_tokens`` tokens: ``t`` (s; roofline of compute and memory with partial overlap, plus the
    non-matmul kernels' traffic, TP/EP/PP communication and the per-layer overhead), ``t_c``, ``t_m``,
    ``t_x`` (s), ``flops``,
    ``bytes`` and ``touched`` (experts read per MoE layer).  ``nb``, ``q``, ``n_pre`` broadcast against
    the layouts.
    """
    tp, pp, ep = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(tp, pp, ep))
    lc = arch.layer_costs(model)
    L = model.layers
    P, n_out = float(wl.prompt_tokens), float(wl.output_tokens)
    wb = DTYPE_BYTES[wl.weights]
    peak = hw.peak(compute_dtype(wl.weights)) * hw.efficiency.compute
    bw = hw.memory_bandwidth * hw.efficiency.memory
    d = model.d_model

    Ls = np.ceil(L / pp)  # layers on the largest stage
    edge = np.where(pp == 1, lc.edge_one_stage, np.maximum(lc.head, lc.embedding))  # tied: one copy per stage
    moe_frac, E, k = lc.moe_layer_frac, lc.experts, lc.top_k

    # Memory per chip ------------------------------------------------------------------------
    stage_params = Ls * (lc.attn + lc.dense_ffn + lc.shared + moe_frac * E * lc.expert) + edge
    weights_mem = stage_params / tp * wb
    kv_layer_rank = arch.kv_bytes_per_token_per_layer(model, wl.kv_cache) * arch.kv_fraction_per_rank(model, tp)
    full, win = _window_split(model)

    def kv_ctx(c):  # mean tokens kept per layer at context c (sliding-window layers capped)
        return (full * c + win * min(c, model.sliding_window or c)) / L

    kv_per_seq = kv_ctx(P + n_out) * kv_layer_rank * Ls  # reserved for prompt + output

    # Links -----------------------------------------------------------------------------------
    bw_tp, a_tp = link(tp, hw)
    bw_pp, a_pp = link(tp * pp, hw)

    # MoE expert load ------------------------------------------------------------------------
    def moe_load(tokens):  # (experts touched per MoE layer, compute imbalance across EP ranks)
        if not E:
            return np.zeros_like(tokens), np.ones_like(tokens)
        mu = np.maximum(tokens * k / ep, 1e-9)  # routed tokens per EP group
        return (arch.expected_experts_touched(E, k, tokens),
                np.where(ep > 1, np.minimum(1 + np.sqrt(2 * np.log(np.maximum(ep, 1)) / mu), ep), 1.0))

    moe_ep = moe_frac * (ep > 1)

    etp = tp / np.maximum(ep, 1)  # expert-TP: chips sharing one expert

    def layer_comm(tokens):
        # attention output: all-reduce over TP; dense MLP: another all-reduce over TP
        ar = all_reduce_s(tp, tokens * d * ACT_BYTES, bw_tp, a_tp)
        # MoE layer with EP: dispatch + combine all-to-all over EP (each rank sends its 1/ep share of
        # the tokens' k copies, (ep-1)/ep of them remote), then an all-reduce of the routed tokens over
        # the expert-TP group of tp/ep chips.
        routed = tokens * k / np.maximum(ep, 1)
        a2a = all_to_all_s(ep, routed * d * ACT_BYTES * (ep - 1) / np.maximum(ep, 1), bw_tp, a_tp)
        ar_etp = all_reduce_s(etp, routed * d * ACT_BYTES, bw_tp, a_tp)
        return Ls * (ar + (1 - moe_ep) * ar + moe_ep * (2 * a2a + ar_etp))

    # One forward pass on one stage -------------------------------------------------------------
    c_avg = P + n_out / 2
    dense_active = lc.attn + lc.dense_ffn + lc.shared

    act_layer_rank = arch.activation_bytes_per_token_per_layer(model) / tp  # bytes per token per layer per chip

    def forward(nb, q, n_pre):
        """One forward pass of one stage over ``nb`` decoding sequences with ``q`` new tokens each (q = 1
        plain; g + 1 to verify a draft) at the mean context, plus ``n_pre`` prompts of P tokens prefilled in
        the same pass (0 for a pure decode step; fractional = chunks of prompts).  FLOPs, activations and
        routed tokens scale with the tokens; the weights (touched experts) are read once, the decoding
        sequences' KV cache once, and the prompts' KV written once."""
        dec, pre = nb * q, n_pre * P
        tokens = dec + pre + np.zeros_like(tp)
        touched, imbalance = moe_load(tokens)
        flops = 2 * (tokens * Ls * (dense_active + moe_frac * k * lc.expert * imbalance) + (dec + n_pre) * lc.head) / tp
        flops = flops + (dec * arch.attention_flops_per_token(model, c_avg)
                         + pre * arch.attention_flops_per_token(model, P / 2)) * Ls / L / tp
        nbytes = wb * (Ls * (dense_active + moe_frac * touched * lc.expert) + lc.head) / tp
        nbytes = nbytes + (nb * kv_ctx(c_avg) + pre) * kv_layer_rank * Ls
        t_c, t_m = flops / peak, nbytes / bw
        t_x = layer_comm(tokens) + np.where(pp > 1, p2p_s(tokens * d * ACT_BYTES, bw_pp, a_pp), 0.0)
        t_elem = ELEMENTWISE_TRAFFIC_FORWARD * tokens * act_layer_rank * Ls / bw  # non-matmul kernels
        return {"t": roofline_s(t_c, t_m) + t_elem + t_x + Ls * LAYER_OVERHEAD_S, "t_c": t_c, "t_m": t_m, "t_x": t_x,
                "flops": flops, "bytes": nbytes, "touched": touched}


    return StageModel(forward=forward, weights_mem=weights_mem, kv_per_seq=kv_per_seq, Ls=Ls)


def _window_split(model: ModelSpec) -> tuple[float, float]:
    if not model.sliding_window:
        return float(model.layers), 0.0
    w = model.layers if model.sliding_window_layers is None else min(model.sliding_window_layers, model.layers)
    return float(model.layers - w), float(w)


# ---------------------------------------------------------------------------------------------
# Search


def _candidate_grid(model: ModelSpec, hw: HardwareSpec, targets: Targets, pins: Pins):
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


def plan_inference(
    model: ModelSpec,
    hw: HardwareSpec,
    workload: Workload | None = None,
    targets: Targets | None = None,
    pins: Pins | None = None,
    frontier_points: int = 12,
    plot_points: int = 0,
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

    Returns:
        :class:`InferenceResult`; when nothing is feasible, ``feasible`` is False, ``binding_constraint``
        is one of ``memory``, ``tpot``, ``ttft``, ``demand``, ``layout`` and ``nearest`` is the
        candidate closest to meeting every constraint.
    """
    wl = workload or Workload()
    tg = targets or Targets()
    pins = pins or Pins()
    T, PP, EP, b = _candidate_grid(model, hw, tg, pins)
    summary = _summaries(model, hw, wl, tg)
    if T.size == 0:
        return InferenceResult(
            **summary, feasible=False, binding_constraint="layout",
            message=_no_layout_message(model, pins, tg), candidates_evaluated=0,
        )  # fmt: skip
    with np.errstate(all="ignore"):  # absurd specs overflow to inf: those candidates are dropped below
        r = evaluate(model, hw, wl, T, PP, EP, b)
    finite = np.all(np.isfinite(np.stack([r[k] for k in ("mem", "tpot", "ttft", "throughput", "usd_blend")])), axis=0)
    finite &= r["tpot"] > 0
    capacity = hw.memory * hw.usable_memory
    mem_ok = (r["mem"] <= capacity) & finite
    tpot_ok = np.ones_like(mem_ok) if tg.tpot_max_s is None else r["tpot"] <= tg.tpot_max_s * (1 + 1e-9)
    ttft_ok = np.ones_like(mem_ok) if tg.ttft_max_s is None else r["ttft"] <= tg.ttft_max_s * (1 + 1e-9)
    replicas = np.ones_like(r["tp"])
    if tg.demand_tokens_per_s:
        replicas = np.maximum(replicas, np.ceil(tg.demand_tokens_per_s / r["throughput"] - 1e-9))
    if tg.users:
        replicas = np.maximum(replicas, np.ceil(tg.users / r["batch"] - 1e-9))
    chips = r["tp"] * r["pp"] * replicas
    chips_ok = chips <= tg.max_chips
    # with demand set, provisioned replicas are not fully used: cost per token rises by 1/utilisation
    util = np.ones_like(chips)
    if tg.demand_tokens_per_s:
        util = np.minimum(1.0, tg.demand_tokens_per_s / (replicas * r["throughput"]))
    r.update(replicas=replicas, chips=chips, util=util)
    feasible = mem_ok & tpot_ok & ttft_ok & chips_ok
    result = InferenceResult(**summary, feasible=bool(feasible.any()), binding_constraint=None, message=None,
                             candidates_evaluated=int(T.size))
    if plot_points > 0:
        near = np.flatnonzero(mem_ok & ttft_ok & chips_ok)
        result.plot_frontier = [_plan(r, i, "frontier", hw) for i in _pareto(r, near, plot_points, "usd_out")]
    if wl.speculation is not None:
        base = plan_inference(model, hw, replace(wl, speculation=None), tg, pins, frontier_points=0)
        result.without_speculation = base.plans
        result.notes = _speculation_notes(model, wl.speculation)
    if feasible.any():
        idx = np.flatnonzero(feasible)
        # min_cost ranks by what a request costs in all (prefill + decode share, per token of
        # prompt and output), not by the decode share alone: $/1k output tokens alone would favour
        # layouts with slow prefill.
        cost = r["usd_blend"][idx] / util[idx]
        i_chips = idx[np.lexsort((cost, chips[idx]))[0]]
        i_cost = idx[np.lexsort((chips[idx], cost))[0]]
        result.plans = [_plan(r, i_chips, "min_chips", hw), _plan(r, i_cost, "min_cost", hw)]
        result.frontier = [_plan(r, i, "frontier", hw) for i in _pareto(r, idx, frontier_points)]
        return result
    # Nothing feasible: name the binding constraint and show the nearest plan
    checks = [("memory", mem_ok), ("tpot", tpot_ok), ("ttft", ttft_ok), ("demand", chips_ok)]
    ok = np.ones_like(mem_ok)
    binding = "memory"
    for name, c in checks:
        if not (ok & c).any():
            binding = name
            break
        ok &= c
    ratios = [r["mem"] / capacity]
    if tg.tpot_max_s:
        ratios.append(r["tpot"] / tg.tpot_max_s)
    if tg.ttft_max_s:
        ratios.append(r["ttft"] / tg.ttft_max_s)
    ratios.append(chips / tg.max_chips)
    worst = np.max(np.stack(ratios), axis=0)
    i_near = int(np.argmin(worst))
    result.binding_constraint = binding
    result.nearest = _plan(r, i_near, "nearest", hw)
    result.message = _infeasible_message(binding, r, capacity, tg, mem_ok, tpot_ok, hw, ttft_ok)
    return result


def _speculation_notes(model: ModelSpec, spec: Speculation) -> list[str]:
    notes = []
    dm = spec.draft
    if dm is not None:
        if dm.vocab != model.vocab:
            notes.append(f"draft {dm.name} has a {dm.vocab:,}-token vocabulary, the target {model.vocab:,}: "
                         "speculative decoding needs a shared tokenizer")
        if arch.params(dm).total >= arch.params(model).total:
            notes.append(f"draft {dm.name} is not smaller than the target {model.name}")
    return notes


def _pareto(r, idx, n_points, cost_key: str = "usd_blend"):
    """Indices (into r) of the Pareto frontier of cost per token (``cost_key``: blended, or ``usd_out``)
    vs tokens/s per user, cheapest first."""
    cost = r[cost_key][idx] / r["util"][idx]
    speed = 1.0 / r["tpot"][idx]
    order = np.lexsort((cost, -speed))  # fastest first, then cheapest
    best = math.inf
    front = []
    for j in order:
        if cost[j] < best * (1 - 1e-9):
            front.append(idx[j])
            best = cost[j]
    if len(front) > n_points:  # thin evenly, keeping both ends
        pick = np.unique(np.round(np.linspace(0, len(front) - 1, n_points)).astype(int))
        front = [front[i] for i in pick]
    return front[::-1]  # cheapest (slowest) first


def _plan(r, i, objective, hw) -> Plan:
    i = int(i)
    g = {k: float(v[i]) for k, v in r.items() if isinstance(v, np.ndarray) and v.ndim == 1}
    capacity = hw.memory * hw.usable_memory
    util = g["util"]
    return Plan(
        objective=objective,
        chips=int(g["chips"]),
        replicas=int(g["replicas"]),
        tp=int(g["tp"]),
        pp=int(g["pp"]),
        ep=int(g["ep"]),
        batch=int(round(g["batch"])),
        microbatch=g["b"],
        layers_per_stage=int(g["Ls"]),
        ttft_s=g["ttft"],
        tpot_s=g["tpot"],
        tokens_per_s_per_user=1.0 / g["tpot"],
        throughput_tokens_per_s=g["throughput"] * g["replicas"] * util,
        memory_per_chip_bytes=g["mem"],
        weights_per_chip_bytes=g["weights_mem"],
        kv_cache_per_chip_bytes=g["kv_mem"],
        reserve_per_chip_bytes=hw.memory - capacity,
        free_per_chip_bytes=capacity - g["mem"],
        usd_per_1k_input_tokens=g["usd_in"] / util,
        usd_per_1k_output_tokens=g["usd_out"] / util,
        usd_per_1k_output_tokens_all_in=g["usd_out_all_in"] / util,
        usd_per_1k_tokens_blended=g["usd_blend"] / util,
        usd_per_hour=g["chips"] * hw.price,
        mfu=g["mfu"] * util,
        mbu=g["mbu"] * util,
        bound=BOUNDS[int(g["bound"])],
        decode_step_s=g["t_dec"],
        decode_compute_s=g["t_compute"],
        decode_memory_s=g["t_memory"],
        decode_comm_s=g["t_comm"],
        mixed_step_s=g["t_mixed"],
        round_s=g["round"],
        prefill_stage_s=g["t_pre"],
        experts_touched_per_layer=g["experts_touched"] if r["experts_touched"].any() else None,
        max_batch_by_memory=_max_batch(g, capacity),
        **_speculation_fields(g, r),
    )


def _max_batch(g: dict, capacity: float) -> int:
    """Largest batch whose KV cache (target and draft) fits next to the weights, in whole microbatches."""
    per_seq = (g["kv_mem"] + g.get("draft_kv", 0.0)) / max(g["batch"], 1e-12)
    free = capacity - (g["mem"] - g["kv_mem"] - g.get("draft_kv", 0.0))
    if per_seq <= 0:
        return 0
    n = max(0.0, math.floor(free / per_seq))
    return int(min(n, 1e12))


def _speculation_fields(g: dict, r: dict) -> dict:
    if r.get("expected_tokens") is None:
        return {}
    return {"draft_tokens": int(r["draft_tokens"]), "draft_step_s": g["t_draft"], "expected_tokens_per_cycle": float(r["expected_tokens"]),
            "draft_memory_per_chip_bytes": g["draft_mem"], "tpot_without_speculation_s": g["tpot_plain"],
            "speculative_speedup": g["speedup"]}


def _summaries(model: ModelSpec, hw: HardwareSpec, wl: Workload, tg: Targets) -> dict:
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
            "compute": hw.peak_dtype(compute_dtype(wl.weights)),  # what the chip's tensor cores run
            "speculation": None if wl.speculation is None else {
                "draft_model": wl.speculation.draft.name if wl.speculation.draft else None,
                "draft_tokens": wl.speculation.tokens,
                "acceptance": wl.speculation.acceptance,
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
        },
    }


def _no_layout_message(model: ModelSpec, pins: Pins, tg: Targets) -> str:
    allowed = arch.allowed_tp(model)
    parts = []
    if pins.tp is not None and pins.tp not in allowed:
        parts.append(f"tp={pins.tp} is not allowed by {model.heads} heads / {model.kv_heads} KV heads "
                     f"(allowed: {', '.join(map(str, allowed))})")
    if model.moe and pins.ep is not None and model.moe.experts % pins.ep:
        parts.append(f"ep={pins.ep} does not divide {model.moe.experts} experts")
    if pins.pp is not None and pins.pp > model.layers:
        parts.append(f"pp={pins.pp} exceeds the {model.layers} layers")
    if pins.ep is not None and pins.ep > 1 and not model.moe:
        parts.append(f"ep={pins.ep} needs an MoE model; {model.name} is dense")
    if pins.batch is not None and pins.pp is not None and pins.batch < pins.pp:
        parts.append(f"batch={pins.batch} < pp={pins.pp}: each pipeline stage needs a microbatch of >= 1")
    if pins.chips is not None:
        parts.append(f"no allowed tp x pp equals {plural(pins.chips, 'chip')} (tp must be one of {allowed})")
    if not parts:
        parts.append(f"no layout within --max-chips {tg.max_chips} satisfies the pinned tp/pp/ep (ep must divide tp)")
    return "; ".join(parts)


def _infeasible_message(binding, r, capacity, tg, mem_ok, tpot_ok, hw, ttft_ok) -> str:
    from gpt4plan.specs.units import format_bytes, format_seconds

    if binding == "memory":
        best = float(r["mem"].min())
        i = int(r["mem"].argmin())
        msg = (f"memory: even the leanest layout needs {format_bytes(best)} per chip "
               f"(tp={int(r['tp'][i])}, pp={int(r['pp'][i])}, batch={int(r['batch'][i])}); "
               f"{hw.name} has {format_bytes(capacity)} usable")
        if tg.tpot_max_s:
            t = float(r["tpot"].min())
            if t > tg.tpot_max_s:
                msg += (f"; TPOT too: even ignoring memory the best TPOT is {format_seconds(t)} "
                        f"({1 / t:.1f} tokens/s per user) > {format_seconds(tg.tpot_max_s)}")
        return msg
    if binding == "tpot":
        t = float(r["tpot"][mem_ok].min())
        return (f"tpot: the fastest layout that fits memory gives {format_seconds(t)} per output token "
                f"({1 / t:.1f} tokens/s per user); target {format_seconds(tg.tpot_max_s)} "
                f"({1 / tg.tpot_max_s:.2f} tokens/s per user)")
    if binding == "ttft":
        t = float(r["ttft"][mem_ok & tpot_ok].min())
        return f"ttft: the best time to first token is {format_seconds(t)}; target {format_seconds(tg.ttft_max_s)}"
    # the fewest chips among the layouts that meet every other target (memory, TPOT, TTFT)
    fewest = int(r["chips"][mem_ok & tpot_ok & ttft_ok].min())
    return (f"demand: meeting the demand takes at least {plural(fewest, 'chip')}, more than --max-chips "
            f"{tg.max_chips:,}")


def with_price(hw: HardwareSpec, usd_per_hour: float | None) -> HardwareSpec:
    """``hw`` with its price replaced (``None`` keeps it)."""
    return hw if usd_per_hour is None else hw.with_price(usd_per_hour)

