"""``gpt4plan check``: budgets files, limits, headroom, JUnit/Markdown/JSON, baselines; CSV/Markdown of
``infer`` and ``train``.

Expectations are derived by hand, not read back from the planner:

* pinned ``tp=2, pp=1`` with no demand is one replica of exactly 2 chips, so ``chips <= 4`` has 50%
  headroom and ``usd_per_hour = 2 chips x price`` exactly;
* memory per chip of Llama 3.1 8B (32 layers, d 4096, 32 heads of 128, 8 KV heads, FFN 14336 gated,
  vocab 128256 untied) at tp=2: weights ``2 bytes x N / 2`` plus KV ``batch x (prompt + output) x
  2 (K,V) x 32 layers x ceil(8/2) heads x 128 x 2 bytes``; a limit at twice that passes, one at half
  of it fails whatever the runtime details;
* every dollar figure is proportional to the price per chip-hour (the layout is pinned), so a 15%
  price rise is a 15% cost rise.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from cli_helpers import one_line, run_cli
from gpt4plan.budgets import parse_limit, parse_regression
from gpt4plan.specs.catalog import catalog_dir

ROOT = Path(__file__).resolve().parents[1]

# Llama 3.1 8B, by hand from its config.json
L, D, H, KV, DH, FFN, V = 32, 4096, 32, 8, 128, 14336, 128256
N_PARAMS = L * (2 * D * H * DH + 2 * D * KV * DH + 3 * D * FFN) + 2 * V * D
PROMPT, OUTPUT, BATCH, TP = 1024, 256, 8, 2
KV_BYTES = BATCH * (PROMPT + OUTPUT) * 2 * L * math.ceil(KV / TP) * DH * 2
MEM_ESTIMATE = 2 * N_PARAMS / TP + KV_BYTES  # ~8.7 GB per chip


@pytest.fixture(autouse=True)
def _ci_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def write(tmp_path: Path, text: str, name: str = "budgets.yaml") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def scenario(name: str, limits: str, price: float = 2.0) -> str:
    return f"""
  - name: {name}
    kind: infer
    model: llama-3.1-8b
    hardware: h100-sxm
    price_per_hour: {price} USD/h
    workload: {{prompt_tokens: {PROMPT}, output_tokens: {OUTPUT}}}
    targets: {{tpot: 1s}}
    layout: {{tp: {TP}, pp: 1, batch: {BATCH}}}
{limits}"""


PASS_LIMITS = f"""    max:
      chips: 4
      usd_per_hour: 8
      memory_per_chip_bytes: {2 * MEM_ESTIMATE:.6g}"""
FAIL_LIMITS = f"""    max:
      chips: 4
      memory_per_chip_bytes: {0.5 * MEM_ESTIMATE / 1e9:.4g} GB"""


@pytest.fixture
def mixed(tmp_path) -> Path:
    """One passing scenario, then one failing (memory limit at half the hand estimate)."""
    return write(tmp_path, "budgets:" + scenario("fits", PASS_LIMITS) + scenario("too-tight", FAIL_LIMITS))


# ---------------------------------------------------------------------------------------------
# Pass, fail, failures first, JUnit


def test_one_passing_one_failing_scenario(capsys, mixed, tmp_path):
    junit = tmp_path / "reports" / "budgets.xml"
    rc, out, err = run_cli(capsys, "check", mixed, "--junit", junit)
    assert rc == 1
    assert "check failed" in err
    rows = [ln for ln in out.splitlines() if ln.rstrip().endswith(("PASS", "FAIL"))]
    assert len(rows) == 5  # 3 limits + 2 limits
    assert rows[0].rstrip().endswith("FAIL") and "too-tight" in rows[0] and "memory/chip" in rows[0]
    assert all(r.rstrip().endswith("PASS") for r in rows[1:])
    # headroom of the failing limit: (limit - value) / limit, value ~ 2 x limit -> about -100%
    rc, doc, _ = run_cli(capsys, "check", mixed, "--format", "json")
    bad = next(s for s in json.loads(doc)["scenarios"] if s["name"] == "too-tight")
    lim = next(c for c in bad["limits"] if c["name"] == "memory_per_chip_bytes")
    assert lim["headroom"] == pytest.approx((lim["limit"] - lim["value"]) / lim["limit"])
    assert -1.3 < lim["headroom"] < -0.7
    assert f"{lim['headroom']:+.1%}" in rows[0]
    # the JUnit XML parses and has exactly one failure
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 2 + 5  # a "feasible plan" case per scenario + one per limit
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1
    failed = next(tc for tc in cases if tc.find("failure") is not None)
    assert failed.get("classname").endswith("too-tight") and failed.get("name").startswith("memory_per_chip_bytes")
    assert root.get("failures") == "1" and root.get("tests") == "7"
    text = mixed.read_text()
    start = line_of(text, "too-tight")
    after = "\n".join(text.splitlines()[start - 1:])
    assert int(failed.get("line")) == start + line_of(after, "memory_per_chip_bytes") - 1


def test_hand_checked_values_and_headroom(capsys, mixed):
    rc, doc, _ = run_cli(capsys, "check", mixed, "--format", "json")
    data = json.loads(doc)
    assert data["passed"] is False
    fits = data["scenarios"][0]
    assert fits["name"] == "fits" and fits["passed"] is True
    by = {c["name"]: c for c in fits["limits"]}
    assert by["chips"]["value"] == 2 and by["chips"]["headroom"] == pytest.approx(0.5)
    assert by["usd_per_hour"]["value"] == pytest.approx(4.0) and by["usd_per_hour"]["headroom"] == pytest.approx(0.5)
    mem = by["memory_per_chip_bytes"]
    assert mem["value"] == pytest.approx(MEM_ESTIMATE, rel=0.05)  # weights + KV cache, nothing else large
    assert mem["headroom"] == pytest.approx(0.5, abs=0.03)
    assert fits["plan"]["tp"] == TP and fits["plan"]["pp"] == 1 and fits["plan"]["batch"] == BATCH
    assert set(fits["values"]) >= {"usd_per_1k_output_tokens", "tpot_s", "mfu", "throughput_tokens_per_s"}


def test_min_limit_headroom(capsys, tmp_path):
    """A min limit: headroom (value - limit) / limit.  Pinned batch 8 at tp 2 is far above 1 token/s
    per user (8B on two H100s decodes in milliseconds) and far below 1e6 tokens/s."""
    text = "budgets:" + scenario("speed", "    min:\n      tokens_per_s_per_user: 1\n"
                                          "      throughput_tokens_per_s: 1e6")
    rc, doc, _ = run_cli(capsys, "check", write(tmp_path, text), "--format", "json")
    assert rc == 1
    by = {c["name"]: c for c in json.loads(doc)["scenarios"][0]["limits"]}
    tps = by["tokens_per_s_per_user"]
    assert tps["passed"] and tps["headroom"] == pytest.approx(tps["value"] - 1)
    thr = by["throughput_tokens_per_s"]
    assert not thr["passed"] and thr["headroom"] == pytest.approx((thr["value"] - 1e6) / 1e6)


# ---------------------------------------------------------------------------------------------
# Infeasible plans


def test_infeasible_scenario_names_binding_constraint(capsys, tmp_path):
    text = """budgets:
  - name: too-fast
    kind: infer
    model: llama-3.1-70b
    hardware: a100-40gb
    targets: {tpot: 1ms}
    max: {chips: 64}
  - name: one-gpu-pretrain
    kind: train
    model: llama-3.1-70b
    hardware: a100-40gb
    workload: {tokens: 1T, seq_len: 4096, global_batch: 4M}
    targets: {chips: 1}
"""
    p = write(tmp_path, text)
    junit = tmp_path / "j.xml"
    rc, out, err = run_cli(capsys, "check", p, "--junit", junit)
    assert rc == 1
    assert "too-fast: no feasible plan: tpot:" in out
    assert "one-gpu-pretrain: no feasible plan: memory:" in out
    rc, doc, _ = run_cli(capsys, "check", p, "--format", "json")
    sc = {s["name"]: s for s in json.loads(doc)["scenarios"]}
    assert sc["too-fast"]["binding_constraint"] == "tpot" and not sc["too-fast"]["passed"]
    assert "tpot" in sc["too-fast"]["message"] and sc["too-fast"]["plan"] is None
    assert sc["one-gpu-pretrain"]["binding_constraint"] == "memory"
    root = ET.parse(junit).getroot()
    assert len(root.findall(".//failure")) == 2
    assert len(root.findall(".//skipped")) == 1  # the chips limit of the infeasible infer scenario
    assert "tpot" in root.find(".//testcase/failure").get("message")


def test_infeasible_train_scenario_names_settings_as_a_budgets_file_does(capsys, tmp_path):
    """The training planner's reasons are worded with the budgets' names of the settings, not the CLI's flags."""
    p = write(tmp_path, """defaults: {hardware: h100-sxm}
budgets:
  - name: one-day
    kind: train
    model: llama-3.1-70b
    workload: {tokens: 15T, global_batch: 4M}
    targets: {days: 1}
  - name: wide-dp
    kind: train
    model: llama-3.1-8b
    workload: {tokens: 1T, global_batch: 131072}
    layout: {dp: 64}
""")
    rc, doc, _ = run_cli(capsys, "check", p, "--format", "json")
    sc = {s["name"]: s for s in json.loads(doc)["scenarios"]}
    assert rc == 1 and sc["one-day"]["binding_constraint"] == "days"
    assert sc["one-day"]["message"].endswith("caps data parallelism, so more chips do not help: raise global-batch)")
    assert sc["wide-dp"]["message"] == ("no feasible plan: layout: dp 64 x microbatch 1 exceeds the global batch of "
                                        "16 sequences")
    assert "--" not in doc


# ---------------------------------------------------------------------------------------------
# Bad budgets files: exit 2, one line naming file, line and field

BASE = """budgets:
  - name: a
    kind: infer
    model: llama-3.1-8b
    hardware: h100-sxm
"""


@pytest.mark.parametrize(
    "text, needle, field, words",
    [
        (BASE + "    max:\n      usd_per_1k_output_token: 0.01\n", "usd_per_1k_output_token:",
         "budgets[0].max.usd_per_1k_output_token", ["unknown limit", "did you mean 'usd_per_1k_output_tokens'"]),
        (BASE + "    max:\n      chips: 8\n      tpot_s: 5 GB\n", "tpot_s:", "budgets[0].max.tpot_s",
         ["'5 GB' does not fit tpot_s", "time"]),
        (BASE + "    max: {memory_per_chip_bytes: 2 s}\n", "memory_per_chip_bytes", "budgets[0].max.memory_per_chip_bytes",
         ["does not fit", "memory size"]),
        (BASE.replace("    model: llama-3.1-8b\n", ""), "- name: a", "budgets[0].model", ["required field is missing"]),
        (BASE.replace("llama-3.1-8b", "llama-3.1-8bb"), "model:", "budgets[0].model",
         ["unknown model 'llama-3.1-8bb'", "did you mean 'llama-3.1-8b'"]),
        (BASE.replace("llama-3.1-8b", "specs/nope.yaml"), "model:", "budgets[0].model",
         ["no such file", "relative to the budgets file"]),
        (BASE + "    max: {mfu: 0.3}\n", "max:", "budgets[0].max.mfu", ["min limit"]),
        (BASE + "    max: {usd: 1M}\n", "max:", "budgets[0].max.usd", ["applies to train"]),
        (BASE + "    workload: {promt_tokens: 10}\n", "workload:", "budgets[0].workload.promt_tokens",
         ["did you mean 'prompt_tokens'"]),
        ("defaults:\n  max: {chips: lots}\n" + BASE, "chips: lots", "defaults.max.chips", ["does not fit chips"]),
        (BASE + BASE.replace("budgets:\n", ""), "- name: a\n", "budgets[1].name", ["duplicate"]),
        (BASE.replace("model: llama-3.1-8b", "model: {name: t, layers: 2, d_model: 64, heads: 4, vocab: 10, ffn: 8,"
                      " bogus: 1}"), "model:", "budgets[0].model.bogus", ["unknown field"]),
    ],
)
def test_bad_budgets_file_exits_2(capsys, tmp_path, text, needle, field, words):
    p = write(tmp_path, text)
    rc, out, err = run_cli(capsys, "check", p)
    assert rc == 2 and out == ""
    line = one_line(err)
    expect_line = line_of(text, needle.strip()) if field != "budgets[1].name" else text.count("\n", 0,
                                                                                            text.rindex("- name: a")) + 1
    assert line.startswith(f"{p}:{expect_line}: {field}: "), line
    for w in words:
        assert w in line


def test_bad_options_exit_2(capsys, mixed, tmp_path):
    rc, _, err = run_cli(capsys, "check", mixed, "--max-regression", "10%")
    assert rc == 2 and "--baseline" in one_line(err)
    rc, _, err = run_cli(capsys, "check", mixed, "--baseline", mixed)  # YAML, not JSON
    assert rc == 2 and one_line(err).startswith(f"{mixed}:1: not JSON")
    rc, _, err = run_cli(capsys, "check", tmp_path / "missing.yaml")
    assert rc == 2 and "no such file" in one_line(err)


def test_limit_units():
    assert parse_limit("tpot_s", "50ms") == pytest.approx(0.05)
    assert parse_limit("memory_per_chip_bytes", "60 GB") == 60e9
    assert parse_limit("memory_per_chip_bytes", "1 GiB") == 2**30
    assert parse_limit("usd", "30M") == 30e6
    assert parse_limit("usd", "30e6") == 30e6  # PyYAML reads 30e6 as a string
    assert parse_limit("usd", "$1.5k") == 1500
    assert parse_limit("usd", "63e6 USD") == 63e6
    assert parse_limit("days", 90) == 90
    assert parse_limit("days", "12 weeks") == pytest.approx(84)
    assert parse_limit("mfu", "40%") == pytest.approx(0.4)
    assert parse_limit("tokens_per_s_per_user", "20 tokens/s") == 20
    for name, bad in (("tpot_s", "5 GB"), ("chips", "5 GB"), ("chips", 2.5), ("usd", "30 GB"), ("mfu", "140%"),
                      ("days", "3 GB"), ("tpot_s", -1), ("chips", True)):
        with pytest.raises(ValueError):
            parse_limit(name, bad)
    assert parse_regression("10%") == pytest.approx(0.1) and parse_regression("0.1") == 0.1
    with pytest.raises(ValueError):
        parse_regression("10")  # 10 what? refuse rather than guess


# ---------------------------------------------------------------------------------------------
# Baseline comparison


def test_baseline_flags_15_percent_cost_rise(capsys, tmp_path):
    limits = "    max:\n      usd_per_1k_output_tokens: 1\n      chips: 4\n"
    old = write(tmp_path, "budgets:" + scenario("svc", limits, price=2.0), "old/budgets.yaml")
    new = write(tmp_path, "budgets:" + scenario("svc", limits, price=2.3), "new/budgets.yaml")
    rc, doc, _ = run_cli(capsys, "check", old, "--format", "json")
    assert rc == 0
    base = tmp_path / "baseline.json"
    base.write_text(doc)
    rc, out, err = run_cli(capsys, "check", new, "--baseline", base, "--max-regression", "10%")
    assert rc == 1
    assert "$/1k output rose 15.0% vs baseline" in out and "still within its limit" in out
    assert "+15.0%" in out and "+0.0%" in out  # cost up, chips unchanged
    rc, doc, _ = run_cli(capsys, "check", new, "--baseline", base, "--max-regression", "10%", "--format", "json")
    c = json.loads(doc)["scenarios"][0]["limits"][0]
    assert c["change"] == pytest.approx(0.15) and c["regressed"] and c["passed"]
    rc, out, _ = run_cli(capsys, "check", new, "--baseline", base, "--max-regression", "20%")
    assert rc == 0
    rc, out, _ = run_cli(capsys, "check", new, "--baseline", base)  # no gate: changes shown only
    assert rc == 0 and "+15.0%" in out
    # a cheaper plan is no regression, however large the change
    rc, _, _ = run_cli(capsys, "check", old, "--baseline", base, "--max-regression", "0%")
    assert rc == 0


# ---------------------------------------------------------------------------------------------
# Markdown, step summary, defaults, relative paths


def test_markdown_and_step_summary(capsys, mixed, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "out" / "pr.md"
    rc, _, _ = run_cli(capsys, "check", mixed, "--markdown", md)
    assert rc == 1
    text = md.read_text()
    assert text.startswith("### ❌ gpt4plan check: 1 of 2 scenarios failed")
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert table[0].startswith("|  | scenario | limit | planned | headroom")
    assert table[1].startswith("| ❌ | too-tight | memory/chip")
    assert all(r.startswith("| ✅ |") for r in table[2:])
    assert summary.read_text() == "earlier step\n" + text + "\n"  # appended, not overwritten


def test_defaults_merge_and_relative_paths(capsys, tmp_path, monkeypatch):
    """Defaults merge key by key; null removes one; a default limit of the other kind is skipped;
    a model path resolves relative to the budgets file, not to the working directory."""
    spec = yaml.safe_load((catalog_dir("models") / "llama-3.1-8b.yaml").read_text())
    spec["name"] = "my-8b"
    write(tmp_path, yaml.safe_dump(spec), "specs/my-8b.yaml")
    text = """defaults:
  hardware: h100-sxm
  layout: {tp: 2, pp: 1}
  max: {chips: 4, usd: 1M, memory_per_chip_bytes: 1 GB}
budgets:
  - name: own-model
    kind: infer
    model: ../specs/my-8b.yaml
    layout: {batch: 8}
    max: {memory_per_chip_bytes: null}
"""
    p = write(tmp_path, text, "ci/budgets.yaml")
    monkeypatch.chdir(tmp_path / "specs")  # anywhere but the budgets folder
    rc, doc, err = run_cli(capsys, "check", p, "--format", "json")
    assert rc == 0, err
    sc = json.loads(doc)["scenarios"][0]
    assert sc["model"] == "my-8b"
    assert [c["name"] for c in sc["limits"]] == ["chips"]  # usd is train-only; memory removed by null
    assert (sc["plan"]["tp"], sc["plan"]["pp"], sc["plan"]["batch"]) == (2, 1, 8)


def test_train_scenario_hand_bounds(capsys, tmp_path):
    """Training cost is at least the ideal 6 N D / peak chip-seconds (MFU 100%, no failures): a limit at
    half of it must fail; the fastest plan on 64 chips uses exactly 64 chips."""
    tokens, peak, price = 1e12, 989.4e12, 2.0  # H100 SXM dense bf16
    n_matmul = N_PARAMS - V * D  # the embedding lookup is no matmul
    ideal_usd = 6 * n_matmul * tokens / peak / 3600 * price
    text = f"""budgets:
  - name: pretrain-8b
    kind: train
    model: llama-3.1-8b
    hardware: h100-sxm
    price_per_hour: {price}
    workload: {{tokens: 1T, seq_len: 4096, global_batch: 4M}}
    targets: {{chips: 64}}
    max: {{usd: {ideal_usd * 0.5:.6g}, chips: 64}}
    min: {{mfu: 1%}}
"""
    rc, doc, _ = run_cli(capsys, "check", write(tmp_path, text), "--format", "json")
    assert rc == 1
    sc = json.loads(doc)["scenarios"][0]
    by = {c["name"]: c for c in sc["limits"]}
    assert not by["usd"]["passed"] and by["usd"]["value"] > ideal_usd
    assert by["chips"]["value"] == 64 and by["chips"]["headroom"] == 0 and by["chips"]["passed"]
    assert by["mfu"]["passed"]
    assert sc["objective"] == "fastest"


# ---------------------------------------------------------------------------------------------
# Shipped examples


def test_example_budgets_pass(capsys):
    rc, out, err = run_cli(capsys, "check", ROOT / "examples" / "budgets.yaml")
    assert rc == 0, out + err
    assert "PASS: 4 scenarios" in out


def test_example_workflow_runs_check():
    wf = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["check"]["steps"])
    assert "pip install" in runs and "gpt4plan check" in runs and "--junit" in runs


# ---------------------------------------------------------------------------------------------
# infer / train: --format csv and markdown


def test_infer_csv_and_markdown(capsys):
    args = ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tpot", "50ms"]
    rc, doc, _ = run_cli(capsys, *args, "--format", "json")
    res = json.loads(doc)
    rc, out, _ = run_cli(capsys, *args, "--format", "csv")
    assert rc == 0
    import csv

    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == len(res["plans"]) + len(res["frontier"])  # one row per plan
    assert [r["objective"] for r in rows[:2]] == ["min_chips", "min_cost"]
    cheapest = res["plans"][1]
    assert float(rows[1]["usd_per_1k_output_tokens"]) == pytest.approx(cheapest["usd_per_1k_output_tokens"])
    assert int(rows[1]["chips"]) == cheapest["chips"] and rows[1]["model"] == "llama-3.1-8b"
    rc, out, _ = run_cli(capsys, *args, "--format", "markdown")
    table = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert table[0].startswith("| plan | chips |") and table[1].startswith("| min chips |")
    assert len(table) == 1 + len(rows)
    # infeasible: the nearest plan, exit 1
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-70b", "--tpot", "1ms", "--format", "csv")
    assert rc == 1 and out.splitlines()[1].split(",")[2:4] == ["false", "nearest"]


def test_train_csv_and_markdown(capsys):
    args = ["train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "1T", "--chips", "64"]
    rc, doc, _ = run_cli(capsys, *args, "--format", "json")
    res = json.loads(doc)
    rc, out, _ = run_cli(capsys, *args, "--format", "csv")
    assert rc == 0
    import csv

    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 1 + len(res["alternatives"])
    assert rows[0]["objective"] == "fastest" and int(rows[0]["chips"]) == res["plan"]["chips"]
    assert float(rows[0]["usd"]) == pytest.approx(res["plan"]["usd"])
    rc, out, _ = run_cli(capsys, *args, "--format", "markdown")
    table = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert table[0].startswith("| plan | chips | TP×PP×DP") and table[1].startswith("| fastest | 64 |")


@pytest.mark.parametrize(("kind", "layout", "says"), [
    ("infer", "{tp: 3}", "tp 3"),  # 32 heads do not split 3 ways
    ("infer", "{tp: 4, pp: 2, chips: 4}", "chips 4 contradicts"),
    ("train", "{tp: 8, pp: 8, dp: 64}", "needs at least 4,096 chips"),
])
def test_contradictory_layout_pins_are_bad_input(capsys, tmp_path, kind, layout, says):
    """A layout the model cannot take, or pins that contradict each other, exit 2 naming the layout line,
    like the same pins given as flags (not 'no feasible plan', exit 1)."""
    targets = "targets: {chips: 1024}\n    " if kind == "train" else ""
    p = tmp_path / "b.yaml"
    p.write_text(f"budgets:\n  - name: x\n    kind: {kind}\n    model: llama-3.1-8b\n    hardware: h100-sxm\n"
                 f"    {targets}layout: {layout}\n    max: {{chips: 100000}}\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, "check", p)
    line = one_line(err)
    assert rc == 2 and line.startswith(f"{p}:") and "layout" in line and says in line, line


def test_baseline_that_is_a_device_or_fifo_is_refused_unread(tmp_path, capsys):
    """--baseline /dev/zero filled 10 GB of memory and a FIFO blocked forever (the break test)."""
    import os

    from cli_helpers import one_line, run_cli

    fifo = tmp_path / "old.json"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "is a FIFO (named pipe)"), ("/dev/zero", "is a character device")):
        example = Path(__file__).resolve().parents[1] / "examples" / "budgets.yaml"
        rc, _, err = run_cli(capsys, "check", str(example), "--baseline", path)
        assert rc == 2 and one_line(err) == f"{path}: {kind}, expected a regular file (refused unread)"


def test_budget_demand_takes_count_suffixes_like_the_cli(tmp_path):
    """targets: {demand: 50k} is 50,000 output tokens/s, as --demand 50k is (README)."""
    from gpt4plan.budgets.schema import InferTargetsIn

    assert InferTargetsIn(demand="50k").demand == 50_000
    assert InferTargetsIn(demand=20000).demand == 20_000
