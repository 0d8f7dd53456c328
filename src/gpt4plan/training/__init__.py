"""Training performance model and layout search (DESIGN.md §5).

Layout: ``chips = tp * pp * dp * cp``; a pipeline stage holds ``ceil(layers/pp)`` layers (uneven splits:
the largest stage binds); MoE experts are split ``ep`` ways across data-parallel ranks (``ep``
divides ``dp``, Megatron-core convention) and ``tp`` ways inside a rank (expert-TP = TP).
The global batch of ``B`` sequences is ``m`` microbatches of ``mb`` sequences per DP rank.

Formulas (per optimizer step; times in s, memory in bytes per chip, FLOP):

* model FLOP per token ``6 * N_active_matmul + 12 * L * d_attn * S`` (Narayanan et al. 2021, eq. 3,
  attention counted without causal halving, as Megatron does; MLA: ``6 * L * S * h * (d_qk + d_v)``);
  hardware FLOP adds one forward of the transformer layers for full recompute (``8 N_layers + 6 V d +
  16 L d_attn S``: the LM head is not recomputed); selective recompute (norms, activation functions)
  adds next to nothing.
* model states, mixed-precision Adam: 2 (bf16 weights) + 2 (grads) + 12 (fp32 master, m, v) bytes
  per parameter (Rajbhandari et al. 2020, §3.1); ZeRO-1 shards the 12 over DP, ZeRO-2 also the grads,
  ZeRO-3 also the weights; experts shard over the expert-DP group ``dp / ep``.
* activations per layer per microbatch (Korthikanti et al. 2022, Table 2, with tensor and sequence
  parallelism, and FlashAttention, which never stores the ``5*a*s/d`` score term): ``34*s*b*d/t`` bytes
  with no recompute, ``0.75x`` that with selective recompute (norms and activation functions
  recomputed), ``2*s*b*d/t`` with full recompute (plus one layer's working set); the MLP share (19 of
  34) scales with the FFN width actually used (``k * expert_ffn`` for MoE, ``1.5x`` for gated units).
  1F1B keeps ``min(pp, m)`` microbatches in flight on the first stage (interleaving adds
  ``(pp-1)/(pp*v)`` more, Korthikanti §4.2.3).
* step time ``(m + (pp-1)/v) * t_microbatch + exposed DP + PP sends + optimizer``; pipeline bubble
  fraction ``(pp-1)/(m*v)`` (Narayanan et al. 2021, §2.2); TP: 4 all-reduce-equivalents per layer per
  microbatch (6 with full recompute) on the scale-up link (scale-out beyond the domain); EP: 4
  all-to-alls per MoE layer per microbatch; DP: gradient all-reduce (ZeRO-3: plus a weight all-gather
  per microbatch forward and backward) on
  the DP group's link, overlapped with the step's backward compute up to ``DP_OVERLAP``.
* fine-grained MoE: the expert phase of a MoE layer takes ``max(GPU time, host time)`` per microbatch, host
  time ``n_gemm * (E / ep) * EXPERT_GEMM_HOST_S`` (6 GEMM passes per local expert, 8 with full recompute):
  the token dispatcher syncs host and GPU on the per-expert token counts, so the host cannot run ahead;
  many small experts per rank (Qwen3-30B-A3B: 16 experts of 2048 x 768 on a rank) are launch-bound.
* context parallel (``cp``, pinned only; ring attention, Liu et al. 2023, as in Megatron-Core): each of the
  ``cp`` ranks holds ``s / cp`` tokens of every sequence -- activations, matmul and attention FLOPs divide by
  ``cp``; per layer and microbatch the other ranks' K/V chunks pass through in forward and K/V plus their
  gradients in backward (3 passes, 4 with full recompute; ``(cp-1)/cp * s * mb`` tokens of K/V each), hidden
  under the attention computed meanwhile; weights are replicated over ``cp``, so ZeRO shards and the
  gradient all-reduce span ``dp * cp`` ranks.
* reliability: failures arrive at ``failure_rate_per_gpu_hour * chips``; checkpoint every
  ``tau = sqrt(2 * delta * MTBF)`` (Young 1974 / Daly 2006); goodput
  ``1 / (1 + delta/tau + (tau/2 + delta + restart) / MTBF)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gpt4plan.accuracy.bands import Banded
from gpt4plan.physics import arch
from gpt4plan.physics.comm import all_reduce_s, all_to_all_s, link, p2p_s
from gpt4plan.specs import HardwareSpec, ModelSpec
from gpt4plan.specs.units import plural

__all__ = [
    "TrainWorkload",
    "Reliability",
    "TrainPins",
    "TrainPlan",
    "TrainResult",
    "train_flops_per_token",
    "batch_budget_problem",
    "attention_train_flops_per_token",
    "model_state_bytes_per_param",
    "bubble_fraction",
    "goodput",
    "plan_training",
    "RECOMPUTE",
    "FAILURE_RATE_PER_GPU_HOUR",
]

#: Meta, "The Llama 3 Herd of Models" (2024) §3.3.4: 419 unexpected interruptions in 54 days of
#: pre-training on 16,384 H100 GPUs -> 419 / (54 * 24 * 16384) = 1.97e-5 failures per GPU-hour.
FAILURE_RATE_PER_GPU_HOUR = 419 / (54 * 24 * 16384)
#: Fraction of the data-parallel gradient traffic that hides behind backward compute (assumption;
#: Megatron-LM overlaps bucketed reduce-scatter with backward, --overlap-grad-reduce).
DP_OVERLAP = 0.8
RECOMPUTE = ("none", "selective", "full")
MICROBATCHES = (1, 2, 4, 8)
INTERLEAVE = (1, 2, 4)
BYTES_PER_PARAM_STATES = {"weights": 2.0, "grads": 2.0, "optimizer": 12.0}  # ZeRO paper §3.1
#: Memory traffic of the non-matmul kernels (norms, activations, residuals, rotary, softmax stats) per
#: token per layer, as a multiple of the Korthikanti activation bytes of that layer: forward writes,
#: backward reads and writes them (fitted on the development set, docs/accuracy.md).
ELEMENTWISE_TRAFFIC = 5.0
#: GEMM efficiency falls for narrow matrices: ``eff = 1 / (1 + GEMM_HALF_RIDGES * ridge / n)`` with n the
#: per-rank hidden width (d_model/tp, or an expert's FFN width) and ``ridge`` the chip's FLOP-per-byte
#: ridge point (peak / HBM bandwidth): faster chips need bigger tiles to stay busy (fitted, docs/accuracy.md).
GEMM_HALF_RIDGES = 3.0
#: MoE token permutation (dispatch/combine copies, forward and backward) in bytes per routed token copy,
#: as a multiple of d_model * 2 bytes (fitted, docs/accuracy.md).
MOE_PERMUTE_TRAFFIC = 16.0
#: Host (CPU) time to issue one local expert's GEMM in one pass (forward fc1/fc2, data- and weight-gradient):
#: the PyTorch/Transformer Engine per-expert work around each GEMM (tensor splits and allocations, FP8
#: quantizers, the launch itself; TransformerEngine issues #1499, #2053).  A MoE layer's dispatcher copies the
#: per-expert token counts to the host (Megatron-LM issue #1598), so this time is exposed wherever it exceeds
#: the experts' GPU time (fitted on the development set, docs/accuracy.md).
EXPERT_GEMM_HOST_S = 100e-6


def attention_train_flops_per_token(model: ModelSpec, seq_len: float) -> float:
    """Model FLOP of the attention scores (``Q K^T``) and the attention-weighted values (``A V``) per trained
    token, forward + backward, all layers, at sequence length ``seq_len`` (no causal halving, as Megatron).

    Forward per layer per token: ``2 * S * h * d_qk`` for ``Q K^T`` plus ``2 * S * h * d_v`` for ``A V``;
    backward twice that: ``6 * S * h * (d_qk + d_v)`` per layer.  MHA/GQA (``d_qk = d_v = d_h``): the
    ``12 * L * S * h * d_h`` of Narayanan et al. 2021 eq. 3.  MLA (DeepSeek-V2, arXiv 2405.04434 §2.1):
    ``d_qk = qk_nope + qk_rope`` (192), ``d_v = v_head_dim`` (128).
    """
    h = model.heads
    if model.mla is not None:
        d_qk = model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim
        d_v = model.mla.v_head_dim
    else:
        d_qk = d_v = model.head_dim
    return 6.0 * model.layers * seq_len * h * (d_qk + d_v)


def train_flops_per_token(model: ModelSpec, seq_len: int, recompute: str = "none") -> tuple[float, float]:
    """(model FLOP, hardware FLOP) per trained token, forward + backward.

    model: ``6 * N_active_matmul + A`` with ``A`` the attention term (:func:`attention_train_flops_per_token`,
    ``12 * L * d_attn * S`` for MHA); hardware adds the recomputed forward of the transformer layers:
    full ``+ 2 (N_active_matmul - V d) + A / 3`` -- the LM head (``V x d``) is not recomputed, its logits
    feed the loss directly (Narayanan et al. 2021, §5.1: ``96 B s L h^2 (1 + s/6h + V/16Lh)`` with
    recompute vs the model's ``72 B s L h^2 (1 + s/6h + V/12Lh)``, i.e. the head counts 3x either way);
    selective adds next to nothing (norms, activation functions).
    """
    p = arch.params(model)
    attn = attention_train_flops_per_token(model, seq_len)
    mf = 6.0 * p.active_matmul + attn
    layers_matmul = p.active_matmul - model.vocab * model.d_model  # LM head out
    extra = {"none": 0.0, "selective": 0.0, "full": 2.0 * layers_matmul + attn / 3}[recompute]
    return mf, mf + extra


#: The CLI's ``--global-batch`` default (tokens): a budget below it is blamed on the token budget, a batch
#: above it on the batch.
DEFAULT_GLOBAL_BATCH_TOKENS = 4e6


def batch_budget_problem(tokens: float, global_batch_tokens: float, tokens_text: str | None = None,
                         batch_text: str | None = None, names: tuple[str, str] = ("--tokens", "--global-batch"),
                         ) -> tuple[str, str] | None:
    """``(name at fault, why)`` when a budget of ``tokens`` training tokens is smaller than one global batch of
    ``global_batch_tokens`` tokens, else None.

    One optimizer step consumes a whole global batch, so such a budget would plan a fraction of a step: a
    step longer than the run, a price for a handful of tokens.  A batch above the default 4M tokens is
    blamed on the batch option (``names[1]``), else the budget (``names[0]``).  ``*_text``: the values as
    the user wrote them (for the message).
    """
    if global_batch_tokens <= tokens:
        return None
    t_name, b_name = names
    t_txt = tokens_text or f"{tokens:,.0f}"
    b_txt = batch_text or f"{global_batch_tokens:,.0f}"
    if global_batch_tokens > DEFAULT_GLOBAL_BATCH_TOKENS:
        return b_name, (f"larger than the training budget of {t_txt} tokens ({t_name}); one optimizer step "
                        "takes a whole global batch")
    return t_name, (f"less than one optimizer step, a global batch of {b_txt} tokens ({b_name}); give at least "
                    f"{global_batch_tokens:,.0f} tokens")


def model_state_bytes_per_param(zero: int, dp: float) -> float:
    """Bytes per parameter of weights + grads + Adam states on one chip, ZeRO stage ``zero`` over ``dp``.

    ZeRO paper Figure 1 (7.5B params, 64 GPUs): 16 B (stage 0), 2+2+12/64 (1), 2+14/64 (2), 16/64 (3).
    """
    w, g, o = BYTES_PER_PARAM_STATES["weights"], BYTES_PER_PARAM_STATES["grads"], BYTES_PER_PARAM_STATES["optimizer"]
    dp = np.asarray(dp, dtype=float)
    zero = np.asarray(zero)
    return np.where(zero >= 3, (w + g + o) / dp,
                    np.where(zero >= 2, w + (g + o) / dp, np.where(zero >= 1, w + g + o / dp, w + g + o)))


def bubble_fraction(pp, m, v=1):
    """Pipeline bubble as a fraction of ideal compute time: ``(pp - 1) / (m * v)`` (Narayanan 2021)."""
    return (np.asarray(pp, dtype=float) - 1) / (np.asarray(m, dtype=float) * np.asarray(v, dtype=float))


def goodput(chips, checkpoint_s: float, restart_s: float, rate_per_gpu_hour: float = FAILURE_RATE_PER_GPU_HOUR):
    """(goodput fraction, checkpoint interval s, MTBF s) for a job on ``chips`` GPUs (Young/Daly)."""
    mtbf = 3600.0 / (np.asarray(chips, dtype=float) * rate_per_gpu_hour)
    tau = np.sqrt(2.0 * checkpoint_s * mtbf)
    # checkpoint_s / tau written as sqrt(checkpoint_s / (2 mtbf)): continuous at checkpoint_s = 0 (free
    # checkpoints, taken continuously: only the restart is lost), where tau = 0
    waste = np.sqrt(checkpoint_s / (2.0 * mtbf)) + (tau / 2 + checkpoint_s + restart_s) / mtbf
    return 1.0 / (1.0 + waste), tau, mtbf


@dataclass(frozen=True)
class TrainWorkload:
    tokens: float
    seq_len: int = 8192
    global_batch_tokens: float = 4e6
    precision: str = "bf16"


@dataclass(frozen=True)
class Reliability:
    failure_rate_per_gpu_hour: float = FAILURE_RATE_PER_GPU_HOUR
    checkpoint_s: float = 60.0  # assumption: asynchronous checkpoint stall per save
    restart_s: float = 300.0  # assumption: detect, reschedule, reload


@dataclass(frozen=True)
class TrainPins:
    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    ep: int | None = None
    zero: int | None = None
    microbatch: int | None = None
    recompute: str | None = None
    interleave: int | None = None
    cp: int | None = None  # context parallel (ring attention); only when pinned


@dataclass
class TrainPlan(Banded):
    objective: str
    chips: int
    tp: int
    pp: int
    dp: int
    ep: int
    zero_stage: int
    microbatch: int
    microbatches_per_step: int
    interleave: int
    recompute: str
    sequence_parallel: bool
    global_batch_tokens: float
    step_time_s: float
    steps: float
    mfu: float
    hfu: float
    total_flops: float
    days: float
    gpu_hours: float
    usd: float
    memory_per_chip_bytes: float
    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    goodput: float
    checkpoint_interval_s: float
    mtbf_s: float
    compute_s: float
    bubble_s: float
    tp_comm_s: float
    ep_comm_s: float
    dp_comm_s: float
    pp_comm_s: float
    optimizer_s: float
    cp: int = 1  # context-parallel ranks per sequence
    cp_comm_s: float = 0.0  # ring-attention K/V exchange not hidden under attention, per step


@dataclass
class TrainResult:
    model: dict
    hardware: dict
    workload: dict
    objective: str
    feasible: bool
    binding_constraint: str | None
    message: str | None
    plan: TrainPlan | None = None
    alternatives: list[TrainPlan] = field(default_factory=list)
    candidates_evaluated: int = 0
    band_notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _dp_grid(max_dp: int) -> np.ndarray:
    base = np.array([1, 1.25, 1.5, 1.75])
    vals = np.unique(np.round(np.outer(2.0 ** np.arange(0, 18), base).ravel()))
    vals = np.concatenate([np.arange(1, 17), vals])
    return np.unique(vals[vals <= max_dp])


#: A plan may round the requested global batch to a multiple of dp x microbatch by at most this much.
BATCH_TOLERANCE = 0.05


def _tp_choices(model: ModelSpec, hw: HardwareSpec) -> list[int]:
    dom = hw.scale_up.domain
    tps = [t for t in arch.allowed_tp(model) if (dom % t == 0 or t % dom == 0)]
    if model.dense_layers and model.ffn:
        tps = [t for t in tps if model.ffn % t == 0]
    if model.moe:
        tps = [t for t in tps if model.moe.expert_ffn % t == 0]
    return tps


#: The largest --max-chips (and --chips) the command line accepts: beyond any real deployment.
MAX_CHIPS_LIMIT = 10_000_000


def pin_problem(model: ModelSpec, wl: TrainWorkload, pins: TrainPins, chips: int | None, max_chips: int) -> str:
    """Why pinned layout fields cannot be met (one line), or a generic reason."""
    B = wl.global_batch_tokens / wl.seq_len
    parts = []
    if pins.tp is not None and pins.tp not in arch.allowed_tp(model):
        parts.append(f"--tp {pins.tp}: must divide the {model.heads} heads and divide or be a multiple of the "
                     f"{model.kv_heads} KV heads (allowed: {', '.join(map(str, arch.allowed_tp(model)))})")
    if pins.pp is not None and pins.pp > model.layers:
        parts.append(f"--pp {pins.pp}: more stages than the {model.layers} layers")
    if pins.ep is not None and pins.ep > 1 and not model.moe:
        parts.append(f"--ep {pins.ep}: {model.name} is dense (no experts)")
    elif pins.ep is not None and model.moe and model.moe.experts % pins.ep:
        parts.append(f"--ep {pins.ep}: must divide the {model.moe.experts} experts")
    if pins.interleave and pins.interleave > 1:
        if pins.pp == 1:
            parts.append("--interleave needs --pp > 1")
        elif pins.pp and math.ceil(model.layers / pins.pp) % pins.interleave:
            parts.append(f"--interleave {pins.interleave}: must divide the {math.ceil(model.layers / pins.pp)} "
                         "layers of a stage")
    if pins.tp and pins.pp and pins.dp:
        need = pins.tp * pins.pp * pins.dp
        if need > (chips or max_chips):
            parts.append(f"--tp x --pp x --dp = {need:,} chips > {plural(chips or max_chips, 'chip')} available")
    mb = pins.microbatch or 1
    if pins.dp and pins.dp * mb > B * (1 + BATCH_TOLERANCE):
        parts.append(f"--dp {pins.dp} x microbatch {mb} exceeds the global batch of {plural(float(B), 'sequence')}")
    elif pins.microbatch and pins.microbatch > B * (1 + BATCH_TOLERANCE):
        parts.append(f"--microbatch {pins.microbatch} exceeds the global batch of {plural(float(B), 'sequence')}")
    if pins.ep and pins.dp and pins.dp % pins.ep:
        parts.append(f"--ep {pins.ep} must divide --dp {pins.dp} (experts are spread over data-parallel ranks)")
    if not parts:
        parts.append(f"no layout fits the pins and a global batch of {plural(float(B), 'sequence')} within "
                     f"{plural(chips or max_chips, 'chip')} (dp x microbatch must divide the batch within "
                     f"{BATCH_TOLERANCE:.0%}; ep must divide dp and the experts)")
    return "; ".join(parts)


def _grid(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload, pins: TrainPins, chips: int | None, max_chips: int,
          dp_values: dict | None = None):
    """Candidate layouts as flat arrays.  ``dp_values`` maps (tp, pp) to the DP degrees to try (refinement)."""
    tps = _tp_choices(model, hw)
    if pins.tp is not None:
        tps = [pins.tp] if pins.tp in arch.allowed_tp(model) else []
    L = model.layers
    pps = [p for p in range(1, min(L, 128) + 1) if math.ceil(L / math.ceil(L / p)) == p]
    if pins.pp is not None:
        pps = [pins.pp] if 1 <= pins.pp <= L else []
    E = model.moe.experts if model.moe else 1
    eps = [e for e in range(1, E + 1) if E % e == 0]
    if pins.ep is not None:
        eps = [pins.ep] if E % pins.ep == 0 else []
    mbs = [pins.microbatch] if pins.microbatch else list(MICROBATCHES)
    recs = [pins.recompute] if pins.recompute else list(RECOMPUTE)
    # ZeRO-0 is never faster than ZeRO-1 here (same gradient traffic, more memory): search 1-3 unless pinned
    zeros = [pins.zero] if pins.zero is not None else [1, 2, 3]
    vs = [pins.interleave] if pins.interleave else list(INTERLEAVE)
    if not (tps and pps and eps):
        return None
    B = wl.global_batch_tokens / wl.seq_len
    cap = chips or max_chips
    cp = pins.cp or 1
    Ts, Ps, Ds = [], [], []
    for t in tps:
        for p in pps:
            most = cap // (t * p * cp)
            if most < 1:
                continue
            if pins.dp is not None:
                dvals = np.array([pins.dp], float)
            elif dp_values is not None:
                dvals = np.asarray(dp_values.get((t, p), []), float)
            else:
                # at most B sequences' worth of DP ranks; always try the largest that fits
                top = int(min(most, max(1, B * (1 + BATCH_TOLERANCE))))
                dvals = np.unique(np.concatenate([_dp_grid(top), [top]]))
            if dvals.size:
                Ts.append(np.full(dvals.size, t, float))
                Ps.append(np.full(dvals.size, p, float))
                Ds.append(dvals)
    if not Ts:
        return None
    T, P, D = np.concatenate(Ts), np.concatenate(Ps), np.concatenate(Ds)
    axes = [np.array(eps, float), np.array(mbs, float), np.arange(len(recs), dtype=float),
            np.array(zeros, float), np.array(vs, float)]
    idx = np.arange(T.size, dtype=float)
    mesh = np.meshgrid(idx, *axes, indexing="ij")
    flat = [x.ravel() for x in mesh]
    i = flat[0].astype(int)
    EP, MB, R, Z, V = flat[1:]
    T, P, D = T[i], P[i], D[i]
    Ls = np.ceil(L / P)
    ok = (D % EP == 0) & (T * P * D * cp <= cap) & (D >= 1)
    ok &= (V == 1) | ((P > 1) & (Ls % V == 0))  # interleaving splits each stage's layers into v chunks
    M = np.round(B / (D * MB))
    ok &= (M >= 1) & (np.abs(M * D * MB - B) <= BATCH_TOLERANCE * B)
    sel = np.flatnonzero(ok)
    rec_names = np.array(recs)
    return {"tp": T[sel], "pp": P[sel], "dp": D[sel], "ep": EP[sel], "mb": MB[sel], "rec": rec_names[R[sel].astype(int)],
            "zero": Z[sel], "v": V[sel], "Ls": Ls[sel], "m": M[sel], "cp": np.full(sel.size, float(cp))}


def _expert_launch_exposed(model: ModelSpec, lc, hw: HardwareSpec, peak, ridge, tokens_mb, tp, ep, Ls, full):
    """Host time of the per-expert GEMM launches not hidden behind the experts' GPU time, per microbatch on a chip.

    A MoE layer's token dispatcher copies the per-expert token counts to the host before the all-to-all
    (split sizes) and the grouped GEMM (per-expert ``m_splits``), so the host cannot run ahead of the GPU
    across that point: the expert phase of every MoE layer takes ``max(GPU time, host time)`` with host time
    ``n_gemm * (E / ep) * EXPERT_GEMM_HOST_S`` (``n_gemm`` = 6 GEMM passes per expert, fc1 and fc2 forward,
    data- and weight-gradient; 8 with full recompute) and GPU time the experts' FLOP at the expert GEMM
    efficiency.  Only the excess over the GPU time is added.
    """
    n_pass = np.where(full, 8.0, 6.0)  # GEMM calls per local expert per microbatch
    flop_per_param = np.where(full, 8.0, 6.0)  # forward 2, backward 4, recomputed forward 2
    moe_layers = Ls * lc.moe_layer_frac
    exp_eff = 1.0 / (1.0 + GEMM_HALF_RIDGES * ridge / (model.moe.expert_ffn / tp))
    gpu = flop_per_param * tokens_mb * lc.top_k * lc.expert / tp * moe_layers / (peak * hw.efficiency.compute * exp_eff)
    host = n_pass * (model.moe.experts / ep) * moe_layers * EXPERT_GEMM_HOST_S
    return np.maximum(host - gpu, 0.0)


def evaluate_training(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload, rel: Reliability, c: dict) -> dict:
    """Evaluate candidate training layouts (arrays of equal length ``N`` in ``c``) -> dict of ``(N,)`` arrays."""
    lc = arch.layer_costs(model)
    L, d = model.layers, float(model.d_model)
    s = float(wl.seq_len)
    tp, pp, dp, ep, mb, zero, v, Ls, m = (c[k] for k in ("tp", "pp", "dp", "ep", "mb", "zero", "v", "Ls", "m"))
    rec = c["rec"]
    full, sel_rc = rec == "full", rec == "selective"
    cp = c.get("cp", np.ones_like(tp))  # context parallel: each rank holds 1/cp of every sequence
    chips = tp * pp * dp * cp
    sh = dp * cp  # ranks holding the same weights (ZeRO shards and gradient all-reduce span them)
    edge = np.where(pp == 1, lc.edge_one_stage, np.maximum(lc.head, lc.embedding))  # tied: one copy per stage

    # Memory per chip -------------------------------------------------------------------------
    dense_params = (Ls * (lc.attn + lc.dense_ffn + lc.shared) + edge) / tp
    expert_params = Ls * lc.moe_layer_frac * lc.experts * lc.expert / (tp * ep) if lc.experts else np.zeros_like(tp)
    edp = sh / ep
    w = BYTES_PER_PARAM_STATES
    weights_b = dense_params * w["weights"] * np.where(zero >= 3, 1 / sh, 1) + expert_params * w["weights"] * np.where(zero >= 3, 1 / edp, 1)
    grads_b = dense_params * w["grads"] * np.where(zero >= 2, 1 / sh, 1) + expert_params * w["grads"] * np.where(zero >= 2, 1 / edp, 1)
    opt_b = dense_params * w["optimizer"] * np.where(zero >= 1, 1 / sh, 1) + expert_params * w["optimizer"] * np.where(zero >= 1, 1 / edp, 1)
    # Korthikanti et al. 2022: 34 sbh per layer = 15 attention + 19 MLP (4h GELU), MLP share scaled
    coeff = arch.activation_bytes_per_token_per_layer(model) / d
    sbd = s * mb * d / cp  # a rank's tokens of one microbatch x d_model
    # FlashAttention never stores the s x s scores (Dao et al. 2022), so Korthikanti's 5as/h term is gone;
    # selective recompute drops the cheap-to-recompute norm and activation-function outputs (~1/4)
    act_layer = np.where(full, 2 * sbd / tp, np.where(sel_rc, 0.75 * coeff * sbd / tp, coeff * sbd / tp))
    inflight = np.minimum(pp, m) * (1 + np.where(v > 1, (pp - 1) / (pp * v), 0))
    act_b = inflight * Ls * act_layer + np.where(full, coeff * sbd / tp, 0)  # + one layer being recomputed
    act_b = act_b + 4 * s * mb / cp * model.vocab / tp * np.where(pp == 1, 1, 0)  # fp32 logits (last stage)
    mem = weights_b + grads_b + opt_b + act_b

    # Compute -----------------------------------------------------------------------------------
    mf_tok, _ = train_flops_per_token(model, wl.seq_len, "none")
    hw_tok = np.where(full, train_flops_per_token(model, wl.seq_len, "full")[1],
                      np.where(sel_rc, train_flops_per_token(model, wl.seq_len, "selective")[1], mf_tok))
    peak = hw.peak(wl.precision)
    tokens_mb = s * mb / cp  # a rank's tokens of one microbatch (its queries attend to the whole sequence)
    # FLOP of one microbatch on one chip of the largest stage (layers share; head on the last stage)
    stage_share = Ls / L
    flops_mb = tokens_mb * hw_tok * stage_share / tp
    # attention scores run in 16-bit even in FP8 training (Transformer Engine keeps attention in bf16)
    mf_attn = attention_train_flops_per_token(model, wl.seq_len)
    attn_share = np.where(full, mf_attn * 4 / 3, mf_attn) / hw_tok
    peak16 = hw.peak("bf16")
    ridge = peak16 / hw.memory_bandwidth
    gemm_eff = 1.0 / (1.0 + GEMM_HALF_RIDGES * ridge / (d / tp))
    if model.moe is not None:  # the expert share of the FLOPs runs on narrower expert GEMMs
        moe_share = 6.0 * lc.moe_layer_frac * lc.top_k * lc.expert * L / np.maximum(hw_tok, 1)
        exp_eff = 1.0 / (1.0 + GEMM_HALF_RIDGES * ridge / (model.moe.expert_ffn / tp))
        gemm_eff = 1.0 / ((1 - moe_share) / gemm_eff + moe_share / exp_eff)
    flops_time = flops_mb * ((1 - attn_share) / peak + attn_share / peak16) / (hw.efficiency.compute * gemm_eff)
    elem_bytes = ELEMENTWISE_TRAFFIC * coeff * sbd / tp * Ls * np.where(full, 4 / 3, 1.0)
    if model.moe is not None:
        elem_bytes = elem_bytes + MOE_PERMUTE_TRAFFIC * tokens_mb * lc.top_k * d * 2 / tp * Ls * lc.moe_layer_frac
    t_mb_compute = flops_time + elem_bytes / (hw.memory_bandwidth * hw.efficiency.memory)
    if model.moe is not None:
        t_mb_compute = t_mb_compute + _expert_launch_exposed(model, lc, hw, peak, ridge, tokens_mb, tp, ep, Ls, full)

    # Communication per microbatch --------------------------------------------------------------
    bw_tp, a_tp = link(tp, hw)
    n_tp = np.where(full, 6.0, 4.0)
    t_tp = Ls * n_tp * all_reduce_s(tp, sbd * 2, bw_tp, a_tp)
    if lc.experts:
        bw_ep, a_ep = link(tp * ep, hw)
        a2a_bytes = tokens_mb / tp * lc.top_k * d * 2 * (ep - 1) / ep
        n_a2a = np.where(full, 6.0, 4.0)
        t_ep = Ls * lc.moe_layer_frac * n_a2a * all_to_all_s(ep, a2a_bytes, bw_ep, a_ep)
    else:
        t_ep = np.zeros_like(tp)
    # Context parallel (ring attention; Liu et al. 2023, Megatron-Core context_parallel): per layer the K/V
    # chunks of the other cp - 1 ranks pass through each rank in forward, K/V and their gradients in backward
    # (3 passes; 4 with full recompute), overlapped with the attention computed on the chunk in hand
    bw_cp, a_cp = link(tp * cp, hw)
    kv_layer = arch.kv_bytes_per_token_per_layer(model, "bf16") * arch.kv_fraction_per_rank(model, tp)
    cp_bytes = (cp - 1) / cp * s * mb * kv_layer
    t_cp_comm = np.where(cp > 1, Ls * np.where(full, 4.0, 3.0) * p2p_s(cp_bytes, bw_cp, a_cp), 0.0)
    t_cp = np.maximum(t_cp_comm - flops_time * attn_share, 0.0)
    t_mb = t_mb_compute + t_tp + t_ep + t_cp
    bw_pp, a_pp = link(tp * pp, hw)
    t_pp = np.where(pp > 1, 2 * (m + pp - 1) * p2p_s(sbd * 2 / tp, bw_pp, a_pp), 0.0)
    # Data parallel gradient sync: dense grads over dp, expert grads over dp/ep; ZeRO-3 re-gathers
    bw_dp, a_dp = link(tp * pp * dp * cp, hw)
    # ZeRO-3 also all-gathers the weights for every microbatch's forward and backward: 2 all-gathers
    # of half an all-reduce's volume each, i.e. m more all-reduce equivalents per step
    vol = np.where(zero >= 3, 1.0 + m, 1.0)
    t_dp = vol * (all_reduce_s(sh, dense_params * 2, bw_dp, a_dp) + all_reduce_s(edp, expert_params * 2, bw_dp, a_dp))
    # gradient reduction hides behind backward compute; ZeRO-3's weight all-gathers are prefetched
    # during forward and backward, so they can hide behind all of the step's compute
    window = m * t_mb_compute * np.where(zero >= 3, 1.0, 2.0 / 3.0)
    t_dp_exposed = np.maximum(t_dp - DP_OVERLAP * window, (1 - DP_OVERLAP) * t_dp)
    # optimizer: read/write the sharded states once (memory bound)
    t_opt = 2 * (grads_b + opt_b + weights_b) / (hw.memory_bandwidth * hw.efficiency.memory)

    t_bubble = (pp - 1) / v * t_mb
    step = m * t_mb + t_bubble + t_pp + t_dp_exposed + t_opt
    gb_tokens = m * mb * dp * s
    steps = wl.tokens / gb_tokens
    train_s = steps * step
    gp, tau, mtbf = goodput(chips, rel.checkpoint_s, rel.restart_s, rel.failure_rate_per_gpu_hour)
    wall_s = train_s / gp
    mfu = gb_tokens * mf_tok / step / (chips * peak)
    hfu = gb_tokens * hw_tok / step / (chips * peak)
    gpu_hours = chips * wall_s / 3600
    return {
        **c, "chips": chips, "weights_b": weights_b, "grads_b": grads_b, "opt_b": opt_b, "act_b": act_b, "mem": mem,
        "step": step, "steps": steps, "gb_tokens": gb_tokens, "mfu": mfu, "hfu": hfu, "goodput": gp, "tau": tau,
        "mtbf": mtbf, "days": wall_s / 86400, "gpu_hours": gpu_hours, "usd": gpu_hours * hw.price,
        "t_compute": m * t_mb_compute, "t_bubble": t_bubble, "t_tp": m * t_tp, "t_ep": m * t_ep,
        "t_dp": t_dp_exposed, "t_pp": t_pp, "t_opt": t_opt, "t_cp": m * t_cp, "total_flops": np.full_like(step, wl.tokens * mf_tok),
    }  # fmt: skip


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
    ``max_chips`` (``min_cost``).  Infeasible -> ``binding_constraint`` in ``memory``, ``days``,
    ``chips`` or ``layout``.
    """
    if chips is not None and days is not None:
        raise ValueError("give chips or days, not both")
    pins = pins or TrainPins()
    rel = rel or Reliability()
    objective = "fastest" if chips is not None else ("min_chips" if days is not None else "min_cost")
    summary = _summary(model, hw, wl)
    c = _grid(model, hw, wl, pins, chips, max_chips)
    if c is None or c["tp"].size == 0:
        return TrainResult(**summary, objective=objective, feasible=False, binding_constraint="layout",
                           message="layout: " + pin_problem(model, wl, pins, chips, max_chips))
    capacity = hw.memory * hw.usable_memory
    r, mem_ok, feasible = _evaluate_kept(model, hw, wl, rel, c, capacity, days)
    finite = np.isfinite(r["days"]) & np.isfinite(r["mem"])
    res = TrainResult(**summary, objective=objective, feasible=bool(feasible.any()), binding_constraint=None,
                      message=None, candidates_evaluated=int(c["tp"].size))
    if not feasible.any():
        from gpt4plan.specs.units import format_bytes

        if not mem_ok.any():
            i = int(np.argmin(np.where(finite, r["mem"], np.inf)))
            res.binding_constraint = "memory"
            res.message = (f"memory: the leanest layout needs {format_bytes(float(r['mem'][i]))} per chip "
                           f"(tp={int(r['tp'][i])}, pp={int(r['pp'][i])}, dp={int(r['dp'][i])}, ZeRO-{int(r['zero'][i])}, "
                           f"{r['rec'][i]} recompute); {hw.name} has {format_bytes(capacity)} usable")
            res.plan = _plan(r, i, "nearest")
        else:
            idx = np.flatnonzero(mem_ok)
            i = int(idx[np.argmin(r["days"][idx])])
            res.binding_constraint = "days"
            used = int(r["chips"][i])
            seqs = wl.global_batch_tokens / wl.seq_len
            if used < 0.9 * max_chips:  # more chips would not help: DP x microbatch cannot exceed the batch
                hint = (f"the global batch of {plural(float(seqs), 'sequence')} caps data parallelism, so more chips do not "
                        f"help: raise --global-batch")
            elif max_chips < MAX_CHIPS_LIMIT:
                hint = "raise --max-chips"
            else:  # --max-chips is at its upper bound: only the target or the work can give
                hint = (f"--max-chips is at its limit of {MAX_CHIPS_LIMIT:,}: allow more --days or train on fewer "
                        "--tokens")
            res.message = (f"days: the fastest layout within {plural(max_chips, 'chip')} takes {r['days'][i]:.1f} days "
                           f"on {plural(used, 'chip')}; target {days:g} day{'s' if days != 1 else ''} ({hint})")
            res.plan = _plan(r, i, "nearest")
        return res
    if objective == "min_chips" and pins.dp is None:
        r, feasible, extra = _refine_dp(model, hw, wl, rel, pins, max_chips, days, r, feasible, capacity)
        res.candidates_evaluated += extra
    idx = np.flatnonzero(feasible)
    if objective == "fastest":
        order = np.lexsort((r["usd"][idx], r["days"][idx]))
    elif objective == "min_chips":
        order = np.lexsort((r["days"][idx], r["chips"][idx]))
    else:
        order = np.lexsort((r["days"][idx], r["usd"][idx]))
    ranked = idx[order]
    res.plan = _plan(r, ranked[0], objective)
    res.warnings = _warnings(res.plan, wl, objective)
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
    return res


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
    c = _grid(model, hw, wl, pins, None, max_chips, {k: sorted(v) for k, v in dp_values.items()})
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
        with np.errstate(all="ignore"):
            r = evaluate_training(model, hw, wl, rel, cc)
        finite = np.isfinite(r["days"]) & np.isfinite(r["mem"])
        mem_ok = (r["mem"] <= capacity) & finite
        feas = mem_ok & (True if days is None else r["days"] <= days)
        kept.append({k: v[feas] for k, v in r.items()})
        i = int(np.argmin(np.where(finite, r["mem"], np.inf)))
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


def _warnings(p: TrainPlan, wl: TrainWorkload, objective: str) -> list[str]:
    """Plain-language flags on a chosen plan: things a planner should look at before signing."""
    out = []
    if abs(p.global_batch_tokens - wl.global_batch_tokens) > 0.005 * wl.global_batch_tokens:
        out.append(f"global batch rounded to {plural(p.global_batch_tokens / wl.seq_len, 'sequence')} "
                   f"({p.global_batch_tokens / wl.global_batch_tokens - 1:+.1%} vs the target "
                   f"{wl.global_batch_tokens:,.0f}-token global batch) to fit DP x microbatch x microbatches")
    if p.step_time_s > 0 and p.bubble_s / p.step_time_s > 0.2:
        out.append(f"the pipeline bubble is {p.bubble_s / p.step_time_s:.0%} of each step: a larger --global-batch "
                   "(more microbatches) or fewer pipeline stages would raise MFU")
    if objective == "min_cost" and p.days > 365:
        out.append(f"the cheapest plan takes {p.days:,.0f} days; give --days D for a deadline or --chips N")
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
                     "precision": wl.precision},
    }  # fmt: skip
