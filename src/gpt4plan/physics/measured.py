"""One forward pass of one pipeline stage priced kernel by kernel from measured tables (docs/kernels.md).

Where the chip has distilled tables (:mod:`gpt4plan.physics.kernels`), the matmuls and the attention of a
pass are priced at their real shapes on one TP rank instead of by one roofline for the stage:

* per layer: the QKV projection ``[T, d] x [d, (h/tp + 2 h_kv') d_h]``, the output projection
  ``[T, h d_h / tp] x [., d]``, the FFN up (and gate, fused) ``[T, d] x [d, m_up f / tp]`` and down
  ``[T, f / tp] x [., d]`` (``T`` tokens in the pass, ``h_kv'`` the KV heads a rank keeps, ``m_up`` 2 for a
  gated FFN, else 1); MLA's projections as one GEMM of the same parameters;
* MoE layers: the routed experts from the measured MoE kernel at the busiest rank's load (:func:`moe_table_s`:
  the nearest measured shape, scaled); where none is near, the busiest EP rank's touched experts as one
  grouped GEMM, side by side (``n`` = experts x width: the same weight bytes and FLOPs as the group) at the
  tokens each receives, ``T k imbalance / touched``; shared experts as a dense FFN;
* attention: the measured prefill table at (prompts, prompt length) and the decode table at (sequences,
  tokens in the KV cache), for the rank's query and KV heads; MLA's from the MLA tables at the rank's query
  heads (:meth:`KernelTables.mla_s`), or where the engine has none (vLLM) the roofline of its FLOPs and KV
  bytes;
* the LM head ``[sequences, d] x [d, V / tp]`` once per pass.

Each GEMM is floored at its datasheet roofline (HBM bytes and peak FLOPs): a benchmark that repeats one GEMM
finds its operands in L2, a forward pass streams every layer's weights from HBM.  What the tables do not
hold (norms, activations, residuals, communication, sampling) stays with :mod:`gpt4plan.physics.step`.
Arrays broadcast over candidates; seconds.
"""

from __future__ import annotations

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.physics.kernels import KernelTables

__all__ = ["measured_pass_s", "gemm_time_s", "distinct", "train_microbatch_s", "moe_table_s",
           "ATTENTION_BACKWARD_OVER_FORWARD"]


def distinct(arrays) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first of each distinct row, each row's distinct index) of the rows formed by ``arrays``
    (equal shapes): a search repeats a few kernel shapes over thousands of candidates, priced once each."""
    key = np.zeros(arrays[0].size, dtype=np.int64)
    for a in arrays:
        _, inv = np.unique(a.ravel(), return_inverse=True)
        key = key * (int(inv.max(initial=0)) + 1) + inv.ravel()
    first, inverse = np.unique(key, return_index=True, return_inverse=True)[1:]
    return first, inverse.ravel()


def gemm_time_s(kt: KernelTables, dtype: str, peak: float, bw: float, wbytes: float, m, n, k):
    """One GEMM ``[m, k] x [k, n]``: the measured time floored at its datasheet roofline, ``peak`` FLOP/s and
    ``bw`` bytes/s (weights ``wbytes`` bytes per element, activations 16-bit).  Arrays broadcast; seconds."""
    roof = np.maximum(2 * m * n * k / peak, (k * n * wbytes + 2 * (m * k + m * n)) / bw)
    return np.maximum(kt.gemm_s(m, n, k, dtype), roof)


def measured_pass_s(stage, kt: KernelTables, dtype: str, nb, q, n_pre, tokens, touched, imbalance):
    """Time (s) of the matmuls and attention of one pass of ``stage`` (a
    :class:`~gpt4plan.physics.step.StageModel`): ``nb`` decoding sequences of ``q`` new tokens, ``n_pre``
    prompts, ``tokens`` in all, ``touched`` experts read per MoE layer, ``imbalance`` the busiest EP rank's
    load over the mean.  ``dtype`` is the matmul precision (``kt.has_gemm(dtype)`` holds).  Arrays broadcast
    to the stage's candidates; the kernels are priced once per distinct (TP, EP, sequences, prompts, q): a
    search repeats them across pipeline depths and replicas."""
    arrs = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in
                                 (stage.tp, stage.ep, nb, q, n_pre, tokens, touched, imbalance, stage.Ls)))
    first, inverse = distinct(arrs[:5])
    tp, ep, nb_u, q_u, pre_u, tok_u, touched_u, imb_u = (a.ravel()[first] for a in arrs[:8])
    per_layer, head = _layer_and_head_s(stage, kt, dtype, tp, ep, nb_u, q_u, pre_u, tok_u, touched_u, imb_u)
    return (arrs[8].ravel() * per_layer[inverse] + head[inverse]).reshape(arrs[0].shape)


def _layer_and_head_s(stage, kt, dtype, tp, ep, nb, q, n_pre, tokens, touched, imbalance):
    """(one layer's matmuls and attention, the LM head) on one rank, arrays over distinct candidates."""
    model, lc = stage.model, stage.lc
    d, hd = float(model.d_model), float(model.head_dim)
    peak, bw, wb = stage.peak_datasheet, stage.bw_datasheet, stage.wb

    def g(m, n, k):
        return gemm_time_s(kt, dtype, peak, bw, wb, m, n, k)

    T = np.maximum(tokens, 1.0)
    if model.mla is not None:
        attn = g(T, arch.attention_params_per_layer(model) / d / tp, d)
    else:
        kvr = arch.kv_heads_per_rank(model, tp.astype(int))
        attn = g(T, (model.heads / tp + 2 * kvr) * hd, d) + g(T, d, model.heads * hd / tp)
    up = 2.0 if model.ffn_gated else 1.0

    def ffn(width, m=T):
        return g(m, up * width / tp, d) + g(m, d, width / tp)

    per_layer = attn + _attention_core(stage, kt, tp, nb, q, n_pre) + (1 - lc.moe_layer_frac) * (
        ffn(model.ffn) if model.ffn else 0.0)
    if model.moe is not None:
        moe = model.moe
        shared = ffn(moe.shared_experts * moe.shared_expert_ffn) if moe.shared_experts else 0.0
        ep = np.maximum(ep, 1.0)
        etp = tp / ep  # chips sharing one expert
        local = np.maximum(touched / ep, 1.0)  # experts the busiest rank runs
        m_e = T * moe.top_k * imbalance / np.maximum(touched, 1.0)  # tokens each of them receives
        routed = g(m_e, local * up * moe.expert_ffn / etp, d) + g(m_e, local * d, moe.expert_ffn / etp)
        table, hit = moe_table_s(kt, dtype, model, etp, ep, T * imbalance, routed)
        if hit.any():  # floored at the datasheet roofline of the busiest rank's expert FLOPs and touched weights
            flops = 2 * T * imbalance * moe.top_k / ep * (up + 1) * d * moe.expert_ffn / etp
            floor = np.maximum(flops / peak, local * (up + 1) * d * moe.expert_ffn / etp * wb / bw)
            routed = np.where(hit, np.maximum(table, floor), routed)
        per_layer = per_layer + lc.moe_layer_frac * (shared + routed)
    head = g(np.maximum(nb * q + n_pre, 1.0), model.vocab / tp, d)
    return per_layer, head


def moe_table_s(kt: KernelTables, dtype: str, model, etp, ep, tokens, grouped):
    """The routed experts of one MoE layer on one rank from the measured MoE kernel
    (:meth:`KernelTables.moe_combo`: the nearest measured shape, scaled) at ``tokens`` entering the layer on
    the MoE group (the busiest rank's load: the pass's tokens times its imbalance), each expert split over
    ``etp`` chips and the experts ``ep`` ways; ``grouped`` (the grouped-GEMM time, same shape) where no
    measured shape is near.  Returns (seconds, where a measured shape was used), arrays over candidates."""
    moe = model.moe
    etp, ep, tokens = np.broadcast_arrays(np.asarray(etp, float), np.asarray(ep, float), np.asarray(tokens, float))
    pairs, inverse = np.unique(np.stack([etp.ravel(), ep.ravel()], axis=1), axis=0, return_inverse=True)
    found = [kt.moe_combo(dtype, model.ffn_gated, float(model.d_model), float(moe.expert_ffn), float(moe.top_k),
                          float(moe.experts), float(e_tp), float(e_p)) for e_tp, e_p in pairs]
    rows, scale, token_scale = (np.array([f[j] if f else (0, np.nan, 1.0)[j] for f in found])[inverse.ravel()]
                                .reshape(etp.shape) for j in range(3))
    hit = np.isfinite(scale)
    if not hit.any():
        return np.array(np.broadcast_to(grouped, etp.shape), dtype=float), hit
    return np.where(hit, scale * kt.moe_s(rows.astype(int), tokens * token_scale), grouped), hit


def _attention_core(stage, kt: KernelTables, tp, nb, q, n_pre):
    """One layer's attention kernels on one rank: decode over the mean context, prefill over the prompts."""
    model = stage.model
    kv_fp8 = stage.kv_cache == "fp8"
    if model.mla is not None and kt.has_mla("context", stage.kv_cache) and kt.has_mla("generation", stage.kv_cache):
        heads = model.heads / tp
        dec = kt.mla_s("generation", nb, stage.kv_ctx(stage.c_avg), heads, kv_fp8, model.mla)
        extra = (q - 1) * nb * arch.attention_flops_per_token(model, stage.c_avg) / model.layers / tp
        return dec + extra / stage.peak_datasheet + kt.mla_s("context", n_pre, stage.P, heads, kv_fp8, model.mla)
    if model.mla is not None or not (kt.has_attention("context", stage.kv_cache)
                                     and kt.has_attention("generation", stage.kv_cache)):
        # no table for MLA (vLLM) or this KV precision (fp4, int8, int4; fp8 on A100): the datasheet roofline of
        # the attention's FLOPs and KV bytes
        flops = (nb * q * arch.attention_flops_per_token(model, stage.c_avg)
                 + n_pre * stage.pre_tokens * stage.pre_attn) / model.layers / tp
        kv_layer_rank = arch.kv_bytes_per_token_per_layer(model, stage.kv_cache) * arch.kv_fraction_per_rank(model, tp)
        nbytes = (nb * stage.kv_ctx(stage.c_avg) + n_pre * (stage.pre_tokens + stage.prefix_read)) * kv_layer_rank
        return np.maximum(flops / stage.peak_datasheet, nbytes / stage.bw_datasheet)
    heads = model.heads / tp
    kvr = arch.kv_heads_per_rank(model, tp.astype(int)).astype(float)
    dec = kt.attention_s("generation", nb, stage.kv_ctx(stage.c_avg), heads, kvr, model.head_dim, kv_fp8)
    # q > 1 (verifying a draft): the KV read is shared by the q query tokens; their extra FLOPs are bounded
    # by the compute roofline
    extra = (q - 1) * nb * arch.attention_flops_per_token(model, stage.c_avg) / model.layers / tp
    pre = kt.attention_s("context", n_pre, stage.P, heads, kvr, model.head_dim, kv_fp8)
    if stage.pre_tokens != stage.P:  # prefix caching: the full prompt's measured time scaled by its FLOPs' share
        pre = pre * (stage.pre_tokens * stage.pre_attn) / (stage.P * arch.attention_flops_per_token(model, stage.P / 2))
    return dec + extra / stage.peak_datasheet + pre


#: FlashAttention's backward runs 5 matmuls of the forward's size against the forward's 2: 2.5x its time
#: (Dao 2023, "FlashAttention-2", sec. 3.1-3.2); no backward attention table is distilled.
ATTENTION_BACKWARD_OVER_FORWARD = 2.5


def train_microbatch_s(model, kt: KernelTables, dtype: str, peak: float, peak16: float, bw: float, tp, ep, mb,
                       seq: float, cp, Ls, full):
    """Matmuls and attention of one training microbatch (forward, backward, and the recomputed forward with
    ``full`` recompute) on one chip of a stage of ``Ls`` layers (the LM head's share spread over the stages,
    ``Ls / L``).  Each forward GEMM ``[m, k] x [k, n]`` has two backward GEMMs with the transposed shapes:
    the input gradient ``[m, n] x [n, k]`` and the weight gradient ``[k, m] x [m, n]``.  ``mb`` sequences of
    ``seq`` tokens, ``cp`` context-parallel ranks (a rank holds ``seq / cp`` tokens of each).  Arrays over
    candidates; seconds; ``peak``/``peak16`` the datasheet FLOP/s of ``dtype`` and of 16-bit, ``bw`` the HBM
    bytes/s (each GEMM's roofline floor).  Priced once per distinct (TP, EP, microbatch, CP, recompute)."""
    arrs = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (tp, ep, mb, cp, full, Ls)))
    first, inverse = distinct(arrs[:5])
    tp_u, ep_u, mb_u, cp_u, full_u = (a.ravel()[first] for a in arrs[:5])
    wb = 2.0 if dtype in ("bf16", "fp16") else 1.0

    def g(m, n, k):  # forward GEMM and its two backward GEMMs
        return tuple(gemm_time_s(kt, dtype, peak, bw, wb, *s) for s in ((m, n, k), (m, k, n), (k, n, m)))

    T = mb_u * seq / cp_u
    d, hd, up = float(model.d_model), float(model.head_dim), 2.0 if model.ffn_gated else 1.0
    if model.mla is not None:  # MLA's projections as one GEMM of the same parameters
        shapes = [(T, arch.attention_params_per_layer(model) / d / tp_u, d)]
    else:
        kvr = arch.kv_heads_per_rank(model, tp_u.astype(int))
        shapes = [(T, (model.heads / tp_u + 2 * kvr) * hd, d), (T, d, model.heads * hd / tp_u)]
    lc = arch.layer_costs(model)
    if model.ffn:
        shapes += [(T, up * model.ffn / tp_u, d), (T, d, model.ffn / tp_u)]
    frac = [1.0] * (len(shapes) - (2 if model.ffn else 0)) + [1 - lc.moe_layer_frac] * (2 if model.ffn else 0)
    if model.moe is not None:
        moe = model.moe
        local = moe.experts / np.maximum(ep_u, 1.0)
        m_e = T * moe.top_k / local  # tokens each local expert receives (balanced routing)
        shapes += [(m_e, local * up * moe.expert_ffn / tp_u, d), (m_e, local * d, moe.expert_ffn / tp_u)]
        frac += [lc.moe_layer_frac] * 2
        if moe.shared_experts:
            w = moe.shared_experts * moe.shared_expert_ffn
            shapes += [(T, up * w / tp_u, d), (T, d, w / tp_u)]
            frac += [lc.moe_layer_frac] * 2
    fwd = bwd = 0.0
    for f, (m, n, k) in zip(frac, shapes, strict=True):
        a, b, c = g(m, n, k)
        fwd, bwd = fwd + f * a, bwd + f * (b + c)
    if model.moe is not None:  # the measured MoE kernel in place of the routed experts' grouped GEMMs
        fwd, bwd = _train_routed_swap(model, kt, dtype, g, shapes[-4 if model.moe.shared_experts else -2:][:2],
                                      T, tp_u, ep_u, lc.moe_layer_frac, fwd, bwd)
    attn = _train_attention_s(model, kt, peak16, tp_u, mb_u, seq, cp_u)
    per_layer = fwd + bwd + attn * (1 + ATTENTION_BACKWARD_OVER_FORWARD) + full_u * (fwd + attn)
    ha, hb, hc = g(T, model.vocab / tp_u, d)
    head = ha + hb + hc
    L = float(model.layers)
    return (arrs[5].ravel() * (per_layer[inverse] + head[inverse] / L)).reshape(arrs[0].shape)


def _train_routed_swap(model, kt: KernelTables, dtype: str, g, routed_shapes, T, tp, ep, frac, fwd, bwd):
    """``(fwd, bwd)`` of a training layer with its routed experts' two grouped GEMMs (``routed_shapes``,
    forward and both backward GEMMs each by ``g``, weighted ``frac``) replaced, where a measured MoE shape is
    near (:func:`moe_table_s`), by the measured MoE kernel at the ``T ep`` tokens entering the layer on the
    group (balanced routing; experts split over ``tp`` chips and ``ep`` ranks); its backward is the grouped
    GEMMs' backward scaled by the same measured-over-grouped ratio.  Elsewhere ``fwd``, ``bwd`` unchanged."""
    (a1, b1, c1), (a2, b2, c2) = (g(*s) for s in routed_shapes)
    grouped_f, grouped_b = a1 + a2, b1 + c1 + b2 + c2
    ep = np.maximum(ep, 1.0)
    table, hit = moe_table_s(kt, dtype, model, tp, ep, T * ep, grouped_f)
    ratio = table / grouped_f
    return (np.where(hit, fwd + frac * (table - grouped_f), fwd),
            np.where(hit, bwd + frac * grouped_b * (ratio - 1), bwd))


def _train_attention_s(model, kt: KernelTables, peak16: float, tp, mb, seq: float, cp):
    """One layer's forward attention over ``mb`` sequences of ``seq`` tokens on one TP rank, split ``cp``
    ways (bf16: attention stays 16-bit in FP8 training); MLA, or no attention table: its FLOPs at the
    16-bit datasheet peak."""
    if model.mla is not None and kt.has_mla("context", "bf16"):
        return kt.mla_s("context", mb, seq, model.heads / tp, False, model.mla) / cp
    if model.mla is not None or not kt.has_attention("context", "bf16"):
        return mb * seq * arch.attention_flops_per_token(model, seq / 2) / model.layers / tp / cp / peak16
    kvr = arch.kv_heads_per_rank(model, tp.astype(int)).astype(float)
    return kt.attention_s("context", mb, seq, model.heads / tp, kvr, model.head_dim, False) / cp
