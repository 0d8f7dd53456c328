"""One forward pass of one pipeline stage: its time and what it is made of (docs/design.md).

A *replica* is ``tp * pp`` chips: ``pp`` pipeline stages of ``ceil(layers/pp)`` layers (the largest stage
binds), each stage tensor-parallel over ``tp`` chips; for MoE a stage's experts are split ``ep`` ways
across its chips (expert-TP ``tp/ep`` for the rest).  One forward pass of a stage over ``nb`` decoding
sequences with ``q`` new tokens each plus ``n_pre`` prompts takes::

    roofline_s(compute, memory) + non-matmul traffic + communication + layers * LAYER_OVERHEAD_S

a roofline per stage with partial overlap; norms, activations and residuals moving each token's
activation bytes; TP all-reduces, EP all-to-all and the PP send, each with a latency per step.  MoE passes
read only the experts touched, ``E * (1 - (1 - k/E)^tokens)``
(:func:`gpt4plan.physics.arch.expected_experts_touched`).

Attention data parallelism x wide expert parallelism (MoE; SGLang's ``--enable-dp-attention``, DeepSeek's
deployment): a stage of ``attention_dp * tp`` chips in ``attention_dp`` groups of ``tp``.  Each group holds
the attention, dense FFN, shared-expert and LM-head weights (TP-split inside the group) and the KV cache of
its own sequences only; the routed experts, with ``redundant`` extra copies (EPLB), are spread over all
``ep = attention_dp * tp`` chips, which may span nodes.  A MoE layer dispatches each token's ``top_k`` copies
to their experts' ranks and combines them back (:func:`moe_a2a_bytes_per_token`,
:func:`gpt4plan.physics.comm.all_to_all_two_tier_s`); every group steps in lockstep, so the busiest group
(the prompts of a pass are not split across groups) and the busiest expert rank set the pace.  Two-batch
overlap hides the all-to-all under the other half's compute where that is faster
(:func:`gpt4plan.physics.comm.two_batch_overlap_layer_s`).  The all-to-all is priced by measured DeepEP
tables where the chip has them (:func:`gpt4plan.physics.moe.moe_a2a_s`).

Image tokens in cross-attention layers (``cross_image_tokens`` per sequence): their KV in the stage's share
of those layers, read by every decode pass, and their K/V projection and the text tokens' attention to them
(:func:`gpt4plan.physics.vision.cross_attention_pass`); inline image tokens are prompt tokens to this model.
The request shape enters only through the prompt length (prefill tokens, the prompt's attention) and the
mean decode context ``prompt + output/2``; the KV cache is reserved for ``prompt + output`` tokens.
Every quantity is a numpy array over candidate layouts.  Units: seconds, bytes, FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch, vision
from gpt4plan.physics.comm import all_reduce_s, all_to_all_s, link, p2p_s, two_batch_overlap_layer_s
from gpt4plan.physics.moe import (
    DISPATCH_SCALE_BLOCK,
    a2a_bytes_per_copy,
    deepep_sm_share,
    eplb_imbalance,
    moe_a2a_bytes_per_token,
    moe_a2a_s,
    moe_imbalance,
)
from gpt4plan.specs.vocabulary import DTYPE_BYTES

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.physics.kernels import KernelTables
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = [
    "ACT_BYTES",
    "ROOFLINE_OVERLAP",
    "LAYER_OVERHEAD_S",
    "ELEMENTWISE_TRAFFIC_FORWARD",
    "roofline_s",
    "compute_dtype",
    "moe_imbalance",
    "eplb_imbalance",
    "DISPATCH_SCALE_BLOCK",
    "moe_a2a_bytes_per_token",
    "a2a_bytes_per_copy",
    "StagePass",
    "StageModel",
    "stage_model",
]

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


def roofline_s(compute_s, memory_s):
    """Time of a kernel sequence bound by compute or memory: ``max + (1 - overlap) * min``."""
    return np.maximum(compute_s, memory_s) + (1 - ROOFLINE_OVERLAP) * np.minimum(compute_s, memory_s)


def compute_dtype(weights: str) -> str:
    """The matmul precision used for a weight precision: fp8 -> fp8, int8 -> int8 (W8A8), fp4 -> fp4
    (NVFP4 W4A4 on chips with FP4 tensor cores; :meth:`HardwareSpec.peak` falls back to fp8, then 16-bit,
    on chips without), int4 -> fp16 (weight-only quantisation dequantises to 16-bit), fp32 -> fp32, else
    16-bit."""
    return {"fp8": "fp8", "int8": "int8", "int4": "fp16", "fp4": "fp4", "fp32": "fp32"}.get(weights, weights)


@dataclass(frozen=True)
class StagePass:
    """One forward pass of the largest stage, arrays of shape ``(N,)``: ``t`` (s) and its parts
    ``t_c`` (matmul compute), ``t_m`` (memory reads), ``t_x`` (communication), with the pass's ``flops``,
    ``nbytes`` (bytes read or written), ``touched`` (experts read per MoE layer) and ``overlapped`` (1 where
    the pass runs as two overlapped halves, attention DP's two-batch overlap; else 0)."""

    t: np.ndarray
    t_c: np.ndarray
    t_m: np.ndarray
    t_x: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray
    touched: np.ndarray
    overlapped: np.ndarray


class StageModel:
    """The physics of one pipeline stage at given layouts (arrays broadcastable to ``(N,)``).

    ``weights_mem`` and ``kv_per_seq`` are bytes per chip (the KV cache reserved for one sequence of
    prompt + output tokens), ``Ls`` the layers on the largest stage; :meth:`forward` times one pass.
    """

    def __init__(self, model: ModelSpec, hw: HardwareSpec, tp, pp, ep, prompt_tokens: float,
                 output_tokens: float, weights: str = "bf16", kv_cache: str = "bf16",
                 kernels: KernelTables | None = None, attention_dp=1, redundant=0, two_batch_overlap: bool = True,
                 a2a_tables: KernelTables | None = None, cross_image_tokens: float = 0.0,
                 prefix_tokens: float = 0.0, prefix_hit_rate: float = 1.0):
        tp, pp, ep, A, R = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(tp, pp, ep, attention_dp, redundant))
        self.model, self.tp, self.pp, self.ep = model, tp, pp, ep
        #: attention groups per stage (1: the TP x PP layout) and redundant expert slots (EPLB)
        self.attention_dp, self.redundant, self.wide = A, R, A > 1
        #: False: never run attention-DP passes as two overlapped halves (else where it is faster)
        self.two_batch_overlap = two_batch_overlap
        #: measured DeepEP tables flooring the attention-DP layout's all-to-all (None: the model alone)
        self.a2a_tables = a2a_tables
        self.routing_groups = (model.moe.groups, model.moe.groups_per_token) if model.moe else (1, None)
        self.hw = hw
        if self.wide.any() and kernels is not None and kernels.has_gemm(compute_dtype(weights)):
            raise ValueError("attention data parallelism is priced by the roofline only (no measured tables yet)")
        self.lc = lc = arch.layer_costs(model)
        self.P, n_out = float(prompt_tokens), float(output_tokens)
        #: prefix caching: tokens prefilled per prompt and attention FLOP per prefilled token (means over hits
        #: and misses, arch.prefill_with_prefix); (P, a(P/2)) without
        self.pre_tokens, self.pre_attn = arch.prefill_with_prefix(model, self.P, prefix_tokens, prefix_hit_rate)
        self.wb = DTYPE_BYTES[weights]
        self.kv_cache, self.kv_bytes_per_element = kv_cache, DTYPE_BYTES[kv_cache]
        self.gemm_dtype = compute_dtype(weights)
        self.peak_datasheet = hw.peak(self.gemm_dtype)
        self.bw_datasheet = hw.memory_bandwidth
        self.peak = self.peak_datasheet * hw.efficiency.compute
        self.bw = hw.memory_bandwidth * hw.efficiency.memory
        #: measured kernel tables pricing the matmuls and attention (None: the roofline)
        self.kernels = kernels if kernels is not None and kernels.has_gemm(self.gemm_dtype) else None
        self.Ls = Ls = np.ceil(model.layers / pp)  # layers on the largest stage
        edge = np.where(pp == 1, lc.edge_one_stage, np.maximum(lc.head, lc.embedding))  # tied: one copy per stage
        self.moe_frac = lc.moe_layer_frac

        # memory per chip
        # the experts (with their redundant copies) are split over all attention_dp x tp chips of the stage,
        # the rest over the tp chips of a group (copied in every group)
        stage_params = Ls * (lc.attn + lc.dense_ffn + lc.shared + self.moe_frac * (lc.experts + R) * lc.expert / A) + edge
        self.weights_mem = stage_params / tp * self.wb
        self.kv_layer_rank = arch.kv_bytes_per_token_per_layer(model, kv_cache) * arch.kv_fraction_per_rank(model, tp)
        self.full, self.win = _window_split(model)
        self._kv_cache(n_out, prefix_tokens, prefix_hit_rate, cross_image_tokens)

        # links
        self.bw_tp, self.a_tp = link(tp, hw)
        self.domain = hw.scale_up.domain
        self.bw_pp, self.a_pp = link(tp * pp, hw)
        self.moe_ep = self.moe_frac * (ep > 1)
        self.etp = tp / np.maximum(ep, 1)  # expert-TP: chips sharing one expert

        self.c_avg = self.P + n_out / 2  # mean decode context
        self.dense_active = lc.attn + lc.dense_ffn + lc.shared
        self.act_layer_rank = arch.activation_bytes_per_token_per_layer(model) / tp  # bytes per token per layer per chip

    def _kv_cache(self, n_out: float, prefix_tokens: float, prefix_hit_rate: float, cross_image_tokens: float):
        """``kv_per_seq`` (bytes per chip for one sequence of prompt + output tokens), ``kv_shared`` (the shared
        prefix's KV per chip), ``prefix_read`` (its tokens per layer read per prompt that hits) and the
        cross-attention image tokens ``x_img`` in ``x_layers`` of the stage's layers."""
        model, Ls, A = self.model, self.Ls, self.attention_dp
        # the shared prefix's KV (full-attention layers; a window keeps its tokens per sequence), read once per
        # prompt that hits (tokens per layer) and held once per attention group (bytes per chip); a hit holds no
        # copy of its own
        shared = self.full * float(prefix_tokens) / model.layers * (prefix_hit_rate > 0)
        self.prefix_read = float(prefix_hit_rate) * self.kv_ctx(float(prefix_tokens)) if prefix_tokens else 0.0
        self.kv_shared = shared * self.kv_layer_rank * Ls
        # reserved for prompt + output; a sequence's KV lives in one attention group: per chip 1/A of it
        self.kv_per_seq = (self.kv_ctx(self.P + n_out) - prefix_hit_rate * shared) * self.kv_layer_rank * Ls / A
        #: image tokens per sequence in the stage's cross-attention layers (gpt4plan.physics.vision): their KV
        self.x_img, self.x_layers = float(cross_image_tokens), Ls * vision.cross_attention_layers(model) / model.layers
        if self.x_img:
            if self.wide.any():
                raise ValueError("cross-attention image tokens with attention data parallelism are not modelled yet")
            self.kv_per_seq = self.kv_per_seq + self.x_img * self.kv_layer_rank * self.x_layers

    def kv_ctx(self, c):
        """Mean tokens kept per layer at context ``c`` (sliding-window layers capped)."""
        return (self.full * c + self.win * min(c, self.model.sliding_window or c)) / self.model.layers

    def moe_load(self, tokens):
        """(experts touched per MoE layer, compute imbalance across EP ranks) for ``tokens`` in a pass."""
        E, k = self.lc.experts, self.lc.top_k
        if not E:
            return np.zeros_like(tokens), np.ones_like(tokens)
        return arch.expected_experts_touched(E, k, tokens), eplb_imbalance(tokens * k / self.ep, self.ep, E,
                                                                            self.redundant)

    def layer_comm(self, tokens):
        """Communication of ``tokens`` through the stage's layers (s)."""
        tp, ep, k, d = self.tp, self.ep, self.lc.top_k, self.model.d_model
        # attention output: all-reduce over TP; dense MLP: another all-reduce over TP
        ar = all_reduce_s(tp, tokens * d * ACT_BYTES, self.bw_tp, self.a_tp)
        if self.kernels is not None:  # measured all-reduce where the group is 2, 4 or 8 chips of one node
            measured = self.kernels.all_reduce_s(tp, tokens * d * ACT_BYTES)
            ar = np.where(np.isfinite(measured) & (tp <= self.domain), measured, ar)
        # MoE layer with EP: dispatch + combine all-to-all over EP (each rank sends its 1/ep share of
        # the tokens' k copies, (ep-1)/ep of them remote), then an all-reduce of the routed tokens over
        # the expert-TP group of tp/ep chips.
        routed = tokens * k / np.maximum(ep, 1)
        a2a = all_to_all_s(ep, routed * d * ACT_BYTES * (ep - 1) / np.maximum(ep, 1), self.bw_tp, self.a_tp)
        ar_etp = all_reduce_s(self.etp, routed * d * ACT_BYTES, self.bw_tp, self.a_tp)
        moe_ep = self.moe_ep
        return self.Ls * (ar + (1 - moe_ep) * ar + moe_ep * (2 * a2a + ar_etp))

    def forward(self, nb, q, n_pre, unit=1.0) -> StagePass:
        """One forward pass of one stage over ``nb`` decoding sequences with ``q`` new tokens each (q = 1
        plain; g + 1 to verify a draft) at the mean context, plus ``n_pre`` prompts of P tokens prefilled in
        the same pass (0 for a pure decode step; fractional = chunks of prompts).  FLOPs, activations and
        routed tokens scale with the tokens; the weights (touched experts) are read once, the decoding
        sequences' KV cache once, and the prompts' KV written once.  With prefix caching a prompt prefills
        ``pre_tokens`` (its uncached part) and reads the cached prefix's KV.  ``unit``: the share of a prompt
        that rides on one attention group (1: whole prompts; a chunk's share with chunked prefill).  ``nb``,
        ``q``, ``n_pre``, ``unit`` broadcast against the layouts."""
        model, lc, tp, Ls = self.model, self.lc, self.tp, self.Ls
        dec, pre = nb * q, n_pre * self.pre_tokens
        tokens = dec + pre + np.zeros_like(tp)
        touched, imbalance = self.moe_load(tokens)
        flops = 2 * (tokens * Ls * (self.dense_active + self.moe_frac * lc.top_k * lc.expert * imbalance)
                     + (dec + n_pre) * lc.head) / tp
        flops = flops + (dec * arch.attention_flops_per_token(model, self.c_avg)
                         + pre * self.pre_attn) * Ls / model.layers / tp
        nbytes = self.wb * (Ls * (self.dense_active + self.moe_frac * touched * lc.expert) + lc.head) / tp
        nbytes = nbytes + (nb * self.kv_ctx(self.c_avg) + pre + n_pre * self.prefix_read) * self.kv_layer_rank * Ls
        if self.x_img:  # the image tokens of cross-attention layers (priced by the roofline with measured tables)
            xf, xb = vision.cross_attention_pass(model, self.x_img, dec + pre, n_pre, nb, self.kv_layer_rank,
                                                 self.x_layers)
            flops, nbytes = flops + xf / tp, nbytes + xb
        if self.kernels is None:
            t_c, t_m = flops / self.peak, nbytes / self.bw
        else:  # the parts of a measured pass: its datasheet bounds (the measured time is at or above both)
            t_c, t_m = flops / self.peak_datasheet, nbytes / self.bw_datasheet
        t_x = self.layer_comm(tokens) + np.where(
            self.pp > 1, p2p_s(tokens * model.d_model * ACT_BYTES, self.bw_pp, self.a_pp), 0.0)
        t_elem = ELEMENTWISE_TRAFFIC_FORWARD * tokens * self.act_layer_rank * Ls / self.bw  # non-matmul kernels
        if self.kernels is not None:
            from gpt4plan.physics.measured import measured_pass_s  # only with tables (a fast start)

            t_k = measured_pass_s(self, self.kernels, self.gemm_dtype, nb, q, n_pre, tokens, touched, imbalance)
            t = t_k + t_elem + t_x + Ls * LAYER_OVERHEAD_S
            if self.x_img:
                t = t + roofline_s(xf / tp / self.peak, xb / self.bw)
        else:
            t = roofline_s(t_c, t_m) + t_elem + t_x + Ls * LAYER_OVERHEAD_S
        out = StagePass(t=t, t_c=t_c, t_m=t_m, t_x=t_x, flops=flops, nbytes=nbytes, touched=touched,
                        overlapped=np.zeros_like(t))
        if not self.wide.any():
            return out
        wide = self.wide_forward(nb, q, n_pre, None if self.two_batch_overlap else False, unit=unit)
        return StagePass(*(np.where(self.wide, getattr(wide, f), getattr(out, f)) for f in StagePass.__dataclass_fields__))

    def wide_forward(self, nb, q, n_pre, overlap: bool | None = None, unit=1.0) -> StagePass:
        """:meth:`forward` for the attention-DP x wide-EP layout (module docstring), on one chip of the
        busiest attention group and the busiest expert rank (:meth:`wide_parts`), with or without two-batch
        overlap: ``overlap`` True or False forces it; None (the default) takes it where each attention group
        has at least 2 tokens to split and it is faster (:func:`two_batch_overlap_layer_s`).

        Without overlap the parts add: ``roofline(compute, memory) + non-matmul traffic + communication +
        layers * overhead``.  With it, the pass runs as two halves of the tokens (SGLang's
        ``--enable-two-batch-overlap``; DeepSeek's deployment): each half is a pass of its own at half the
        tokens, reading the weights again (the cost: twice the weight reads, and each half's expert load at
        half the tokens), and per MoE layer the halves' dispatch and combine run under the other half's
        compute.  ``c`` is both halves' compute per layer (their roofline and non-matmul time, over the
        stage's layers); a MoE layer takes ``two_batch_overlap_layer_s(c', dispatch, combine)``, where in a pass
        of prompts alone the compute under DeepEP's normal kernels (up to their time) runs on the SMs they leave
        it, ``c' = c (1 + (1/s - 1) min(1, (dispatch + combine) / c))`` with ``s`` the share
        (:func:`gpt4plan.physics.moe.deepep_sm_share`); a dense
        layer ``c`` (nothing to hide); the group's TP all-reduce and the PP send stay in series (both
        halves'), and the per-layer overhead is paid once."""
        Ls, f = self.Ls, self.moe_frac
        w = self.wide_parts(nb, q, n_pre, unit)
        t_x = w["serial_s"] + Ls * f * (w["dispatch_s"] + w["combine_s"])
        t = roofline_s(w["t_c"], w["t_m"]) + w["t_elem"] + t_x + Ls * LAYER_OVERHEAD_S
        plain = StagePass(t=t, t_c=w["t_c"], t_m=w["t_m"], t_x=t_x, flops=w["flops"], nbytes=w["nbytes"],
                          touched=w["touched"], overlapped=np.zeros_like(t))
        if overlap is False:
            return plain
        h = self.wide_parts(np.asarray(nb) / 2, q, np.asarray(n_pre) / 2, unit)  # one of the two halves
        c = 2 * (roofline_s(h["t_c"], h["t_m"]) + h["t_elem"]) / Ls
        dispatch, combine = 2 * h["dispatch_s"], 2 * h["combine_s"]
        # DeepEP's normal kernels (a pass of prompts alone) hold their SMs while they run beside the other
        # half's compute: that compute, up to the kernels' time, runs on the SMs they leave
        slow = np.where((np.asarray(n_pre) > 0) & (np.asarray(nb) == 0), 1 / deepep_sm_share(self.hw) - 1, 0.0)
        c_moe = c * (1 + slow * np.minimum(1.0, (dispatch + combine) / np.maximum(c, 1e-30)))
        t_tbo = (Ls * ((1 - f) * c + f * two_batch_overlap_layer_s(c_moe, dispatch, combine)) + 2 * h["serial_s"]
                 + Ls * LAYER_OVERHEAD_S)
        tbo = StagePass(t=t_tbo, t_c=2 * h["t_c"], t_m=2 * h["t_m"], t_x=2 * h["serial_s"] + Ls * f * (dispatch + combine),
                        flops=2 * h["flops"], nbytes=2 * h["nbytes"], touched=h["touched"], overlapped=np.ones_like(t))
        use = np.ones_like(t, dtype=bool) if overlap else (w["tokens_g"] >= 2) & (t_tbo < t)
        return StagePass(*(np.where(use, getattr(tbo, k), getattr(plain, k)) for k in StagePass.__dataclass_fields__))

    def wide_parts(self, nb, q, n_pre, unit=1.0) -> dict[str, np.ndarray]:
        """The parts of one attention-DP x wide-EP pass, without two-batch overlap: ``nb`` sequences decode
        spread evenly over the ``A`` groups; a prompt (or a chunk, ``unit`` of a prompt) is not split across
        groups, so the busiest holds ``max(n_pre / A, min(n_pre, unit))`` of the ``n_pre`` prompts.  Attention, dense FFN, shared experts and
        LM head run on that group's tokens (TP-split over its ``tp`` chips); the routed experts on every token
        of the stage, ``tokens top_k / ep`` copies per expert-parallel rank times the busiest rank's excess
        (:func:`eplb_imbalance`), reading the touched share of the rank's ``(E + R) / ep`` expert slots; an
        expert-parallel rank is ``etp = A tp / ep`` chips splitting each expert (expert TP; 1 in the usual
        wide-EP layout), each receiving every copy of its rank's tokens and doing ``1 / etp`` of the work.
        Communication: the group's TP all-reduce (attention, and the dense FFN of non-MoE layers) and the PP
        send in ``serial_s`` (the stage's), and per MoE layer a dispatch and a combine all-to-all over the
        ``A tp`` chips of the copies the busiest chip sends (``etp`` per copy) or receives (``dispatch_s``, ``combine_s``).  Also
        ``t_c``, ``t_m``, ``t_elem`` (non-matmul traffic), ``flops``, ``nbytes``, ``touched``, ``tokens_g``
        (the busiest group's tokens)."""
        model, lc, tp, Ls, P, A = self.model, self.lc, self.tp, self.Ls, self.pre_tokens, self.attention_dp
        E, k, d = max(lc.experts, 1), lc.top_k, model.d_model
        busy = np.maximum(n_pre / A, np.minimum(n_pre, unit))  # prompts on the busiest group
        dec_g, pre_g = nb * q / A, busy * P  # its decoding and prompt tokens
        tokens_g = dec_g + pre_g + np.zeros_like(tp)
        tokens = nb * q + n_pre * P + np.zeros_like(tp)  # the stage's tokens: what the experts see
        touched, imbalance = self.moe_load(tokens)
        routed = tokens * k / self.ep * imbalance  # copies the busiest expert rank computes
        etp = A * tp / self.ep  # chips sharing one expert (expert TP)
        flops = 2 * (tokens_g * Ls * self.dense_active + (dec_g + busy) * lc.head) / tp
        flops = flops + 2 * routed * Ls * self.moe_frac * lc.expert / etp
        flops = flops + (dec_g * arch.attention_flops_per_token(model, self.c_avg)
                         + pre_g * self.pre_attn) * Ls / model.layers / tp
        slots = (lc.experts + self.redundant) / self.ep  # expert slots per rank
        nbytes = self.wb * ((Ls * self.dense_active + lc.head) / tp
                            + Ls * self.moe_frac * touched / E * slots * lc.expert / etp)
        nbytes = nbytes + (nb / A * self.kv_ctx(self.c_avg) + pre_g + busy * self.prefix_read) * self.kv_layer_rank * Ls
        ar = all_reduce_s(tp, tokens_g * d * ACT_BYTES, self.bw_tp, self.a_tp)
        # the busiest chip's copies: those it sends (its group's tokens, split over the group's tp chips) or
        # those the busiest expert rank receives, whichever is more
        # with expert TP every chip of an expert's group receives each of its copies (and sends back a part)
        dispatch_s, combine_s = moe_a2a_s(self.hw, A * tp, tokens_g / tp * k * etp, routed, d, k,
                                          self.gemm_dtype in ("fp8", "int8", "fp4"),
                                          (np.asarray(n_pre) > 0) & (np.asarray(nb) == 0), self.a2a_tables,
                                          *self.routing_groups)
        serial = Ls * (ar + (1 - self.moe_frac) * ar) + np.where(
            self.pp > 1, p2p_s(tokens_g * d * ACT_BYTES, self.bw_pp, self.a_pp), 0.0)
        return {"t_c": flops / self.peak, "t_m": nbytes / self.bw, "flops": flops, "nbytes": nbytes,
                "touched": touched, "tokens_g": tokens_g, "serial_s": serial,
                "t_elem": ELEMENTWISE_TRAFFIC_FORWARD * tokens_g * self.act_layer_rank * Ls / self.bw,
                "dispatch_s": dispatch_s, "combine_s": combine_s}


def stage_model(model: ModelSpec, hw: HardwareSpec, tp, pp, ep, *, prompt_tokens: float, output_tokens: float,
                weights: str = "bf16", kv_cache: str = "bf16", kernels: KernelTables | None = None,
                attention_dp=1, redundant=0, two_batch_overlap: bool = True,
                a2a_tables: KernelTables | None = None, cross_image_tokens: float = 0.0, prefix_tokens: float = 0.0,
                prefix_hit_rate: float = 1.0) -> StageModel:
    """The stage physics for layouts ``tp``, ``pp``, ``ep`` (with ``attention_dp`` attention groups and
    ``redundant`` expert slots: the attention-DP x wide-EP layout where ``attention_dp`` > 1) serving requests
    of ``prompt_tokens`` + ``output_tokens`` with weights and KV cache in the given precisions (see
    :class:`StageModel`), priced by the measured ``kernels`` where given and holding the matmul precision,
    else by the roofline; ``two_batch_overlap`` False keeps attention-DP passes whole; ``a2a_tables``: measured
    DeepEP tables for the attention-DP all-to-all (:func:`gpt4plan.physics.moe.moe_a2a_s`); ``cross_image_tokens``:
    image tokens per sequence in the cross-attention layers; with ``prefix_tokens`` cached for a fraction
    ``prefix_hit_rate`` of the prompts."""
    return StageModel(model, hw, tp, pp, ep, prompt_tokens, output_tokens, weights, kv_cache, kernels,
                      attention_dp, redundant, two_batch_overlap, a2a_tables, cross_image_tokens, prefix_tokens,
                      prefix_hit_rate)


def _window_split(model: ModelSpec) -> tuple[float, float]:
    """(full-attention layers, sliding-window layers)."""
    if not model.sliding_window:
        return float(model.layers), 0.0
    w = model.layers if model.sliding_window_layers is None else min(model.sliding_window_layers, model.layers)
    return float(model.layers - w), float(w)
