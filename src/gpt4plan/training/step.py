"""The time and memory of one training step for candidate layouts (docs/design.md).

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
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.physics.comm import all_reduce_s, all_to_all_s, link, p2p_s
from gpt4plan.physics.kernels import DEFAULT_ENGINE, KernelTables, select_tables
from gpt4plan.training.reliability import Reliability, goodput
from gpt4plan.training.workload import TrainWorkload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = [
    "attention_train_flops_per_token",
    "train_flops_per_token",
    "model_state_bytes_per_param",
    "bubble_fraction",
    "memory_per_chip",
    "evaluate_training",
    "train_kernel_tables",
    "performance_model",
]

#: Fraction of the data-parallel gradient traffic that hides behind backward compute (assumption;
#: Megatron-LM overlaps bucketed reduce-scatter with backward, --overlap-grad-reduce).
DP_OVERLAP = 0.8
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


def _geometry(model: ModelSpec, wl: TrainWorkload, c: dict) -> SimpleNamespace:
    """The candidate layouts' axes and the sizes every part of the step uses (arrays of length ``N``)."""
    tp, pp, dp, ep, mb, zero, v, Ls, m = (c[k] for k in ("tp", "pp", "dp", "ep", "mb", "zero", "v", "Ls", "m"))
    rec = c["rec"]
    cp = c.get("cp", np.ones_like(tp))  # context parallel: each rank holds 1/cp of every sequence
    d, s = float(model.d_model), float(wl.seq_len)
    return SimpleNamespace(
        lc=arch.layer_costs(model), L=model.layers, d=d, s=s, tp=tp, pp=pp, dp=dp, ep=ep, mb=mb, zero=zero, v=v,
        Ls=Ls, m=m, full=rec == "full", sel_rc=rec == "selective", cp=cp, chips=tp * pp * dp * cp,
        sh=dp * cp,  # ranks holding the same weights (ZeRO shards and gradient all-reduce span them)
        sbd=s * mb * d / cp,  # a rank's tokens of one microbatch x d_model
        tokens_mb=s * mb / cp,  # a rank's tokens of one microbatch (its queries attend to the whole sequence)
    )  # fmt: skip


def _memory(model: ModelSpec, g: SimpleNamespace) -> dict:
    """Bytes per chip of weights, grads, optimizer states and activations (and the parameter shares)."""
    lc, tp, pp, ep, zero, v, Ls, m, sh, sbd = g.lc, g.tp, g.pp, g.ep, g.zero, g.v, g.Ls, g.m, g.sh, g.sbd
    full = g.full
    edge = np.where(pp == 1, lc.edge_one_stage, np.maximum(lc.head, lc.embedding))  # tied: one copy per stage
    dense_params = (Ls * (lc.attn + lc.dense_ffn + lc.shared) + edge) / tp
    expert_params = Ls * lc.moe_layer_frac * lc.experts * lc.expert / (tp * ep) if lc.experts else np.zeros_like(tp)
    edp = sh / ep
    w = BYTES_PER_PARAM_STATES
    weights_b = dense_params * w["weights"] * np.where(zero >= 3, 1 / sh, 1) + expert_params * w["weights"] * np.where(zero >= 3, 1 / edp, 1)
    grads_b = dense_params * w["grads"] * np.where(zero >= 2, 1 / sh, 1) + expert_params * w["grads"] * np.where(zero >= 2, 1 / edp, 1)
    opt_b = dense_params * w["optimizer"] * np.where(zero >= 1, 1 / sh, 1) + expert_params * w["optimizer"] * np.where(zero >= 1, 1 / edp, 1)
    # Korthikanti et al. 2022: 34 sbh per layer = 15 attention + 19 MLP (4h GELU), MLP share scaled
    coeff = arch.activation_bytes_per_token_per_layer(model) / g.d
    # FlashAttention never stores the s x s scores (Dao et al. 2022), so Korthikanti's 5as/h term is gone;
    # selective recompute drops the cheap-to-recompute norm and activation-function outputs (~1/4)
    act_layer = np.where(full, 2 * sbd / tp, np.where(g.sel_rc, 0.75 * coeff * sbd / tp, coeff * sbd / tp))
    inflight = np.minimum(pp, m) * (1 + np.where(v > 1, (pp - 1) / (pp * v), 0))
    act_b = inflight * Ls * act_layer + np.where(full, coeff * sbd / tp, 0)  # + one layer being recomputed
    act_b = act_b + 4 * g.s * g.mb / g.cp * model.vocab / tp * np.where(pp == 1, 1, 0)  # fp32 logits (last stage)
    return {"weights_b": weights_b, "grads_b": grads_b, "opt_b": opt_b, "act_b": act_b,
            "mem": weights_b + grads_b + opt_b + act_b, "dense_params": dense_params,
            "expert_params": expert_params, "edp": edp, "coeff": coeff}  # fmt: skip


def _microbatch_compute(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload, g: SimpleNamespace, coeff) -> dict:
    """Compute time of one microbatch on a chip of the largest stage (GEMMs, elementwise traffic, MoE launches)."""
    lc, tp, ep, Ls, full, sbd, tokens_mb = g.lc, g.tp, g.ep, g.Ls, g.full, g.sbd, g.tokens_mb
    d = g.d
    mf_tok, _ = train_flops_per_token(model, wl.seq_len, "none")
    hw_tok = np.where(full, train_flops_per_token(model, wl.seq_len, "full")[1],
                      np.where(g.sel_rc, train_flops_per_token(model, wl.seq_len, "selective")[1], mf_tok))
    peak = hw.peak(wl.precision)
    # FLOP of one microbatch on one chip of the largest stage (layers share; head on the last stage)
    stage_share = Ls / g.L
    flops_mb = tokens_mb * hw_tok * stage_share / tp
    # attention scores run in 16-bit even in FP8 training (Transformer Engine keeps attention in bf16)
    mf_attn = attention_train_flops_per_token(model, wl.seq_len)
    attn_share = np.where(full, mf_attn * 4 / 3, mf_attn) / hw_tok
    peak16 = hw.peak("bf16")
    ridge = peak16 / hw.memory_bandwidth
    gemm_eff = 1.0 / (1.0 + GEMM_HALF_RIDGES * ridge / (d / tp))
    if model.moe is not None:  # the expert share of the FLOPs runs on narrower expert GEMMs
        moe_share = 6.0 * lc.moe_layer_frac * lc.top_k * lc.expert * g.L / np.maximum(hw_tok, 1)
        exp_eff = 1.0 / (1.0 + GEMM_HALF_RIDGES * ridge / (model.moe.expert_ffn / tp))
        gemm_eff = 1.0 / ((1 - moe_share) / gemm_eff + moe_share / exp_eff)
    flops_time = flops_mb * ((1 - attn_share) / peak + attn_share / peak16) / (hw.efficiency.compute * gemm_eff)
    kt = train_kernel_tables(hw, wl)
    if kt is not None:  # measured GEMMs (forward and both backward shapes) and attention replace the roofline
        from gpt4plan.physics.measured import train_microbatch_s  # only with tables (a fast start)

        flops_time = train_microbatch_s(model, kt, wl.precision, peak, peak16, hw.memory_bandwidth, tp, ep, g.mb,
                                        g.s, g.cp, Ls, full)
    elem_bytes = ELEMENTWISE_TRAFFIC * coeff * sbd / tp * Ls * np.where(full, 4 / 3, 1.0)
    if model.moe is not None:
        elem_bytes = elem_bytes + MOE_PERMUTE_TRAFFIC * tokens_mb * lc.top_k * d * 2 / tp * Ls * lc.moe_layer_frac
    t_mb_compute = flops_time + elem_bytes / (hw.memory_bandwidth * hw.efficiency.memory)
    if model.moe is not None:
        t_mb_compute = t_mb_compute + _expert_launch_exposed(model, lc, hw, peak, ridge, tokens_mb, tp, ep, Ls, full)
    return {"mf_tok": mf_tok, "hw_tok": hw_tok, "peak": peak, "flops_time": flops_time, "attn_share": attn_share,
            "t_mb_compute": t_mb_compute}  # fmt: skip


def _microbatch_comm(model: ModelSpec, hw: HardwareSpec, g: SimpleNamespace, cmp: dict) -> dict:
    """Exposed TP, EP and context-parallel communication of one microbatch."""
    lc, tp, ep, cp, Ls, full, sbd = g.lc, g.tp, g.ep, g.cp, g.Ls, g.full, g.sbd
    bw_tp, a_tp = link(tp, hw)
    n_tp = np.where(full, 6.0, 4.0)
    t_tp = Ls * n_tp * all_reduce_s(tp, sbd * 2, bw_tp, a_tp)
    if lc.experts:
        bw_ep, a_ep = link(tp * ep, hw)
        a2a_bytes = g.tokens_mb / tp * lc.top_k * g.d * 2 * (ep - 1) / ep
        n_a2a = np.where(full, 6.0, 4.0)
        t_ep = Ls * lc.moe_layer_frac * n_a2a * all_to_all_s(ep, a2a_bytes, bw_ep, a_ep)
    else:
        t_ep = np.zeros_like(tp)
    # Context parallel (ring attention; Liu et al. 2023, Megatron-Core context_parallel): per layer the K/V
    # chunks of the other cp - 1 ranks pass through each rank in forward, K/V and their gradients in backward
    # (3 passes; 4 with full recompute), overlapped with the attention computed on the chunk in hand
    bw_cp, a_cp = link(tp * cp, hw)
    kv_layer = arch.kv_bytes_per_token_per_layer(model, "bf16") * arch.kv_fraction_per_rank(model, tp)
    cp_bytes = (cp - 1) / cp * g.s * g.mb * kv_layer
    t_cp_comm = np.where(cp > 1, Ls * np.where(full, 4.0, 3.0) * p2p_s(cp_bytes, bw_cp, a_cp), 0.0)
    t_cp = np.maximum(t_cp_comm - cmp["flops_time"] * cmp["attn_share"], 0.0)
    return {"t_tp": t_tp, "t_ep": t_ep, "t_cp": t_cp}


def _step_sync(hw: HardwareSpec, g: SimpleNamespace, mem: dict, t_mb_compute) -> dict:
    """Per-step pipeline sends, exposed data-parallel sync and the optimizer update."""
    tp, pp, dp, cp, zero, m, sh = g.tp, g.pp, g.dp, g.cp, g.zero, g.m, g.sh
    bw_pp, a_pp = link(tp * pp, hw)
    t_pp = np.where(pp > 1, 2 * (m + pp - 1) * p2p_s(g.sbd * 2 / tp, bw_pp, a_pp), 0.0)
    # Data parallel gradient sync: dense grads over dp, expert grads over dp/ep; ZeRO-3 re-gathers
    bw_dp, a_dp = link(tp * pp * dp * cp, hw)
    # ZeRO-3 also all-gathers the weights for every microbatch's forward and backward: 2 all-gathers
    # of half an all-reduce's volume each, i.e. m more all-reduce equivalents per step
    vol = np.where(zero >= 3, 1.0 + m, 1.0)
    t_dp = vol * (all_reduce_s(sh, mem["dense_params"] * 2, bw_dp, a_dp)
                  + all_reduce_s(mem["edp"], mem["expert_params"] * 2, bw_dp, a_dp))
    # gradient reduction hides behind backward compute; ZeRO-3's weight all-gathers are prefetched
    # during forward and backward, so they can hide behind all of the step's compute
    window = m * t_mb_compute * np.where(zero >= 3, 1.0, 2.0 / 3.0)
    t_dp_exposed = np.maximum(t_dp - DP_OVERLAP * window, (1 - DP_OVERLAP) * t_dp)
    # optimizer: read/write the sharded states once (memory bound)
    t_opt = 2 * (mem["grads_b"] + mem["opt_b"] + mem["weights_b"]) / (hw.memory_bandwidth * hw.efficiency.memory)
    return {"t_pp": t_pp, "t_dp": t_dp_exposed, "t_opt": t_opt}


def train_kernel_tables(hw: HardwareSpec, wl: TrainWorkload) -> KernelTables | None:
    """The measured tables pricing ``wl``'s matmuls on ``hw`` with ``performance_model="measured"``:
    TensorRT-LLM's, which time cuBLAS as Transformer Engine calls it; None for the roofline."""
    return select_tables(hw, wl.performance_model, DEFAULT_ENGINE, wl.precision)[0]


def performance_model(hw: HardwareSpec, wl: TrainWorkload) -> dict:
    """``{kind, source, engine, engine_version}`` of what prices a training microbatch
    (:func:`gpt4plan.physics.kernels.select_tables`)."""
    return select_tables(hw, wl.performance_model, DEFAULT_ENGINE, wl.precision)[1]


def memory_per_chip(model: ModelSpec, wl: TrainWorkload, c: dict):
    """Bytes per chip of candidate layouts ``c``: :func:`evaluate_training`'s ``mem`` alone (a quarter of the
    work), so a search evaluates in full only the layouts that fit."""
    return _memory(model, _geometry(model, wl, c))["mem"]


def evaluate_training(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload, rel: Reliability, c: dict) -> dict:
    """Evaluate candidate training layouts (arrays of equal length ``N`` in ``c``) -> dict of ``(N,)`` arrays."""
    g = _geometry(model, wl, c)
    mem = _memory(model, g)
    cmp = _microbatch_compute(model, hw, wl, g, mem["coeff"])
    comm = _microbatch_comm(model, hw, g, cmp)
    sync = _step_sync(hw, g, mem, cmp["t_mb_compute"])
    m, chips, mf_tok, hw_tok, peak = g.m, g.chips, cmp["mf_tok"], cmp["hw_tok"], cmp["peak"]
    t_mb = cmp["t_mb_compute"] + comm["t_tp"] + comm["t_ep"] + comm["t_cp"]
    # the bubble is bubble_fraction(pp, m, v) of the step's m * t_mb compute; written per microbatch (m = 1),
    # which is the same time and rounds as (pp - 1) / v * t_mb always did
    t_bubble = bubble_fraction(g.pp, 1, g.v) * t_mb
    step = m * t_mb + t_bubble + sync["t_pp"] + sync["t_dp"] + sync["t_opt"]
    gb_tokens = m * g.mb * g.dp * g.s
    steps = wl.tokens / gb_tokens
    train_s = steps * step
    gp, tau, mtbf = goodput(chips, rel.checkpoint_s, rel.restart_s, rel.failure_rate_per_gpu_hour)
    wall_s = train_s / gp
    gpu_hours = chips * wall_s / 3600
    return {
        **c, "chips": chips, "weights_b": mem["weights_b"], "grads_b": mem["grads_b"], "opt_b": mem["opt_b"],
        "act_b": mem["act_b"], "mem": mem["mem"], "step": step, "steps": steps, "gb_tokens": gb_tokens,
        "mfu": gb_tokens * mf_tok / step / (chips * peak), "hfu": gb_tokens * hw_tok / step / (chips * peak),
        "goodput": gp, "tau": tau, "mtbf": mtbf, "days": wall_s / 86400, "gpu_hours": gpu_hours,
        "usd": gpu_hours * hw.price, "t_compute": m * cmp["t_mb_compute"], "t_bubble": t_bubble,
        "t_tp": m * comm["t_tp"], "t_ep": m * comm["t_ep"], "t_dp": sync["t_dp"], "t_pp": sync["t_pp"],
        "t_opt": sync["t_opt"], "t_cp": m * comm["t_cp"], "total_flops": np.full_like(step, wl.tokens * mf_tok),
    }  # fmt: skip
