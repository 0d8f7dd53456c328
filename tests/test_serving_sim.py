"""Pass-by-pass serving benchmark replay: expectations derived by hand from the roofline and the datasheet.

llama-2-7b (d 4096, 32 layers, 32 MHA heads of 128, SwiGLU 11008, vocab 32000) in bf16 on one H100 SXM
(989.4 TFLOP/s dense bf16, 3.35 TB/s HBM3, 80 GB; H100 datasheet), efficiencies from the catalog spec.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt4plan.serving import (
    ELEMENTWISE_TRAFFIC_FORWARD,
    LAYER_OVERHEAD_S,
    ROOFLINE_OVERLAP,
    RUNTIME_TTFT_OVERHEAD_S,
    SERVING_TTFT_OVERHEAD_S,
    Workload,
    evaluate,
)
from gpt4plan.serving.replay import simulate_benchmark
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")
M = resolve_model("llama-2-7b")
d, L, ff, V = 4096, 32, 11008, 32000
PARAMS_READ = L * (4 * d * d + 3 * d * ff + 2 * d) + d + V * d  # attention, SwiGLU, norms, final norm, LM head
KV_PER_TOKEN = 2 * L * 32 * 128 * 2  # K and V, 32 heads of 128, bf16 = 524,288 B


ACT_PER_TOKEN_LAYER = (15 + 19 * 1.5 * ff / (4 * d)) * d  # Korthikanti activation bytes = 139,872 B


def _pass_s(flops: float, nbytes: float, tokens: int) -> float:
    """Roofline with partial overlap + the non-matmul kernels' traffic + the per-layer overhead."""
    eff = H100.efficiency
    t_c, t_m = flops / (989.4e12 * eff.compute), nbytes / (3.35e12 * eff.memory)
    t_elem = ELEMENTWISE_TRAFFIC_FORWARD * tokens * ACT_PER_TOKEN_LAYER * L / (3.35e12 * eff.memory)
    return max(t_c, t_m) + (1 - ROOFLINE_OVERLAP) * min(t_c, t_m) + t_elem + L * LAYER_OVERHEAD_S


def test_one_request_prefill_then_decode_by_hand():
    """A lone request: one pass prefills its 1000-token prompt (first token), then 199 decode passes of
    one sequence at the mean context 1000 + 200/2 = 1100."""
    res = simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=1.0, num_requests=1)
    # prefill: matmuls for 1000 tokens (LM head for the last one only), causal attention at mean context 500,
    # weights read once, the prompt's KV written once
    t_pre = _pass_s(2 * 1000 * (PARAMS_READ - V * d) + 2 * V * d + 4 * 1000 * 500 * 32 * 128 * L,
                    2 * PARAMS_READ + 1000 * KV_PER_TOKEN, 1000)
    t_dec = _pass_s(2 * PARAMS_READ + 4 * 1100 * 32 * 128 * L, 2 * PARAMS_READ + 1100 * KV_PER_TOKEN, 1)
    assert res.ttft_s == pytest.approx(t_pre + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S, rel=1e-9)
    assert res.tpot_s == pytest.approx(t_dec, rel=1e-9)
    assert res.duration_s == pytest.approx(t_pre + 199 * t_dec, rel=1e-9)
    assert res.output_tokens_per_s == pytest.approx(200 / (t_pre + 199 * t_dec), rel=1e-9)
    assert res.total_tokens_per_s == pytest.approx(1200 / (t_pre + 199 * t_dec), rel=1e-9)


def test_kv_capacity_caps_the_batch_by_hand():
    """All requests at once: no more run together than the KV cache holds.  Free memory = 81,559 MiB (the
    H100 SXM's nvidia-smi total, h100-sxm.yaml) x usable fraction - 2 bytes x 6.74e9 parameters; each
    sequence reserves (1000 + 200) tokens x 524,288 B."""
    weights = 2 * (PARAMS_READ + V * d)  # + the untied input embedding: stored, not read per step
    free = 81559 * 2**20 * H100.usable_memory - weights
    slots = math.floor(free / (1200 * KV_PER_TOKEN))
    assert 90 < slots < 110  # ~ (0.9 x 85.52 - 13.5) GB / 629 MB = 63.5 / 0.629 = 100.9
    res = simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=math.inf, num_requests=400)
    assert res.slots == slots
    assert res.max_running == slots
    # an engine cap below the memory limit binds instead
    capped = simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=math.inf, num_requests=400,
                                max_batch=16)
    assert capped.max_running == 16
    assert capped.duration_s > res.duration_s  # fewer sequences per pass: the same work takes longer


def test_replicas_split_the_load():
    """Two replicas at twice the rate and twice the requests replay like one replica (the same arrivals
    per replica), with twice the system throughput."""
    one = simulate_benchmark(M, H100, Workload(500, 100), 1, 1, 1, request_rate=2.0, num_requests=50)
    two = simulate_benchmark(M, H100, Workload(500, 100), 1, 1, 1, request_rate=4.0, num_requests=100, replicas=2)
    assert two.ttft_s == pytest.approx(one.ttft_s, rel=1e-12)
    assert two.tpot_s == pytest.approx(one.tpot_s, rel=1e-12)
    assert two.output_tokens_per_s == pytest.approx(2 * one.output_tokens_per_s, rel=1e-12)


def test_a_layout_without_room_for_one_sequence_is_an_error():
    big = resolve_model("llama-3.1-405b")
    with pytest.raises(ValueError, match="KV cache"):
        simulate_benchmark(big, H100, Workload(1000, 200), 1, 1, 1, request_rate=1.0, num_requests=10)
    with pytest.raises(ValueError):
        simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=1.0, num_requests=0)


def test_poisson_arrivals_are_reproducible():
    a = simulate_benchmark(M, H100, Workload(500, 100), 1, 1, 1, request_rate=5.0, num_requests=100)
    b = simulate_benchmark(M, H100, Workload(500, 100), 1, 1, 1, request_rate=5.0, num_requests=100)
    assert a == b
    assert np.isfinite([a.ttft_s, a.tpot_s, a.output_tokens_per_s]).all()


def test_closed_loop_one_client_runs_requests_back_to_back():
    """concurrency 1: each request is sent when the previous completes, so the run is 3 x (prefill alone +
    199 decode passes of one sequence), and every TTFT is one prefill pass plus the overheads."""
    t_pre = _pass_s(2 * 1000 * (PARAMS_READ - V * d) + 2 * V * d + 4 * 1000 * 500 * 32 * 128 * L,
                    2 * PARAMS_READ + 1000 * KV_PER_TOKEN, 1000)
    t_dec = _pass_s(2 * PARAMS_READ + 4 * 1100 * 32 * 128 * L, 2 * PARAMS_READ + 1100 * KV_PER_TOKEN, 1)
    res = simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=math.inf, num_requests=3,
                             concurrency=1)
    assert res.duration_s == pytest.approx(3 * (t_pre + 199 * t_dec), rel=1e-9)
    assert res.ttft_s == pytest.approx(t_pre + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S, rel=1e-9)
    assert res.max_running == 1
    many = simulate_benchmark(M, H100, Workload(1000, 200), 1, 1, 1, request_rate=math.inf, num_requests=200,
                              concurrency=16)
    assert many.max_running == 16  # never more in flight than clients


@pytest.mark.parametrize("clients, rel", [(1, 1e-9), (8, 0.04), (32, 0.02)])
def test_closed_loop_tpot_matches_the_steady_state_tpot(clients, rel):
    """A closed loop of B clients keeps B sequences in flight, the steady state of :func:`evaluate` at batch B.

    Both count the other sequences' prefills between a sequence's tokens and not its own (the replay measures
    TPOT from the first token, after the prefill).  At B = 1 both are the bare decode step; at larger B the
    replay's chunked scheduling differs a little from the steady state's averaged mixed passes.
    """
    m, h = resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm")
    wl = Workload(2048, 256)
    r = evaluate(m, h, wl, [1], [1], [1], [float(clients)])
    res = simulate_benchmark(m, h, wl, 1, 1, 1, math.inf, 40 * clients, concurrency=clients)
    assert float(r.tpot[0]) == pytest.approx(res.tpot_s, rel=rel)
    if clients == 1:
        assert res.tpot_s == pytest.approx(float(r.t_dec[0]), rel=1e-9)
