"""Issue 16, item 12: quieter surprises -- what the output says about itself (notes, labels, units,
plurals, hints, number formats, help width)."""

from __future__ import annotations

import json
import re

import pytest

from cli_helpers import one_line, run_cli


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


# ---------------------------------------------------------------------------------------------
# $/1k output tokens: the decode share, and the all-in figure beside it

PINNED = ["-m", "llama-3.1-70b", "-H", "h100-sxm", "--tp", "4", "--pp", "2", "--batch", "384",
          "--price-per-hour", "2", "--prompt-tokens", "2048", "--output-tokens", "512"]


def test_all_in_cost_per_output_token_by_hand(capsys):
    rc, out, err = run_cli(capsys, "infer", *PINNED, "--format", "json")
    assert rc == 0, err
    p = json.loads(out)["plans"][1]
    assert (p["chips"], p["replicas"], p["tp"], p["pp"], p["batch"]) == (8, 1, 4, 2, 384)
    # One replica of 8 chips at $2/chip-hour spends 8 * 2 / 3600 = $0.004444/s.  Without speculation
    # a round of pp = 2 stage passes (every mixed prefill included) lasts round_s and every one of the
    # 384 sequences gains one token, so the whole spend per output token is 0.004444 * round_s / 384
    # (TPOT is shorter than the round by the sequence's own prefill, 1/384 of the prefill work):
    usd_per_s = 8 * 2 / 3600
    all_in = usd_per_s * p["round_s"] / 384 * 1000
    assert p["round_s"] > p["tpot_s"]
    assert p["usd_per_1k_output_tokens_all_in"] == pytest.approx(all_in, rel=1e-9)
    # the same spend over the fleet's output rate: $16/h / 3600 / (output tokens/s)
    assert p["usd_per_1k_output_tokens_all_in"] == pytest.approx(16 / 3600 / p["throughput_tokens_per_s"] * 1000,
                                                                  rel=1e-9)
    # the decode share pays only the pp = 2 decode steps of the round: 0.004444 * 2 * decode_step / 384
    decode_share = usd_per_s * 2 * p["decode_step_s"] / 384 * 1000
    assert p["usd_per_1k_output_tokens"] == pytest.approx(decode_share, rel=1e-9)
    # blended spreads the same spend over prompt + output tokens: all-in * 512 / (2048 + 512)
    assert p["usd_per_1k_tokens_blended"] == pytest.approx(all_in * 512 / 2560, rel=1e-9)
    # prefill is paid for: the all-in figure exceeds the decode share (mixed passes are longer)
    assert p["mixed_step_s"] > p["decode_step_s"]
    assert p["usd_per_1k_output_tokens_all_in"] > p["usd_per_1k_output_tokens"] * 1.05


def test_all_in_cost_is_shown_in_every_format(capsys):
    rc, out, _ = run_cli(capsys, "infer", *PINNED)
    assert rc == 0
    flat = " ".join(out.split())
    assert "decode share" in flat and "all-in" in flat
    rc, csv_out, _ = run_cli(capsys, "infer", *PINNED, "--format", "csv")
    assert "usd_per_1k_output_tokens_all_in" in csv_out.splitlines()[0].split(",")
    rc, md, _ = run_cli(capsys, "infer", *PINNED, "--format", "markdown")
    assert "$/1k output (decode share)" in md and "$/1k output, all-in" in md


# ---------------------------------------------------------------------------------------------
# a default length shortened to fit the context is said, naming the context


def test_long_prompt_shortening_the_default_output_is_said(capsys):
    # llama-2-7b's context is 4,096 tokens: a 4,000-token prompt leaves 4,096 - 4,000 = 96 output tokens
    base = ["infer", "-m", "llama-2-7b", "-H", "h100-sxm", "--prompt-tokens", "4000"]
    rc, out, err = run_cli(capsys, *base, "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["workload"]["output_tokens"] == 96
    [note] = [n for n in d["notes"] if "output tokens" in n]
    assert "96" in note and "512" in note and "4,096" in note
    rc, out, err = run_cli(capsys, *base)
    flat = " ".join(out.split())
    assert "note: output tokens: 96, not the default 512" in flat and "4,096 tokens" in flat
    rc, out, err = run_cli(capsys, *base, "--format", "csv")
    assert "note: output tokens: 96" in err and "4,096" in err
    # given explicitly, nothing is shortened and nothing is said
    rc, out, err = run_cli(capsys, *base, "--output-tokens", "96", "--format", "json")
    assert json.loads(out)["notes"] == []


# ---------------------------------------------------------------------------------------------
# hardware --format json: units in the field names, as in infer's hardware object


def test_hardware_json_names_carry_units(capsys):
    rc, out, err = run_cli(capsys, "hardware", "--format", "json")
    assert rc == 0, err
    [h] = [r for r in json.loads(out) if r["name"] == "h100-sxm"]
    # h100-sxm.yaml: memory 81,559 MiB (nvidia-smi) = 81,559 x 1,048,576 B = 85,520,809,984 B, 3.35 TB/s,
    # 8-chip NVLink domain, 2.49 USD/h, usable 0.9
    assert h["memory_bytes"] == 81_559 * 2**20 == 85_520_809_984
    assert h["memory_bandwidth_bytes_per_s"] == pytest.approx(3.35e12)
    assert h["price_usd_per_hour"] == pytest.approx(2.49)
    assert h["usable_memory_fraction"] == pytest.approx(0.9)
    assert h["usable_memory_bytes"] == pytest.approx(0.9 * 85_520_809_984)  # 76.97 GB
    assert h["scale_up"]["domain_chips"] == 8
    assert h["peak_flops_per_s"]["bf16"] == pytest.approx(989.4e12, rel=1e-3)
    assert set(h["scale_up"]) == {"domain_chips", "bandwidth_bytes_per_s", "latency_s"}
    assert set(h["scale_out"]) == {"bandwidth_bytes_per_s", "latency_s"}
    for bare in ("memory", "memory_bandwidth", "price", "peak_flops", "usable_memory"):
        assert bare not in h
    # the same names and values as the hardware object of infer --format json
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "json")
    hw = json.loads(out)["hardware"]
    for k in ("memory_bytes", "usable_memory_bytes", "memory_bandwidth_bytes_per_s", "price_usd_per_hour"):
        assert hw[k] == pytest.approx(h[k]), k


# ---------------------------------------------------------------------------------------------
# CSV booleans as in JSON; singular and plural


def test_csv_booleans_are_lowercase_like_json(capsys):
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "csv")
    assert rc == 0, err
    rows = [ln.split(",") for ln in out.splitlines()]
    col = rows[0].index("feasible")
    assert {r[col] for r in rows[1:]} == {"true"}
    assert "True" not in out and "False" not in out
    # 512 sequences of 8,192 tokens = 4,194,304 tokens: one step; every TrainPlan boolean is true/false
    rc, out, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "4194304",
                           "--global-batch", "4194304", "--chips", "8", "--format", "csv")
    rows = [ln.split(",") for ln in out.splitlines()]
    col = rows[0].index("sequence_parallel")
    assert {r[col] for r in rows[1:]} <= {"true", "false"} and "True" not in out and "False" not in out


def test_plural_helper():
    from gpt4plan.specs.units import plural

    assert plural(1, "chip") == "1 chip"
    assert plural(2, "chip") == "2 chips"
    assert plural(1024, "chip") == "1,024 chips"
    assert plural(1.0, "step") == "1 step"
    assert plural(0, "metric") == "0 metrics"


def test_one_is_singular_in_output(capsys):
    # 512 sequences of 8,192 tokens = 4,194,304 tokens = the global batch: exactly one step
    rc, out, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "4194304",
                           "--global-batch", "4194304", "--chips", "8")
    assert rc == 0, err
    assert "(1 step)" in out and "(1 steps)" not in out
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--chips", "1", "--emit", "vllm")
    assert rc == 0, err
    assert ": 1 chip = 1 replica × (TP 1 × PP 1)" in out
    assert not re.search(r"\b1 (chips|replicas|steps|sequences|layers)\b", out)


# ---------------------------------------------------------------------------------------------
# "raise --max-chips" only where it can be raised


def test_raise_max_chips_is_suggested_only_below_its_limit(capsys):
    # 1e18 tokens in one day: no cluster is big enough; a 1e12-token batch (~1.2e8 sequences) does not
    # cap data parallelism, so the chips are what binds
    base = ["train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "1e18", "--global-batch", "1e12",
            "--days", "1"]
    rc, out, err = run_cli(capsys, *base, "--max-chips", "1000000")
    assert rc == 1 and "raise --max-chips" in err
    rc, out, err = run_cli(capsys, *base, "--max-chips", "10000000")  # the option's upper bound
    assert rc == 1
    line = one_line(err)
    assert "raise --max-chips" not in line and "limit of 10,000,000" in line and "--days" in line
    rc, out, err = run_cli(capsys, *base, "--max-chips", "10000001")
    assert rc == 2  # beyond the bound is refused: the hint never points there


# ---------------------------------------------------------------------------------------------
# count suffixes for --demand, --users, --max-chips, as --tokens takes them


def test_count_options_take_suffixes(capsys):
    base = ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "json"]
    rc, out, err = run_cli(capsys, *base, "--demand", "50k", "--max-chips", "10k")
    assert rc == 0, err
    t = json.loads(out)["targets"]
    assert t["demand_tokens_per_s"] == 50_000 and t["max_chips"] == 10_000  # 50 x 1,000; 10 x 1,000
    rc, out, err = run_cli(capsys, *base, "--users", "1.5k")
    assert rc == 0, err
    assert json.loads(out)["targets"]["users"] == 1_500  # 1.5 x 1,000
    rc, out, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "1T",
                           "--max-chips", "1k", "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["plan"]["chips"] <= 1_000
    for option, value, says in (("--users", "2.5", "a whole number"), ("--users", "0", "between 1 and"),
                                ("--demand", "lots", "cannot read 'lots' as a count"),
                                ("--max-chips", "1T", "between 1 and 10,000,000")):
        rc, out, err = run_cli(capsys, *base, option, value)
        assert rc == 2
        line = one_line(err)
        assert line.startswith(f"gpt4plan: error: {option}: ") and says in line, line


# ---------------------------------------------------------------------------------------------
# narrow terminals: figures whole


def test_frontier_keeps_dollar_figures_whole_at_60_columns(capsys, monkeypatch):
    args = ["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm"]
    rc, out, err = run_cli(capsys, *args, "--format", "json")
    front = [p["usd_per_1k_output_tokens"] for p in json.loads(out)["frontier"]]
    monkeypatch.setenv("COLUMNS", "60")
    rc, out, err = run_cli(capsys, *args)
    assert rc == 0, err
    section = out[out.index("Cost vs speed frontier"):out.index("\nmodel ")]
    assert "…" not in section
    assert all(len(ln) <= 60 for ln in section.splitlines())
    printed = [float(x) for x in re.findall(r"\$(\d[\d,]*\.?\d*)(?![\d.…])", section)]
    assert len(printed) == len(front) >= 3
    for shown, value in zip(printed, front, strict=True):
        assert shown == pytest.approx(value, rel=0.006)  # three significant figures


# ---------------------------------------------------------------------------------------------
# calibrate names what it fits and writes


def test_bare_calibrate_asks_for_the_chip_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "calibrate")
    assert rc == 2
    line = one_line(err)
    assert line.startswith("gpt4plan: error: --hardware: ") and "h100-sxm" in line
    assert list(tmp_path.iterdir()) == []
    rc, out, err = run_cli(capsys, "calibrate", "--help")
    flat = " ".join(out.split())
    assert "NAME.calibrated.yaml" in flat and "current directory" in flat


def test_demand_message_names_the_fewest_chips_that_meet_the_other_targets(capsys):
    """Llama-3.1-8B pinned to TP 1 x PP 1 at batch 8: 100 users need ceil(100 / 8) = 13 replicas of one
    chip = 13 chips, over --max-chips 4.  (Before, the 'fewest' figure counted layouts that missed TPOT
    and could read smaller than the cap it was said to exceed.)"""
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tp", "1", "--pp", "1",
                           "--batch", "8", "--users", "100", "--max-chips", "4")
    assert rc == 1
    assert "demand: meeting the demand takes at least 13 chips, more than --max-chips 4" in err
    assert "1 layout × batch candidate evaluated" in " ".join(out.split())


# ---------------------------------------------------------------------------------------------
# --help at 80 columns: every option name whole, nothing cut with an ellipsis


@pytest.mark.parametrize("command", ["infer", "train", "compare", "check", "validate", "calibrate", "models",
                                     "hardware"])
def test_help_keeps_every_option_name_whole_at_80_columns(capsys, command):
    import typer

    from gpt4plan.cli import app

    rc, out, _ = run_cli(capsys, command, "--help")
    assert rc == 0
    assert "…" not in out
    cmd = typer.main.get_command(app).commands[command]
    names = [o for p in cmd.params if p.param_type_name == "option" for o in p.opts if o.startswith("--")]
    assert names
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", out), f"{name} cut in {command} --help"
    assert max(len(ln) for ln in out.splitlines()) <= 80


# ---------------------------------------------------------------------------------------------
# Messages a new user met in the trial


@pytest.mark.parametrize("args, says", [
    (("--tpot", "50mS"), "'50mS' has the wrong unit (millisiemens) (did you mean '50ms'?)"),
    (("--sweep", "prompt-tokens=512,,1024"), "prompt-tokens: an empty value between commas in '512,,1024'"),
    (("--prompt-tokens", "200000"), "--prompt-tokens 200000 leaves no room for an output token in gpt-4's "
                                    "max_context 8192"),
])
def test_messages_name_what_the_user_wrote(capsys, args, says):
    rc, _, err = run_cli(capsys, "infer", *args)
    assert rc == 2 and says in one_line(err)


def test_sweep_takes_whole_numbers_in_any_spelling_and_a_trailing_comma():
    from gpt4plan.compare import parse_sweep

    assert parse_sweep("prompt-tokens=512,1e3,") == ("prompt-tokens", [512, 1000])
    with pytest.raises(ValueError, match="'1.5' is not a whole number"):
        parse_sweep("prompt-tokens=1.5")


def test_colon_words_are_not_turned_into_emoji(capsys):
    """Rich turns ':abc:' into an emoji unless told not to: an error quoting the user's '70B:abc:' must not."""
    rc, _, err = run_cli(capsys, "lifecycle", "--quality", "70B:abc:")
    assert rc == 2 and "70B:abc:" in err and "\N{INPUT SYMBOL FOR LATIN LETTERS}" not in err


def test_chunked_prefill_with_pipeline_stages_replays_at_its_own_budget(capsys):
    """Trial, session 5: with --max-batched-tokens and PP 4 the replay gave each round of 4 microbatch passes
    one pass's budget, so the plan's own replay queued without bound (TTFT p50 ~1,000 s against a steady
    2.45 s).  A round carries pp x the budget: the replay stays near the steady state."""
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--max-batched-tokens", "100",
                         "--tp", "1", "--pp", "4", "--batch", "64", "--format", "json")
    assert rc == 0
    p = json.loads(out)["plans"][1]
    assert p["latency"]["ttft_s"]["p50"] < 5 * p["ttft_s"]


def test_clock_times_past_the_day_are_bad_input(capsys, tmp_path):
    f = tmp_path / "day.csv"
    f.write_text("time,demand\n23:00,100\n24:00,200\n")
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--demand-profile", str(f))
    assert rc == 2 and "day.csv:3: time:" in one_line(err)


def test_attention_dp_the_experts_cannot_take_is_named(capsys):
    rc, _, err = run_cli(capsys, "infer", "-m", "deepseek-v3", "-H", "h100-sxm", "--weights", "fp8",
                         "--attention-dp", "3")
    assert rc == 1 and "attention_dp=3" in err and "256 experts" in err
