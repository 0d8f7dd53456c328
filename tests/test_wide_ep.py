"""Attention data parallelism x wide expert parallelism (issue 13, first step): memory per chip and the
all-to-all bytes derived by hand, the EPLB imbalance model, the search and its pins, and that dense models and
the TP x PP layouts give exactly what they gave before.
"""

import json

import numpy as np
import pytest

from cli_helpers import one_line, run_cli
from gpt4plan.accuracy.replay import replay_file
from gpt4plan.physics import arch
from gpt4plan.physics import step as step_module
from gpt4plan.physics.comm import all_to_all_two_tier_s, two_batch_overlap_layer_s
from gpt4plan.physics.step import (
    LAYER_OVERHEAD_S,
    eplb_imbalance,
    moe_a2a_bytes_per_token,
    moe_imbalance,
    roofline_s,
    stage_model,
)
from gpt4plan.serving import Pins, Targets, Workload, evaluate, plan_inference, wide_ep_grid
from gpt4plan.specs.catalog import catalog_dir, resolve_hardware, resolve_model

DSV3 = resolve_model("deepseek-v3")
H100 = resolve_hardware("h100-sxm")


def test_memory_per_chip_dp_attention_by_hand():
    """DeepSeek-V3 at fp8 as DP-attn 16 x EP 16 with 16 redundant experts: every chip holds all the
    non-expert weights (attention, 3 dense FFN layers, shared experts, routers, norms, embedding, LM head) and
    (256 + 16) / 16 = 17 expert slots in each of the 58 MoE layers; the KV cache of a group's own sequences."""
    p = arch.params(DSV3)
    expert = 3 * 7168 * 2048  # one routed expert: gated FFN of width 2048
    non_expert = p.total - 58 * 256 * expert
    weights = (non_expert + 58 * 17 * expert) * 1.0  # fp8: one byte per parameter
    batch, prompt, out = 64 * 16, 2048, 256  # 64 sequences in each of the 16 groups
    kv = 64 * (prompt + out) * 61 * (512 + 64) * 1.0  # MLA latent + rope key per token per layer, fp8
    wl = Workload(prompt, out, "fp8", "fp8")
    r = evaluate(DSV3, H100, wl, np.array([1]), np.array([1]), np.array([16]), np.array([float(batch)]),
                 attention_dp=np.array([16]), redundant=np.array([16]))
    assert r.weights_mem[0] == pytest.approx(weights, rel=1e-9)
    assert r.kv_mem[0] == pytest.approx(kv, rel=1e-9)
    assert r.chips[0] == 16
    # TP 4 inside each of 4 groups: the non-expert weights split 4 ways, MLA's latent KV is copied on each
    # TP rank, each group holds a quarter of the sequences
    r4 = evaluate(DSV3, H100, wl, np.array([4]), np.array([1]), np.array([16]), np.array([float(batch)]),
                  attention_dp=np.array([4]), redundant=np.array([16]))
    assert r4.weights_mem[0] == pytest.approx(non_expert / 4 + 58 * 17 * expert, rel=1e-9)
    assert r4.kv_mem[0] == pytest.approx(4 * kv, rel=1e-9)


def test_dispatch_and_combine_bytes_by_hand():
    """Top-8 of a 7168-wide token over EP 16: 8 x 15/16 = 7.5 copies leave the rank; FP8 dispatch is
    7168 bytes + one fp32 scale per 128 channels (56 x 4 = 224 bytes), combine 2 x 7168 bytes."""
    dispatch, combine = moe_a2a_bytes_per_token(7168, 8, 16, low_precision=True)
    assert dispatch == pytest.approx(7.5 * (7168 + 224))  # 55,440
    assert combine == pytest.approx(7.5 * 14336)  # 107,520
    d16, _ = moe_a2a_bytes_per_token(7168, 8, 16, low_precision=False)
    assert d16 == pytest.approx(7.5 * 14336)
    assert moe_a2a_bytes_per_token(7168, 8, 1, True)[0] == 0.0  # one rank: nothing leaves


def test_two_tier_all_to_all_by_hand():
    """EP 16 on 8-GPU H100 nodes: of the 15 peers, 7 are over NVLink and 8 over the network; both at once,
    one network latency."""
    nbytes = 15e6
    eff = H100.efficiency.network
    t_in, t_out = nbytes * 7 / 15 / (450e9 * eff), nbytes * 8 / 15 / (50e9 * eff)
    assert all_to_all_two_tier_s(16, nbytes, H100) == pytest.approx(10e-6 + max(t_in, t_out))
    assert all_to_all_two_tier_s(8, nbytes, H100) == pytest.approx(3e-6 + nbytes / (450e9 * eff))
    assert all_to_all_two_tier_s(1, nbytes, H100) == 0.0


def test_eplb_imbalance():
    mu = np.array([1.0, 10.0, 1e3, 1e6])
    assert np.array_equal(eplb_imbalance(mu, 16, 256, 0), moe_imbalance(mu, 16))  # no redundant slots
    with_r = eplb_imbalance(mu, 16, 256, 32)
    assert np.all(with_r <= moe_imbalance(mu, 16)) and np.all(with_r >= 1)
    # the relative excess shrinks by between E / (E + R) (its half-copy term) and sqrt(E / (E + R)) (its
    # fluctuation term) where the cap does not bind
    excess, excess_r = moe_imbalance(mu[1:], 16) - 1, with_r[1:] - 1
    assert np.all(excess_r >= excess * 256 / 288 * (1 - 1e-9))
    assert np.all(excess_r <= excess * np.sqrt(256 / 288) * (1 + 1e-9))
    assert with_r[-1] == pytest.approx(1.0, abs=3e-3)  # tends to 1 as tokens grow


def test_dense_models_take_no_attention_dp_layout():
    llama = resolve_model("llama-3.1-70b")
    assert all(x.size == 0 for x in wide_ep_grid(llama, H100, Targets(), Pins()))
    assert all(x.size == 0 for x in wide_ep_grid(DSV3, H100, Targets(), Pins(attention_dp=1)))


def test_tp_pp_rows_unchanged_next_to_attention_dp_rows():
    """A TP x PP candidate gives bit for bit the same numbers whether or not attention-DP rows are evaluated
    with it (the attention-DP pass is a separate branch)."""
    wl = Workload(2048, 256, "fp8")
    tp, pp, ep, b = np.array([8, 8, 1]), np.array([2, 1, 1]), np.array([8, 1, 16]), np.array([96.0, 64, 512])
    alone = evaluate(DSV3, H100, wl, tp[:2], pp[:2], ep[:2], b[:2])
    mixed = evaluate(DSV3, H100, wl, tp, pp, ep, b, attention_dp=np.array([1, 1, 16]), redundant=np.array([0, 0, 16]))
    for name in ("mem", "t_dec", "t_pre", "tpot", "ttft", "throughput", "usd_blend", "mfu", "mbu"):
        assert np.array_equal(getattr(mixed, name)[:2], getattr(alone, name)), name


def test_deepseek_v3_on_h100_finds_a_dp_attention_plan():
    """The issue's case: fp8 weights, 2048 in / 256 out, TTFT <= 2 s, TPOT <= 50 ms.  TP 8 x PP 2 was the
    cheapest plan (about 120 output tokens/s per chip); an attention-DP layout is now cheaper per token."""
    wl, tg = Workload(2048, 256, "fp8"), Targets(ttft_max_s=2.0, tpot_max_s=0.05)
    res = plan_inference(DSV3, H100, wl, tg)
    cheapest = res.plans[1]
    assert cheapest.attention_dp > 1 and cheapest.ep == cheapest.attention_dp * cheapest.tp
    assert cheapest.throughput_tokens_per_s / cheapest.chips > 150
    at16 = plan_inference(DSV3, H100, wl, tg, Pins(chips=16)).plans[1]
    assert at16.attention_dp > 1 and at16.throughput_tokens_per_s / 16 > 150


def test_pins_and_layout_words(capsys):
    args = ["infer", "-m", "deepseek-v3", "-H", "h100-sxm", "--weights", "fp8", "--prompt-tokens", "2048",
            "--output-tokens", "256", "--tpot", "50ms", "--ttft", "2s"]
    rc, out, _ = run_cli(capsys, *args, "--attention-dp", "16", "--redundant-experts", "0", "--format", "json")
    assert rc == 0
    plan = json.loads(out)["plans"][0]
    assert (plan["attention_dp"], plan["tp"], plan["ep"], plan["redundant_experts"], plan["chips"]) == (16, 1, 16, 0, 16)
    rc, out, _ = run_cli(capsys, *args, "--attention-dp", "16", "--redundant-experts", "0")
    assert rc == 0 and "DP-attn 16 × EP 16" in out
    rc, out, _ = run_cli(capsys, *args, "--tp", "4", "--ep", "16", "--redundant-experts", "0", "--format", "csv")
    assert rc == 0 and "attention_dp" in out.splitlines()[0]
    rc, out, _ = run_cli(capsys, *args, "--tp", "4", "--ep", "16", "--redundant-experts", "0", "--format", "markdown")
    assert rc == 0 and "DP-attn 4 × TP 4 × EP 16" in out
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-70b", "--attention-dp", "4")
    assert rc == 2 and "dense" in one_line(err)
    rc, _, err = run_cli(capsys, *args, "--tp", "2", "--ep", "16", "--attention-dp", "4")
    assert rc == 2 and "--ep 16 must be --attention-dp 4 x --tp 2" in one_line(err)


def test_dense_json_plans_carry_attention_dp_1(capsys):
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "json")
    assert rc == 0
    plan = json.loads(out)["plans"][0]
    assert plan["attention_dp"] == 1 and plan["redundant_experts"] == 0


def test_sglang_deepseek_v3_records_replayed():
    recs = {r.id: r for r in replay_file(catalog_dir("measurements") / "validation-dev.yaml")
            if r.id.startswith("infer-sglang-dsv3")}
    assert set(recs) == {"infer-sglang-dsv3-prefill-4node-4000", "infer-sglang-dsv3-decode-9node-2k"}
    for r in recs.values():
        assert not r.skipped
        assert 0.5 < r.predicted / r.measured < 1.6  # prefill +52% since DeepEP's per-node dedup (docs/accuracy.md)


def test_two_batch_overlap_layer_by_hand():
    """Two halves, each a chain C1, D, C2, M per layer; B one segment behind A: four slots per layer."""
    c = 1.0
    assert two_batch_overlap_layer_s(c, 0.0, 0.0) == c  # nothing to hide: the layer's compute
    assert two_batch_overlap_layer_s(c, 0.5, 0.5) == c  # communication = compute: hidden, 2c in series
    assert two_batch_overlap_layer_s(c, 1.5, 1.5) == 3.0  # communication-bound: max(c, x)
    # FP8 dispatch, 16-bit combine at x = c: slots max(c/4, M/2) + max(c/4, D/2) + max(c/4, D/2) + max(c/4, M/2)
    assert two_batch_overlap_layer_s(c, 1 / 3, 2 / 3) == pytest.approx(0.5 + 2 / 3)  # 7c/6


def _dsv3_stage(A=32, R=0, P=4096):
    return stage_model(DSV3, H100, np.array([1]), np.array([1]), np.array([A]), prompt_tokens=P, output_tokens=1,
                       weights="fp8", kv_cache="fp8", attention_dp=np.array([A]), redundant=np.array([R]))


@pytest.mark.parametrize("nb,n_pre", [(0.0, 128.0), (8192.0, 0.0)])  # a prefill pass, a decode step
def test_two_batch_overlap_without_communication(monkeypatch, nb, n_pre):
    """With no all-to-all (and TP 1: no all-reduce) the overlapped pass is its two halves one after the
    other, each a pass of its own at half the tokens: the only change is the halves' cost (the weights read
    twice), so the default leaves it off."""
    monkeypatch.setattr(step_module, "moe_a2a_s", lambda hw, ep, *rest: (0.0 * ep, 0.0 * ep))
    sm = _dsv3_stage()
    plain, tbo = sm.wide_forward(nb, 1, n_pre, overlap=False), sm.wide_forward(nb, 1, n_pre, overlap=True)
    half = sm.wide_forward(nb / 2, 1, n_pre / 2, overlap=False)
    assert tbo.t == pytest.approx(2 * half.t - sm.Ls * LAYER_OVERHEAD_S, rel=1e-12)
    assert tbo.t >= plain.t and np.array_equal(sm.wide_forward(nb, 1, n_pre).t, plain.t)
    assert tbo.flops == pytest.approx(plain.flops, rel=0.05)  # the busiest rank's excess at half the tokens
    if nb:  # decode: every expert is touched by either half, so one more read of the chip's weights (all but
        # the embedding table, which a pass looks up rather than reads; fp8: one byte per parameter)
        assert tbo.nbytes - plain.nbytes == pytest.approx(sm.weights_mem[0] - sm.lc.embedding, rel=1e-3)


def test_two_batch_overlap_hides_communication_equal_to_compute(monkeypatch):
    """Dispatch and combine each half the layer's compute (communication = compute): in series a MoE layer
    takes 2c, overlapped c (slots max(c/4, c/4) x 4).  (DeepEP holding SMs beside the GEMMs is tested on its
    own: tests/test_moe_serving.py.)"""
    monkeypatch.setattr(step_module, "deepep_sm_share", lambda hw: 1.0)
    sm = _dsv3_stage()
    h = sm.wide_parts(0.0, 1, 64.0)  # one half of a 128-prompt pass
    c = 2 * (roofline_s(h["t_c"], h["t_m"]) + h["t_elem"]) / sm.Ls  # both halves' compute per layer
    monkeypatch.setattr(step_module, "moe_a2a_s", lambda hw, ep, *rest: (c / 4 + 0.0 * ep, c / 4 + 0.0 * ep))
    tbo = sm.wide_forward(0.0, 1, 128.0, overlap=True)
    assert tbo.t == pytest.approx(sm.Ls * (c + LAYER_OVERHEAD_S), rel=1e-12)
    assert np.array_equal(sm.wide_forward(0.0, 1, 128.0).t, tbo.t)  # and the default takes it


def test_two_batch_overlap_needs_two_tokens_per_group():
    """One decoding sequence per two groups: nothing to split, the pass is the plain one."""
    sm = _dsv3_stage()
    assert np.array_equal(sm.wide_forward(16.0, 1, 0.0).t, sm.wide_forward(16.0, 1, 0.0, overlap=False).t)
