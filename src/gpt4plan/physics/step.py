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

The request shape enters only through the prompt length (prefill tokens, the prompt's attention) and the
mean decode context ``prompt + output/2``; the KV cache is reserved for ``prompt + output`` tokens.
Every quantity is a numpy array over candidate layouts.  Units: seconds, bytes, FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.physics.comm import all_reduce_s, all_to_all_s, link, p2p_s
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


def moe_imbalance(routed_per_rank, ep):
    """Compute of the busiest EP rank over the mean: ``min(1 + sqrt(2 ln(ep) / mu), ep)`` (1 at ep = 1).

    ``mu`` is the mean number of routed tokens per EP rank (tokens x top_k / ep).  The ranks' loads are
    taken as roughly Poisson, i.e. about normal with mean ``mu`` and standard deviation ``sigma = sqrt(mu)``;
    the expected maximum of ``n`` such loads is at most ``mu + sigma * sqrt(2 ln n)`` (the Gaussian maximal
    inequality, from ``E max <= (ln n + t^2 sigma^2 / 2) / t`` at the best ``t``; e.g. Boucheron, Lugosi &
    Massart 2013, "Concentration Inequalities", sec. 2.5).  Dividing by ``mu`` gives the factor.  It is an
    approximation, not a fit: the loads are neither independent (their sum is fixed) nor exactly Poisson,
    and real routers are skewed beyond uniform choice; the bound is loose for small ``ep``.  Capped at
    ``ep`` (every routed token on one rank).
    """
    mu = np.maximum(routed_per_rank, 1e-9)
    return np.where(ep > 1, np.minimum(1 + np.sqrt(2 * np.log(np.maximum(ep, 1)) / mu), ep), 1.0)


@dataclass(frozen=True)
class StagePass:
    """One forward pass of the largest stage, arrays of shape ``(N,)``: ``t`` (s) and its parts
    ``t_c`` (matmul compute), ``t_m`` (memory reads), ``t_x`` (communication), with the pass's ``flops``,
    ``nbytes`` (bytes read or written) and ``touched`` (experts read per MoE layer)."""

    t: np.ndarray
    t_c: np.ndarray
    t_m: np.ndarray
    t_x: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray
    touched: np.ndarray


class StageModel:
    """The physics of one pipeline stage at given layouts (arrays broadcastable to ``(N,)``).

    ``weights_mem`` and ``kv_per_seq`` are bytes per chip (the KV cache reserved for one sequence of
    prompt + output tokens), ``Ls`` the layers on the largest stage; :meth:`forward` times one pass.
    """

    def __init__(self, model: ModelSpec, hw: HardwareSpec, tp, pp, ep, prompt_tokens: float,
                 output_tokens: float, weights: str = "bf16", kv_cache: str = "bf16",
                 kernels: KernelTables | None = None):
        tp, pp, ep = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(tp, pp, ep))
        self.model, self.tp, self.pp, self.ep = model, tp, pp, ep
        self.lc = lc = arch.layer_costs(model)
        self.P, n_out = float(prompt_tokens), float(output_tokens)
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
        stage_params = Ls * (lc.attn + lc.dense_ffn + lc.shared + self.moe_frac * lc.experts * lc.expert) + edge
        self.weights_mem = stage_params / tp * self.wb
        self.kv_layer_rank = arch.kv_bytes_per_token_per_layer(model, kv_cache) * arch.kv_fraction_per_rank(model, tp)
        self.full, self.win = _window_split(model)
        self.kv_per_seq = self.kv_ctx(self.P + n_out) * self.kv_layer_rank * Ls  # reserved for prompt + output

        # links
        self.bw_tp, self.a_tp = link(tp, hw)
        self.domain = hw.scale_up.domain
        self.bw_pp, self.a_pp = link(tp * pp, hw)
        self.moe_ep = self.moe_frac * (ep > 1)
        self.etp = tp / np.maximum(ep, 1)  # expert-TP: chips sharing one expert

        self.c_avg = self.P + n_out / 2  # mean decode context
        self.dense_active = lc.attn + lc.dense_ffn + lc.shared
        self.act_layer_rank = arch.activation_bytes_per_token_per_layer(model) / tp  # bytes per token per layer per chip

    def kv_ctx(self, c):
        """Mean tokens kept per layer at context ``c`` (sliding-window layers capped)."""
        return (self.full * c + self.win * min(c, self.model.sliding_window or c)) / self.model.layers

    def moe_load(self, tokens):
        """(experts touched per MoE layer, compute imbalance across EP ranks) for ``tokens`` in a pass."""
        E, k = self.lc.experts, self.lc.top_k
        if not E:
            return np.zeros_like(tokens), np.ones_like(tokens)
        return arch.expected_experts_touched(E, k, tokens), moe_imbalance(tokens * k / self.ep, self.ep)

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

    def forward(self, nb, q, n_pre) -> StagePass:
        """One forward pass of one stage over ``nb`` decoding sequences with ``q`` new tokens each (q = 1
        plain; g + 1 to verify a draft) at the mean context, plus ``n_pre`` prompts of P tokens prefilled in
        the same pass (0 for a pure decode step; fractional = chunks of prompts).  FLOPs, activations and
        routed tokens scale with the tokens; the weights (touched experts) are read once, the decoding
        sequences' KV cache once, and the prompts' KV written once.  ``nb``, ``q``, ``n_pre`` broadcast
        against the layouts."""
        model, lc, tp, Ls, P = self.model, self.lc, self.tp, self.Ls, self.P
        dec, pre = nb * q, n_pre * P
        tokens = dec + pre + np.zeros_like(tp)
        touched, imbalance = self.moe_load(tokens)
        flops = 2 * (tokens * Ls * (self.dense_active + self.moe_frac * lc.top_k * lc.expert * imbalance)
                     + (dec + n_pre) * lc.head) / tp
        flops = flops + (dec * arch.attention_flops_per_token(model, self.c_avg)
                         + pre * arch.attention_flops_per_token(model, P / 2)) * Ls / model.layers / tp
        nbytes = self.wb * (Ls * (self.dense_active + self.moe_frac * touched * lc.expert) + lc.head) / tp
        nbytes = nbytes + (nb * self.kv_ctx(self.c_avg) + pre) * self.kv_layer_rank * Ls
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
        else:
            t = roofline_s(t_c, t_m) + t_elem + t_x + Ls * LAYER_OVERHEAD_S
        return StagePass(t=t, t_c=t_c, t_m=t_m, t_x=t_x, flops=flops, nbytes=nbytes, touched=touched)


def stage_model(model: ModelSpec, hw: HardwareSpec, tp, pp, ep, *, prompt_tokens: float, output_tokens: float,
                weights: str = "bf16", kv_cache: str = "bf16", kernels: KernelTables | None = None) -> StageModel:
    """The stage physics for layouts ``tp``, ``pp``, ``ep`` serving requests of ``prompt_tokens`` +
    ``output_tokens`` with weights and KV cache in the given precisions (see :class:`StageModel`), priced
    by the measured ``kernels`` where given and holding the matmul precision, else by the roofline."""
    return StageModel(model, hw, tp, pp, ep, prompt_tokens, output_tokens, weights, kv_cache, kernels)


def _window_split(model: ModelSpec) -> tuple[float, float]:
    """(full-attention layers, sliding-window layers)."""
    if not model.sliding_window:
        return float(model.layers), 0.0
    w = model.layers if model.sliding_window_layers is None else min(model.sliding_window_layers, model.layers)
    return float(model.layers - w), float(w)
