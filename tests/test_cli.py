"""Command line: exit codes, the JSON contract, one-line errors (DESIGN.md §2, README).

The CLI runs in-process through ``gpt4plan.cli.main(argv) -> int`` with ``capsys``; one test runs
``python -m gpt4plan.cli`` in a subprocess to check the module entry point.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpt4plan.cli import main
from gpt4plan.specs.catalog import catalog_dir, hardware_names, model_names

SEED_TPS = 8.33
PLAN_KEYS = {
    "objective", "chips", "replicas", "tp", "pp", "ep", "batch", "ttft_s", "tpot_s",
    "tokens_per_s_per_user", "throughput_tokens_per_s", "memory_per_chip_bytes",
    "usd_per_1k_input_tokens", "usd_per_1k_output_tokens", "mfu", "mbu", "bound",
}
ERROR_PREFIX = "gpt4plan: error: "


@pytest.fixture(autouse=True)
def _narrow_terminal(monkeypatch):
    """Render as in a CI log: 80 columns, no colour, whatever terminal runs pytest."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop anything printed before
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *args: str) -> tuple[int, dict]:
    rc, out, err = run_cli(capsys, *args, "--format", "json")
    return rc, json.loads(out)


def one_error_line(err: str) -> str:
    """stderr must be exactly one non-empty line and no traceback; return it."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert err.strip() == lines[0].strip(), f"blank lines around the error:\n{err!r}"
    return lines[0]


def spec_error_line(err: str) -> str:
    """The one stderr line, without the program's 'gpt4plan: error: ' prefix."""
    line = one_error_line(err)
    return line[len(ERROR_PREFIX):] if line.startswith(ERROR_PREFIX) else line


# ---------------------------------------------------------------------------------------------
# 1-2: the seed scenario, table and JSON


def test_seed_table(capsys):
    rc, out, err = run_cli(capsys, "infer")
    assert rc == 0, err
    for s in ("gpt-4", "a100-40gb", "min chips", "$"):
        assert s in out
    assert err == ""


@pytest.fixture(scope="module")
def seed_json() -> dict:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["infer", "--format", "json"])
    assert rc == 0
    return json.loads(buf.getvalue())


def _check_plan(p: dict) -> None:
    assert PLAN_KEYS <= set(p), f"missing plan keys: {PLAN_KEYS - set(p)}"
    assert p["bound"] in ("compute", "memory", "network")
    assert p["chips"] == p["tp"] * p["pp"] * p["replicas"]
    for k in ("chips", "replicas", "tp", "pp", "ep", "batch"):
        assert isinstance(p[k], int) and p[k] >= 1, (k, p[k])
    for k in ("ttft_s", "tpot_s", "tokens_per_s_per_user", "throughput_tokens_per_s", "memory_per_chip_bytes",
              "usd_per_1k_input_tokens", "usd_per_1k_output_tokens"):
        assert isinstance(p[k], (int, float)) and math.isfinite(p[k]) and p[k] > 0, (k, p[k])
    assert 0 <= p["mfu"] <= 1 and 0 <= p["mbu"] <= 1


def test_seed_json_contract(seed_json):
    d = seed_json
    for key in ("model", "hardware", "workload", "targets", "feasible", "binding_constraint", "plans", "frontier"):
        assert key in d
    assert {"name", "params_total", "params_active", "flops_per_token", "kv_cache_bytes_per_token"} <= set(d["model"])
    assert {"name", "price_usd_per_hour"} <= set(d["hardware"])
    assert d["model"]["name"] == "gpt-4"
    assert d["hardware"]["name"] == "a100-40gb"
    assert d["feasible"] is True
    assert d["binding_constraint"] is None
    assert len(d["plans"]) == 2
    assert [p["objective"] for p in d["plans"]] == ["min_chips", "min_cost"]
    assert isinstance(d["frontier"], list) and d["frontier"]
    for p in d["plans"] + d["frontier"]:
        _check_plan(p)


def test_seed_json_meets_reading_speed(seed_json):
    for p in seed_json["plans"] + seed_json["frontier"]:
        assert p["tokens_per_s_per_user"] >= SEED_TPS * (1 - 1e-6)
        assert p["tpot_s"] <= (1 / SEED_TPS) * (1 + 1e-6)
    min_chips, min_cost = seed_json["plans"]
    assert min_chips["chips"] <= min_cost["chips"]
    assert min_cost["usd_per_1k_output_tokens"] <= min_chips["usd_per_1k_output_tokens"] * (1 + 1e-9)


def test_module_entry_point_subprocess():
    proc = subprocess.run([sys.executable, "-m", "gpt4plan.cli", "infer", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    d = json.loads(proc.stdout)
    assert d["feasible"] is True and d["model"]["name"] == "gpt-4"


# ---------------------------------------------------------------------------------------------
# 3, 10: price scaling and a pinned layout


def _usd_fields(p: dict) -> dict:
    """Dollar figures of a plan; error bands ([low, high] or null) are flattened to their ends."""
    out = {}
    for k, v in p.items():
        if not k.startswith("usd_"):
            continue
        if k.endswith("_band"):
            for i, x in enumerate(v or []):
                out[f"{k}[{i}]"] = x
        else:
            out[k] = v
    return out


def test_price_per_hour_scales_every_usd_figure(capsys):
    rc1, one = run_json(capsys, "infer", "--price-per-hour", "1")
    rc2, two = run_json(capsys, "infer", "--price-per-hour", "2")
    assert rc1 == rc2 == 0
    assert one["hardware"]["price_usd_per_hour"] == 1
    assert two["hardware"]["price_usd_per_hour"] == 2
    layout = ("chips", "replicas", "tp", "pp", "ep", "batch")
    for section in ("plans", "frontier"):
        assert len(one[section]) == len(two[section])
        for a, b in zip(one[section], two[section], strict=True):
            assert [a[k] for k in layout] == [b[k] for k in layout]
            ua, ub = _usd_fields(a), _usd_fields(b)
            assert {"usd_per_1k_input_tokens", "usd_per_1k_output_tokens"} <= set(ua)
            assert set(ua) == set(ub)
            for k in ua:
                assert ub[k] == pytest.approx(2 * ua[k], rel=1e-9), k


def test_pinned_semianalysis_layout(capsys):
    rc, d = run_json(capsys, "infer", "--tp", "8", "--pp", "16", "--price-per-hour", "1")
    assert rc == 0
    assert d["feasible"] is True
    assert len(d["plans"]) == 2
    for p in d["plans"]:
        assert (p["tp"], p["pp"], p["chips"]) == (8, 16, 128)
        assert p["replicas"] == 1
        _check_plan(p)


# ---------------------------------------------------------------------------------------------
# 4: no feasible plan -> exit 1

INFEASIBLE = ("infer", "-m", "dense-1t", "-H", "h100-sxm", "--chips", "8", "--tokens-per-s-per-user", "33.33")


def test_infeasible_table_exit_1(capsys):
    rc, out, err = run_cli(capsys, *INFEASIBLE)
    assert rc == 1
    line = one_error_line(err)
    assert "no feasible plan" in line
    assert re.search(r"\b(memory|tpot)\b", line, re.IGNORECASE), line


def test_infeasible_json(capsys):
    rc, d = run_json(capsys, *INFEASIBLE)
    assert rc == 1
    assert d["feasible"] is False
    assert d["binding_constraint"] in ("memory", "tpot")
    assert d["message"]
    assert isinstance(d["nearest"], dict)
    assert PLAN_KEYS <= set(d["nearest"])
    assert d["nearest"]["tp"] * d["nearest"]["pp"] == 8


# ---------------------------------------------------------------------------------------------
# 5: bad options -> exit 2, one line


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("-m", "gpt4"), ["'gpt-4'"]),
        (("-H", "h100"), ["h100", "h100-sxm"]),
        (("--tp", "x"), ["--tp"]),
        (("--bogus-flag",), ["--bogus-flag"]),
        (("--tpot", "5furlongs"), ["--tpot", "5furlongs"]),
        (("--tpot", "50ms", "--tokens-per-s-per-user", "10"), ["--tpot", "--tokens-per-s-per-user"]),
        (("--weights", "fp7"), ["--weights", "fp7"]),
        (("-m", "llama-2-7b", "--prompt-tokens", "4000", "--output-tokens", "1000"), ["max_context", "4096"]),
        (("--price-per-hour", "-1"), ["--price-per-hour"]),
    ],
    ids=["unknown-model", "unknown-hardware", "tp-not-int", "bogus-flag", "tpot-unit", "tpot-and-tps",
         "weights-fp7", "context-overflow", "negative-price"],
)
def test_bad_option_exit_2_one_line(capsys, args, expect):
    rc, out, err = run_cli(capsys, "infer", *args)
    assert rc == 2
    line = one_error_line(err)
    for s in expect:
        assert s in line, f"{s!r} not in {line!r}"


@pytest.mark.parametrize("value", ["[/x]", "[red]h100"], ids=["closing-tag", "open-tag"])
def test_bad_option_echoes_user_text_verbatim(capsys, value):
    """User text in an error is data, not Rich markup: no MarkupError traceback, nothing swallowed."""
    rc, out, err = run_cli(capsys, "infer", "-H", value)
    assert rc == 2
    line = one_error_line(err)
    assert value in line


# ---------------------------------------------------------------------------------------------
# 6: bad spec files -> exit 2, `file:LINE: field: ...`

H100_YAML = catalog_dir("hardware") / "h100-sxm.yaml"
LLAMA_YAML = catalog_dir("models") / "llama-2-7b.yaml"


def _broken_copy(tmp_path: Path, src: Path, name: str, old: str | None, new: str | None) -> tuple[Path, int]:
    """Copy ``src`` with the line starting with ``old`` replaced by ``new`` (None: deleted).

    Returns the path and the 1-based line number of ``old`` in the original.
    """
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = next(i for i, ln in enumerate(lines) if ln.startswith(old))
    if new is None:
        del lines[idx]
    else:
        lines[idx] = lines[idx].replace(old, new, 1)
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path, idx + 1


def _line_of(path: Path, prefix: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith(prefix))


def _assert_spec_error(capsys, option: str, path: Path, line_no: int, field: str | None, *also: str) -> str:
    rc, out, err = run_cli(capsys, "infer", option, str(path))
    assert rc == 2
    line = spec_error_line(err)
    head = f"{path}:{line_no}: "
    assert line.startswith(head), f"expected {head!r}..., got {line!r}"
    if field is not None:
        assert line[len(head):].startswith(f"{field}: "), f"field {field!r} not after {head!r} in {line!r}"
    for s in also:
        assert s in line, f"{s!r} not in {line!r}"
    return line


def test_spec_missing_nested_field(tmp_path, capsys):
    path, _ = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "  bandwidth: 450", None)
    _assert_spec_error(capsys, "--hardware", path, _line_of(path, "scale_up:"), "scale_up.bandwidth", "missing")


def test_spec_missing_top_level_field(tmp_path, capsys):
    # a missing top-level key has no line of its own: the mapping starts on line 1
    path, _ = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "memory_bandwidth:", None)
    _assert_spec_error(capsys, "--hardware", path, 1, "memory_bandwidth", "missing")


def test_spec_negative_bandwidth(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "memory_bandwidth: 3.35", "memory_bandwidth: -3.35")
    _assert_spec_error(capsys, "--hardware", path, n, "memory_bandwidth", "-3.35")


def test_spec_negative_nested_bandwidth(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "  bandwidth: 450", "  bandwidth: -450")
    _assert_spec_error(capsys, "--hardware", path, n, "scale_up.bandwidth", "-450")


def test_spec_unknown_unit(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "memory_bandwidth: 3.35 TB/s",
                           "memory_bandwidth: 3.35 zorks/s")
    _assert_spec_error(capsys, "--hardware", path, n, "memory_bandwidth", "zorks")


def test_spec_wrong_unit(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "memory: 81559 MiB", "memory: 81559 MiB/s")
    _assert_spec_error(capsys, "--hardware", path, n, "memory")


def test_spec_yaml_syntax_error(tmp_path, capsys):
    # a parse error has no field: file:line: then the YAML complaint
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "memory_bandwidth: 3.35 TB/s",
                           "memory_bandwidth: 3.35 TB/s: 4")
    _assert_spec_error(capsys, "--hardware", path, n, None, "YAML")


def test_spec_unknown_field_did_you_mean(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, H100_YAML, "hw.yaml", "usable_memory:", "usable_memry:")
    _assert_spec_error(capsys, "--hardware", path, n, "usable_memry", "did you mean", "'usable_memory'")


def test_model_spec_unknown_optional_field(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, LLAMA_YAML, "m.yaml", "ffn_gated:", "ffn_gatd:")
    _assert_spec_error(capsys, "--model", path, n, "ffn_gatd", "did you mean", "'ffn_gated'")


def test_model_spec_misspelt_required_field(tmp_path, capsys):
    """A typo of a required key should point at the typo, not at line 1 'required field is missing'."""
    path, n = _broken_copy(tmp_path, LLAMA_YAML, "m.yaml", "d_model:", "d_modle:")
    _assert_spec_error(capsys, "--model", path, n, "d_modle", "did you mean", "'d_model'")


def test_model_spec_negative_heads(tmp_path, capsys):
    path, n = _broken_copy(tmp_path, LLAMA_YAML, "m.yaml", "heads: 32", "heads: -32")
    _assert_spec_error(capsys, "--model", path, n, "heads", "-32")


def test_spec_file_not_found(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    rc, out, err = run_cli(capsys, "infer", "--hardware", str(path))
    assert rc == 2
    assert spec_error_line(err).startswith(f"{path}: ")


# ---------------------------------------------------------------------------------------------
# 7: a Hugging Face config.json as --model

LLAMA_31_8B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def test_hf_config_json_plans(tmp_path, capsys):
    path = tmp_path / "Llama-3.1-8B" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(LLAMA_31_8B_CONFIG), encoding="utf-8")
    rc, d = run_json(capsys, "infer", "--model", str(path))
    assert rc == 0
    assert d["feasible"] is True
    # same architecture as the shipped llama-3.1-8b spec
    rc, ref = run_json(capsys, "infer", "--model", "llama-3.1-8b")
    assert rc == 0
    assert d["model"]["params_total"] == ref["model"]["params_total"]
    assert d["model"]["kv_cache_bytes_per_token"] == ref["model"]["kv_cache_bytes_per_token"]


# ---------------------------------------------------------------------------------------------
# 8: catalogs


@pytest.mark.parametrize(("cmd", "names"), [("models", model_names), ("hardware", hardware_names)])
def test_catalog_table_lists_every_name(capsys, cmd, names):
    rc, out, err = run_cli(capsys, cmd)
    assert rc == 0, err
    missing = [n for n in names() if not re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w.-])", out)]
    assert not missing, f"'gpt4plan {cmd}' at 80 columns does not show: {missing}"


@pytest.mark.parametrize(("cmd", "names"), [("models", model_names), ("hardware", hardware_names)])
def test_catalog_json(capsys, cmd, names):
    rc, out, err = run_cli(capsys, cmd, "--format", "json")
    assert rc == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == names()


def test_catalogs_are_not_empty():
    assert "gpt-4" in model_names() and "a100-40gb" in hardware_names()


# ---------------------------------------------------------------------------------------------
# 9: help


def test_infer_help(capsys):
    rc, out, err = run_cli(capsys, "infer", "--help")
    assert rc == 0
    assert "8.33" in out
    assert "Examples" in out
    assert "Traceback" not in err



def test_bar_lengths():
    from gpt4plan.report import bar

    assert bar(1.0, 1.0) == "█" * 10  # full width at the top
    assert bar(0.5, 1.0) == "█" * 5  # linear: half
    assert bar(10.0, 100.0, bottom=1.0) == "█" * 5  # log scale: 10 is half-way from 1 to 100
    assert bar(1.0, 100.0, bottom=1.0) == "▏"  # the bottom gets one eighth
    assert bar(0.0, 1.0) == ""


@pytest.mark.parametrize("args, refused", [
    (("--tpot", "30"), True),      # 30 s per output token: surely 30 ms
    (("--tpot", "1"), True),       # a second per token is no serving target (BARE_LATENCY_LIMIT_S)
    (("--tpot", "0.05"), False),   # 50 ms written in seconds
    (("--tpot", "30s"), False),    # a unit says it is meant
    (("--ttft", "500"), True),     # 500 s to the first token: surely 500 ms
    (("--ttft", "30"), False),     # under a minute: plausible seconds
    (("--ttft", "500ms"), False),
])
def test_bare_latency_number_that_is_surely_milliseconds_is_bad_input(capsys, args, refused):
    """A bare --tpot >= 1 or --ttft >= 60 is refused in one line naming both spellings (it used to plan
    50 s per token with a note on stderr); smaller bare numbers are seconds, as documented."""
    from cli_helpers import one_line, run_cli

    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", *args, "--format", "json")
    if refused:
        line = one_line(err)
        assert rc == 2 and line.startswith(f"gpt4plan: error: {args[0]}: '{args[1]}' has no unit")
        assert f"'{args[1]}ms'" in line and f"'{args[1]}s'" in line
    else:
        assert rc in (0, 1) and "has no unit" not in err


def test_bare_latency_in_budgets_is_bad_input(tmp_path, capsys):
    """The same rule in a budgets file, for targets and limits: file:line: field: message."""
    from cli_helpers import one_line, run_cli

    f = tmp_path / "b.yaml"
    f.write_text("budgets:\n  - name: a\n    kind: infer\n    model: llama-3.1-8b\n    hardware: h100-sxm\n"
                 "    targets: {tpot: 50ms}\n    max: {ttft_s: 2000}\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, "check", str(f))
    assert rc == 2
    assert one_line(err).startswith(f"{f}:7: budgets[0].max.ttft_s: 2000 has no unit and would be 2000 s")


def test_a_bad_choice_reads_without_pydantic_wording(capsys):
    from cli_helpers import run_cli

    rc, _, err = run_cli(capsys, "infer", "--weights", "fp5")
    assert rc == 2
    assert err.strip() == ("gpt4plan: error: Invalid value for '--weights': 'fp5' is not one of 'fp32', 'bf16', "
                           "'fp16', 'fp8', 'int8', 'int4', 'fp4'.")
