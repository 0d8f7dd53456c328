"""Inference model and search: expectations derived by hand from the formulas and datasheets.

Datasheet numbers used below (NVIDIA H100 SXM5 / A100 SXM4 datasheets, as in the shipped specs):
H100 SXM: 3.35 TB/s HBM, 989.4 TFLOP/s dense bf16, NVLink 450 GB/s per direction, 3 us latency.
A100 40GB: 40 GB, 1.555 TB/s, 312 TFLOP/s.  The efficiency factors (fractions of those peaks, fitted by
`gpt4plan calibrate`) are inputs like the datasheet numbers: the tests read them from the spec.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt4plan.report import infer_message
from gpt4plan.serving import (
    ELEMENTWISE_TRAFFIC_FORWARD,
    LAYER_OVERHEAD_S,
    ROOFLINE_OVERLAP,
    Pins,
    Targets,
    Workload,
    evaluate,
    plan_inference,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")
A100_40 = resolve_hardware("a100-40gb")


def test_decode_step_roofline_by_hand_llama2_7b():
    """One decode step, TP 1, PP 1, batch 1: bytes and FLOPs counted by hand from the config."""
    m = resolve_model("llama-2-7b")
    wl = Workload(prompt_tokens=1000, output_tokens=200)
    r = evaluate(m, H100, wl, np.array([1]), np.array([1]), np.array([1]), np.array([1.0]))
    d, L, ff, V = 4096, 32, 11008, 32000
    # weights read per step: attention 4*d^2 + SwiGLU 3*d*ff + 2 RMSNorm vectors per layer,
    # the final norm, and the LM head (the embedding is a lookup, not read as a matrix)
    params_read = L * (4 * d * d + 3 * d * ff + 2 * d) + d + V * d
    c_avg = 1000 + 200 / 2  # continuous batching: mean context = prompt + output/2
    kv_per_token = 2 * L * 32 * 128 * 2  # K and V, 32 MHA heads of 128, bf16 -> 524,288 B
    bytes_step = params_read * 2 + c_avg * kv_per_token
    eff = H100.efficiency
    assert r.t_memory[0] == pytest.approx(bytes_step / (3.35e12 * eff.memory), rel=1e-9)
    flops_step = 2 * params_read + 4 * c_avg * 32 * 128 * L  # matmuls + QK^T and AV
    assert r.t_compute[0] == pytest.approx(flops_step / (989.4e12 * eff.compute), rel=1e-9)
    assert r.t_comm[0] == 0.0  # one chip, no collectives
    assert r.bound[0] == 1  # memory-bound at batch 1
    # KV reserved for prompt + output for the one sequence in flight
    assert r.kv_mem[0] == pytest.approx(1200 * kv_per_token, rel=1e-12)
    # TPOT, mixed continuous batching: the sequence finishes after 200 tokens, so 1 decode pass in 200
    # also carries a whole 1000-token prompt, sharing the weight read.  That pass adds the prompt's
    # matmuls (the LM head only for its last token), its attention at mean context 500, and its KV writes.
    flops_mix = (flops_step + 2 * 1000 * (L * (4 * d * d + 3 * d * ff + 2 * d) + d) + 2 * V * d
                 + 4 * 1000 * 500 * 32 * 128 * L)
    bytes_mix = bytes_step + 1000 * kv_per_token
    t_c, t_m = flops_mix / (989.4e12 * eff.compute), bytes_mix / (3.35e12 * eff.memory)
    # non-matmul kernels: each of the 1001 tokens reads/writes its Korthikanti activation bytes once per layer,
    # (15 + 19 * 1.5 * 11008 / (4 * 4096)) * 4096 = 139,872 B
    t_elem = ELEMENTWISE_TRAFFIC_FORWARD * 1001 * 139_872 * L / (3.35e12 * eff.memory)
    t_mix = max(t_c, t_m) + (1 - ROOFLINE_OVERLAP) * min(t_c, t_m) + t_elem + L * LAYER_OVERHEAD_S
    assert r.t_mixed[0] == pytest.approx(t_mix, rel=1e-9)
    # the replica's round (what sets its throughput) holds that prompt: 199 plain passes in 200, 1 mixed
    assert r.round[0] == pytest.approx(199 / 200 * r.t_dec[0] + t_mix / 200, rel=1e-9)
    assert r.throughput[0] == pytest.approx(1 / r.round[0], rel=1e-9)
    # ... but at batch 1 the prompt is the sequence's own, prefilled before its first token: between its
    # output tokens there is nothing but the decode step
    assert r.tpot[0] == pytest.approx(r.t_dec[0], rel=1e-12)


def test_tpot_at_batch_1_adds_only_the_kv_reads_of_a_longer_prompt():
    """Llama-2-70B, fp16, one 256 GB chip at efficiency 1 (the H100's 3.35 TB/s and 989.4 TFLOP/s), batch 1.

    Growing the prompt from 512 to 2,560 tokens adds, per output token, only the reads of 2,048 more tokens of
    KV cache, 2,048 x 327,680 B (2 x 80 layers x 8 KV heads x 128 x 2 B) / 3.35e12 B/s = 0.20032 ms, and the
    attention over them, 2,048 x 80 x 4 x 64 heads x 128 = 5.369e9 FLOP / 989.4e12 = 5.426 us, of which the
    memory-bound roofline hides ROOFLINE_OVERLAP (1/4): + 0.75 x 5.426 us = 4.07 us.  Total 0.2044 ms.
    (The sequence's own 2,048 extra prompt tokens are prefilled before its first token: TTFT, not TPOT.)
    """
    from gpt4plan.specs import Efficiency

    m = resolve_model("llama-2-70b")
    hw = H100.model_copy(update={"memory": 256e9, "efficiency": Efficiency(compute=1.0, memory=1.0, network=1.0)})
    tpot, ttft = {}, {}
    for prompt in (512, 2560):
        res = plan_inference(m, hw, Workload(prompt, 512, weights="fp16", kv_cache="fp16"), Targets(tpot_max_s=1.0),
                             Pins(tp=1, pp=1, batch=1))
        assert res.feasible
        tpot[prompt], ttft[prompt] = res.plans[0].tpot_s, res.plans[0].ttft_s
    kv_read = 2048 * 327_680 / 3.35e12
    assert kv_read == pytest.approx(0.20032e-3, rel=1e-4)
    attn = 2048 * 80 * 4 * 64 * 128 / 989.4e12
    assert tpot[2560] - tpot[512] == pytest.approx(kv_read + (1 - ROOFLINE_OVERLAP) * attn, rel=1e-6)
    assert tpot[2560] - tpot[512] == pytest.approx(kv_read, abs=0.005e-3)  # within 5 us of the KV arithmetic
    assert ttft[2560] - ttft[512] > 50 * (tpot[2560] - tpot[512])  # the prefill went to TTFT


def test_tpot_counts_the_other_sequences_prefills():
    """Batch B: over a sequence's output tokens every slot turns over once, so it waits for B - 1 prefills
    of the B in the replica's rounds: TPOT = round - (round - pp * t_dec) / B (no speculation)."""
    m = resolve_model("llama-3.1-8b")
    wl = Workload(prompt_tokens=2048, output_tokens=128)
    for B, pp in ((8, 1), (64, 1), (512, 1), (16, 2)):
        r = evaluate(m, H100, wl, np.array([1]), np.array([pp]), np.array([1]), np.array([B / pp]))
        prefills = r.round[0] - pp * r.t_dec[0]
        assert prefills > 0
        assert r.tpot[0] == pytest.approx(pp * r.t_dec[0] + prefills * (B - 1) / B, rel=1e-9)
        assert r.throughput[0] == pytest.approx(B / r.round[0], rel=1e-9)  # throughput keeps every prefill


def test_tp_all_reduce_cost_by_hand_llama31_70b():
    """TP 8 inside the NVLink domain: 2 all-reduces per layer of b*d*2 bytes, min(ring, tree)."""
    m = resolve_model("llama-3.1-70b")
    r = evaluate(m, H100, Workload(1000, 200), np.array([8]), np.array([1]), np.array([1]), np.array([1.0]))
    nbytes = 1 * 8192 * 2
    bw, alpha = 450e9 * H100.efficiency.network, 3e-6
    ring = 2 * 7 * alpha + 2 * 7 / 8 * nbytes / bw
    tree = 2 * math.log2(8) * alpha + 2 * nbytes / bw
    assert r.t_comm[0] == pytest.approx(2 * 80 * min(ring, tree), rel=1e-9)


def test_tp_beyond_domain_uses_scale_out():
    m = resolve_model("llama-3.1-70b")
    r = evaluate(m, H100, Workload(1000, 200), np.array([8, 16]), np.array([1, 1]), np.array([1, 1]),
                 np.array([64.0, 64.0]))
    # 16-way TP spans two 8-GPU NVLink domains: per-collective latency 10 us and 50 GB/s
    nbytes = 64 * 8192 * 2
    bw, alpha = 50e9 * H100.efficiency.network, 10e-6
    ring = 2 * 15 * alpha + 2 * 15 / 16 * nbytes / bw
    tree = 2 * 4 * alpha + 2 * nbytes / bw
    assert r.t_comm[1] == pytest.approx(2 * 80 * min(ring, tree), rel=1e-9)
    assert r.t_comm[1] > r.t_comm[0]


def test_gpt4_seed_layout_fits_a100_40gb():
    """Seed S16: 128 A100s, TP 8 x PP 16, < 30 GB of fp16 weights per GPU."""
    m = resolve_model("gpt-4")
    res = plan_inference(m, A100_40.with_price(1.0), Workload(2048, 512), Targets(tpot_max_s=1 / 8.33),
                         Pins(tp=8, pp=16))
    assert res.feasible
    p = res.plans[0]
    assert (p.tp, p.pp, p.chips) == (8, 16, 128)
    # 1.857e12 params * 2 B / 128 GPUs = 29.0 GB on average; the largest stage holds
    # ceil(120/16) = 8 of 120 layers (+ the 100277 x 14336 LM head): 8/120 * 3.71e12 / 8 + 0.36 GB
    avg = 1.8566e12 * 2 / 128
    assert 0.9 * avg < p.weights_per_chip_bytes < 1.15 * avg
    assert p.memory_per_chip_bytes <= 40e9 * 0.9


def test_gpt4_seed_cost_within_5x():
    """Seed S17: ~$0.0049 per 1k tokens on 128 A100 at $1/h 'at high utilisation and batch'.

    At TP 8 x PP 16, $1/GPU-hour, short requests (512 + 512) and no per-user speed target (the
    article's 'high batch' regime), the min-cost $/1k output tokens must be within 5x of $0.0049.
    """
    m = resolve_model("gpt-4")
    res = plan_inference(m, A100_40.with_price(1.0), Workload(512, 512), Targets(tpot_max_s=10.0),
                         Pins(tp=8, pp=16))
    cost = res.plans[1].usd_per_1k_output_tokens
    assert 0.0049 / 5 <= cost <= 0.0049 * 5


def test_dense_1t_on_8_h100_infeasible_at_33_tokens_per_s():
    """Seed S21: a dense 1T model on 8 x H100 cannot reach 33.33 tokens/s per user."""
    m = resolve_model("dense-1t")
    res = plan_inference(m, H100, Workload(1024, 512), Targets(tpot_max_s=1 / 33.33), Pins(chips=8))
    assert not res.feasible
    assert res.binding_constraint in ("memory", "tpot")
    assert res.nearest is not None
    # bandwidth alone: 1.008e12 params * 2 B / (8 * 3.35e12 B/s) = 75 ms per token > 30 ms
    assert 1.008e12 * 2 / (8 * 3.35e12) > 1 / 33.33


def test_moe_reads_fewer_experts_at_small_batch():
    m = resolve_model("mixtral-8x7b")
    r = evaluate(m, H100, Workload(1000, 200), np.array([1, 1]), np.array([1, 1]), np.array([1, 1]),
                 np.array([1.0, 256.0]))
    assert r.experts_touched[0] == pytest.approx(2.0)  # one token reads exactly top_k experts
    assert r.experts_touched[1] == pytest.approx(8 * (1 - (6 / 8) ** 256))  # ~all 8


def test_min_chips_and_min_cost_meet_targets():
    m = resolve_model("llama-3.1-70b")
    tg = Targets(ttft_max_s=2.0, tpot_max_s=0.05)
    res = plan_inference(m, H100, Workload(2048, 512), tg)
    assert res.feasible
    by = {p.objective: p for p in res.plans}
    assert by["min_chips"].chips <= by["min_cost"].chips
    assert by["min_cost"].usd_per_1k_tokens_blended <= by["min_chips"].usd_per_1k_tokens_blended
    for p in res.plans + res.frontier:
        assert p.tpot_s <= 0.05 * (1 + 1e-9) and p.ttft_s <= 2.0 * (1 + 1e-9)
        assert p.memory_per_chip_bytes <= H100.memory * H100.usable_memory
    # 70.55e9 params * 2 B = 141 GB of weights do not fit one 72 GB-usable H100: at least 2 chips
    assert by["min_chips"].chips >= 2


def test_demand_sets_replicas():
    m = resolve_model("llama-3.1-8b")
    res = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.05, demand_tokens_per_s=100_000))
    p = res.plans[0]
    assert p.replicas * p.tp * p.pp == p.chips
    assert p.throughput_tokens_per_s >= 100_000 * (1 - 1e-9)


def test_pinned_tp_not_allowed_is_layout_error():
    m = resolve_model("llama-3.1-70b")  # 64 heads, 8 KV heads
    res = plan_inference(m, H100, Workload(1000, 100), Targets(), Pins(tp=3))
    assert not res.feasible and res.binding_constraint == "layout"
    assert "tp=3" in infer_message(res)


models_for_props = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen2.5-72b"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(models_for_props), st.floats(0.01, 0.2), st.floats(1.0, 3.0))
def test_looser_tpot_never_costs_more(name, tpot, loosen):
    m = resolve_model(name)
    a = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=tpot))
    b = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=tpot * loosen))
    if a.feasible:
        assert b.feasible
        # min_cost ranks by the blended cost (prefill + decode share per token)
        assert b.plans[1].usd_per_1k_tokens_blended <= a.plans[1].usd_per_1k_tokens_blended * (1 + 1e-9)
        assert b.plans[0].chips <= a.plans[0].chips


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(models_for_props), st.floats(1.0, 4.0))
def test_more_memory_never_needs_more_chips(name, scale):
    m = resolve_model(name)
    bigger = H100.model_copy(update={"memory": H100.memory * scale})
    a = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.1))
    b = plan_inference(m, bigger, Workload(1024, 256), Targets(tpot_max_s=0.1))
    if a.feasible:
        assert b.plans[0].chips <= a.plans[0].chips


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(models_for_props), st.floats(0.5, 10.0))
def test_price_scales_every_dollar_figure(name, price):
    m = resolve_model(name)
    a = plan_inference(m, H100.with_price(price), Workload(1024, 256), Targets(tpot_max_s=0.1))
    b = plan_inference(m, H100.with_price(2 * price), Workload(1024, 256), Targets(tpot_max_s=0.1))
    for pa, pb in zip(a.plans, b.plans, strict=True):
        assert pb.usd_per_1k_output_tokens == pytest.approx(2 * pa.usd_per_1k_output_tokens, rel=1e-9)
        assert pb.usd_per_1k_input_tokens == pytest.approx(2 * pa.usd_per_1k_input_tokens, rel=1e-9)
        assert pb.chips == pa.chips


def test_all_outputs_finite_for_every_catalog_pair():
    from gpt4plan.specs.catalog import hardware_names, model_names

    for mn in model_names():
        m = resolve_model(mn)
        for hn in hardware_names():
            h = resolve_hardware(hn)
            res = plan_inference(m, h, Workload(512, 128), Targets(tpot_max_s=0.2))
            for p in res.plans + res.frontier + ([res.nearest] if res.nearest else []):
                for k, v in p.as_dict().items():
                    if isinstance(v, float) and k != "free_per_chip_bytes":
                        assert math.isfinite(v) and v >= 0, (mn, hn, k, v)
