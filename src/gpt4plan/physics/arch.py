"""Transformer accounting: parameters, FLOPs, weight bytes and KV-cache bytes (docs/design.md).

All counts are plain numbers of elements (parameters) or FLOP; bytes take a dtype's size from
:data:`gpt4plan.specs.DTYPE_BYTES`.  Formulas, with d = d_model, h heads, h_kv KV heads, d_h head dim:

* attention (MHA/GQA/MQA): ``d*h*d_h (Q) + 2*d*h_kv*d_h (K,V) + h*d_h*d (O)`` per layer;
  MLA (DeepSeek-V2, arXiv 2405.04434 §2.1; DeepSeek-V3 config): ``d*q_r + q_r + q_r*h*(d_nope+d_rope)
  + d*(kv_r+d_rope) + kv_r + kv_r*h*(d_nope+d_v) + h*d_v*d`` (the ``+ q_r``/``+ kv_r`` are the latent norms).
* FFN: ``m*d*d_ff``, m = 3 for gated units (SwiGLU/GeGLU, Shazeer 2020), 2 otherwise.
* MoE layer: ``E*m*d*d_ff_e + E_shared*m*d*d_ff_shared + d*E`` (router) ``(+ E`` router bias); no router
  when E = 1 (it would always gate 1.0: a 1-expert MoE is the dense model).
* norms: ``norms_per_layer`` (default 2) vectors of size d per layer + a final one, each ``d`` for RMSNorm
  or LayerNorm without bias, ``2d`` for LayerNorm with bias; ``qk_norm`` adds ``2*d_h`` per layer (Qwen3,
  Gemma-3: one head_dim-sized norm shared by the query heads, one by the key heads).
* attention sinks (gpt-oss): ``h`` learned logits per layer, counted with attention.
* embeddings ``V*d`` plus an untied LM head ``V*d``.
* forward FLOP per token: ``2 * matmul params touched`` (LM head included, embedding lookup not;
  Kaplan et al. 2020 §2.1) plus attention scores ``4*c*h*d_h`` per layer at context c.
* KV cache per token: ``2 * L * h_kv * d_h * bytes``; MLA ``L * (kv_lora_rank + qk_rope_head_dim) * bytes``
  (DeepSeek-V2 §2.1.2).  Sliding-window layers keep at most ``window`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.specs.vocabulary import DTYPE_BYTES

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import ModelSpec

__all__ = [
    "ParamBreakdown",
    "activation_bytes_per_token_per_layer",
    "params",
    "expert_params",
    "ffn_matrices",
    "attention_params_per_layer",
    "flops_per_token",
    "attention_flops_per_token",
    "prefill_with_prefix",
    "weight_bytes",
    "kv_bytes_per_token",
    "kv_bytes_per_token_per_layer",
    "kv_heads_per_rank",
    "allowed_tp",
    "expected_experts_touched",
    "LayerCosts",
    "layer_costs",
]


def ffn_matrices(model: ModelSpec) -> int:
    """3 for a gated FFN (SwiGLU/GeGLU), 2 for a plain MLP (GELU/ReLU)."""
    return 3 if model.ffn_gated else 2


def attention_params_per_layer(model: ModelSpec) -> int:
    """Attention matmul parameters of one layer (with biases where the model has them, no norms)."""
    d, h, dh = model.d_model, model.heads, model.head_dim
    if model.mla is not None:
        m = model.mla
        dqk = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = (d * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * h * dqk) if m.q_lora_rank else d * h * dqk
        kv = d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank + m.kv_lora_rank * h * (
            m.qk_nope_head_dim + m.v_head_dim
        )
        o = h * m.v_head_dim * d
        return q + kv + o
    kv = model.kv_heads
    n = d * h * dh + 2 * d * kv * dh + h * dh * d
    if model.qkv_bias or model.linear_bias:
        n += h * dh + 2 * kv * dh
    if model.linear_bias:
        n += d
    if model.attention_sinks:  # gpt-oss: one learned sink logit per head
        n += h
    return n


def _ffn_params(model: ModelSpec, width: int) -> int:
    m = ffn_matrices(model)
    n = m * model.d_model * width
    if model.linear_bias:
        n += (m - 1) * width + model.d_model
    return n


def expert_params(model: ModelSpec) -> int:
    """Parameters of one routed expert in one MoE layer (0 for a dense model)."""
    return _ffn_params(model, model.moe.expert_ffn) if model.moe else 0


def _norm_size(model: ModelSpec, width: int) -> int:
    """Parameters of one norm over ``width`` elements: scale (and bias for ``layernorm_bias``)."""
    return (2 if model.norm == "layernorm_bias" else 1) * width


def _norms_per_layer(model: ModelSpec) -> int:
    n = model.norms_per_layer * _norm_size(model, model.d_model)
    if model.qk_norm:
        n += 2 * _norm_size(model, model.head_dim)
    return n


@dataclass(frozen=True)
class ParamBreakdown:
    """Parameter counts by component (elements).  ``total`` and ``active`` include embeddings."""

    attention: int
    dense_ffn: int
    experts: int
    shared_experts: int
    router: int
    embeddings: int
    lm_head: int
    norms: int
    total: int
    active: int
    #: parameters that are matmul operands for one token (active minus input embedding and norms)
    active_matmul: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def params(model: ModelSpec) -> ParamBreakdown:
    """Total and active parameters with a per-component breakdown.

    Active = everything a token touches: attention, dense FFN, ``top_k`` routed experts, shared experts,
    router, norms, input embedding and LM head (the convention of Mistral's "12.9B active" for
    Mixtral-8x7B, which this reproduces exactly).
    """
    L, d = model.layers, model.d_model
    attn = L * attention_params_per_layer(model)
    dense = model.dense_layers * _ffn_params(model, model.ffn) if model.dense_layers else 0
    moe = model.moe
    n_moe = model.moe_layers
    experts = n_moe * moe.experts * expert_params(model) if moe else 0
    shared = n_moe * moe.shared_experts * _ffn_params(model, moe.shared_expert_ffn) if moe and moe.shared_experts else 0
    # a router over one expert always gates 1.0: it has no weights to hold or run (a 1-expert MoE is dense)
    router = n_moe * (d * moe.experts + (moe.experts if moe.router_bias else 0)) if moe and moe.experts > 1 else 0
    if moe and moe.shared_experts and moe.shared_expert_gate:  # Qwen2-MoE's d x 1 shared-expert gate
        router += n_moe * d
    emb = model.vocab * d
    head = 0 if model.tied_embeddings else model.vocab * d
    norms = L * _norms_per_layer(model) + _norm_size(model, d)
    if model.mla is not None:  # latent norms are counted inside attention_params_per_layer
        pass
    total = attn + dense + experts + shared + router + emb + head + norms
    active_experts = n_moe * moe.top_k * expert_params(model) if moe else 0
    active = attn + dense + active_experts + shared + router + emb + head + norms
    head_matmul = model.vocab * d  # tied or not, the LM head is a d x V matmul
    active_matmul = attn + dense + active_experts + shared + router + head_matmul
    return ParamBreakdown(attn, dense, experts, shared, router, emb, head, norms, total, active, active_matmul)


def attention_flops_per_token(model: ModelSpec, context: float | np.ndarray) -> float | np.ndarray:
    """Attention-score FLOP (QK^T and AV) for one new token attending to ``context`` tokens, all layers.

    ``4 * c * h * d_h`` per layer (MLA: ``2*c*h*(d_nope+d_rope) + 2*c*h*d_v``); sliding-window layers
    attend to at most ``window`` tokens.  ``context`` may be an array (any shape); result has its shape.
    """
    h = model.heads
    if model.mla is not None:
        m = model.mla
        per = 2 * h * (m.qk_nope_head_dim + m.qk_rope_head_dim) + 2 * h * m.v_head_dim
    else:
        per = 4 * h * model.head_dim
    full, windowed = _window_layers(model)
    c = np.asarray(context, dtype=float)
    out = per * (full * c + windowed * np.minimum(c, model.sliding_window or 0))
    return float(out) if out.ndim == 0 else out


def prefill_with_prefix(model: ModelSpec, prompt: float, cached: float = 0.0, hit_rate: float = 1.0
                        ) -> tuple[float, float]:
    """(tokens prefilled per prompt, attention FLOP per prefilled token) with prefix caching, means over hits
    and misses.

    A fraction ``hit_rate`` of prompts find the KV of their first ``cached`` tokens in the cache and prefill
    only the ``U = prompt - cached`` others; those new tokens sit at positions ``cached .. prompt`` and attend
    over the whole context up to their own position, at the mean context ``(cached + prompt) / 2``.  A miss
    prefills all ``prompt`` tokens at the mean context ``prompt / 2``.  Hence, with ``P = prompt``, ``C =
    cached``, ``R = hit_rate`` and ``a(c)`` = :func:`attention_flops_per_token`::

        tokens = R U + (1 - R) P;   attention = (R U a((C + P) / 2) + (1 - R) P a(P / 2)) / tokens

    Without a prefix (``cached`` 0 or ``hit_rate`` 0): ``(P, a(P / 2))`` exactly.  2,048-token prompts with
    1,536 cached: 512 tokens at the mean context 1,792.
    """
    P = float(prompt)
    if not cached or not hit_rate:
        return P, attention_flops_per_token(model, P / 2)
    C, R = float(cached), float(hit_rate)
    tokens = R * (P - C) + (1 - R) * P
    attn = R * (P - C) * attention_flops_per_token(model, (C + P) / 2) + (1 - R) * P * attention_flops_per_token(
        model, P / 2)
    return tokens, attn / tokens


def flops_per_token(model: ModelSpec, context: float = 0.0) -> float:
    """Forward FLOP per token: ``2 * active matmul params`` + attention scores at ``context`` tokens.

    With ``context = 0`` this is the seed's "2 x active" figure (S6: 5.6e11 FLOP for GPT-4).
    """
    return 2.0 * params(model).active_matmul + attention_flops_per_token(model, context)


def weight_bytes(model: ModelSpec, dtype: str = "bf16") -> float:
    """Bytes of all weights stored in ``dtype`` (one of :data:`gpt4plan.specs.DTYPES`)."""
    return params(model).total * DTYPE_BYTES[dtype]


def _window_layers(model: ModelSpec) -> tuple[int, int]:
    """(layers with full context, layers with a sliding window)."""
    if not model.sliding_window:
        return model.layers, 0
    w = model.layers if model.sliding_window_layers is None else min(model.sliding_window_layers, model.layers)
    return model.layers - w, w


def activation_bytes_per_token_per_layer(model: ModelSpec) -> float:
    """16-bit activation bytes one token produces in one layer outside the attention scores, bytes.

    Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", eq. 1):
    ``34 * d`` per token per layer = ``15 d`` attention + ``19 d`` MLP for a 4d GELU MLP (the ``5 a s``
    score term is gone with FlashAttention).  The MLP share scales with the FFN width a token uses
    (``top_k * expert_ffn`` for MoE layers) and 1.5x for gated units.  llama-2-7b (SwiGLU 11008):
    ``(15 + 19 * 1.5 * 11008 / 16384) * 4096 = 139,872`` bytes.
    """
    lc = layer_costs(model)
    gated = 1.5 if model.ffn_gated else 1.0
    f_used = (lc.moe_layer_frac * lc.top_k * (model.moe.expert_ffn if model.moe else 0)
              + (1 - lc.moe_layer_frac) * (model.ffn or 0))
    return (15.0 + 19.0 * gated * f_used / (4 * model.d_model)) * model.d_model


def kv_bytes_per_token_per_layer(model: ModelSpec, dtype: str = "bf16") -> float:
    """KV-cache bytes one token adds to one attention layer (all KV heads, unsharded)."""
    b = DTYPE_BYTES[dtype]
    if model.mla is not None:
        return (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * b
    return 2 * model.kv_heads * model.head_dim * b


def kv_bytes_per_token(model: ModelSpec, dtype: str = "bf16") -> float:
    """KV-cache bytes per token of context across all layers (no window cap).

    llama-2-70b at fp16: ``2*80*8*128*2 = 327,680``; deepseek-v3 MLA at bf16: ``61*(512+64)*2 = 70,272``.
    """
    return model.layers * kv_bytes_per_token_per_layer(model, dtype)


def kv_heads_per_rank(model: ModelSpec, tp: int | np.ndarray) -> int | np.ndarray:
    """KV heads a TP rank keeps: ``ceil(h_kv / tp)`` (heads replicated once tp > h_kv; MQA: always 1).

    MLA's latent is shared by all heads, so each rank keeps the whole latent: returns 1 "latent head"
    (callers use :func:`kv_bytes_per_token_per_layer`, which for MLA is already the latent size).
    """
    if model.mla is not None:
        return np.ones_like(tp) if isinstance(tp, np.ndarray) else 1
    return -(-model.kv_heads // np.asarray(tp)) if isinstance(tp, np.ndarray) else math.ceil(model.kv_heads / tp)


def kv_fraction_per_rank(model: ModelSpec, tp: int | np.ndarray) -> float | np.ndarray:
    """Fraction of a layer's KV cache one TP rank holds: ``ceil(h_kv/tp)/h_kv`` (1 for MLA)."""
    if model.mla is not None:
        return np.ones_like(tp, dtype=float) if isinstance(tp, np.ndarray) else 1.0
    return kv_heads_per_rank(model, tp) / model.kv_heads


def allowed_tp(model: ModelSpec, max_tp: int = 1024) -> list[int]:
    """TP degrees the attention allows: tp divides the heads, and tp divides or is divided by the KV heads.

    Example: 28 heads, 4 KV heads -> [1, 2, 4, 28].  MLA shards heads only (KV latent replicated).
    """
    out = []
    for t in range(1, min(model.heads, max_tp) + 1):
        if model.heads % t:
            continue
        if model.mla is None and not (model.kv_heads % t == 0 or t % model.kv_heads == 0):
            continue
        out.append(t)
    return out


def expected_experts_touched(experts: int, top_k: int, tokens: float | np.ndarray) -> float | np.ndarray:
    """Expected distinct experts read when ``tokens`` tokens each pick ``top_k`` of ``experts`` uniformly.

    ``E * (1 - (1 - k/E)^b)`` (SemiAnalysis 2023: at small batch not every expert is read).
    16 experts, top-2, batch 8: ``16*(1-(14/16)^8) = 10.5``.
    """
    t = np.asarray(tokens, dtype=float)
    out = experts * (1.0 - (1.0 - top_k / experts) ** t)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class LayerCosts:
    """Per-layer averages the performance models need (elements, not bytes).

    Averaged over all ``layers`` so a pipeline stage of n layers holds ``n *`` these.
    """

    layers: int
    attn: float          # attention matmul params per layer (+ norms)
    dense_ffn: float     # dense FFN params per layer (averaged over all layers)
    expert: float        # params of one routed expert in one MoE layer
    moe_layer_frac: float  # fraction of layers that are MoE
    experts: int
    top_k: int
    shared: float        # shared-expert + router params per layer (averaged)
    head: float          # LM head matmul params (d x V), on the last stage (compute; tied or not)
    embedding: float     # input embedding params, on the first stage
    edge_one_stage: float  # embedding + LM head weights held when one stage has both (tied: once)
    total: float


def layer_costs(model: ModelSpec) -> LayerCosts:
    """Per-layer averages of :func:`params` for stage-level accounting."""
    p = params(model)
    L = model.layers
    moe = model.moe
    return LayerCosts(
        layers=L,
        attn=(p.attention + p.norms) / L,
        dense_ffn=p.dense_ffn / L,
        expert=float(expert_params(model)),
        moe_layer_frac=model.moe_layers / L,
        experts=moe.experts if moe else 0,
        top_k=moe.top_k if moe else 0,
        shared=(p.shared_experts + p.router) / L,
        head=float(model.vocab * model.d_model),
        embedding=float(p.embeddings),
        edge_one_stage=float(p.embeddings + p.lm_head),
        total=float(p.total),
    )
