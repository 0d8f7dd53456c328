"""Long context: KV capacity limits the batch (seed S9: the 32k GPT-4 cannot run at a useful batch on
40 GB A100s), and prefill attention FLOPs grow with the square of the prompt.

Hand derivation for GPT-4 on the seed's 128 A100-40GB (TP 8 × PP 16, seed S16):
MQA keeps 1 KV head of 128 dims; every TP rank holds a copy, so per layer and token a chip stores
K and V: 2 × 1 × 128 × 2 B = 512 B; a stage holds ceil(120/16) = 8 layers: 4,096 B per token per chip.
* gpt-4-32k at its full context (28,672 prompt + 4,096 output = 32,768 tokens): 32,768 × 4,096 B =
  134.2 MB per sequence per chip.
* gpt-4 at its full 8k context (6,144 + 2,048): 8,192 × 4,096 B = 33.6 MB per sequence per chip.
Weights per chip on the fullest stage: 8 layers x (attention 2 x 14336^2 + 2 x 14336 x 128 = 414.7M, experts
16 x 2 x 14336 x 32768 = 15,032.4M, router 0.2M) / TP 8 = 15.45e9 parameters, plus the untied embedding or
LM head 100277 x 14336 / 8 = 0.18e9: 15.63e9 x 2 B = ~31.25 GB.  Usable: 0.9 x 40,960 MiB (the A100-40GB's
nvidia-smi total) = 0.9 x 42.95 GB = 38.65 GB, so ~7.40 GB is left for KV: the 32k model fits
7.40 GB / 134.2 MB = 55 sequences (about 3.4 per pipeline stage), the 8k model 7.40 GB / 33.6 MB = 220: a quarter.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt4plan.serving import Pins, Targets, Workload, evaluate, plan_inference
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

A100_40 = resolve_hardware("a100-40gb").with_price(1.0)
SEED = Pins(tp=8, pp=16)
LOOSE = Targets(tpot_max_s=10.0)  # no per-user speed target: the batch is limited by memory alone


def _plan(name: str, prompt: int, output: int, pins: Pins = SEED):
    res = plan_inference(resolve_model(name), A100_40, Workload(prompt, output), LOOSE, pins)
    return res


def test_kv_per_sequence_by_hand():
    r32 = _plan("gpt-4-32k", 28672, 4096).plans[1]
    r8 = _plan("gpt-4", 6144, 2048).plans[1]
    per_tok = 2 * 1 * 128 * 2 * 8  # K+V, 1 MQA head of 128, bf16, 8 layers per stage
    assert per_tok == 4096
    assert r32.kv_cache_per_chip_bytes / r32.batch == pytest.approx(32768 * per_tok, rel=1e-9)
    assert r8.kv_cache_per_chip_bytes / r8.batch == pytest.approx(8192 * per_tok, rel=1e-9)
    # the largest batch that fits: the free memory after the weights over the KV per sequence
    free = A100_40.memory * A100_40.usable_memory - r32.weights_per_chip_bytes
    assert r32.max_batch_by_memory == math.floor(free / (32768 * per_tok))
    assert r8.max_batch_by_memory == math.floor(free / (8192 * per_tok))


def test_gpt4_32k_cannot_run_at_a_useful_batch_on_a100_40gb():
    long = _plan("gpt-4-32k", 28672, 4096).plans[1]
    short = _plan("gpt-4", 6144, 2048).plans[1]
    assert long.max_batch_by_memory <= short.max_batch_by_memory / 4 + 1
    assert long.max_batch_by_memory < 4 * 16  # under 4 sequences per pipeline stage on 16 stages (55, above)
    assert short.max_batch_by_memory > 8 * 16
    # the cheapest plan runs at the largest batch that fits: KV capacity binds, not speed
    assert long.batch <= long.max_batch_by_memory and long.batch > long.max_batch_by_memory * 0.8
    # and a batch the 8k model serves does not fit the 32k model: memory binds
    for name, prompt, output, ok in (("gpt-4", 6144, 2048, True), ("gpt-4-32k", 28672, 4096, False)):
        res = _plan(name, prompt, output, Pins(tp=8, pp=16, batch=128))
        assert res.feasible is ok
        if not ok:
            assert res.binding_constraint == "memory"
    # so each output token costs more
    assert long.usd_per_1k_output_tokens > 1.5 * short.usd_per_1k_output_tokens


def test_128k_context_limits_llama_70b_batch_on_h100():
    """llama-3.1-70b at 128k (122,880 + 8,192 tokens) on 8 H100: 327,680 B of KV per token (80 layers x 8 KV
    heads x 128 x 2 x 2 B), 1/8 per chip: 5.37 GB per sequence per chip; ~11 GB free after 17.6 GB of
    weights and 8 GB reserve fits 10 sequences (vs 162 at 8k)."""
    h = resolve_hardware("h100-sxm")
    m = resolve_model("llama-3.1-70b")
    long = plan_inference(m, h, Workload(122880, 8192), LOOSE, Pins(tp=8, pp=1)).plans[1]
    short = plan_inference(m, h, Workload(6144, 2048), LOOSE, Pins(tp=8, pp=1)).plans[1]
    per_seq = 131072 * 327_680 / 8
    assert long.kv_cache_per_chip_bytes / long.batch == pytest.approx(per_seq, rel=1e-9)
    assert long.max_batch_by_memory == math.floor((h.memory * h.usable_memory - long.weights_per_chip_bytes) / per_seq)
    assert long.max_batch_by_memory <= 12 < short.max_batch_by_memory / 10


def test_prefill_attention_flops_quadratic_in_the_prompt():
    """Causal prefill of S tokens: attention scores 2 S^2 h d_h per layer (S tokens at a mean context S/2,
    4 c h d_h each); the second difference over S, 2S, 3S isolates it: 2 b S^2 with b = 2 h d_h Ls / tp."""
    m = resolve_model("gpt-4-32k")
    S = 8192.0

    def flops(P):
        r = evaluate(m, A100_40, Workload(int(P), 16), np.array([8]), np.array([16]), np.array([1]), np.array([1.0]))
        return r.flops_pre[0]

    second = flops(3 * S) - 2 * flops(2 * S) + flops(S)
    b = 2 * 112 * 128 * 8 / 8  # 112 heads of 128 dims, 8 layers per stage, TP 8
    assert second == pytest.approx(2 * b * S**2, rel=1e-9)
    assert flops(4 * S) > 4.5 * flops(S)  # super-linear: the 32k prompt costs > 4x the 8k one
