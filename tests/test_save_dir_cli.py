"""``infer --prefix-tokens/--prefix-hit-rate/--max-batched-tokens`` and ``--save-dir`` on the command line
(issue 14, items 4-6): JSON fields, engine flags, the folder written, and bad input (exit 2, one line)."""

from __future__ import annotations

import json

import pytest

from cli_helpers import one_line, run_cli

BASE = ("infer", "-m", "llama-3.1-8b", "-H", "h100-sxm")


@pytest.fixture(autouse=True)
def _narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")


def test_json_carries_prefix_and_budget_fields(capsys):
    rc, out, _ = run_cli(capsys, *BASE, "--prefix-tokens", "1536", "--prefix-hit-rate", "0.8",
                         "--max-batched-tokens", "2048", "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["workload"]["prefix_tokens"] == 1536 and d["workload"]["prefix_hit_rate"] == 0.8
    assert d["workload"]["max_batched_tokens"] == 2048
    for p in d["plans"] + d["frontier"]:
        # the blended figure is the mix of the cached (0.8 x 1536 per prompt) and uncached tokens' costs
        mix = (p["usd_per_1k_input_tokens_cached"] * 0.8 * 1536
               + p["usd_per_1k_input_tokens_uncached"] * (2048 - 0.8 * 1536)) / 2048
        assert p["usd_per_1k_input_tokens"] == pytest.approx(mix, rel=1e-9)
        assert p["prefix_kv_per_chip_bytes"] > 0 and p["prefill_chunks"] >= 1


def test_without_the_options_the_fields_are_null(capsys):
    rc, out, _ = run_cli(capsys, *BASE, "--format", "json")
    d = json.loads(out)
    assert rc == 0 and d["workload"]["prefix_tokens"] == 0 and d["workload"]["max_batched_tokens"] is None
    p = d["plans"][0]
    assert p["prefix_kv_per_chip_bytes"] == 0 and p["prefill_chunks"] is None
    assert p["usd_per_1k_input_tokens_uncached"] == p["usd_per_1k_input_tokens"]  # no token cached


def test_table_shows_cached_and_uncached_input_cost(capsys):
    rc, out, _ = run_cli(capsys, *BASE, "--prefix-tokens", "1024", "--max-batched-tokens", "1024")
    flat = " ".join(out.split())  # the inputs line wraps at 80 columns
    assert rc == 0
    assert "cached / uncached" in flat and "prefill passes per" in flat and "prefix caching: the first 1,024" in flat


def test_emit_writes_the_budget_and_prefix_flags(capsys):
    args = (*BASE, "--prefix-tokens", "1024", "--max-batched-tokens", "4096", "--emit")
    vllm = run_cli(capsys, *args, "vllm")[1]
    assert "--max-num-batched-tokens 4096" in vllm and "--enable-chunked-prefill" in vllm
    assert "--enable-prefix-caching" in vllm
    assert "--chunked-prefill-size 4096" in run_cli(capsys, *args, "sglang")[1]
    trt = run_cli(capsys, *args, "trtllm")[1]
    assert "--max_num_tokens 4096" in trt and "enable_block_reuse: true" in trt


def test_save_dir_writes_frontier_plans_and_readme(capsys, tmp_path):
    d = tmp_path / "out"
    rc, _, err = run_cli(capsys, *BASE, "--max-batched-tokens", "4096", "--save-dir", d)
    assert rc == 0 and f"wrote {d}" in err
    frontier = json.loads((d / "frontier.json").read_text())
    rows = (d / "frontier.csv").read_text().splitlines()
    assert len(rows) == 1 + len(frontier["plans"]) + len(frontier["frontier"])
    folders = sorted(p.name for p in d.iterdir() if p.is_dir())
    assert 1 <= len(folders) <= 5 and folders[0].startswith("plan-1-")
    readme = (d / "README.md").read_text()
    for f in folders:
        assert f"[{f}]({f}/)" in readme
        assert sorted(x.name for x in (d / f).iterdir()) == ["sglang.sh", "trtllm.sh", "vllm.sh"]
        vllm = (d / f / "vllm.sh").read_text()
        assert vllm.startswith("#!/bin/sh\n") and "--max-num-batched-tokens 4096" in vllm
        assert (d / f / "vllm.sh").stat().st_mode & 0o111
    # plan 1 is the min-chips plan: its folder names its layout
    p0 = frontier["plans"][0]
    assert folders[0] == f"plan-1-tp{p0['tp']}-pp{p0['pp']}-b{p0['batch']}"
    # a second run into the same folder (ours) rewrites it, leaving no stale plan folder
    (d / "plan-9-tp1-pp1-b1").mkdir()
    rc, _, _ = run_cli(capsys, *BASE, "--save-dir", d)
    assert rc == 0 and not (d / "plan-9-tp1-pp1-b1").exists()


@pytest.mark.parametrize("args, words", [
    (("--prefix-hit-rate", "0.5"), "--prefix-hit-rate: the fraction of requests"),
    (("--prefix-tokens", "100", "--prefix-hit-rate", "1.5"), "--prefix-hit-rate: a fraction"),
    (("--prefix-tokens", "2048", "--prompt-tokens", "2048"), "--prefix-tokens 2048: must be below"),
    (("--prefix-tokens", "99999999"), "--prefix-tokens: at most"),
    (("--max-batched-tokens", "0"), "--max-batched-tokens"),
    (("--save-dir", "x", "--sweep", "prompt-tokens=512,1024"), "not with --sweep"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, words):
    rc, _, err = run_cli(capsys, *BASE, *args)
    assert rc == 2 and words in one_line(err)


def test_save_dir_refuses_a_file_and_a_foreign_folder(capsys, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    rc, _, err = run_cli(capsys, *BASE, "--save-dir", f)
    assert rc == 2 and "is a file, not a folder" in one_line(err)
    rc, _, err = run_cli(capsys, *BASE, "--save-dir", tmp_path)
    assert rc == 2 and "'file.txt', which gpt4plan did not write" in one_line(err)
    assert f.read_text() == "mine"


def test_a_budget_too_small_for_any_batch_names_it(capsys):
    """3 tokens a pass: one decoding sequence leaves 2 for prompts, but one 2,048-token prompt per 512 output
    tokens needs 4 a pass: no batch can refill its slots."""
    rc, _, err = run_cli(capsys, *BASE, "--max-batched-tokens", "3")
    assert rc == 1 and "budget: --max-batched-tokens 3 leaves too few prompt tokens" in err
