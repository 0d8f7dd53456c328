"""Hugging Face ``config.json`` -> gpt4plan's model fields (docs/design.md).

Only the ``model_type`` values in :data:`HF_MODEL_TYPES` are read, each mapped from its modelling code
in ``transformers`` (which projections have biases, how many norms and of what kind, which layers keep
a sliding window, whether the embeddings are tied when the config does not say); any other, or none,
is refused rather than read as a Llama.  Errors name the HF key; :func:`hf_lines` maps gpt4plan's
fields back to the lines of the HF keys they come from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gpt4plan.specs.errors import SpecError, short_repr, suggest

__all__ = ["HF_MODEL_TYPES", "hf_config_to_model", "hf_lines", "hf_error_key"]


# gpt4plan field -> HF field (used for line numbers in errors)
_HF_KEYS = {
    "layers": "num_hidden_layers",
    "d_model": "hidden_size",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "head_dim": "head_dim",
    "ffn": "intermediate_size",
    "vocab": "vocab_size",
    "tied_embeddings": "tie_word_embeddings",
    "max_context": "max_position_embeddings",
    "name": "_name_or_path",
    "sliding_window_layers": "layer_types",
    "mtp_layers": "num_nextn_predict_layers",
}


# nested gpt4plan fields -> the HF fields they come from (first one present gives the line)
_HF_NESTED_KEYS = {
    ("moe",): ("num_local_experts", "n_routed_experts", "num_experts"),
    ("moe", "experts"): ("num_local_experts", "n_routed_experts", "num_experts"),
    ("moe", "top_k"): ("num_experts_per_tok",),
    ("moe", "expert_ffn"): ("moe_intermediate_size", "intermediate_size"),
    ("moe", "shared_experts"): ("n_shared_experts", "shared_expert_intermediate_size"),
    ("moe", "shared_expert_ffn"): ("shared_expert_intermediate_size", "moe_intermediate_size"),
    ("moe", "first_dense_layers"): ("first_k_dense_replace", "mlp_only_layers"),
    ("moe", "every"): ("moe_layer_freq", "decoder_sparse_step"),
    ("moe", "groups"): ("n_group",),
    ("moe", "groups_per_token"): ("topk_group",),
    ("mla",): ("kv_lora_rank",),
    **{("mla", k): (k,) for k in ("q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")},
    ("sliding_window",): ("sliding_window",),
    ("layers",): ("num_hidden_layers", "n_layer"),
    ("heads",): ("num_attention_heads", "n_head"),
    ("kv_heads",): ("num_key_value_heads", "num_kv_heads"),
    ("ffn",): ("intermediate_size", "ffn_hidden_size"),
}


_HF_INT_KEYS = {
    "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "vocab_size", "max_position_embeddings", "sliding_window", "max_window_layers",
    "num_local_experts", "n_routed_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
    "n_shared_experts", "shared_expert_intermediate_size", "first_k_dense_replace", "moe_layer_freq",
    "decoder_sparse_step", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
    "sliding_window_pattern", "num_nextn_predict_layers", "n_group", "topk_group", "n_layer", "n_head", "num_kv_heads", "ffn_hidden_size", "num_ln_in_parallel_attn",
}
_HF_BOOL_KEYS = {
    "tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window", "multi_query",
    "new_decoder_architecture", "parallel_attn", "bias",
}

#: Hugging Face ``model_type`` values gpt4plan maps exactly (parameter counts, KV cache, window layers).
HF_MODEL_TYPES = (
    "deepseek_v2", "deepseek_v3", "falcon", "gemma", "gemma2", "gemma3_text", "gpt_neox", "gpt_oss", "llama",
    "mistral", "mixtral", "phi3", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
)
# model_types users bring that are refused on purpose, with the reason
_HF_REFUSED = {
    "llama4": "interleaved MoE/dense layers and chunked attention are not mapped exactly; a multimodal config",
    "llama4_text": "interleaved MoE/dense layers and chunked attention are not mapped exactly",
    "gemma3": "a multimodal config: pass its text_config part, model_type gemma3_text",
    "qwen3_next": "hybrid linear-attention layers are not mapped",
}
# Hugging Face's default for tie_word_embeddings where config.json omits it (the config class's default)
_HF_TIED_DEFAULT = {"gemma": True, "gemma2": True, "gemma3_text": True, "falcon": True}
_HF_LAYER_KINDS = ("sliding_attention", "full_attention")


def _hf_error(field: str, message: str) -> SpecError:
    return SpecError(None, None, field, message)


def _check_layer_types(types: Any, layers: int) -> None:
    """``layer_types`` is a list of one kind per layer."""
    if not isinstance(types, list) or isinstance(types, str):
        raise _hf_error("layer_types", f"expected a list of {' or '.join(_HF_LAYER_KINDS)}, got {short_repr(types)}")
    if len(types) != layers:
        raise _hf_error("layer_types", f"has {len(types)} entries, num_hidden_layers is {layers}")
    for i, t in enumerate(types):
        if t not in _HF_LAYER_KINDS:
            raise _hf_error(f"layer_types[{i}]", f"got {short_repr(t)}; expected one of "
                            f"{', '.join(_HF_LAYER_KINDS)}{suggest(t, _HF_LAYER_KINDS)}")


def _hf_window(cfg: Mapping[str, Any], mtype: str, layers: int) -> tuple[int | None, int | None]:
    """(sliding_window, sliding_window_layers) from ``layer_types`` or, without it, the model_type's own
    pattern (the one its Hugging Face config class writes into ``layer_types``)."""
    sw = cfg.get("sliding_window")
    if cfg.get("use_sliding_window") is False:  # Qwen: the window is off whatever sliding_window says
        sw = None
    types = cfg.get("layer_types")
    if types is not None:
        _check_layer_types(types, layers)
        n = sum(t == "sliding_attention" for t in types)
        if n and not sw and cfg.get("use_sliding_window") is not False:  # None or 0: no window to slide
            raise _hf_error("sliding_window", f"required (a positive number of tokens): layer_types has {n} "
                            f"sliding_attention layers, got {sw!r}")
        return (sw, n) if (n and sw) else (None, None)
    if not sw:
        return None, None
    if mtype in ("gemma2", "gpt_oss"):  # every other layer, from the first: ceil(L/2)
        return sw, (layers + 1) // 2
    if mtype == "gemma3_text":  # 5 local : 1 global; layer i is global when (i+1) % pattern == 0
        pattern = cfg.get("sliding_window_pattern") or 6
        return sw, layers - layers // pattern
    if mtype.startswith("qwen"):  # layers from max_window_layers on use the window (HF default 28)
        mwl = cfg.get("max_window_layers")
        return sw, max(0, layers - (28 if mwl is None else mwl))
    if mtype in ("mistral", "mixtral", "phi3"):  # every layer
        return sw, None
    return None, None  # the others have no window (a stray key is ignored, as Hugging Face does)


def _check_model_type(cfg: Mapping[str, Any]) -> str:
    """The config's ``model_type``, refused when missing or not in :data:`HF_MODEL_TYPES` (with why)."""
    mtype = cfg.get("model_type")
    supported = ", ".join(HF_MODEL_TYPES)
    if mtype is None:
        raise _hf_error("model_type", f"required to read a Hugging Face config; supported: {supported}")
    if mtype not in HF_MODEL_TYPES:
        why = _HF_REFUSED.get(mtype) if isinstance(mtype, str) else None
        if why is None and isinstance(cfg.get("text_config"), Mapping):
            why = "a multimodal config: its text_config part may be supported"
        raise _hf_error("model_type", f"{short_repr(mtype)} is not supported{f' ({why})' if why else ''}; "
                        f"supported: {supported}")
    return mtype


def _checked_config(cfg: Mapping[str, Any], mtype: str) -> dict[str, Any]:
    """A copy of ``cfg`` with Falcon's old spellings read, its required keys present and its numbers,
    booleans and name of the right JSON types."""
    cfg = dict(cfg)
    if mtype == "falcon":  # Falcon's older configs spell these n_layer / n_head
        for new, old in (("num_hidden_layers", "n_layer"), ("num_attention_heads", "n_head")):
            if cfg.get(new) is None and old in cfg:
                cfg[new] = cfg[old]
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size"):
        if cfg.get(key) is None:
            raise _hf_error(key, "required Hugging Face config field is missing "
                            "(a multimodal config keeps it under text_config: pass that part)")
    for key, v in cfg.items():  # HF configs hold numbers as JSON numbers; reject strings early
        if key in _HF_INT_KEYS and v is not None and (isinstance(v, (str, bool)) or not isinstance(v, (int, float))):
            raise _hf_error(key, f"expected a number, got {short_repr(v)}")
        if key in _HF_BOOL_KEYS and v is not None and not isinstance(v, bool):
            raise _hf_error(key, f"expected true or false, got {short_repr(v)}")
    raw_name = cfg.get("_name_or_path")
    if raw_name is not None and not isinstance(raw_name, str):
        raise _hf_error("_name_or_path", f"expected text, got {short_repr(raw_name)}")
    return cfg


def _common_fields(cfg: Mapping[str, Any], mtype: str, default_name: str) -> dict[str, Any]:
    """The fields every supported model_type maps the same way."""
    tied = cfg.get("tie_word_embeddings")
    out: dict[str, Any] = {
        "name": (cfg.get("_name_or_path") or "").rstrip("/").split("/")[-1] or default_name,
        "layers": cfg["num_hidden_layers"],
        "d_model": cfg["hidden_size"],
        "heads": cfg["num_attention_heads"],
        "vocab": cfg["vocab_size"],
        "tied_embeddings": _HF_TIED_DEFAULT.get(mtype, False) if tied is None else tied,
        "ffn_gated": mtype not in ("gpt_neox", "falcon"),  # the others' MLPs are gated (SwiGLU/GeGLU)
        "norm": "rmsnorm",
        "source": f"Hugging Face config.json (model_type {mtype})",
    }
    for field, key in (("kv_heads", "num_key_value_heads"), ("head_dim", "head_dim"), ("ffn", "intermediate_size"),
                       ("max_context", "max_position_embeddings"), ("mtp_layers", "num_nextn_predict_layers")):
        if cfg.get(key) is not None:
            out[field] = cfg[key]
    return out


def _family_fields(cfg: Mapping[str, Any], mtype: str, out: dict[str, Any]) -> None:
    """Biases, norms and attention extras by model family (from each family's modelling code)."""
    # biases: only gpt-oss (attention) and GPT-NeoX / Falcon (all linears) have them beyond Qwen2's QKV
    if cfg.get("mlp_bias") and mtype not in ("gpt_neox",):
        raise _hf_error("mlp_bias", f"true is not mapped for model_type {mtype} (no gpt4plan field for MLP-only "
                        "biases)")
    if cfg.get("attention_bias") and mtype not in ("gpt_neox", "gpt_oss", "qwen2", "qwen2_moe"):
        raise _hf_error("attention_bias", f"true is not mapped for model_type {mtype} (no gpt4plan field for "
                        "attention-only output biases)")
    if mtype in ("qwen2", "qwen2_moe"):
        out["qkv_bias"] = True  # Qwen2: biases on q, k, v (not o)
    if mtype in ("qwen3", "qwen3_moe", "gemma3_text"):
        out["qk_norm"] = True  # q_norm, k_norm: RMSNorm over head_dim
    if mtype in ("gemma2", "gemma3_text"):
        out["norms_per_layer"] = 4  # input, post-attention, pre-feedforward, post-feedforward
    if mtype == "gpt_oss":
        out.update(linear_bias=True, attention_sinks=True)  # q/k/v/o and expert biases; rmsnorm stays
    if mtype == "gpt_neox":
        if cfg.get("attention_bias") is False:
            raise _hf_error("attention_bias", "false is not mapped for model_type gpt_neox (its MLP keeps biases)")
        out.update(linear_bias=True, norm="layernorm_bias")
    if mtype == "falcon":
        _falcon_fields(cfg, out)


def _falcon_fields(cfg: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Falcon: multi-query or grouped KV heads, a 4d MLP by default, one or two shared input norms."""
    new_arch = bool(cfg.get("new_decoder_architecture"))
    h = cfg["num_attention_heads"]
    if new_arch:
        out["kv_heads"] = cfg.get("num_kv_heads") or h
    else:
        out["kv_heads"] = 1 if cfg.get("multi_query", True) else h
    out["ffn"] = cfg.get("ffn_hidden_size") or 4 * cfg["hidden_size"]
    out["max_context"] = cfg.get("max_position_embeddings") or 2048
    n_ln = cfg.get("num_ln_in_parallel_attn") or (2 if new_arch else 1)
    out["norms_per_layer"] = 2 if not cfg.get("parallel_attn", True) else n_ln
    out.update(linear_bias=bool(cfg.get("bias", False)), norm="layernorm_bias")


def _window_fields(cfg: Mapping[str, Any], mtype: str, out: dict[str, Any]) -> None:
    """sliding_window and sliding_window_layers (skipped when num_hidden_layers is not a positive int:
    ModelSpec then reports it by name)."""
    layers = cfg["num_hidden_layers"]
    if not isinstance(layers, int) or layers <= 0:
        return
    sw, swl = _hf_window(cfg, mtype, layers)
    if sw:
        out["sliding_window"] = sw
        if swl is not None:
            out["sliding_window_layers"] = swl


def _moe_fields(cfg: Mapping[str, Any], mtype: str, experts: Any) -> dict[str, Any]:
    """The ``moe`` block of a MoE model_type (Mixtral, Qwen-MoE, DeepSeek, gpt-oss)."""
    moe: dict[str, Any] = {
        "experts": experts,
        "top_k": cfg.get("num_experts_per_tok", 2),
        "expert_ffn": cfg.get("moe_intermediate_size") or cfg.get("intermediate_size"),
    }
    shared = cfg.get("n_shared_experts") or 0
    if shared:
        moe["shared_experts"] = shared
        moe["shared_expert_ffn"] = cfg.get("moe_intermediate_size")
    elif mtype == "qwen2_moe" and cfg.get("shared_expert_intermediate_size"):  # one gated shared expert
        moe.update(shared_experts=1, shared_expert_ffn=cfg["shared_expert_intermediate_size"],
                   shared_expert_gate=True)
    if cfg.get("first_k_dense_replace"):
        moe["first_dense_layers"] = cfg["first_k_dense_replace"]
    if (cfg.get("n_group") or 1) > 1:  # DeepSeek group-limited routing
        moe["groups"] = cfg["n_group"]
        if cfg.get("topk_group"):
            moe["groups_per_token"] = cfg["topk_group"]
    dense = cfg.get("mlp_only_layers") or []
    if dense:  # Qwen-MoE: dense layers by index; exact only when they are the first k layers
        if not isinstance(dense, list) or dense != list(range(len(dense))):
            raise _hf_error("mlp_only_layers", f"{short_repr(dense)}: only the first layers (0, 1, ... k-1) "
                            "can be dense in gpt4plan's layout")
        moe["first_dense_layers"] = len(dense)
    moe["every"] = cfg.get("moe_layer_freq") or cfg.get("decoder_sparse_step") or 1
    if cfg.get("topk_method") == "noaux_tc" or mtype == "gpt_oss":
        moe["router_bias"] = True  # DeepSeek-V3's e_score_correction_bias; gpt-oss's router bias
    return moe


def _experts_fields(cfg: Mapping[str, Any], mtype: str, out: dict[str, Any]) -> None:
    """``moe`` for a MoE model_type with experts; experts in a dense model_type are refused."""
    experts = cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts")
    if experts and mtype in ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt_oss"):
        out["moe"] = _moe_fields(cfg, mtype, experts)
    elif experts:
        raise _hf_error("num_local_experts" if cfg.get("num_local_experts") else "num_experts",
                        f"model_type {mtype} is dense; experts belong to a MoE model_type (mixtral, qwen3_moe...)")


def _mla_fields(cfg: Mapping[str, Any], mtype: str, out: dict[str, Any]) -> None:
    """DeepSeek's multi-head latent attention (``mla``), and head_dim = nope + rope dims."""
    if mtype not in ("deepseek_v2", "deepseek_v3") or not cfg.get("kv_lora_rank"):
        return
    for key in ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
        if cfg.get(key) is None:
            raise _hf_error(key, "required Hugging Face config field is missing (with kv_lora_rank)")
    out["mla"] = {
        "q_lora_rank": cfg.get("q_lora_rank") or 0,
        "kv_lora_rank": cfg["kv_lora_rank"],
        "qk_rope_head_dim": cfg["qk_rope_head_dim"],
        "qk_nope_head_dim": cfg["qk_nope_head_dim"],
        "v_head_dim": cfg["v_head_dim"],
    }
    out["head_dim"] = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]


def hf_config_to_model(cfg: Mapping[str, Any], default_name: str = "hf-model") -> dict[str, Any]:
    """Map a Hugging Face ``config.json`` onto gpt4plan's model fields; a plain dict for :class:`ModelSpec`.

    Only the ``model_type`` values in :data:`HF_MODEL_TYPES` are read (each mapped from its modelling
    code in ``transformers``: which projections have biases, how many norms and of what kind, which
    layers keep a sliding window, whether the embeddings are tied when the config does not say); any
    other, or none, is refused rather than read as a Llama.  The model's name is ``_name_or_path``'s
    last part, else ``default_name``.

    Raises:
        SpecError: the model_type is missing or not supported, a required field is missing, or a field
            has the wrong type (field named by its HF key, file and line left to the caller).
    """
    mtype = _check_model_type(cfg)
    cfg = _checked_config(cfg, mtype)
    out = _common_fields(cfg, mtype, default_name)
    _family_fields(cfg, mtype, out)
    _window_fields(cfg, mtype, out)
    _experts_fields(cfg, mtype, out)
    _mla_fields(cfg, mtype, out)
    return out


# ---------------------------------------------------------------------------------------------
# Lines: gpt4plan fields -> where their HF keys are written


def hf_lines(lines: Mapping[tuple, int]) -> dict[tuple, int]:
    """``{gpt4plan key path: line}`` for a mapped config, from the HF file's ``{key path: line}``
    (``moe.top_k`` is on the line of ``num_experts_per_tok``); fields without a line are left out."""
    out: dict[tuple, int | None] = {(k,): lines.get((v,), None) for k, v in _HF_KEYS.items()}
    out[("norms_per_layer",)] = lines.get(("num_ln_in_parallel_attn",))
    for k, hf_keys in _HF_NESTED_KEYS.items():  # moe.top_k -> num_experts_per_tok, ...
        out[k] = next((lines[(v,)] for v in hf_keys if (v,) in lines), None)
    out[()] = lines.get((), 1)
    return {k: v for k, v in out.items() if v}


def hf_error_key(field: str | None) -> tuple:
    """The HF file's key path of a field named by :func:`hf_config_to_model`'s errors
    (``layer_types[3]`` -> ``("layer_types", 3)``); ``()`` for none."""
    if not field:
        return ()
    m = re.fullmatch(r"(\w+)\[(\d+)\]", field)
    return (m.group(1), int(m.group(2))) if m else (field,)
