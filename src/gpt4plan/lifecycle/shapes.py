"""Model shapes for an arbitrary parameter count: the Llama-like family rule (docs/design.md).

The lifecycle scan needs a real model of ``N`` parameters to hand to the planners.  The rule, with each
choice's source:

* head dim 128 and ``heads = d_model / 128`` (Llama 2/3, Chinchilla 70B: 128-wide heads), with the heads 2,
  4, 6 or a multiple of 8 (hardware-friendly: ``d_model`` a multiple of 1,024 from 8 heads on, so tensor
  parallelism up to 8 splits heads, KV heads and FFN evenly, as in every Llama from 7B up);
* GQA with 8 KV heads (Llama 2 70B, Llama 3 8B/70B/405B; Ainslie et al. 2023); MHA below 8 heads;
* a SwiGLU FFN (3 matrices, Shazeer 2020) of width ``3.5 d_model`` rounded up to a multiple of 256 (Llama 3
  8B: 14,336 = 3.5 x 4,096; 70B: 28,672 = 3.5 x 8,192);
* RMSNorm, no biases, untied embeddings, a 32,000-token vocabulary (the SentencePiece vocabulary of Llama 2,
  and the 32k of the Gopher/Chinchilla tokenizer the scaling laws were fitted on), context 8,192;
* depth from the aspect ratio ``d_model / layers ~ 128`` (Llama 2 7B and Llama 3 8B: 4,096 / 32 = 128;
  Llama 3 405B: 130; Chinchilla 70B and Llama 3 70B: 102; Kaplan et al. 2020 §3.1, fig. 5: the loss
  changes by a few per cent at most over aspect ratios 20-200): at each allowed width ``layers`` is the
  whole number that brings the total nearest to ``N``, and the width whose ratio is nearest 128 (in log) is
  taken.  The total is within half a layer of ``N`` (under 3.5% from 1B up); the ratio is within 98-177 from
  10B up, 70-240 from 1B (the widths step by 1,024: from 2,048 to 3,072 is 1.5x).

The total counts every parameter, embeddings included, as the scaling laws do (:mod:`gpt4plan.scaling`);
it is exact for the shape (:func:`gpt4plan.physics.arch.params` of the spec gives the same number).
Below about 20M parameters (2 heads, 2 layers) and above :data:`MAX_FAMILY_PARAMS` there is no shape.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gpt4plan.specs import ModelSpec

__all__ = ["FAMILY", "HEAD_DIM", "family_fields", "family_params", "family_model", "MIN_FAMILY_PARAMS",
           "MAX_FAMILY_PARAMS"]

HEAD_DIM = 128
ASPECT_RATIO = 128  # d_model / layers
MAX_KV_HEADS = 8
FFN_MULTIPLIER, FFN_ROUND = 3.5, 256
VOCAB, MAX_CONTEXT = 32_000, 8192
#: the family's name in outputs
FAMILY = "llama-like"
#: the widths searched: 2, 4, 6 heads of 128, then 8 to 512 heads in steps of 8
_WIDTHS = HEAD_DIM * np.array([2.0, 4.0, 6.0, *range(8, 513, 8)])


def _kv_heads(heads: int) -> int:
    return min(heads, MAX_KV_HEADS)


def _ffn(d_model):
    return FFN_ROUND * np.ceil(FFN_MULTIPLIER * d_model / FFN_ROUND)


def _per_layer_and_rest(d_model):
    """(parameters per layer, parameters outside the layers) at width ``d_model`` (array or float):
    Q and O ``2 d^2``, K and V ``2 d kv 128``, SwiGLU ``3 d ffn``, two RMSNorms ``2 d``; embeddings and LM
    head ``2 V d`` and the final norm ``d``."""
    heads = d_model / HEAD_DIM
    kv = np.minimum(heads, MAX_KV_HEADS)
    per_layer = 2 * d_model * d_model + 2 * d_model * kv * HEAD_DIM + 3 * d_model * _ffn(d_model) + 2 * d_model
    return per_layer, 2 * VOCAB * d_model + d_model


def family_params(layers: int, d_model: int) -> int:
    """Total parameters of the family's model of ``layers`` x ``d_model`` (exact, as :func:`family_fields`)."""
    heads = d_model // HEAD_DIM
    kv = _kv_heads(heads)
    ffn = int(_ffn(d_model))
    per_layer = 2 * d_model * heads * HEAD_DIM + 2 * d_model * kv * HEAD_DIM + 3 * d_model * ffn + 2 * d_model
    return layers * per_layer + 2 * VOCAB * d_model + d_model


def family_fields(n_params: float) -> dict:
    """The spec fields of the family's model nearest to ``n_params`` parameters (module docstring).

    Raises ValueError when ``n_params`` is not a finite number of at least :data:`MIN_FAMILY_PARAMS`."""
    if not (math.isfinite(n_params) and MIN_FAMILY_PARAMS <= n_params <= MAX_FAMILY_PARAMS):
        raise ValueError(f"the {FAMILY} family has no model of {n_params:.3g} parameters "
                         f"(from {MIN_FAMILY_PARAMS / 1e6:.0f}M to {MAX_FAMILY_PARAMS:.0e})")
    per_layer, rest = _per_layer_and_rest(_WIDTHS)
    layers_at = np.maximum(2, np.round((n_params - rest) / per_layer))
    i = int(np.argmin(np.abs(np.log(_WIDTHS / layers_at / ASPECT_RATIO))))
    d_model, layers = int(_WIDTHS[i]), int(layers_at[i])
    heads = d_model // HEAD_DIM
    total = family_params(layers, d_model)
    return {"name": f"{FAMILY}-{_short(total)}", "layers": layers, "d_model": d_model, "heads": heads,
            "kv_heads": _kv_heads(heads), "head_dim": HEAD_DIM, "ffn": int(_ffn(d_model)), "ffn_gated": True,
            "vocab": VOCAB, "tied_embeddings": False, "max_context": MAX_CONTEXT, "norm": "rmsnorm",
            "source": f"gpt4plan {FAMILY} family rule (gpt4plan.lifecycle.shapes) for {n_params:.4g} parameters"}


def family_model(n_params: float) -> ModelSpec:
    """The family's model nearest to ``n_params`` parameters, as a validated :class:`ModelSpec`."""
    from gpt4plan.specs import ModelSpec

    return ModelSpec(**family_fields(n_params))


def _short(n: float) -> str:
    """``7.24B``, ``405M``, ``1.02T``: three significant figures."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"


#: the largest model of the family: 10 trillion parameters (about 1,000 layers of 512 heads; 25x the largest
#: dense model published, Llama 3 405B)
MAX_FAMILY_PARAMS = 1e13
#: the smallest model of the family: 2 heads of 128, 2 layers
MIN_FAMILY_PARAMS = 2 * (2 * 256 * 256 + 2 * 256 * 2 * 128 + 3 * 256 * 1024 + 2 * 256) + 2 * VOCAB * 256 + 256
