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

__all__ = ["MoESpec", "MLASpec", "ModelSpec"]


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
        return self
