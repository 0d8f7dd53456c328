"""Context parallelism (ring attention) in the training model: expectations by hand.

llama-3.1-70b (80 layers, d 8192, 64 heads, 8 KV heads of 128) on H100, sequence 8,192, TP 8 x PP 8,
one data-parallel rank, microbatch 1, selective recompute, ZeRO-1, no interleave.
"""

from __future__ import annotations

import json

import pytest

from gpt4plan.cli import main
from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.training import TrainPins, TrainWorkload, plan_training

M = resolve_model("llama-3.1-70b")
H100 = resolve_hardware("h100-sxm")
S = 8_192
WL = TrainWorkload(tokens=1e12, seq_len=S, global_batch_tokens=64 * S)


def _plan(cp: int, chips: int):
    pins = TrainPins(tp=8, pp=8, dp=1, zero=1, microbatch=1, recompute="selective", interleave=1, cp=cp)
    res = plan_training(M, H100, WL, chips=chips, pins=pins)
    assert res.feasible, res.reason
    return res.plan


def test_cp_splits_each_sequence_over_its_ranks():
    one, two = _plan(1, 64), _plan(2, 128)
    # chips = TP x PP x DP x CP
    assert (one.chips, two.chips) == (64, 128) and two.cp == 2
    # each CP rank holds half of every sequence's activations (the logits live on the last stage, not the
    # largest one here); the weights, gradients and ZeRO-1 optimizer shards over DP x CP = 2 ranks
    assert two.activations_bytes == pytest.approx(one.activations_bytes / 2, rel=1e-12)
    assert two.optimizer_bytes == pytest.approx(one.optimizer_bytes / 2, rel=1e-12)
    assert two.weights_bytes == pytest.approx(one.weights_bytes, rel=1e-12)
    # the same global batch of 64 sequences per step: 64 microbatches either way
    assert one.microbatches_per_step == two.microbatches_per_step == 64
    assert two.global_batch_tokens == one.global_batch_tokens == 64 * S
    # half the tokens per rank per microbatch: the compute per step halves; the K/V ring exchange per layer,
    # (cp-1)/cp x 8,192 tokens x (K and V) 2 x 1 KV head per TP rank x 128 x 2 B = 2.1 MB per pass (~10 us on
    # NVLink), hides under the layer's attention: 12 x 8,192 x 8,192 FLOP/token x 4,096 tokens / TP 8 =
    # 4.1e11 FLOP, ~0.6 ms
    assert two.compute_s == pytest.approx(one.compute_s / 2, rel=1e-9)
    assert two.cp_comm_s == 0.0 and one.cp_comm_s == 0.0
    assert two.step_time_s < 0.6 * one.step_time_s


def test_cp_records_replay_within_20_percent():
    """The two development records with cp = 2 (NeMo 24.07 Llama-3 70B on 64 H100, Megatron-Bridge 25.11
    Llama-3.1 405B on 128 B200) now replay instead of being skipped."""
    from gpt4plan.accuracy.replay import replay_file
    from gpt4plan.specs.catalog import catalog_dir

    recs = [r for r in replay_file(catalog_dir("measurements") / "validation-dev.yaml")
            if r.id in ("train-nemo2407-llama3-70b-64gpu", "train-mbridge2511-b200-llama3-1-405b-fp8-cs-128gpu")]
    assert len(recs) == 4 and not any(r.skipped for r in recs)
    assert all(abs(r.error) < 0.20 for r in recs), [(r.id, r.metric, r.error) for r in recs]


def test_cli_cp_pin(capsys):
    args = ["train", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--chips", "64", "--seq-len", "32768",
            "--tp", "4", "--pp", "4", "--cp", "4"]
    assert main(args + ["--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["cp"] == 4 and plan["tp"] * plan["pp"] * plan["dp"] * plan["cp"] == plan["chips"] <= 64
    assert main(args + ["--emit", "megatron"]) == 0
    assert "--context-parallel-size 4" in capsys.readouterr().out
    assert main(args[:-1] + ["32"]) == 2  # 4 x 4 x 32 = 512 chips > 64
    err = capsys.readouterr().err.strip()
    assert "--cp 32" in err and len(err.splitlines()) == 1
    assert main(args[:-1] + ["3"]) == 2  # 32,768 tokens do not split into 2 x 3 equal chunks
    err = capsys.readouterr().err.strip()
    assert "--cp 3" in err and "6 equal chunks" in err and len(err.splitlines()) == 1
