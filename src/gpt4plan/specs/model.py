"""The model spec: a decoder-only transformer, dense or mixture-of-experts (docs/design.md).

Field names are a contract (users' files depend on them).  Widths and counts are elements; the
schemas validate one spec and its cross-field rules, loading is :mod:`gpt4plan.specs.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from gpt4plan.specs.derived import ModelShape
from gpt4plan.specs.fields import Name, NonNegInt, PosInt, StrictModel, count_int

__all__ = ["MoESpec", "MLASpec", "VisionSpec", "ModelSpec"]


class MoESpec(StrictModel):
    """Mixture-of-experts block (docs/design.md).  Widths in elements, counts dimensionless."""

    experts: PosInt
    top_k: PosInt
    expert_ffn: PosInt
    shared_experts: NonNegInt = 0
    shared_expert_ffn: NonNegInt = 0
    first_dense_layers: NonNegInt = 0
    every: PosInt = 1
    router_bias: bool = False
    #: Qwen2-MoE: a ``d_model x 1`` sigmoid gate scales the shared experts' output (d parameters per layer)
    shared_expert_gate: bool = False
    #: group-limited routing (DeepSeek-V3 config.json ``n_group`` 8, ``topk_group`` 4): the experts form
    #: ``groups`` equal groups and a token's top-k experts lie in at most ``groups_per_token`` of them
    #: (arXiv 2412.19437 sec. 2.1.2: with one group per node, at most 4 nodes per token)
    groups: PosInt = 1
    groups_per_token: PosInt | None = None

    @model_validator(mode="after")
    def _check(self) -> MoESpec:
        if self.top_k > self.experts:
            raise ValueError(f"top_k: {self.top_k} exceeds experts ({self.experts})")
        if self.shared_experts and not self.shared_expert_ffn:
            raise ValueError("shared_expert_ffn: shared_experts > 0 needs the width of one shared expert")
        if self.experts % self.groups:
            raise ValueError(f"groups: {self.groups} does not divide experts ({self.experts})")
        if self.groups_per_token is not None and self.groups_per_token > self.groups:
            raise ValueError(f"groups_per_token: {self.groups_per_token} exceeds groups ({self.groups})")
        return self


class MLASpec(StrictModel):
    """DeepSeek multi-head latent attention (DeepSeek-V2 paper, arXiv 2405.04434, §2.1)."""

    q_lora_rank: NonNegInt = 0  # 0 = no query compression (DeepSeek-V2-Lite)
    kv_lora_rank: PosInt
    qk_rope_head_dim: PosInt
    qk_nope_head_dim: PosInt
    v_head_dim: PosInt


class VisionSpec(StrictModel):
    """A ViT-style image encoder and how its tokens enter the language model (docs/design.md).

    Encoder (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"): ``layers`` pre-norm blocks of
    width ``width`` with ``heads`` heads and an MLP of ``mlp`` (default ``4 * width``; ``mlp_gated`` for a
    SwiGLU MLP, 3 matrices), linear biases and two LayerNorms with bias per block.  An image of
    ``image_size`` x ``image_size`` pixels in ``channels`` channels is cut into ``(image_size / patch)^2``
    patches (``patches_per_image``; give it directly instead of ``image_size`` and ``patch`` when the encoder
    takes a fixed number of patches, the patch embedding then left out of the counts); ``class_token`` adds
    one token to the encoder's sequence (ViT's [CLS]).

    ``tokens_per_image``: the image tokens the language model sees per image after the projector (pooling
    or merging; default ``patches_per_image``).  ``injection``: ``inline`` (the image tokens join the prompt:
    LLaVA, Qwen2-VL) or ``cross_attention`` (Flamingo, Alayrac et al. 2022; Llama 3.2 Vision; the seed says
    GPT-4's vision works so): one in every ``cross_attention_every`` of the model's ``layers`` is a
    cross-attention layer whose keys and values are the image tokens (``layers // cross_attention_every``
    of them, counted in ``layers`` as in Llama 3.2 Vision's config; they cost what a self-attention layer
    costs in weights).
    """

    layers: PosInt
    width: PosInt
    heads: PosInt
    mlp: PosInt | None = None
    mlp_gated: bool = False
    image_size: PosInt | None = None
    patch: PosInt | None = None
    channels: PosInt = 3
    class_token: bool = False
    patches_per_image: PosInt | None = None
    tokens_per_image: PosInt | None = None
    injection: Literal["inline", "cross_attention"] = "inline"
    cross_attention_every: PosInt | None = None

    @model_validator(mode="after")
    def _check(self) -> VisionSpec:
        if self.width % self.heads:
            raise ValueError(f"heads: width ({self.width}) is not divisible by heads ({self.heads})")
        if (self.image_size is None) != (self.patch is None):
            missing = "patch" if self.patch is None else "image_size"
            raise ValueError(f"{missing}: give image_size and patch together (or patches_per_image alone)")
        if self.image_size is not None:
            if self.image_size % self.patch:
                raise ValueError(f"image_size: {self.image_size} is not divisible by patch ({self.patch})")
            n = (self.image_size // self.patch) ** 2
            if self.patches_per_image is not None and self.patches_per_image != n:
                raise ValueError(f"patches_per_image: {self.patches_per_image}, but image_size / patch gives "
                                 f"({self.image_size} / {self.patch})^2 = {n}; give one")
            object.__setattr__(self, "patches_per_image", n)
        elif self.patches_per_image is None:
            raise ValueError("patches_per_image: give image_size and patch, or patches_per_image")
        if self.mlp is None:
            object.__setattr__(self, "mlp", 4 * self.width)
        if self.tokens_per_image is None:
            object.__setattr__(self, "tokens_per_image", self.patches_per_image)
        if self.injection == "cross_attention" and self.cross_attention_every is None:
            raise ValueError("cross_attention_every: required with injection cross_attention (Flamingo-9B: 4)")
        if self.injection == "inline" and self.cross_attention_every is not None:
            raise ValueError("cross_attention_every: only with injection cross_attention")
        return self


class ModelSpec(ModelShape, StrictModel):
    """A decoder-only transformer, dense or MoE (docs/design.md field names).

    ``head_dim`` defaults to ``d_model / heads``; heads that do not divide ``d_model`` are then an
    error (give ``head_dim``).  Given explicitly, ``heads * head_dim`` may differ from ``d_model``
    (Gemma 7B: 16 x 256 vs 3072; Mistral Nemo: 32 x 128 vs 5120): the projections are
    ``d_model x heads*head_dim``, so it is not an error.  With MLA the attention widths come from ``mla``.

    Normalisation (parameter counts, elements): ``norm`` is the kind of every norm in the model,
    ``rmsnorm`` (a scale vector, Zhang & Sennrich 2019; Llama, Qwen, Gemma), ``layernorm_bias`` (scale and
    bias, Ba et al. 2016; GPT-2/3, GPT-NeoX, Falcon) or ``layernorm_no_bias`` (scale only).  Omitted, it
    is ``layernorm_bias`` when ``linear_bias`` is set, else ``rmsnorm``.  ``norms_per_layer`` d_model-sized
    norms sit in each layer: 2 pre-norms (attention, FFN), 4 with Gemma-2/3's post-norms, 1 with
    Falcon-7B's shared input norm; one more closes the stack.  ``qk_norm`` adds a head_dim-sized norm on
    the queries and one on the keys per layer (Qwen3, Gemma-3).  ``attention_sinks``: one learned
    logit per head per layer (gpt-oss).

    Layer counts (``moe_layers``, ``dense_layers``, ``is_moe``): :class:`~gpt4plan.specs.derived.ModelShape`.
    """

    name: Name
    layers: PosInt
    d_model: PosInt
    heads: PosInt
    kv_heads: PosInt | None = None
    head_dim: PosInt | None = None
    ffn: PosInt | None = None
    ffn_gated: bool = True
    vocab: PosInt
    tied_embeddings: bool = False
    max_context: PosInt = 4096
    sliding_window: PosInt | None = None
    sliding_window_layers: NonNegInt | None = None  # how many layers use the window (default: all)
    qkv_bias: bool = False
    linear_bias: bool = False
    norm: Literal["rmsnorm", "layernorm_bias", "layernorm_no_bias"] | None = None
    norms_per_layer: Annotated[int, BeforeValidator(count_int), Field(ge=1, le=8)] = 2
    qk_norm: bool = False
    attention_sinks: bool = False
    #: multi-token-prediction modules shipped with the model (DeepSeek-V3 config.json
    #: ``num_nextn_predict_layers``: 1): each one transformer layer + a 2d x d projection, sharing the embedding
    #: and LM head; not counted in the parameters, used only for MTP speculative decoding (``infer --mtp``)
    mtp_layers: NonNegInt = 0
    moe: MoESpec | None = None
    mla: MLASpec | None = None
    #: an image encoder and how its tokens enter the model (None: text only)
    vision: VisionSpec | None = None
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            if data.get("norm") is None:  # the historical default: LayerNorm with bias iff linear biases
                data["norm"] = "layernorm_bias" if data.get("linear_bias") is True else "rmsnorm"
            if data.get("kv_heads") is None and "heads" in data:
                data["kv_heads"] = data["heads"]
            if data.get("head_dim") is None and "heads" in data and "d_model" in data:
                try:
                    h, d = count_int(data["heads"]), count_int(data["d_model"])
                    if isinstance(h, int) and isinstance(d, int) and h > 0 and d % h == 0:
                        data["head_dim"] = d // h
                except ValueError:
                    pass
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.head_dim is None:
            raise ValueError(
                f"head_dim: d_model ({self.d_model}) is not divisible by heads ({self.heads}); give head_dim"
            )
        if self.kv_heads > self.heads:
            raise ValueError(f"kv_heads: {self.kv_heads} exceeds heads ({self.heads})")
        if self.mla is None and self.heads % self.kv_heads:
            raise ValueError(f"kv_heads: heads ({self.heads}) is not divisible by kv_heads ({self.kv_heads})")
        if self.dense_layers > 0 and self.ffn is None:
            raise ValueError("ffn: required, the model has dense FFN layers")
        if self.moe and self.moe.first_dense_layers > self.layers:
            raise ValueError("moe.first_dense_layers: exceeds layers")
        if self.sliding_window_layers is not None and self.sliding_window_layers > self.layers:
            raise ValueError(f"sliding_window_layers: {self.sliding_window_layers} exceeds layers ({self.layers})")
        v = self.vision
        if v is not None and v.cross_attention_every is not None and v.cross_attention_every > self.layers:
            raise ValueError(f"vision.cross_attention_every: {v.cross_attention_every} exceeds layers ({self.layers}): "
                             "no layer would be a cross-attention layer")
        return self
