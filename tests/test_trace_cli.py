"""``infer`` with request logs (``--trace``), drawn traffic and percentile targets: the readers' layouts and
errors, the options' errors (one line, exit 2), the latency in every format, replicas sized to a trace.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cli_helpers import one_line, run_cli
from gpt4plan.specs import SpecError
from gpt4plan.specs.trace import read_trace

TRACE = str(Path(__file__).resolve().parents[1] / "examples" / "trace-chat.csv")


def _write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_the_three_layouts_and_json_lines(tmp_path):
    """gpt4plan's own columns, Azure's (datetime stamps, 7 fractional digits) and BurstGPT's (a failed request
    with 0 response tokens skipped) read to the same requests; arrivals from 0, sorted."""
    own = _write(tmp_path, "own.csv", "arrival_s,prompt_tokens,output_tokens\n5.5,100,10\n5.0,200,20\n7.0,300,30\n")
    azure = _write(tmp_path, "azure.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   "2023-11-16 18:15:45.0000000,200,20\n2023-11-16 18:15:45.5000000,100,10\n"
                   "2023-11-16 18:15:47.0000000,300,30\n")
    burst = _write(tmp_path, "burst.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                   "100,ChatGPT,200,20,220,Conversation log\n100.5,ChatGPT,100,10,110,Conversation log\n"
                   "101,ChatGPT,50,0,50,Conversation log\n102,GPT-4,300,30,330,API log\n")
    jsonl = _write(tmp_path, "own.jsonl", '{"arrival_s": 0, "prompt_tokens": 200, "output_tokens": 20}\n'
                   '{"arrival_s": 0.5, "prompt_tokens": 100, "output_tokens": 10}\n\n'
                   '{"arrival_s": 2, "prompt_tokens": 300, "output_tokens": 30}\n')
    for path, layout, skipped in ((own, "gpt4plan", 0), (azure, "azure", 0), (burst, "burstgpt", 1), (jsonl, "gpt4plan", 0)):
        t = read_trace(path)
        assert (t.layout, t.skipped) == (layout, skipped)
        assert t.arrival_s == pytest.approx([0.0, 0.5, 2.0])
        assert (t.prompt_tokens, t.output_tokens) == ([200, 100, 300], [20, 10, 30])


@pytest.mark.parametrize("text, where", [
    ("arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,abc,10\n", ":3: prompt_tokens: 'abc' is not a number"),
    ("arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,100,0\n", ":3: output_tokens: '0': a whole number"),
    ("arrival_s,prompt_tokens,output_tokens\n0,100,10\nnan,100,5\n", ":3: arrival_s: 'nan' is not a finite time"),
    ("arrival_s,prompt_tokens,output_tokens\n0,100.5,10\n", ":2: prompt_tokens: '100.5': a whole number"),
    ("arrival_s,prompt_tokens,output_tokens\n0,100\n", ":2: output_tokens: missing"),
    ("time,input,output\n0,100,10\n", ":1: columns time, input, output: not a known trace layout"),
    ("arrival_s,prompt_tokens,output_tokens\n", ": no requests in the trace"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,100,10\n", ":2: TIMESTAMP: 'yesterday' is not a date"),
    ('{"arrival_s": 0, "prompt_tokens": 1, "output_tokens": 1}\n{"arrival_s": 1,\n', ":2: not a JSON object"),
])
def test_bad_rows_say_file_line_column_why(tmp_path, capsys, text, where):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(SpecError) as exc:
        read_trace(path)
    assert str(exc.value).startswith(path) and where in str(exc.value)
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--trace", path)
    assert rc == 2 and where in one_line(err)


@pytest.mark.parametrize("args, says", [
    (["--ttft", "p100:1s"], "--ttft: 'p100:1s': a percentile target is pNN:TIME"),
    (["--ttft", "q99:1s"], "a percentile target is pNN:TIME"),
    (["--tpot", "p90:"], "--tpot: 'p90:': give a time after the colon"),
    (["--tpot", "p90:50"], "--tpot"),  # a bare 50 s TPOT is refused as for a bare --tpot
    (["--prompt-cv", "-1"], "--prompt-cv: a coefficient of variation from 0 to 10"),
    (["--arrival-cv", "11"], "--arrival-cv: a coefficient of variation"),
    (["--replay-requests", "0"], "--replay-requests: from 1 to 200,000"),
    (["--trace", TRACE, "--prompt-tokens", "100"], "--trace gives the request lengths and the load: drop --prompt-tokens"),
    (["--trace", TRACE, "--demand", "5k"], "drop --demand"),
    (["--trace", TRACE, "--arrival-cv", "2"], "--trace replays the log as it is: drop --arrival-cv"),
    (["--trace", "no/such/file.csv"], "no/such/file.csv: cannot read the trace"),
    (["--ttft", "p99:1s", "--sweep", "prompt-tokens=512,1024"], "not with --sweep"),
    (["--ttft", "p99:1s", "--disaggregate"], "not with --disaggregate"),
    (["--tpot", "p90:50ms", "--draft-cost-fraction", "0.1"], "not with speculative decoding"),
    (["--lengths-from", TRACE, "--prompt-cv", "0.5"], "--lengths-from draws the lengths from the file"),
])
def test_bad_replay_options_are_one_line_exit_2(capsys, args, says):
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", *args)
    assert rc == 2 and says in one_line(err)


def test_compare_refuses_percentile_targets(capsys):
    rc, _, err = run_cli(capsys, "compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,h200", "--ttft", "p99:1s")
    assert rc == 2 and "percentile targets" in one_line(err)


def test_latency_in_every_format(capsys):
    """JSON: ``latency {ttft_s, tpot_s, e2e_s: {p50, p90, p99}}`` on each plan (ordered), ``traffic`` at the top;
    CSV: nine percentile columns; table and markdown: the p50 / p90 / p99 cells."""
    base = ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--prompt-cv", "0.5", "--arrival-cv", "2"]
    rc, out, _ = run_cli(capsys, *base, "--format", "json")
    d = json.loads(out)
    assert rc == 0 and d["traffic"]["prompt_cv"] == 0.5 and d["traffic"]["requests"] == 2000
    for p in d["plans"]:
        lat = p["latency"]
        for k in ("ttft_s", "tpot_s", "e2e_s"):
            assert 0 < lat[k]["p50"] <= lat[k]["p90"] <= lat[k]["p99"]
        assert lat["replay"]["load"] == "default" and lat["replay"]["requests"] == 2000
    assert all(p["latency"] is None for p in d["frontier"])
    rc, out, _ = run_cli(capsys, *base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and float(rows[0]["ttft_p99_s"]) == pytest.approx(d["plans"][0]["latency"]["ttft_s"]["p99"])
    assert rows[-1]["e2e_p50_s"] == ""  # a frontier row: not replayed
    rc, out, _ = run_cli(capsys, *base, "--format", "markdown")
    assert rc == 0 and "TTFT p50/p90/p99" in out
    rc, out, _ = run_cli(capsys, *base)
    assert rc == 0 and "TTFT p50/p90/p99" in out and "latency replay: 2,000 requests" in out


def test_a_trace_sizes_replicas_to_hold_its_percentile_target(capsys):
    """The shipped synthetic log (bursty: gamma gaps of CV 2) on llama-3.1-70b / H100: the steady state sizes one
    replica for its mean rate, whose replayed p99 TTFT is over 1 s; with ``--ttft p99:1s`` the planner adds
    replicas until the replay of the log holds it."""
    base = ["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--trace", TRACE, "--tpot", "50ms", "--format", "json"]
    rc, out, _ = run_cli(capsys, *base, "--ttft", "1s")
    mean_plan = json.loads(out)["plans"][1]
    assert rc == 0 and mean_plan["latency"]["ttft_s"]["p99"] > 1.0
    rc, out, _ = run_cli(capsys, *base, "--ttft", "p99:1s")
    d = json.loads(out)
    held = d["plans"][1]
    assert rc == 0 and d["targets"]["ttft_percentile"] == 99.0
    assert held["latency"]["ttft_s"]["p99"] <= 1.0 and held["replicas"] > mean_plan["replicas"]
    assert held["latency"]["replay"] == {**held["latency"]["replay"], "load": "trace", "requests": 300}
    # the trace's means and rate set the workload and the demand
    assert d["workload"]["prompt_tokens"] == round(sum(read_trace(TRACE).prompt_tokens) / 300)
    assert d["targets"]["demand_tokens_per_s"] == pytest.approx(sum(read_trace(TRACE).output_tokens)
                                                                  / read_trace(TRACE).arrival_s[-1])


def test_an_unreachable_percentile_target_is_exit_1_naming_it(capsys):
    """A p99 TTFT of 20 ms is below any prefill of a 2,048-token prompt on llama-3.1-70b (the steady-state TTFT
    target is met at the mean by none either), and a p50 TPOT of 5 ms below any decode step: exit 1."""
    rc, out, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--ttft", "p99:60ms",
                           "--arrival-cv", "4", "--format", "json")
    d = json.loads(out)
    assert rc == 1 and not d["feasible"]
    assert d["binding_constraint"] == "ttft_percentile" and d["message"].startswith("ttft: p99 time to first token")
    assert d["nearest"]["latency"]["ttft_s"]["p99"] > 0.06
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--ttft", "p99:60ms",
                         "--arrival-cv", "4")
    assert rc == 1 and "no feasible plan: ttft: p99 time to first token" in err


def test_seed_is_deterministic_and_changes_the_draw(capsys):
    args = ["infer", "-m", "mixtral-8x7b", "-H", "h100-sxm", "--prompt-cv", "1", "--format", "json"]
    a = json.loads(run_cli(capsys, *args)[1])["plans"][1]["latency"]
    b = json.loads(run_cli(capsys, *args)[1])["plans"][1]["latency"]
    c = json.loads(run_cli(capsys, *args, "--seed", "5")[1])["plans"][1]["latency"]
    assert a == b and a["ttft_s"] != c["ttft_s"]


def test_a_loose_percentile_target_keeps_the_steady_state_answer(capsys):
    """When the steady state's plans already hold the percentile target in their replay, verification changes
    nothing: the same plans, replicas and costs as the bare target (a mean bound at the same value)."""
    base = ["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--demand", "5k", "--format", "json"]
    bare = json.loads(run_cli(capsys, *base, "--ttft", "30s")[1])["plans"]
    pct = json.loads(run_cli(capsys, *base, "--ttft", "p99:30s")[1])["plans"]
    assert all(p["latency"]["ttft_s"]["p99"] < 30 for p in bare)
    for a, b in zip(bare, pct, strict=True):
        assert (a["chips"], a["replicas"], a["tp"], a["pp"], a["batch"]) == (b["chips"], b["replicas"], b["tp"], b["pp"],
                                                                            b["batch"])
        assert a["usd_per_1k_tokens_blended"] == b["usd_per_1k_tokens_blended"]


def test_lengths_from_a_file_and_users_replay_at_the_default_load(capsys, tmp_path):
    """--lengths-from resamples the file's (prompt, output) pairs; with --users (no demand) each plan is replayed
    at 80% of one replica's throughput; a logged request longer than the context is shortened, with a note."""
    path = _write(tmp_path, "lens.csv", "arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,900,50\n2,200000,20\n")
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--lengths-from", path,
                         "--users", "50", "--format", "json")
    d = json.loads(out)
    assert rc == 0 and d["traffic"]["lengths_from"] == path
    assert d["plans"][0]["latency"]["replay"]["load"] == "default"
    assert any("1 logged request longer than llama-3.1-8b's context" in n for n in d["notes"])


def test_lengths_from_sets_the_mean_shape(capsys, tmp_path):
    """The steady state plans for the file's mean lengths (100 and 900 prompt tokens: 500; 10 and 50 output: 30);
    --prompt-tokens beside it is refused."""
    path = _write(tmp_path, "lens.csv", "arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,900,50\n")
    d = json.loads(run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--lengths-from", path,
                           "--format", "json")[1])
    assert (d["workload"]["prompt_tokens"], d["workload"]["output_tokens"]) == (500, 30)
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "--lengths-from", path, "--prompt-tokens", "64")
    assert rc == 2 and "--lengths-from gives the request lengths: drop --prompt-tokens" in one_line(err)
