"""Measured MoE and MLA kernel tables: the nearest-shape rule, exact measured points, monotonicity, and
bit-identical numbers wherever no MoE or MLA table applies.

Expected values are derived by hand: the scaling rule on a two-row table built here, and measured points as
aiconfigurator-core 0.12.0 recorded them (h100_sxm, TensorRT-LLM 1.3.0rc20: ``moe_perf.parquet`` and
``generation_mla_perf.parquet``), cited where used.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt4plan.physics.kernels import MOE_MAX_LOG_DISTANCE, TABLE_DIR, KernelTables, tables_for
from gpt4plan.physics.measured import gemm_time_s, measured_pass_s, train_microbatch_s
from gpt4plan.physics.step import stage_model
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

DSV3_MLA = SimpleNamespace(qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, kv_lora_rank=512)


@pytest.fixture(scope="module")
def h100():
    return tables_for("h100-sxm", "trtllm")


def _without(kt: KernelTables, *prefixes: str) -> KernelTables:
    """``kt`` as it was before the MoE/MLA tables: the arrays starting with ``prefixes`` dropped."""
    return KernelTables(meta=kt.meta, arrays={k: v for k, v in kt.arrays.items() if not k.startswith(prefixes)})


def _toy() -> KernelTables:
    # one measured MoE row: bf16, gated, hidden 1000, inter 2000, top-2 of 8 experts, expert-TP 1, EP 1;
    # 1 ms at 1 token, 2 ms at 10, 10 ms at 100
    arrays = {"moe_dtypes": np.array(["bfloat16", "fp8", "fp8_block", "nvfp4"]),
              "moe_combos": np.array([[0, 1, 1000, 2000, 2, 8, 1, 1]], dtype=np.int32),
              "moe_tokens": np.array([1.0, 10.0, 100.0]), "moe_ms": np.array([[1.0, 2.0, 10.0]], dtype=np.float16)}
    return KernelTables(meta={}, arrays=arrays)


def test_the_exact_shape_reads_the_measured_row_unscaled():
    kt = _toy()
    row, scale, token_scale = kt.moe_combo("bf16", True, 1000.0, 2000.0, 2.0, 8.0, 1.0, 1.0)
    assert (row, scale, token_scale) == (0, 1.0, 1.0)
    assert kt.moe_s(0, np.array([1.0, 10.0, 100.0])) == pytest.approx([1e-3, 2e-3, 10e-3], rel=1e-12)
    # log-log between points: at sqrt(10 * 100) tokens, sqrt(2 ms * 10 ms); past 100, in proportion
    assert kt.moe_s(0, 1000 ** 0.5) == pytest.approx((2e-3 * 10e-3) ** 0.5, rel=1e-9)
    assert kt.moe_s(0, 200.0) == pytest.approx(20e-3, rel=1e-12)


def test_another_shape_is_scaled_by_its_rank_weights_at_equal_rows_per_expert():
    kt = _toy()
    # hidden 1500: distance log 1.5; the rank's expert weights 8 x 1500 x 2000 over 8 x 1000 x 2000 = 1.5x
    assert kt.moe_combo("bf16", True, 1500.0, 2000.0, 2.0, 8.0, 1.0, 1.0) == (0, 1.5, 1.0)
    # top-4 of 8: each expert gets 4/8 of the tokens against 2/8 measured -> read at twice the tokens;
    # same weights per rank -> scale 1: 5 tokens read as the measured 10 tokens (2 ms)
    row, scale, token_scale = kt.moe_combo("bf16", True, 1000.0, 2000.0, 4.0, 8.0, 1.0, 1.0)
    assert (scale, token_scale) == (1.0, 2.0)
    assert scale * kt.moe_s(row, 5.0 * token_scale) == pytest.approx(2e-3, rel=1e-12)
    # inter 4000 split over 2 chips: 2000 per chip, as measured -> the same row, scale 1
    assert kt.moe_combo("bf16", True, 1000.0, 4000.0, 2.0, 8.0, 2.0, 1.0) == (0, 1.0, 1.0)


def test_a_shape_too_far_a_non_gated_ffn_or_a_missing_precision_keeps_the_grouped_gemm():
    kt = _toy()
    assert MOE_MAX_LOG_DISTANCE == pytest.approx(np.log(3.0))
    assert kt.moe_combo("bf16", True, 4000.0, 2000.0, 2.0, 8.0, 1.0, 1.0) is None  # hidden 4x: log 4 > log 3
    assert kt.moe_combo("bf16", True, 2000.0, 3200.0, 2.0, 8.0, 1.0, 1.0) is None  # log 2 + log 1.6 > log 3
    assert kt.moe_combo("bf16", False, 1000.0, 2000.0, 2.0, 8.0, 1.0, 1.0) is None  # GELU MLP experts
    assert kt.moe_combo("fp8", True, 1000.0, 2000.0, 2.0, 8.0, 1.0, 1.0) is None  # no fp8 row
    assert kt.moe_combo("int8", True, 1000.0, 2000.0, 2.0, 8.0, 1.0, 1.0) is None


def test_mixtral_reads_the_moe_kernel_the_source_measured(h100):
    # aiconfigurator-core h100_sxm/moe/trtllm/1.3.0rc20: Mixtral-8x7B (hidden 4096, inter 14336, top-2 of 8),
    # bf16, moe_tp 2, balanced: 0.137 ms at 1 token, 0.487 ms at 64 tokens, 7.217 ms at 16,384 tokens
    row, scale, token_scale = h100.moe_combo("bf16", True, 4096.0, 14336.0, 2.0, 8.0, 2.0, 1.0)
    assert (scale, token_scale) == (1.0, 1.0)
    assert h100.moe_s(row, np.array([1.0, 64.0, 16384.0])) == pytest.approx([0.137e-3, 0.487e-3, 7.217e-3], rel=0.01)


def test_every_shipped_moe_table_is_finite_positive_and_milliseconds():
    for f in sorted(TABLE_DIR.glob("*.npz")):
        kt = tables_for(*f.name.split(".")[:2])
        if "moe_ms" in kt.arrays:
            ms = kt.arrays["moe_ms"].astype(float)
            # the fused MoE kernel of one rank: from ~10 us (one token) to under a second (16,384 tokens)
            assert np.isfinite(ms).all() and (ms > 0.005).all() and (ms < 1000).all(), f.name


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(1.0, 30_000.0), st.floats(1.0, 4.0))
def test_moe_time_never_falls_as_tokens_grow(row_seed, tokens, grow):
    kt = tables_for("h100-sxm", "trtllm")
    row = row_seed % len(kt.arrays["moe_combos"])
    assert kt.moe_s(row, tokens * grow) >= kt.moe_s(row, tokens) * (1 - 1e-12)  # flat: equal up to rounding


def test_mla_reads_measured_points_exactly(h100):
    # DeepSeek-V3 at TP 8: 16 query heads per rank; 64 sequences holding 1,023 tokens, bf16 KV cache.  The
    # source measured 0.046677 ms (generation_mla_perf.parquet, num_heads 16, batch 64, step 1023); the table
    # cell is returned as it is.  (Before outliers were dropped, a 63x spike at 2 heads carried through the
    # monotone repair made it 0.1667 ms.)
    a = h100.arrays
    cell = float(a["mla_generation_s"][1, 4, 6, 9])
    assert (a["mla_generation_heads"][4], a["mla_generation_batch"][6], a["mla_generation_length"][9]) == (16, 64, 1023)
    assert cell == pytest.approx(0.046677e-3, rel=0.01)
    assert h100.mla_s("generation", 64.0, 1023.0, 16.0, False, DSV3_MLA) == pytest.approx(cell, rel=1e-9)
    # another MLA: a 1024-wide latent is read per decoding head, (1024 + 64) / (512 + 64) of the measured one
    wide = SimpleNamespace(**{**vars(DSV3_MLA), "kv_lora_rank": 1024})
    assert h100.mla_s("generation", 64.0, 1023.0, 16.0, False, wide) == pytest.approx(cell * 1088 / 576, rel=1e-9)
    assert h100.mla_s("context", 0.0, 1024.0, 16.0, False, DSV3_MLA) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["context", "generation"]), st.floats(1.0, 128.0), st.floats(1.0, 512.0),
       st.floats(16.0, 60_000.0), st.integers(0, 2), st.floats(1.0, 3.0), st.booleans())
def test_mla_time_never_falls_as_heads_batch_or_length_grow(kind, heads, batch, length, axis, grow, fp8):
    kt = tables_for("h100-sxm", "trtllm")
    base = [heads, batch, length]
    bigger = list(base)
    bigger[axis] *= grow
    t0 = kt.mla_s(kind, base[1], base[2], base[0], fp8, DSV3_MLA)
    t1 = kt.mla_s(kind, bigger[1], bigger[2], bigger[0], fp8, DSV3_MLA)
    assert t1 >= t0 * (1 - 1e-12)


def test_a_mixtral_decode_pass_swaps_the_grouped_gemm_for_the_measured_kernel(h100):
    # Mixtral-8x7B, TP 2 (expert TP 2, EP 1), 64 sequences decoding: 64 tokens, 2 copies each over 8 experts ->
    # 16 rows per expert, all 8 touched, imbalance 1 (one EP rank).  Before: per layer the grouped GEMMs
    # [16, 4096] x [4096, 8 x 2 x 7168] and [16, 7168] x [7168, 8 x 4096]; now the measured kernel at 64 tokens
    # (0.487 ms, above the 8 x 3 x 4096 x 7168 x 2 B / 3.35 TB/s = 0.42 ms weight read). 32 MoE layers.
    model, hw = resolve_model("mixtral-8x7b"), resolve_hardware("h100-sxm")
    st_ = stage_model(model, hw, np.array([2.0]), 1.0, 1.0, prompt_tokens=512, output_tokens=512, kernels=h100)
    args = ("bf16", np.array([64.0]), 1.0, 0.0, np.array([64.0]), np.array([8.0]), np.array([1.0]))
    now = measured_pass_s(st_, h100, *args)
    before = measured_pass_s(st_, _without(h100, "moe_"), *args)
    peak, bw = hw.peak("bf16"), hw.memory_bandwidth
    grouped = (gemm_time_s(h100, "bf16", peak, bw, 2.0, 16.0, 8 * 2 * 7168.0, 4096.0)
               + gemm_time_s(h100, "bf16", peak, bw, 2.0, 16.0, 8 * 4096.0, 7168.0))
    measured = h100.moe_s(h100.moe_combo("bf16", True, 4096.0, 14336.0, 2.0, 8.0, 2.0, 1.0)[0], 64.0)
    assert measured == pytest.approx(0.487e-3, rel=0.01)
    assert float(now[0] - before[0]) == pytest.approx(32 * float(measured - grouped), rel=1e-9)


def _plan_t(model_name, kt, tp=(1.0, 2.0, 4.0, 8.0), ep=1.0, weights="bf16"):
    model, hw = resolve_model(model_name), resolve_hardware("h100-sxm")
    st_ = stage_model(model, hw, np.array(tp), 1.0, ep, prompt_tokens=2048, output_tokens=512, weights=weights,
                      kernels=kt)
    out = []
    for nb, n_pre in ((1.0, 0.0), (64.0, 0.0), (0.0, 4.0), (32.0, 1.0)):
        out += st_.forward(np.array(nb), 1.0, np.array(n_pre)).t.tolist()
    return out


def test_a_dense_model_gives_bit_identical_numbers_with_or_without_the_new_tables(h100):
    assert _plan_t("llama-3.1-70b", h100) == _plan_t("llama-3.1-70b", _without(h100, "moe_", "mla_"))


def test_a_moe_shape_far_from_every_measured_one_gives_bit_identical_numbers(h100):
    # GPT-4's experts (GELU MLP, hidden 14336, 32768 wide, top-2 of 16) are more than 3x from the H100 tables'
    # non-gated shapes (hidden 2048-8192, top-6 and top-22): the grouped GEMM prices them, as before
    model = resolve_model("gpt-4")
    assert h100.moe_combo("bf16", model.ffn_gated, 14336.0, 32768.0, 2.0, 16.0, 8.0, 1.0) is None
    assert _plan_t("gpt-4", h100, tp=(8.0,)) == _plan_t("gpt-4", _without(h100, "moe_"), tp=(8.0,))


def test_tables_without_moe_or_mla_price_deepseek_as_before():
    # the vLLM tables hold no MLA attention table: DeepSeek-V3's attention stays the roofline
    kt = tables_for("h100-sxm", "vllm")
    assert not kt.has_mla("context") and not kt.has_mla("generation")
    assert (_plan_t("deepseek-v3", _without(kt, "moe_"), tp=(8.0,), weights="fp8")
            == _plan_t("deepseek-v3", _without(kt, "moe_", "mla_"), tp=(8.0,), weights="fp8"))


def test_training_without_a_near_moe_shape_is_bit_identical_and_with_one_scales_the_backward(h100):
    hw = resolve_hardware("h100-sxm")
    args = ("bf16", hw.peak("bf16"), hw.peak("bf16"), hw.memory_bandwidth, np.array([1.0, 2.0]), np.array([1.0, 2.0]),
            np.array([1.0, 1.0]), 4096.0, 1.0, 32.0, 0.0)
    mixtral = resolve_model("mixtral-8x7b")
    plain = train_microbatch_s(mixtral, _without(h100, "moe_"), *args)
    assert train_microbatch_s(resolve_model("llama-3.1-8b"), h100, *args).tolist() == \
        train_microbatch_s(resolve_model("llama-3.1-8b"), _without(h100, "moe_", "mla_"), *args).tolist()
    with_table = train_microbatch_s(mixtral, h100, *args)
    # Mixtral is measured at its own shape: the measured kernel replaces the grouped GEMM, so the number moves
    assert np.all(with_table != plain) and np.all(np.isfinite(with_table))


def test_an_isolated_spike_is_dropped_and_refilled_from_its_neighbours():
    from gpt4plan.distill.repair import drop_spikes, fill_loglog

    # 14, 15, 2223, 15, 16 us along one axis (the H200 MLA decode outlier): 2223 > 3 x max(15, 15) -> dropped;
    # a cell twice its smaller neighbour (a doubled batch) is not a spike
    t = np.array([[14.0, 15.0, 2223.0, 15.0, 16.0], [10.0, 20.0, 40.0, 80.0, 160.0]])
    assert drop_spikes(t, (1,)) == 1 and np.isnan(t[0, 2]) and np.isfinite(t[1]).all()
    # refilled log-log between 15 at x = 2 and 15 at x = 4 -> 15
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert fill_loglog(x, t[0])[2] == pytest.approx(15.0)
