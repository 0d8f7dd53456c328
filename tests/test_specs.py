"""Spec loading and errors (DESIGN.md §2, §2a).

Every bad-input error is a SpecError whose str() is one line, ``FILE:LINE: FIELD: message``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpt4plan.physics import arch
from gpt4plan.specs import HardwareSpec, ModelSpec, SpecError, load_hardware, load_model
from gpt4plan.specs.catalog import catalog_dir, hardware_names, model_names, resolve_hardware, resolve_model

# ---------------------------------------------------------------------------------------------
# helpers

GOOD_MODEL = """\
name: tiny
layers: 80
d_model: 8192
heads: 64
kv_heads: 8
ffn: 28672
vocab: 32000
"""

GOOD_HARDWARE = """\
name: chip
memory: 80 GiB
memory_bandwidth: 3.35 TB/s
peak_flops:
  bf16: 989.4 TFLOP/s
scale_up: {domain: 8, bandwidth: 450 GB/s, latency: 3 us}
scale_out: {bandwidth: 50 GB/s, latency: 10 us}
price: 2.50 USD/h
"""


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _line_of(text: str, key: str) -> int:
    """1-based line number of the first line whose stripped text starts with ``key:``."""
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(f"{key}:"):
            return i
    raise AssertionError(f"{key} not in text")


def _parts(err: SpecError, path: Path) -> tuple[int, str, str]:
    """Split ``FILE:LINE: FIELD: message`` and check the file part; return (line, field, message)."""
    s = str(err)
    assert "\n" not in s, s
    prefix = f"{path}:"
    assert s.startswith(prefix), s
    m = re.match(r"(\d+): ([A-Za-z_][\w.]*): (.+)$", s[len(prefix) :])
    assert m, f"not 'FILE:LINE: FIELD: message': {s!r}"
    return int(m.group(1)), m.group(2), m.group(3)


def _expect_error(loader, path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        loader(path)
    return info.value


# ---------------------------------------------------------------------------------------------
# good files


def test_minimal_model_loads(tmp_path):
    m = load_model(_write(tmp_path, GOOD_MODEL))
    assert isinstance(m, ModelSpec)
    assert (m.layers, m.d_model, m.heads, m.kv_heads, m.ffn, m.vocab) == (80, 8192, 64, 8, 28672, 32000)
    assert m.head_dim == 8192 // 64  # default d_model / heads


def test_kv_heads_defaults_to_heads(tmp_path):
    text = GOOD_MODEL.replace("kv_heads: 8\n", "")
    assert load_model(_write(tmp_path, text)).kv_heads == 64


def test_minimal_hardware_loads_in_si(tmp_path):
    hw = load_hardware(_write(tmp_path, GOOD_HARDWARE))
    assert isinstance(hw, HardwareSpec)
    assert hw.memory == 80 * 2**30
    assert hw.memory_bandwidth == pytest.approx(3.35e12, rel=1e-12)
    assert hw.peak_flops["bf16"] == pytest.approx(989.4e12, rel=1e-12)
    assert hw.scale_up.domain == 8
    assert hw.scale_up.bandwidth == pytest.approx(450e9, rel=1e-12)
    assert hw.scale_up.latency == pytest.approx(3e-6, rel=1e-12)
    assert hw.scale_out.latency == pytest.approx(10e-6, rel=1e-12)
    assert hw.price == pytest.approx(2.5, rel=1e-12)


def test_numeric_string_peak_flops(tmp_path):
    # PyYAML reads 1.63e14 (no '+' in the exponent) as the STRING "1.63e14"
    text = GOOD_HARDWARE.replace("  bf16: 989.4 TFLOP/s\n", "  bf16: 1.63e14\n")
    hw = load_hardware(_write(tmp_path, text))
    assert hw.peak_flops["bf16"] == pytest.approx(1.63e14, rel=1e-12)


def test_numeric_string_inline_peak_flops(tmp_path):
    text = GOOD_HARDWARE.replace("peak_flops:\n  bf16: 989.4 TFLOP/s\n", "peak_flops: {bf16: 1.63e14}\n")
    hw = load_hardware(_write(tmp_path, text))
    assert hw.peak_flops["bf16"] == pytest.approx(1.63e14, rel=1e-12)


def test_quoted_integer_layers(tmp_path):
    text = GOOD_MODEL.replace("layers: 80", 'layers: "80"')
    assert load_model(_write(tmp_path, text)).layers == 80


def test_count_suffix_in_model_field(tmp_path):
    text = GOOD_MODEL.replace("vocab: 32000", "vocab: 32e3")
    assert load_model(_write(tmp_path, text)).vocab == 32000


# ---------------------------------------------------------------------------------------------
# errors: FILE:LINE: FIELD: message


def test_missing_required_field_names_it(tmp_path):
    text = GOOD_MODEL.replace("layers: 80\n", "")
    p = _write(tmp_path, text)
    err = _expect_error(load_model, p)
    line, field, msg = _parts(err, p)
    assert field == "layers"
    assert "missing" in msg
    assert 1 <= line <= len(text.splitlines())


def test_negative_bandwidth_names_field_and_line(tmp_path):
    text = GOOD_HARDWARE.replace("memory_bandwidth: 3.35 TB/s", "memory_bandwidth: -3 TB/s")
    p = _write(tmp_path, text)
    line, field, _ = _parts(_expect_error(load_hardware, p), p)
    assert field == "memory_bandwidth"
    assert line == _line_of(text, "memory_bandwidth")  # line 3


def test_zero_memory_rejected(tmp_path):
    text = GOOD_HARDWARE.replace("memory: 80 GiB", "memory: 0 GiB")
    p = _write(tmp_path, text)
    line, field, _ = _parts(_expect_error(load_hardware, p), p)
    assert (line, field) == (_line_of(text, "memory"), "memory")


@pytest.mark.parametrize("bad", ["80 furlongs", "80 TB/s", "eighty", "nan GB"])
def test_bad_memory_unit_names_memory(tmp_path, bad):
    text = GOOD_HARDWARE.replace("memory: 80 GiB", f"memory: {bad}")
    p = _write(tmp_path, text)
    line, field, _ = _parts(_expect_error(load_hardware, p), p)
    assert field == "memory"
    assert line == _line_of(text, "memory")  # line 2


def test_nested_field_error_names_path_and_line(tmp_path):
    text = GOOD_HARDWARE.replace("  bf16: 989.4 TFLOP/s", "  bf16: 989.4 GB")
    p = _write(tmp_path, text)
    line, field, _ = _parts(_expect_error(load_hardware, p), p)
    assert field == "peak_flops.bf16"
    assert line == _line_of(text, "bf16")


def test_yaml_syntax_error_has_line(tmp_path):
    text = "name: x\nlayers: [80\nd_model: 8192\n"
    p = _write(tmp_path, text)
    err = _expect_error(load_model, p)
    s = str(err)
    assert "\n" not in s
    m = re.match(rf"{re.escape(str(p))}:(\d+): ", s)
    assert m, s
    assert 2 <= int(m.group(1)) <= 3  # the unclosed '[' is on line 2, detected on line 3


def test_unknown_field_suggests(tmp_path):
    text = GOOD_MODEL.replace("layers: 80", "layers: 80\nlayerz: 80")
    p = _write(tmp_path, text)
    line, field, msg = _parts(_expect_error(load_model, p), p)
    assert field == "layerz"
    assert line == _line_of(text, "layerz")
    assert "unknown field" in msg
    assert "did you mean 'layers'" in msg


def test_unknown_nested_field_suggests(tmp_path):
    text = GOOD_HARDWARE.replace("latency: 3 us}", "latncy: 3 us}")
    p = _write(tmp_path, text)
    line, field, msg = _parts(_expect_error(load_hardware, p), p)
    assert field == "scale_up.latncy"
    assert line == _line_of(text, "scale_up")
    assert "unknown field" in msg and "did you mean 'latency'" in msg


def test_heads_not_divisible_by_kv_heads(tmp_path):
    text = GOOD_MODEL.replace("kv_heads: 8", "kv_heads: 6")
    p = _write(tmp_path, text)
    err = _expect_error(load_model, p)
    assert "kv_heads" in str(err)
    # FILE:LINE: FIELD: message, pointing at the offending field (not line 1, the 'name:' line)
    line, field, _ = _parts(err, p)
    assert field in ("kv_heads", "heads")
    assert line == _line_of(text, field)


def test_top_k_exceeds_experts(tmp_path):
    text = GOOD_MODEL + "moe:\n  experts: 2\n  top_k: 3\n  expert_ffn: 100\n"
    p = _write(tmp_path, text)
    err = _expect_error(load_model, p)
    line, field, msg = _parts(err, p)
    assert "top_k" in field + msg
    assert field in ("moe", "moe.top_k")
    assert line == _line_of(text, field.split(".")[-1])


def test_empty_file(tmp_path):
    p = _write(tmp_path, "")
    err = _expect_error(load_model, p)
    assert str(err).startswith(str(p))
    assert "\n" not in str(err)


def test_comment_only_file(tmp_path):
    p = _write(tmp_path, "# nothing here\n")
    assert str(_expect_error(load_model, p)).startswith(str(p))


def test_not_a_mapping(tmp_path):
    p = _write(tmp_path, "- 1\n- 2\n")
    assert str(_expect_error(load_model, p)).startswith(str(p))


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "adir.yaml"
    d.mkdir()
    err = _expect_error(load_model, d)
    assert str(err).startswith(str(d))
    assert isinstance(_expect_error(load_hardware, d), SpecError)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    assert str(_expect_error(load_model, p)).startswith(str(p))


def test_non_utf8_bytes(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(b"name: caf\xe9\nlayers: 80\n")
    err = _expect_error(load_model, p)
    assert str(err).startswith(str(p))
    assert "\n" not in str(err)


def test_python_tag_does_not_execute(tmp_path):
    marker = tmp_path / "EXECUTED"
    text = f'name: x\nlayers: !!python/object/apply:os.system ["touch {marker}"]\n'
    p = _write(tmp_path, text)
    with pytest.raises(SpecError):
        load_model(p)
    assert not marker.exists()
    with pytest.raises(SpecError):
        load_hardware(p)
    assert not marker.exists()


def test_python_tag_echo_rejected(tmp_path, capfd):
    p = _write(tmp_path, 'name: !!python/object/apply:os.system ["echo hi"]\n')
    with pytest.raises(SpecError):
        load_model(p)
    out, _ = capfd.readouterr()
    assert "hi" not in out


# ---------------------------------------------------------------------------------------------
# catalog


def test_catalog_unknown_name_suggests():
    with pytest.raises(SpecError) as info:
        resolve_model("gpt4")
    assert "'gpt-4'" in str(info.value)
    assert "\n" not in str(info.value)


def test_catalog_unknown_hardware_suggests():
    with pytest.raises(SpecError) as info:
        resolve_hardware("h100sxm")
    assert "'h100-sxm'" in str(info.value)


def test_catalog_path_to_yaml(tmp_path):
    p = _write(tmp_path, GOOD_MODEL, "custom.yaml")
    m = resolve_model(str(p))
    assert m.name == "tiny"
    hw = resolve_hardware(str(_write(tmp_path, GOOD_HARDWARE, "chip.yaml")))
    assert hw.name == "chip"


@pytest.mark.parametrize("name", model_names())
def test_every_shipped_model_loads(name):
    m = resolve_model(name)
    assert m.name == name
    assert m.source  # every shipped spec says where it comes from


@pytest.mark.parametrize("name", hardware_names())
def test_every_shipped_hardware_loads(name):
    hw = resolve_hardware(name)
    assert hw.name == name
    assert hw.source
    assert hw.memory > 0 and hw.memory_bandwidth > 0 and hw.price > 0
    assert hw.peak_flops


def test_catalog_is_not_empty():
    assert "gpt-4" in model_names()
    assert "h100-sxm" in hardware_names()
    assert len(model_names()) >= 10 and len(hardware_names()) >= 10


_STRING_KEYS = ("name", "description", "source", "price_date")


def _unsourced_lines(path: Path) -> list[str]:
    bad = []
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#") or ":" not in s:
            continue
        key, _, rest = s.partition(":")
        if key.strip() in _STRING_KEYS:
            continue
        value = rest.split("#", 1)[0]
        if any(ch.isdigit() for ch in value) and "#" not in rest:
            bad.append(f"{path.name}:{i}: {s}")
    return bad


@pytest.mark.parametrize("kind", ["models", "hardware"])
def test_every_number_in_shipped_specs_has_a_source_comment(kind):
    files = sorted(catalog_dir(kind).glob("*.yaml"))
    assert files
    bad = [line for f in files for line in _unsourced_lines(f)]
    assert not bad, "numbers without a '# source' comment:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------------
# Hugging Face config.json


def _write_json(tmp_path: Path, cfg: dict, folder: str) -> Path:
    d = tmp_path / folder
    d.mkdir()
    p = d / "config.json"
    p.write_text(json.dumps(cfg), encoding="utf-8")
    return p


LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
    "hidden_act": "silu",
    "model_type": "llama",
}


def test_hf_llama_config_matches_catalog(tmp_path):
    m = load_model(_write_json(tmp_path, LLAMA_31_8B, "Llama-3.1-8B"))
    cat = resolve_model("llama-3.1-8b")
    assert (m.layers, m.d_model, m.heads, m.kv_heads, m.head_dim, m.ffn, m.vocab) == (
        32, 4096, 32, 8, 128, 14336, 128256,
    )
    assert m.ffn_gated and not m.tied_embeddings and m.max_context == 131072
    assert arch.params(m).total == arch.params(cat).total
    # by hand: 32 * (attn + SwiGLU + 2 norms) + untied emb/head + final norm
    d, h, kv, dh, ff, V = 4096, 32, 8, 128, 14336, 128256
    per_layer = d * h * dh + 2 * d * kv * dh + h * dh * d + 3 * d * ff + 2 * d
    assert arch.params(m).total == 32 * per_layer + 2 * V * d + d  # 8.03B (specs.md 2c)


def test_hf_mixtral_config(tmp_path):
    cfg = {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "sliding_window": None,
    }
    m = load_model(_write_json(tmp_path, cfg, "Mixtral-8x7B-v0.1"))
    assert m.moe is not None and (m.moe.experts, m.moe.top_k, m.moe.expert_ffn) == (8, 2, 14336)
    p = arch.params(m)
    assert p.total == 46_702_792_704
    assert p.active == 12_879_925_248


DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "hidden_size": 7168,
    "num_hidden_layers": 61,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3,
    "moe_layer_freq": 1,
    "kv_lora_rank": 512,
    "q_lora_rank": 1536,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
    "topk_method": "noaux_tc",
    "vocab_size": 129280,
    "tie_word_embeddings": False,
    "max_position_embeddings": 163840,
    "hidden_act": "silu",
}


def test_hf_deepseek_v3_config(tmp_path):
    m = load_model(_write_json(tmp_path, DEEPSEEK_V3, "DeepSeek-V3"))
    assert m.mla is not None and m.mla.kv_lora_rank == 512
    assert m.moe is not None and m.moe.first_dense_layers == 3 and m.moe.shared_experts == 1
    assert m.moe_layers == 61 - 3
    assert arch.params(m).total == pytest.approx(671_026_419_200, rel=1e-4)
    assert arch.params(m).total == arch.params(resolve_model("deepseek-v3")).total
    assert arch.kv_bytes_per_token(m, "bf16") == 61 * (512 + 64) * 2


def test_hf_qwen2_config_gets_qkv_bias(tmp_path):
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 8192,
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "intermediate_size": 29568,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
        "max_position_embeddings": 131072,
        "hidden_act": "silu",
        "use_sliding_window": False,
        "sliding_window": 131072,
        "max_window_layers": 80,
    }
    m = load_model(_write_json(tmp_path, cfg, "Qwen2.5-72B"))
    assert m.qkv_bias is True
    assert not m.sliding_window  # use_sliding_window false
    assert arch.params(m).total == arch.params(resolve_model("qwen2.5-72b")).total


def test_hf_config_missing_field(tmp_path):
    cfg = dict(LLAMA_31_8B)
    del cfg["num_hidden_layers"]
    p = _write_json(tmp_path, cfg, "broken")
    err = _expect_error(load_model, p)
    assert str(err).startswith(str(p))
    assert "num_hidden_layers" in str(err)


def test_hf_config_bad_value_names_hf_line(tmp_path):
    cfg = dict(LLAMA_31_8B, num_key_value_heads=6)  # 32 heads not divisible by 6
    p = _write_json(tmp_path, cfg, "bad-kv")
    err = _expect_error(load_model, p)
    assert str(err).startswith(str(p))
    assert "kv_heads" in str(err)


# ---------------------------------------------------------------------------------------------
# Hugging Face model_types: an allow-list, each mapped exactly (issue 16 item 6)
# Configs below are the published config.json files' architecture fields (other keys left out).

GEMMA_2_9B = {  # google/gemma-2-9b config.json (no tie_word_embeddings key: Gemma2Config defaults to tied)
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 3584, "num_hidden_layers": 42,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "intermediate_size": 14336,
    "vocab_size": 256000, "max_position_embeddings": 8192, "hidden_activation": "gelu_pytorch_tanh",
    "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
    "query_pre_attn_scalar": 256, "cache_implementation": "hybrid",
}


def _hf(tmp_path: Path, cfg: dict, folder: str) -> ModelSpec:
    return load_model(_write_json(tmp_path, cfg, folder))


def test_hf_gemma2_9b_parameters_and_window(tmp_path):
    m = _hf(tmp_path, GEMMA_2_9B, "gemma-2-9b")
    assert m.tied_embeddings and m.norms_per_layer == 4 and m.head_dim == 256 and m.norm == "rmsnorm"
    assert (m.sliding_window, m.sliding_window_layers) == (4096, 21)  # layers 0, 2, ..., 40 slide: 42 / 2
    # by hand, d=3584, h=16, kv=8, dh=256, ff=14336, V=256000, L=42:
    #   attention  3584*4096 + 2*3584*2048 + 4096*3584 = 44,040,192
    #   GeGLU      3 * 3584 * 14336                    = 154,140,672
    #   4 RMSNorms 4 * 3584                            = 14,336     (soft-capping has no parameters)
    #   42 layers * 198,195,200 = 8,324,198,400; tied embedding 256000*3584 = 917,504,000; final norm 3584
    assert arch.params(m).total == 9_241_705_984  # published: 9,241,705,984 (Gemma 2 9B, 9.24B)
    # KV: only the 21 global layers grow past the 4096-token window
    assert arch.kv_bytes_per_token(m, "bf16") == 42 * 2 * 8 * 256 * 2


def test_hf_gemma_7b_is_tied_by_default(tmp_path):
    cfg = {"model_type": "gemma", "hidden_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
           "num_key_value_heads": 16, "head_dim": 256, "intermediate_size": 24576, "vocab_size": 256000,
           "hidden_act": "gelu", "max_position_embeddings": 8192}  # google/gemma-7b config.json
    m = _hf(tmp_path, cfg, "gemma-7b")
    # 28 * (4*3072*4096 + 3*3072*24576 + 2*3072) + 256000*3072 + 3072 = 8,537,680,896 (Gemma 7B: 8.54B)
    assert arch.params(m).total == 28 * (4 * 3072 * 4096 + 3 * 3072 * 24576 + 2 * 3072) + 256000 * 3072 + 3072
    assert arch.params(m).total == 8_537_680_896


GEMMA_3_1B = {  # google/gemma-3-1b-pt config.json
    "model_type": "gemma3_text", "hidden_size": 1152, "num_hidden_layers": 26, "num_attention_heads": 4,
    "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 6912, "vocab_size": 262144,
    "max_position_embeddings": 32768, "sliding_window": 512, "sliding_window_pattern": 6,
    "hidden_activation": "gelu_pytorch_tanh",
}


def test_hf_gemma3_1b_qk_norm_and_five_to_one_window(tmp_path):
    m = _hf(tmp_path, GEMMA_3_1B, "gemma-3-1b-pt")
    assert m.qk_norm and m.norms_per_layer == 4 and m.tied_embeddings
    # layer i is global when (i+1) % 6 == 0: layers 5, 11, 17, 23 -> 4 global, 22 sliding
    assert (m.sliding_window, m.sliding_window_layers) == (512, 22)
    # per layer: attention 1152*1024 + 2*1152*256 + 1024*1152 = 2,949,120; q/k norms 2*256 = 512;
    # GeGLU 3*1152*6912 = 23,887,872; 4 norms 4*1152 = 4,608 -> 26,842,112; x26 = 697,894,912
    # + tied embedding 262144*1152 = 301,989,888 + final norm 1152 = 999,885,952 (Gemma 3 1B: "1B")
    assert arch.params(m).total == 999_885_952
    # the same pattern given as layer_types (newer configs): identical
    types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(26)]
    m2 = _hf(tmp_path, {**GEMMA_3_1B, "layer_types": types, "sliding_window_pattern": None}, "gemma-3-1b-lt")
    assert m2.sliding_window_layers == 22


def test_hf_qwen3_8b_has_qk_norm(tmp_path):
    cfg = {"model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
           "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288, "vocab_size": 151936,
           "tie_word_embeddings": False, "attention_bias": False, "max_position_embeddings": 40960,
           "use_sliding_window": False, "sliding_window": None, "max_window_layers": 36}  # Qwen/Qwen3-8B
    m = _hf(tmp_path, cfg, "Qwen3-8B")
    assert m.qk_norm and not m.qkv_bias and m.sliding_window is None
    # per layer: 2*4096*4096 + 2*4096*1024 = 41,943,040; q/k norms 2*128; SwiGLU 3*4096*12288 = 150,994,944;
    # norms 2*4096 -> 192,946,432; x36 = 6,946,071,552; untied 2*151936*4096 = 1,244,659,712; final 4096
    p = arch.params(m)
    assert p.total == 8_190_735_360  # model card: 8.2B
    assert p.total - p.embeddings - p.lm_head == 6_946_075_648  # model card: 6.95B non-embedding


def test_hf_qwen3_moe_30b_a3b(tmp_path):
    cfg = {"model_type": "qwen3_moe", "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32,
           "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144, "moe_intermediate_size": 768,
           "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1, "mlp_only_layers": [],
           "vocab_size": 151936, "tie_word_embeddings": False, "max_position_embeddings": 40960}
    m = _hf(tmp_path, cfg, "Qwen3-30B-A3B")
    # per layer: attention 2048*4096*2 + 2*2048*512 = 18,874,368 + q/k norms 256; experts 128*3*2048*768
    # = 603,979,776; router 2048*128 = 262,144; norms 4096 -> 623,120,640; x48 = 29,909,790,720
    # + untied 2*151936*2048 = 622,329,856 + 2048 = 30,532,122,624 (model card: 30.5B total)
    assert arch.params(m).total == 30_532_122_624


GPT_OSS_20B = {  # openai/gpt-oss-20b config.json
    "model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": 24, "num_attention_heads": 64,
    "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 2880, "num_local_experts": 32,
    "num_experts_per_tok": 4, "experts_per_token": 4, "vocab_size": 201088, "tie_word_embeddings": False,
    "attention_bias": True, "sliding_window": 128, "max_position_embeddings": 131072,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}


def test_hf_gpt_oss_20b(tmp_path):
    m = _hf(tmp_path, GPT_OSS_20B, "gpt-oss-20b")
    assert (m.sliding_window, m.sliding_window_layers) == (128, 12)
    assert m.attention_sinks and m.linear_bias and m.norm == "rmsnorm" and m.moe.router_bias
    # attention: 2880*4096 + 2*2880*512 + 4096*2880 = 26,542,080 + biases 4096+2*512+2880 + 64 sinks = 26,550,144
    # expert: gate/up 2880*5760 + 5760 bias, down 2880*2880 + 2880 bias = 24,891,840; x32 = 796,538,880
    # router 2880*32 + 32 = 92,192; 2 RMSNorms 5,760 -> 823,186,976 per layer; x24 = 19,756,487,424
    # + untied 2*201088*2880 = 1,158,266,880 + final 2880 = 20,914,757,184 (model card: 20.91B total)
    p = arch.params(m)
    assert p.total == 20_914_757_184
    # active without the input embedding (the model card's convention): 3.61B
    assert p.active - p.embeddings == pytest.approx(3.61e9, rel=2e-3)
    # without layer_types the default pattern is the same (even layers slide)
    cfg = {k: v for k, v in GPT_OSS_20B.items() if k != "layer_types"}
    assert _hf(tmp_path, cfg, "gpt-oss-20b-nolt").sliding_window_layers == 12


def test_hf_gpt_neox_20b_layernorm_with_bias(tmp_path):
    cfg = {"model_type": "gpt_neox", "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
           "intermediate_size": 24576, "vocab_size": 50432, "hidden_act": "gelu", "tie_word_embeddings": False,
           "max_position_embeddings": 2048, "rotary_pct": 0.25, "use_parallel_residual": True}
    m = _hf(tmp_path, cfg, "gpt-neox-20b")
    assert m.norm == "layernorm_bias" and not m.ffn_gated
    # per layer: attention 4*6144^2 + 3*6144 (qkv bias) + 6144 (out bias) = 151,019,520;
    # MLP 2*6144*24576 + 24576 + 6144 = 302,020,608; 2 LayerNorms with bias 4*6144 = 24,576
    # -> 453,064,704; x44 = 19,934,846,976; untied 2*50432*6144 = 619,708,416; final LayerNorm 2*6144
    assert arch.params(m).total == 20_554_567_680  # GPT-NeoX-20B paper: 20,554,567,680


def test_hf_falcon_7b_one_shared_layernorm(tmp_path):
    cfg = {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
           "multi_query": True, "new_decoder_architecture": False, "parallel_attn": True, "bias": False,
           "alibi": False, "vocab_size": 65024}  # tiiuae/falcon-7b config.json
    m = _hf(tmp_path, cfg, "falcon-7b")
    assert (m.kv_heads, m.head_dim, m.ffn, m.norms_per_layer, m.tied_embeddings) == (1, 64, 4 * 4544, 1, True)
    # per layer: q 4544*4544 + k,v 2*4544*64 + o 4544*4544 = 41,877,504; MLP 2*4544*18176 = 165,183,488;
    # one LayerNorm with bias 2*4544 -> 207,070,080; x32 = 6,626,242,560; tied 65024*4544 = 295,469,056;
    # final LayerNorm 9,088 -> 6,921,720,704 (the Hub's 7.22B counts the tied head a second time: +295,469,056)
    assert arch.params(m).total == 6_921_720_704
    assert arch.params(m).total + 65024 * 4544 == 7_217_189_760


def test_hf_phi3_mini_and_mistral_window_on_every_layer(tmp_path):
    phi = {"model_type": "phi3", "hidden_size": 3072, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 32, "intermediate_size": 8192, "vocab_size": 32064, "tie_word_embeddings": False,
           "sliding_window": 2047, "max_position_embeddings": 4096}  # microsoft/Phi-3-mini-4k-instruct
    m = _hf(tmp_path, phi, "Phi-3-mini-4k-instruct")
    assert (m.sliding_window, m.sliding_window_layers) == (2047, None)  # None: every layer
    # 32 * (4*3072^2 + 3*3072*8192 + 2*3072) + 2*32064*3072 + 3072 = 3,821,079,552 (3.8B)
    assert arch.params(m).total == 3_821_079_552
    mistral = {"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
               "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
               "tie_word_embeddings": False, "sliding_window": 4096, "max_position_embeddings": 32768}
    m = _hf(tmp_path, mistral, "Mistral-7B-v0.1")
    # 32 * (2*4096^2 + 2*4096*1024 + 3*4096*14336 + 2*4096) + 2*32000*4096 + 4096 = 7,241,732,096 (7.24B)
    assert arch.params(m).total == 7_241_732_096 and m.sliding_window == 4096


@pytest.mark.parametrize(("model_type", "contains"), [
    ("bert", "'bert' is not supported; supported: deepseek_v2"),
    ("llama4_text", "chunked attention"),
    ("gemma3", "pass its text_config"),
    (None, "required to read a Hugging Face config; supported:"),
])
def test_hf_unsupported_model_type_refused(tmp_path, model_type, contains):
    cfg = {k: v for k, v in LLAMA_31_8B.items() if k != "model_type"}
    if model_type:
        cfg["model_type"] = model_type
    p = _write_json(tmp_path, cfg, "some-model")
    err = _expect_error(load_model, p)
    line, field, msg = _parts(err, p)
    assert field == "model_type" and contains in msg
    for t in ("llama", "gemma2", "qwen3_moe", "gpt_oss", "falcon", "gpt_neox", "phi3", "deepseek_v3"):
        assert t in msg


# ---------------------------------------------------------------------------------------------
# the model's name (issue 16 item 7)


def test_model_name_from_name_or_path_then_stem_then_folder(tmp_path):
    d = tmp_path / "inputs"
    d.mkdir()
    p = d / "qwen2.5-7b.json"
    p.write_text(json.dumps(LLAMA_31_8B), encoding="utf-8")
    assert load_model(p).name == "qwen2.5-7b"  # the file's stem, not the folder 'inputs'
    p.write_text(json.dumps({**LLAMA_31_8B, "_name_or_path": "meta-llama/Llama-3.1-8B"}), encoding="utf-8")
    assert load_model(p).name == "Llama-3.1-8B"
    assert load_model(_write_json(tmp_path, LLAMA_31_8B, "Llama-3.1-8B")).name == "Llama-3.1-8B"  # config.json


# ---------------------------------------------------------------------------------------------
# norm kinds and q/k norms in model specs


def test_norm_kinds_in_a_model_spec(tmp_path):
    base = GOOD_MODEL  # 80 layers, d 8192, 64 heads (head_dim 128), 8 KV heads, ffn 28672, vocab 32000
    rms = arch.params(load_model(_write(tmp_path, base, "rms.yaml"))).norms
    assert rms == 80 * 2 * 8192 + 8192
    ln = arch.params(load_model(_write(tmp_path, base + "norm: layernorm_bias\n", "ln.yaml"))).norms
    assert ln == 2 * (80 * 2 * 8192 + 8192)  # scale and bias
    nobias = arch.params(load_model(_write(tmp_path, base + "norm: layernorm_no_bias\n", "lnnb.yaml"))).norms
    assert nobias == rms
    qk = arch.params(load_model(_write(tmp_path, base + "qk_norm: true\nnorms_per_layer: 4\n", "qk.yaml"))).norms
    assert qk == 80 * (4 * 8192 + 2 * 128) + 8192


def test_norm_default_keeps_linear_bias_models_unchanged():
    m = resolve_model("gpt-3-175b")  # linear_bias: true, no norm given -> LayerNorm with bias, as before
    assert m.norm == "layernorm_bias"
    assert arch.params(m).norms == 96 * 4 * 12288 + 2 * 12288
    assert resolve_model("llama-3.1-8b").norm == "rmsnorm"


def test_names_with_control_characters_and_zero_windows_are_refused(tmp_path, capsys):
    """An escape sequence in _name_or_path went raw to the terminal; sliding_window 0 with sliding layers
    was silently full attention (the break test)."""
    import json

    from cli_helpers import one_line, run_cli

    cfg = json.loads((Path(__file__).resolve().parents[1] / "examples" / "qwen2.5-7b-instruct.json").read_text())
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps({**cfg, "_name_or_path": "org/x\x1b[31mRED"}), encoding="utf-8")
    rc, _, err = run_cli(capsys, "infer", "-m", str(evil), "-H", "h100-sxm")
    assert rc == 2 and "name: contains the control character '\\x1b'" in one_line(err)
    zero = tmp_path / "zero.json"
    zero.write_text(json.dumps({**cfg, "sliding_window": 0, "use_sliding_window": True,
                                "layer_types": ["sliding_attention", "full_attention"] * 14}), encoding="utf-8")
    rc, _, err = run_cli(capsys, "infer", "-m", str(zero), "-H", "h100-sxm")
    assert rc == 2 and "sliding_window: required (a positive number of tokens)" in one_line(err)
