"""Spec loading and errors (DESIGN.md §2, §2a).

Every bad-input error is a SpecError whose str() is one line, ``FILE:LINE: FIELD: message``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpt4plan import arch
from gpt4plan.catalog import catalog_dir, hardware_names, model_names, resolve_hardware, resolve_model
from gpt4plan.specs import HardwareSpec, ModelSpec, SpecError, load_hardware, load_model

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
