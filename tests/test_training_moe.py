"""Fine-grained MoE training: the per-expert host (launch) time of the expert phase, by hand arithmetic."""

import pytest

from gpt4plan.specs import model_from_mapping
from gpt4plan.specs.catalog import resolve_hardware
from gpt4plan.training import TrainPins, TrainWorkload, plan_training
from gpt4plan.training import step as training_step

# A 4-layer slice of Qwen3-30B-A3B: d_model 2048, 128 experts of width 768 (gated: 3 x 2048 x 768 params), top-8
QWEN_SLICE = model_from_mapping({
    "name": "qwen3-30b-a3b-slice", "layers": 4, "d_model": 2048, "heads": 32, "kv_heads": 4, "head_dim": 128,
    "ffn": 6144, "ffn_gated": True, "vocab": 151936, "tied_embeddings": False,
    "moe": {"experts": 128, "top_k": 8, "expert_ffn": 768, "shared_experts": 0, "shared_expert_ffn": 0,
            "first_dense_layers": 0, "every": 1},
})


def _compute_s(mb: int, host_s: float, monkeypatch) -> tuple[float, int]:
    """(compute seconds per step, microbatches per step) of the one pinned layout: 8 H100, ep 8, FP8."""
    monkeypatch.setattr(training_step, "EXPERT_GEMM_HOST_S", host_s)
    wl = TrainWorkload(tokens=1e9, seq_len=4096, global_batch_tokens=64 * 4096, precision="fp8")
    pins = TrainPins(tp=1, pp=1, dp=8, ep=8, zero=1, microbatch=mb, recompute="none", interleave=1)
    res = plan_training(QWEN_SLICE, resolve_hardware("h100-sxm"), wl, chips=8, pins=pins)
    assert res.feasible
    return res.plan.compute_s, res.plan.microbatches_per_step


def test_expert_launch_time_exposed_only_beyond_gpu_time(monkeypatch):
    compute_eff = resolve_hardware("h100-sxm").efficiency.compute  # the spec's (calibrated) compute factor
    # By hand, microbatch 2 x 4096 = 8,192 tokens, 16 local experts (128 / ep 8) on each of 4 layers:
    #   host: 6 GEMM calls (fc1, fc2 forward; data + weight gradient of each) x 16 experts x 100 us = 9.6 ms
    host = 6 * 16 * 100e-6
    #   GPU: 6 FLOP per parameter x 8,192 tokens x 8 routed copies x 3*2048*768 params = 1.855e12 FLOP,
    #   at the FP8 peak 1978.9 TFLOP/s x compute factor x width efficiency 1 / (1 + 3 * ridge / 768),
    #   ridge = 989.4e12 / 3.35e12 = 295.3 FLOP/byte -> 0.4643  => 2.885 ms at compute 0.70
    flop = 6 * 8192 * 8 * (3 * 2048 * 768)
    width_eff = 1 / (1 + 3 * (989.4e12 / 3.35e12) / 768)
    gpu = flop / (1978.9e12 * compute_eff * width_eff)
    assert width_eff == pytest.approx(0.4643, abs=1e-4)
    assert host > gpu  # 16 tiny experts per rank: the host is the bottleneck
    with_host, m = _compute_s(2, 100e-6, monkeypatch)
    without, m0 = _compute_s(2, 0.0, monkeypatch)
    assert m == m0 == 4  # 64 sequences / (dp 8 x microbatch 2)
    assert with_host - without == pytest.approx(m * 4 * (host - gpu), rel=1e-6)
    # microbatch 8: four times the tokens per expert -> GPU time 4 x 2.885 = 11.5 ms > 9.6 ms host: hidden
    assert 4 * gpu > host
    assert _compute_s(8, 100e-6, monkeypatch)[0] == pytest.approx(_compute_s(8, 0.0, monkeypatch)[0], rel=1e-12)
