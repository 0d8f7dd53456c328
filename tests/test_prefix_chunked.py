"""Prefix caching and chunked prefill in the steady-state model (issue 14, items 4 and 5): hand-derived figures.

Model: llama-2-7b (d 4096, 32 layers, 32 heads of 128, 32 KV heads, gated FFN 11008, vocab 32000, untied,
RMSNorm), one chip (TP 1, PP 1), bf16.  Per layer the stage model's matmul parameters are attention
4 x 4096^2 = 67,108,864 plus its share of the norms (2 x 4096 per layer + 4096 / 32 of the final one = 8,320)
and the FFN 3 x 4096 x 11008 = 135,266,304: 202,383,488 per layer, 6,476,271,616 for 32 layers; the LM head
4096 x 32000 = 131,072,000 runs on one token per prompt.  Attention (arch.attention_flops_per_token) is
4 c h d_h L = 4 x 32 x 128 x 32 c = 524,288 c FLOP per token at context c.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt4plan.physics import arch
from gpt4plan.physics.step import stage_model
from gpt4plan.serving import Workload
from gpt4plan.serving.evaluation import evaluate
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

M = resolve_model("llama-2-7b")
H = resolve_hardware("h100-sxm")
ONE = np.array([1.0])


def _stage(prefix=0, hit=1.0, prompt=2048, output=512):
    return stage_model(M, H, ONE, ONE, ONE, prompt_tokens=prompt, output_tokens=output, prefix_tokens=prefix,
                       prefix_hit_rate=hit)


def test_prefix_of_1536_of_2048_cuts_prefill_flops_by_the_hand_fraction():
    """One 2,048-token prompt prefilled alone on one chip.

    Without a cache: 2 x (2048 x 6,476,271,616 + 131,072,000) = 26,527,070,683,136 matmul FLOP, plus attention
    at the mean context 1,024: 2048 x 524,288 x 1024 = 1,099,511,627,776; total 27,626,582,310,912.
    1,536 tokens cached: the 512 new tokens sit at positions 1,536..2,047 and still attend over the context up
    to their own, mean (1536 + 2048) / 2 = 1,792: matmuls 2 x (512 x 6,476,271,616 + 131,072,000) =
    6,631,964,278,784, attention 512 x 524,288 x 1792 = 481,036,337,152; total 7,113,000,615,936.
    Fraction left: 7,113,000,615,936 / 27,626,582,310,912 = 0.25747 (not 512/2048 = 0.25: the new tokens'
    attention is over the long context, and the LM head runs once either way).
    """
    full = _stage().forward(0.0, 1.0, 1.0).flops[0]
    cached = _stage(1536).forward(0.0, 1.0, 1.0).flops[0]
    assert full == 27_626_582_310_912
    assert cached == 7_113_000_615_936
    assert cached / full == pytest.approx(0.257469, abs=1e-6)


def test_prefill_with_prefix_tokens_and_mean_context():
    """arch.prefill_with_prefix: 512 tokens at context 1,792 (hit); a 50% hit rate: (512 + 2048) / 2 = 1,280
    tokens with attention (0.5 x 512 x a(1792) + 0.5 x 2048 x a(1024)) / 1280 per token."""
    a = arch.attention_flops_per_token
    assert arch.prefill_with_prefix(M, 2048, 1536) == (512.0, a(M, 1792.0))
    tokens, attn = arch.prefill_with_prefix(M, 2048, 1536, 0.5)
    assert tokens == 1280.0
    assert attn == pytest.approx((0.5 * 512 * 524_288 * 1792 + 0.5 * 2048 * 524_288 * 1024) / 1280)
    assert arch.prefill_with_prefix(M, 2048, 0) == (2048.0, a(M, 1024.0))


def test_shared_prefix_is_held_once_per_replica():
    """KV per token per layer 2 x 32 x 128 x 2 B = 16,384, x 32 layers = 524,288 B.  The 1,536-token prefix is
    held once: 1536 x 524,288 = 805,306,368 B per chip; each sequence keeps only its own 2048 + 512 - 1536 =
    1,024 tokens: 536,870,912 B (without the cache 2,560 tokens: 1,342,177,280 B)."""
    s = _stage(1536)
    assert s.kv_shared[0] == 805_306_368
    assert s.kv_per_seq[0] == 536_870_912
    assert _stage().kv_per_seq[0] == 1_342_177_280
    half = _stage(1536, 0.5)  # misses keep their own copy: 2560 - 0.5 x 1536 = 1,792 tokens per sequence
    assert half.kv_per_seq[0] == 1792 * 524_288 and half.kv_shared[0] == 805_306_368


def test_hit_rate_zero_is_no_prefix_caching_bit_for_bit():
    base = evaluate(M, H, Workload(), ONE, ONE, ONE, np.array([16.0]))
    none = evaluate(M, H, Workload(prefix_tokens=1536, prefix_hit_rate=0.0), ONE, ONE, ONE, np.array([16.0]))
    for f in ("tpot", "ttft", "round", "mem", "usd_in", "usd_blend", "mfu", "usd_in_uncached"):
        assert np.array_equal(getattr(base, f), getattr(none, f)), f
    assert none.prefill_chunks is None and not none.kv_shared.any()
    assert np.array_equal(base.usd_in_uncached, base.usd_in)  # no token cached: every one is uncached


def test_cached_and_uncached_input_costs_make_up_the_blended_figure():
    """usd_in x P = cached x (R C) + uncached x (P - R C); a cached token costs one read of its KV: 524,288 B
    at the chip's usable bandwidth, at the chip's $/s."""
    wl = Workload(prefix_tokens=1536, prefix_hit_rate=0.75)
    r = evaluate(M, H, wl, ONE, ONE, ONE, np.array([32.0]))
    cached, uncached, blended = r.usd_in_cached[0], r.usd_in_uncached[0], r.usd_in[0]
    assert blended * 2048 == pytest.approx(cached * 0.75 * 1536 + uncached * (2048 - 0.75 * 1536), rel=1e-12)
    read_s = 524_288 / (H.memory_bandwidth * H.efficiency.memory)
    assert cached == pytest.approx(H.price / 3600 * read_s * 1000, rel=1e-12)
    assert cached < uncached / 20  # reading a token's KV is far cheaper than computing it


def test_prefix_caching_cuts_input_cost_and_ttft():
    plain = evaluate(M, H, Workload(), ONE, ONE, ONE, np.array([32.0]))
    cached = evaluate(M, H, Workload(prefix_tokens=1536), ONE, ONE, ONE, np.array([32.0]))
    assert cached.usd_in[0] < 0.5 * plain.usd_in[0]
    assert cached.ttft[0] < plain.ttft[0] and cached.mem[0] < plain.mem[0]


def test_chunked_prefill_passes_per_prompt():
    """Budget 520 tokens, microbatch 8 decoding: 512 tokens a pass for prompts, so a 2,048-token prompt takes
    ceil(2048 / 512) = 4 passes; with 1,536 cached, 512 tokens: 1 pass; half the requests hit: 0.5 x 1 +
    0.5 x 4 = 2.5 passes."""
    b = np.array([8.0])
    assert evaluate(M, H, Workload(max_batched_tokens=520), ONE, ONE, ONE, b).prefill_chunks[0] == 4
    assert evaluate(M, H, Workload(prefix_tokens=1536, max_batched_tokens=520), ONE, ONE, ONE, b).prefill_chunks[0] == 1
    wl = Workload(prefix_tokens=1536, prefix_hit_rate=0.5, max_batched_tokens=520)
    assert evaluate(M, H, wl, ONE, ONE, ONE, b).prefill_chunks[0] == 2.5


def test_chunked_prefill_ttft_is_the_chunks_through_the_stages():
    """TTFT = pp (chunks x mixed pass + draft prefill) + round / 2 + overheads; with 4 chunks of 512 tokens each
    mixed pass carries 512 prompt tokens, so it is shorter than a pass carrying the whole prompt, but the
    prompt's own prefill takes four of them."""
    b = np.array([8.0])
    whole = evaluate(M, H, Workload(), ONE, ONE, ONE, b)
    chunked = evaluate(M, H, Workload(max_batched_tokens=520), ONE, ONE, ONE, b)
    assert chunked.t_mixed[0] < whole.t_mixed[0]
    overheads = whole.ttft[0] - whole.t_mixed[0] - whole.round[0] / 2
    assert chunked.ttft[0] == pytest.approx(4 * chunked.t_mixed[0] + chunked.round[0] / 2 + overheads, rel=1e-12)
    assert chunked.ttft[0] > whole.ttft[0]


def test_a_budget_larger_than_any_pass_changes_nothing():
    b = np.array([1.0, 8.0, 64.0, 512.0])
    T = np.ones_like(b)
    whole = evaluate(M, H, Workload(), T, T, T, b)
    wide = evaluate(M, H, Workload(max_batched_tokens=1_000_000), T, T, T, b)
    for f in ("tpot", "ttft", "round", "usd_in", "usd_blend"):
        np.testing.assert_allclose(getattr(wide, f), getattr(whole, f), rtol=1e-12)
    assert (wide.prefill_chunks == 1).all()


def test_a_budget_that_cannot_admit_the_batch_makes_ttft_infinite():
    """Microbatch 512, 512 output tokens: one 2,048-token prompt arrives per pass; a 600-token budget leaves
    88 tokens for prompts: the slots cannot refill, the queue grows without bound."""
    r = evaluate(M, H, Workload(max_batched_tokens=600), ONE, ONE, ONE, np.array([512.0]))
    assert math.isinf(r.ttft[0]) and math.isinf(r.prefill_chunks[0])


@settings(max_examples=40, deadline=None)
@given(cached=st.integers(0, 2047), hit=st.floats(0.0, 1.0))
def test_prefill_flops_fall_with_the_cache_and_mix_hits_and_misses(cached, hit):
    """A prompt's FLOPs with the cache are at most those without, and a hit rate R mixes a hit's and a miss's
    FLOPs linearly (the stage model's FLOPs are linear in the tokens and the attention FLOPs)."""
    full = _stage().forward(0.0, 1.0, 1.0).flops[0]
    hit_all = _stage(cached).forward(0.0, 1.0, 1.0).flops[0]
    mixed = _stage(cached, hit).forward(0.0, 1.0, 1.0).flops[0]
    assert hit_all <= full
    assert mixed == pytest.approx(hit * hit_all + (1 - hit) * full, rel=1e-9)
