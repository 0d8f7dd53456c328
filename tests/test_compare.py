"""gpt4plan compare (one row per chip) and infer --sweep (one row per value).

Hand-derived expectation for the memory cases: llama-3.1-70b holds 70.55e9 parameters (arch tests),
141.1 GB in bf16.  One chip per replica (``--chips 1``) fits only where the usable memory
(capacity × usable fraction, from each spec) exceeds 141.1 GB plus the KV cache of one sequence:
b200 (180 GB × 0.9 = 162), gb200 (167), mi300x (186), mi325x (247); every other catalog chip
binds on memory.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from cli_helpers import one_line, run_cli
from gpt4plan.cli import main
from gpt4plan.compare import parse_sweep
from gpt4plan.physics import arch
from gpt4plan.serving import Pins, Targets, Workload, plan_inference
from gpt4plan.specs.catalog import hardware_names, resolve_hardware, resolve_model

ERROR_PREFIX = "gpt4plan: error: "


@pytest.fixture(autouse=True)
def _narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(scope="module")
def compare_70b() -> dict:
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["compare", "-m", "llama-3.1-70b", "--format", "json"])
    assert rc == 0
    return json.loads(buf.getvalue())


def test_compare_lists_every_catalog_chip_cheapest_first(compare_70b):
    d = compare_70b
    rows = d["rows"]
    assert d["kind"] == "infer" and d["label"] == "hardware"
    assert sorted(r["hardware"] for r in rows) == hardware_names()  # default: the whole catalog
    feasible = [r for r in rows if r["feasible"]]
    # at the seed's reading speed every catalog chip serves a 70B model on some layout
    assert len(feasible) == len(hardware_names())
    costs = [r["plan"]["usd_per_1k_output_tokens"] for r in feasible]
    assert costs == sorted(costs)
    for r in feasible:
        assert r["plan"]["objective"] == "min_cost" and r["min_chips_plan"]["objective"] == "min_chips"
        assert r["min_chips"] == r["min_chips_plan"]["chips"] <= r["plan"]["chips"]
        assert r["plan"]["tokens_per_s_per_user"] >= 8.33 * (1 - 1e-9)


def test_compare_rows_match_infer_per_chip(compare_70b):
    """Each row is exactly what `infer` plans for that chip alone."""
    m = resolve_model("llama-3.1-70b")
    for r in compare_70b["rows"][:3]:
        h = resolve_hardware(r["hardware"])
        res = plan_inference(m, h, Workload(2048, 512), Targets(tpot_max_s=1 / 8.33))
        assert r["plan"]["usd_per_1k_output_tokens"] == pytest.approx(res.plans[1].usd_per_1k_output_tokens, rel=1e-12)
        assert r["min_chips"] == res.plans[0].chips


def test_compare_one_chip_per_replica_names_memory_for_the_rest(capsys):
    m = resolve_model("llama-3.1-70b")
    weights = arch.params(m).total * 2
    assert weights == pytest.approx(141.1e9, rel=1e-3)
    rc, out, _ = run_cli(capsys, "compare", "-m", "llama-3.1-70b", "--chips", "1", "--format", "json")
    assert rc == 0
    rows = json.loads(out)["rows"]
    fits = {n for n in hardware_names()
            if resolve_hardware(n).memory * resolve_hardware(n).usable_memory > weights * 1.01}
    assert fits == {"b200", "gb200", "mi300x", "mi325x"}
    assert {r["hardware"] for r in rows if r["feasible"]} == fits
    # feasible first, cheapest first; then the chips without a plan, each naming what binds
    n_ok = len(fits)
    assert all(r["feasible"] for r in rows[:n_ok]) and not any(r["feasible"] for r in rows[n_ok:])
    costs = [r["plan"]["usd_per_1k_output_tokens"] for r in rows[:n_ok]]
    assert costs == sorted(costs)
    for r in rows[n_ok:]:
        assert r["binding_constraint"] == "memory"
        assert r["message"].startswith("memory:") and r["plan"] is None


def test_compare_table_names_the_binding_constraint(capsys):
    rc, out, err = run_cli(capsys, "compare", "-m", "llama-3.1-70b", "-H", "h200,b200,a100-40gb", "--chips", "1")
    assert rc == 0, err
    lines = out.splitlines()
    row = {name: next(ln for ln in lines if ln.lstrip().startswith(name)) for name in ("h200", "b200", "a100-40gb")}
    assert "memory" in row["h200"] and "memory" in row["a100-40gb"]
    assert "$" in row["b200"] and "memory" not in row["b200"]
    assert "No feasible plan" in out and "a100-40gb: memory:" in out
    assert out.index(row["b200"]) < out.index(row["h200"])  # feasible rows come first
    assert max(len(ln) for ln in lines) <= 80


def test_compare_none_feasible_exit_1(capsys):
    rc, out, err = run_cli(capsys, "compare", "-m", "llama-3.1-405b", "-H", "a100-40gb,h100-sxm", "--chips", "1")
    assert rc == 1
    assert "no chip has a feasible plan" in one_line(err) and "memory" in err


def test_compare_csv_and_markdown(capsys):
    rc, out, _ = run_cli(capsys, "compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,tpu-v5e", "--tpot", "20ms",
                         "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["hardware"] for r in rows][0] in ("h100-sxm", "tpu-v5e") and len(rows) == 2
    for r in rows:
        assert r["feasible"] == "true" and int(r["min_chips"]) >= 1
        assert float(r["tpot_s"]) <= 0.02 * (1 + 1e-9)
        assert math.isfinite(float(r["usd_per_1k_output_tokens"]))
    rc, out, _ = run_cli(capsys, "compare", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "markdown")
    assert rc == 0
    assert "| hardware | $/h | chips (min) |" in out and "| h100-sxm |" in out
    assert "| $/1k out decode | $/1k out all-in |" in out


def test_compare_train(capsys):
    rc, out, err = run_cli(capsys, "compare", "--train", "-m", "llama-3.1-8b", "-H", "h100-sxm,a100-80gb,tpu-v5e",
                           "--tokens", "1T", "--chips", "256", "--precision", "fp8", "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["kind"] == "train"
    rows = {r["hardware"]: r for r in d["rows"]}
    # a100-80gb and tpu-v5e have no FP8 units: named, not an error
    assert rows["a100-80gb"]["binding_constraint"] == "precision"
    assert rows["tpu-v5e"]["binding_constraint"] == "precision"
    p = rows["h100-sxm"]["plan"]
    assert rows["h100-sxm"]["feasible"] and p["chips"] <= 256 and p["days"] > 0 and p["usd"] > 0
    assert d["rows"][0]["hardware"] == "h100-sxm"


def test_compare_train_table_sorted_by_dollars(capsys):
    rc, out, _ = run_cli(capsys, "compare", "--train", "-m", "llama-3.1-8b", "-H", "h100-sxm,a100-80gb,h200",
                         "--tokens", "1T", "--chips", "512", "--format", "json")
    assert rc == 0
    usd = [r["plan"]["usd"] for r in json.loads(out)["rows"]]
    assert usd == sorted(usd)


@pytest.mark.parametrize("args, needle", [
    (("compare", "--tokens", "1T"), "--tokens: training options; add --train"),
    (("compare", "--train", "--tpot", "50ms"), "--tpot: serving options"),
    (("compare", "-H", "h100-sxm,nope"), "unknown hardware 'nope'"),
    (("compare", "-H", " , "), "--hardware: give one or more chips"),
    (("compare", "--train", "--chips", "8", "--days", "3"), "--chips and --days"),
])
def test_compare_bad_input_one_line(capsys, args, needle):
    rc, _, err = run_cli(capsys, *args)
    assert rc == 2
    assert needle in one_line(err)


# ---------------------------------------------------------------------------------------------
# --sweep


def test_parse_sweep():
    assert parse_sweep("prompt-tokens=512,2048,8192") == ("prompt-tokens", [512, 2048, 8192])
    assert parse_sweep("price=1,2.5") == ("price-per-hour", [1.0, 2.5])
    for bad in ("prompt-tokens", "nope=1,2", "prompt-tokens=1.5", "output-tokens=", "price-per-hour=-1"):
        with pytest.raises(ValueError):
            parse_sweep(bad)


def test_pinned_one_chip_matches_compare():
    """The same answer through the API: pins are passed to every chip."""
    m = resolve_model("llama-3.1-70b")
    res = plan_inference(m, resolve_hardware("h200"), Workload(2048, 512), Targets(tpot_max_s=1 / 8.33), Pins(chips=1))
    assert not res.feasible and res.binding_constraint == "memory"


def _json(capsys, *args):
    rc, out, err = run_cli(capsys, *args, "--format", "json")
    return rc, json.loads(out), err


def test_sweep_prompt_tokens_rows_in_order_context_binds(capsys):
    rc, d, _ = _json(capsys, "infer", "--sweep", "prompt-tokens=512,2048,8192")
    assert rc == 0
    assert d["sweep"] == {"name": "prompt-tokens", "values": [512, 2048, 8192]}
    rows = d["rows"]
    assert [r["prompt_tokens"] for r in rows] == [512, 2048, 8192]
    # the output length stays at the default 512: 8192 + 512 exceeds gpt-4's 8192-token context
    assert [r["workload"]["output_tokens"] for r in rows] == [512, 512, 512]
    assert rows[0]["feasible"] and rows[1]["feasible"]
    assert rows[2]["binding_constraint"] == "context" and "max_context 8,192" in rows[2]["message"]
    # each row is what `infer --prompt-tokens V` plans
    m, h = resolve_model("gpt-4"), resolve_hardware("a100-40gb")
    res = plan_inference(m, h, Workload(512, 512), Targets(tpot_max_s=1 / 8.33))
    assert rows[0]["plan"]["usd_per_1k_output_tokens"] == pytest.approx(res.plans[1].usd_per_1k_output_tokens)
    assert rows[0]["min_chips"] == res.plans[0].chips


def test_sweep_price_scales_dollars_only(capsys):
    rc, d, _ = _json(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--sweep", "price-per-hour=1,2")
    assert rc == 0
    a, b = (r["plan"] for r in d["rows"])
    assert (a["chips"], a["tp"], a["pp"], a["batch"]) == (b["chips"], b["tp"], b["pp"], b["batch"])
    assert b["usd_per_1k_output_tokens"] == pytest.approx(2 * a["usd_per_1k_output_tokens"], rel=1e-12)
    assert [r["price_usd_per_hour"] for r in d["rows"]] == [1.0, 2.0]


def test_sweep_speed_target_costs_more_as_it_rises(capsys):
    rc, d, _ = _json(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm",
                     "--sweep", "tokens-per-s-per-user=10,20,40,200")
    assert rc == 0
    rows = d["rows"]
    ok = [r for r in rows if r["feasible"]]
    for r in ok:
        assert r["plan"]["tokens_per_s_per_user"] >= r["tokens_per_s_per_user"] * (1 - 1e-9)
    costs = [r["plan"]["usd_per_1k_tokens_blended"] for r in ok]
    assert costs == sorted(costs)  # a faster target never costs less
    assert rows[-1]["binding_constraint"] == "tpot"  # 200 tokens/s per user is out of reach on H100


def test_sweep_table_and_progress_bar(capsys, monkeypatch):
    import gpt4plan.cli.sweep as sweep

    monkeypatch.setattr(sweep, "SWEEP_PROGRESS_AFTER_S", 0.0)  # always show the bar
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--sweep",
                           "output-tokens=128,256,512")
    assert rc == 0 and "Traceback" not in err
    assert "output" in out and "128" in out and "512" in out
    assert max(len(ln) for ln in out.splitlines()) <= 80


@pytest.mark.parametrize("args, needle", [
    (("infer", "--sweep", "prompt-tokens=512", "--prompt-tokens", "100"), "both set it"),
    (("infer", "--sweep", "tokens-per-s-per-user=5", "--tpot", "50ms"), "both set it"),
    (("infer", "--sweep", "batch=1,2"), "--sweep: expected NAME=v1,v2"),
    (("infer", "--sweep", "prompt-tokens=abc"), "--sweep: prompt-tokens: 'abc'"),
    (("infer", "--sweep", "price-per-hour=1e9"), "--sweep price-per-hour"),
])
def test_sweep_bad_input_one_line(capsys, args, needle):
    rc, _, err = run_cli(capsys, *args)
    assert rc == 2
    assert needle in one_line(err)


def test_compare_train_refuses_pins_the_model_cannot_take(capsys):
    # Llama-3.1-70B has 64 heads and 8 KV heads: tp 3 divides neither, so no chip can take it -- bad input
    # (exit 2, as `train` says), not "no chip has a feasible plan" (exit 1)
    rc, _, err = run_cli(capsys, "compare", "--train", "-m", "llama-3.1-70b", "-H", "h100-sxm,b200", "--tp", "3",
                         "--tokens", "1T")
    assert rc == 2
    assert "--tp 3: llama-3.1-70b has 64 heads and 8 KV heads" in err
