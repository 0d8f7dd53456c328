"""Vision: the image encoder's parameters and FLOPs, and what image tokens add to a language model's pass
(docs/design.md).

Counts are elements and FLOP, with **FLOP = 2 x multiply-accumulates (MACs)** as everywhere in gpt4plan
(:mod:`gpt4plan.physics.arch`).  Papers on vision encoders often print MACs as "FLOPs": ViT-B/16 at 224 px,
"17.6 GFLOPs" (Dosovitskiy et al. 2021, Table 6), is 17.6 G multiply-adds, 35.1 GFLOP here.

Encoder of ``L`` blocks, width ``w``, MLP ``f`` (``m`` = 3 matrices gated, else 2), a sequence of ``n`` tokens
per image (patches + 1 with a class token), ``p`` pixels per patch side, ``C`` channels:

* MACs per image: ``n * L * (4 w^2 + m w f)`` (Q, K, V, O and the MLP) ``+ L * 2 n^2 w`` (scores QK^T and
  AV, every head together) ``+ patches * C p^2 * w`` (the patch embedding, a ``C p^2 x w`` matmul per
  patch).  ViT-B/16 at 224 (n = 197): 16.73 G + 0.72 G + 0.12 G = 17.56 G MACs.  Norms, softmax, GELU and
  biases are left out (as in the paper's count).
* parameters: per block ``4 w^2 + 4 w`` (attention with biases) ``+ m w f + (m - 1) f + w`` (MLP with
  biases) ``+ 4 w`` (two LayerNorms with bias), a final LayerNorm ``2 w``, the patch embedding
  ``C p^2 w + w`` and ``n`` position embeddings ``n w`` (+ ``w`` for the class token).  ViT-B/16: 85.8 M
  (the paper's "86M" without the classifier head).

Image tokens in the language model (``tokens_per_image`` each): ``inline`` ones join the prompt (its
prefill, its KV cache, the context every output token attends to); with ``cross_attention`` they are the
keys and values of ``layers // cross_attention_every`` cross-attention layers: per image token and such
layer a K and V projection at prefill (``2 * 2 d h_kv d_h`` FLOP) and a KV-cache entry
(:func:`gpt4plan.physics.arch.kv_bytes_per_token_per_layer`); every text token (prompt and output) attends
to them there (``4 h d_h`` FLOP per image token, as :func:`gpt4plan.physics.arch.attention_flops_per_token`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import ModelSpec
    from gpt4plan.specs.model import VisionSpec

__all__ = [
    "encoder_sequence",
    "encoder_params",
    "encoder_macs_per_image",
    "encoder_flops_per_image",
    "image_tokens",
    "cross_attention_layers",
    "cross_attention_pass",
]


def encoder_sequence(v: VisionSpec) -> int:
    """Tokens the encoder runs per image: its patches, + 1 with a class token (ViT-B/16 at 224: 197)."""
    return v.patches_per_image + (1 if v.class_token else 0)


def _mlp_matrices(v: VisionSpec) -> int:
    return 3 if v.mlp_gated else 2


def _patch_embedding_inputs(v: VisionSpec) -> int:
    """Inputs of the patch-embedding matmul, ``C p^2`` (0 when the patches were given without a patch size)."""
    return v.channels * v.patch**2 if v.patch else 0


def encoder_params(v: VisionSpec) -> int:
    """Parameters of the encoder (elements; module docstring).  ViT-B/16 at 224 with a class token:
    85,798,656."""
    w, f, m, n = v.width, v.mlp, _mlp_matrices(v), encoder_sequence(v)
    block = 4 * w * w + 4 * w + m * w * f + (m - 1) * f + w + 4 * w
    k = _patch_embedding_inputs(v)
    embed = (k * w + w if k else 0) + n * w + (w if v.class_token else 0)
    return v.layers * block + 2 * w + embed


def encoder_macs_per_image(v: VisionSpec) -> float:
    """Multiply-accumulates of one image through the encoder (module docstring): ViT-B/16 at 224 with a
    class token, 17.56e9 (the paper's "17.6 GFLOPs")."""
    w, f, n = v.width, v.mlp, encoder_sequence(v)
    blocks = n * v.layers * (4 * w * w + _mlp_matrices(v) * w * f) + v.layers * 2 * n * n * w
    return float(blocks + v.patches_per_image * _patch_embedding_inputs(v) * w)


def encoder_flops_per_image(v: VisionSpec) -> float:
    """FLOP of one image through the encoder: ``2 x`` :func:`encoder_macs_per_image`."""
    return 2.0 * encoder_macs_per_image(v)


def image_tokens(model: ModelSpec, images: int) -> int:
    """Image tokens the language model sees for ``images`` images (0 without a vision block or images)."""
    return images * model.vision.tokens_per_image if model.vision is not None and images else 0


def cross_attention_layers(model: ModelSpec) -> int:
    """Cross-attention layers among the model's ``layers`` (0 unless its images enter by cross-attention)."""
    v = model.vision
    if v is None or v.injection != "cross_attention":
        return 0
    return model.layers // v.cross_attention_every


def cross_attention_pass(model: ModelSpec, image_tokens_per_seq: float, text_tokens, n_pre, nb,
                         kv_bytes_per_token_layer, layers):
    """(FLOP, bytes) the image tokens add to one pass in ``layers`` cross-attention layers (arrays broadcast):
    ``text_tokens`` text tokens attend to ``image_tokens_per_seq`` image tokens each (``4 h d_h`` FLOP per
    pair), the ``n_pre`` prompts' image tokens are projected to K and V (``4 d h_kv d_h`` FLOP each) and
    written to the KV cache, and the ``nb`` decoding sequences' image KV is read.  ``kv_bytes_per_token_layer``
    is one token's KV in one layer as held (per rank).  Unsharded FLOP; the caller divides by TP."""
    d, h, h_kv, dh = model.d_model, model.heads, model.kv_heads, model.head_dim
    flops = layers * image_tokens_per_seq * (4.0 * h * dh * text_tokens + 4.0 * d * h_kv * dh * n_pre)
    nbytes = layers * image_tokens_per_seq * (nb + n_pre) * kv_bytes_per_token_layer
    return flops, nbytes
