"""Speculative decoding (Leviathan et al. 2023, ICML, eq. 1): expectations derived by hand.

Expected tokens per verification cycle with acceptance a and g draft tokens: ``(1 - a^(g+1)) / (1 - a)``.
a = 0.8, g = 4: 0.8^5 = 0.32768, (1 - 0.32768) / 0.2 = 3.3616.

The verification pass runs the target over g + 1 = 5 tokens per sequence: 5x the FLOPs of a plain
decode step, the same weight bytes and the same KV-cache bytes (read once for the b sequences).  At
batch 1 the step is bandwidth-bound, so the pass costs about one plain step and the effective TPOT drops
by about E / (1 + g * t_draft / t_verify); at a large batch the step is compute-bound, the pass costs
about 5 plain steps, and speculation no longer helps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpt4plan.cli import main
from gpt4plan.physics import arch
from gpt4plan.serving import (
    BATCH_GRID,
    Speculation,
    Targets,
    Workload,
    evaluate,
    expected_tokens_per_cycle,
    plan_inference,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")
TARGET = resolve_model("llama-3.1-70b")
DRAFT = resolve_model("llama-3.1-8b")


def _eval(wl: Workload, batches, tp=8):
    n = len(batches)
    return evaluate(TARGET, H100, wl, np.full(n, tp), np.ones(n), np.ones(n), np.asarray(batches, float))


def test_expected_tokens_per_cycle_by_hand():
    assert expected_tokens_per_cycle(0.8, 4) == pytest.approx(3.3616, abs=1e-12)
    assert Speculation(4, 0.8, cost_fraction=0.1).expected_tokens == pytest.approx(3.3616, abs=1e-12)
    assert expected_tokens_per_cycle(1.0, 4) == 5.0  # every draft accepted: g + 1
    assert expected_tokens_per_cycle(0.0, 4) == 1.0  # none accepted: the target's own token
    assert expected_tokens_per_cycle(0.5, 1) == pytest.approx(1.5)


def test_verification_pass_more_flops_same_bytes():
    """Same layout and batch: the verify pass has (g+1)x the compute time and the same memory time."""
    plain = _eval(Workload(2048, 512), [1.0, 64.0])
    spec = _eval(Workload(2048, 512, speculation=Speculation(4, 0.8, draft=DRAFT)), [1.0, 64.0])
    np.testing.assert_allclose(spec.t_compute, 5 * plain.t_compute, rtol=1e-12)
    np.testing.assert_allclose(spec.t_memory, plain.t_memory, rtol=1e-12)
    np.testing.assert_allclose(spec.tpot_plain, plain.tpot, rtol=1e-12)


def test_tpot_formula_with_a_cost_fraction_draft():
    """round = pp * (g * f * t_plain + (1 - m) * t_verify + m * t_verify_mixed), pp = 1, where
    m = batch * E / n_out is the share of verification passes that also carry a new prompt; throughput =
    batch * E / round.  A sequence waits for the other batch - 1 prompts only (its own is prefilled before
    its first token): TPOT = (g * f * t_plain + t_verify + (1 - 1/batch) * m * (t_verify_mixed - t_verify)) / E."""
    g, a, f = 4, 0.8, 0.1
    E = 3.3616
    plain = _eval(Workload(2048, 512), [1.0, 32.0])
    spec = _eval(Workload(2048, 512, speculation=Speculation(g, a, cost_fraction=f)), [1.0, 32.0])
    b = np.array([1.0, 32.0])
    m = b * E / 512
    round_s = g * f * plain.t_dec + (1 - m) * spec.t_dec + m * spec.t_mixed
    assert np.all(spec.t_mixed > spec.t_dec) and np.all(spec.t_mixed < spec.t_dec + plain.t_pre)
    np.testing.assert_allclose(spec.round, round_s, rtol=1e-12)
    np.testing.assert_allclose(spec.throughput, b * E / round_s, rtol=1e-12)
    expect = (g * f * plain.t_dec + spec.t_dec + (1 - 1 / b) * m * (spec.t_mixed - spec.t_dec)) / E
    np.testing.assert_allclose(spec.tpot, expect, rtol=1e-12)
    np.testing.assert_allclose(spec.mem, plain.mem, rtol=1e-12)  # no draft model: no memory
    # the parts of TPOT the why table prints: pp cycles of g draft steps and a verify pass, plus the other
    # sequences' prefills; without any prompt mixed in (a static batch, a decode pool) the cycles alone
    np.testing.assert_allclose(spec.cycle, g * f * plain.t_dec + spec.t_dec, rtol=1e-12)
    np.testing.assert_allclose(spec.others_prefills, (1 - 1 / b) * m * (spec.t_mixed - spec.t_dec), rtol=1e-12)
    np.testing.assert_allclose(spec.tpot * E, spec.pp * spec.cycle + spec.others_prefills, rtol=1e-12)
    np.testing.assert_allclose(spec.tpot_decode, spec.pp * spec.cycle / E, rtol=1e-12)
    np.testing.assert_allclose(spec.prefill_latency, spec.pp * spec.t_pre, rtol=1e-12)


def test_speedup_at_batch_1_and_none_at_large_batch():
    """llama-3.1-70b on 8 H100 (TP 8) with a llama-3.1-8b draft, a = 0.8, g = 4."""
    sp = Speculation(4, 0.8, draft=DRAFT)
    batches = BATCH_GRID[BATCH_GRID <= 1024]
    spec = _eval(Workload(2048, 512, speculation=sp), batches)
    plain = _eval(Workload(2048, 512), batches)
    # batch 1: bandwidth-bound, the verification pass costs about a plain step (within 10%) ...
    assert plain.bound[0] == 1  # memory
    assert spec.t_dec[0] == pytest.approx(plain.t_dec[0], rel=0.10)
    # ... so the effective TPOT improves, by about E / (1 + g * t_draft / t_verify)
    assert spec.tpot[0] < plain.tpot[0]
    approx = 3.3616 / (1 + 4 * spec.t_draft[0] / spec.t_dec[0])
    assert spec.speedup[0] == pytest.approx(approx, rel=0.05)
    assert spec.speedup[0] > 1.5
    # large batch: compute-bound; the 5-token pass costs over 2 plain steps and speculation no longer helps
    assert spec.bound[-1] == 0  # compute
    assert spec.t_dec[-1] > 2 * plain.t_dec[-1]
    assert spec.tpot[-1] >= plain.tpot[-1]
    assert spec.speedup[-1] < 1.0
    # and the benefit falls as the batch grows
    assert np.all(np.diff(spec.speedup) <= 1e-9)


def test_draft_memory_sharded_like_the_target():
    """llama-3.1-8b (32 heads, 8 KV heads, FFN 14336) splits 8 ways: each chip holds 1/8 of its weights and
    one of its 8 KV heads per layer for every sequence in flight."""
    P, n_out, b = 2048, 512, 16.0
    spec = _eval(Workload(P, n_out, speculation=Speculation(4, 0.8, draft=DRAFT)), [b])
    plain = _eval(Workload(P, n_out), [b])
    d_weights = arch.params(DRAFT).total * 2 / 8  # embedding and head included, pp = 1
    d_kv = b * (P + n_out) * 2 * 32 * 1 * 128 * 2  # K and V, 32 layers, 1 KV head of 128 per rank, bf16
    assert spec.draft_mem[0] == pytest.approx(d_weights + d_kv, rel=1e-3)
    assert spec.mem[0] - plain.mem[0] == pytest.approx(d_weights + d_kv, rel=1e-3)


def test_draft_replicated_when_its_heads_do_not_split():
    """A draft with 12 heads cannot split 8 ways: every chip holds all of it and drafts for b/8 sequences."""
    odd = DRAFT.model_copy(update={"name": "draft-12h", "heads": 12, "kv_heads": 4, "d_model": 1536,
                                   "head_dim": 128, "ffn": 4096, "layers": 8})
    spec = _eval(Workload(2048, 512, speculation=Speculation(4, 0.8, draft=odd)), [64.0])
    whole = arch.params(odd).total * 2
    kv = 64 / 8 * 2560 * 2 * 8 * 4 * 128 * 2  # b/tp sequences, all 4 KV heads, 8 layers
    assert spec.draft_mem[0] == pytest.approx(whole + kv, rel=1e-3)


def test_plan_reports_speedup_and_the_plan_without_speculation():
    tg = Targets(tpot_max_s=0.02)
    res = plan_inference(TARGET, H100, Workload(2048, 512, speculation=Speculation(4, 0.8, draft=DRAFT)), tg)
    base = plan_inference(TARGET, H100, Workload(2048, 512), tg)
    assert res.feasible and base.feasible
    assert [p.objective for p in res.without_speculation] == ["min_chips", "min_cost"]
    assert res.without_speculation[1].usd_per_1k_output_tokens == base.plans[1].usd_per_1k_output_tokens
    for p in res.plans:
        assert p.expected_tokens_per_cycle == pytest.approx(3.3616)
        assert p.speculative_speedup == pytest.approx(p.tpot_without_speculation_s / p.tpot_s)
        assert p.memory_per_chip_bytes <= H100.memory * H100.usable_memory
        assert p.draft_memory_per_chip_bytes > 0
    # at a tight per-user target, speculation makes serving cheaper
    assert res.plans[1].usd_per_1k_output_tokens < base.plans[1].usd_per_1k_output_tokens


def test_cli_speculation_json(capsys):
    rc = main(["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--tpot", "20ms", "--draft-model", "llama-3.1-8b",
               "--draft-tokens", "4", "--acceptance", "0.8", "--format", "json"])
    out = capsys.readouterr().out
    assert rc == 0
    d = json.loads(out)
    assert d["workload"]["speculation"]["expected_tokens_per_cycle"] == pytest.approx(3.3616)
    assert d["workload"]["speculation"]["draft_model"] == "llama-3.1-8b"
    assert d["plans"][0]["speculative_speedup"] > 1
    assert len(d["without_speculation"]) == 2


def test_cli_speculation_table_shows_speedup(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    rc = main(["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--tpot", "20ms", "--draft-cost-fraction", "0.05"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Speculative decoding" in out and "3.362 tokens per cycle" in out
    assert "Without speculation" in out and "÷ tokens per cycle" in out


@pytest.mark.parametrize("args, needle", [
    (("--draft-tokens", "3"), "need a draft"),
    (("--draft-model", "llama-3.1-8b", "--draft-cost-fraction", "0.1"), "give one"),
    (("--draft-model", "llama-3.1-8b", "--acceptance", "1.5"), "--acceptance"),
    (("--draft-cost-fraction", "2"), "--draft-cost-fraction"),
    (("--draft-model", "nope"), "--draft-model: unknown model 'nope'"),
])
def test_cli_speculation_bad_input(capsys, args, needle):
    rc = main(["infer", *args])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0]
