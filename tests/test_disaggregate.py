"""Disaggregated prefill/decode (`infer --disaggregate`): a case where it wins (long prompts, tight TPOT)
and one where it loses (short prompts), each with its reason, and the pool arithmetic by hand.

llama-3.1-70b KV cache per token (bf16): 2 (K, V) × 80 layers × 8 KV heads × 128 × 2 B = 327,680 B,
so an 8,192-token prompt sends 2.684e9 B from the prefill pool to the decode pool.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gpt4plan.cli import main
from gpt4plan.scenario import cli_flag
from gpt4plan.serving import Targets, Workload, evaluate, plan_inference, word_serve_issue
from gpt4plan.serving.disaggregate import (
    PREFILL_MAX_UTILIZATION,
    aggregated_prefill_share,
    plan_disaggregated,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")
A100_40 = resolve_hardware("a100-40gb")


@pytest.fixture(scope="module")
def long_prompts():
    m = resolve_model("llama-3.1-70b")
    wl, tg = Workload(8192, 256), Targets(tpot_max_s=0.03)
    agg = plan_inference(m, H100, wl, tg)
    return m, wl, tg, agg, plan_disaggregated(m, H100, wl, tg, agg)


@pytest.fixture(scope="module")
def short_prompts():
    m = resolve_model("gpt-4")
    wl, tg = Workload(128, 512), Targets(tpot_max_s=1 / 8.33)
    agg = plan_inference(m, A100_40, wl, tg)
    return m, wl, tg, agg, plan_disaggregated(m, A100_40, wl, tg, agg)


def test_wins_with_long_prompts_and_a_tight_tpot(long_prompts):
    _, _, _, agg, dis = long_prompts
    assert agg.feasible and dis.feasible
    a, d = agg.plans[1], dis.plans[1]
    assert dis.verdict == "wins"
    assert d.usd_per_1k_tokens_blended < 0.8 * a.usd_per_1k_tokens_blended
    # why: prefills of 8k-token prompts fill a large share of every aggregated round, which caps its batch
    assert dis.aggregated_prefill_share == pytest.approx(aggregated_prefill_share(a))
    assert dis.aggregated_prefill_share > 0.3
    assert d.batch > 4 * a.batch
    why = word_serve_issue(dis.verdict_reason, cli_flag)
    assert "8,192-token prompts take" in why and f"holds its batch at {a.batch}" in why
    assert d.tpot_s <= 0.03 * (1 + 1e-9)


def test_loses_with_short_prompts(short_prompts):
    _, _, _, agg, dis = short_prompts
    assert agg.feasible and dis.feasible
    a, d = agg.plans[1], dis.plans[1]
    assert dis.verdict == "loses"
    assert d.usd_per_1k_tokens_blended > a.usd_per_1k_tokens_blended
    assert d.chips > a.chips
    # why: 128-token prefills hardly disturb decoding, and a second copy of GPT-4's weights sits mostly idle
    assert dis.aggregated_prefill_share < 0.1
    assert d.prefill_utilization < 0.5
    why = word_serve_issue(dis.verdict_reason, cli_flag)
    assert "128-token prompts take" in why and "only" in why
    assert "of the weights) is busy" in why


def test_pool_arithmetic_by_hand(long_prompts):
    m, wl, tg, _, dis = long_prompts
    for d in dis.plans:
        assert d.chips == d.decode_chips + d.prefill_chips
        assert d.decode_chips == d.decode_replicas * d.decode_tp * d.decode_pp
        assert d.prefill_chips == d.prefill_replicas * d.prefill_tp * d.prefill_pp
        # KV transfer: 8192 × 327,680 B over min(prefill, decode replica chips) scale-out links
        assert d.kv_transfer_bytes_per_request == 8192 * 327_680
        links = min(d.prefill_tp * d.prefill_pp, d.decode_tp * d.decode_pp)
        bw = 50e9 * H100.efficiency.network
        assert d.kv_transfer_s == pytest.approx(8192 * 327_680 / (links * bw) + H100.scale_out.latency, rel=1e-9)
        assert d.ttft_s == pytest.approx(d.prefill_queue_s + d.prefill_latency_s + d.kv_transfer_s, rel=1e-9)
        # decode pool: TPOT = pp × decode step, no prefill mixed in
        r = evaluate(m, H100, wl, np.array([d.decode_tp]), np.array([d.decode_pp]), np.array([d.decode_ep]),
                     np.array([d.batch / d.decode_pp]))
        assert d.tpot_s == pytest.approx(d.decode_pp * r.t_dec[0], rel=1e-9)
        # prefill pool sized to the request rate the decode pool drains, with 20% headroom
        rate = d.throughput_tokens_per_s / wl.output_tokens
        rp = evaluate(m, H100, wl, np.array([d.prefill_tp]), np.array([d.prefill_pp]), np.array([d.prefill_ep]),
                      np.array([1.0]))
        mu = 1 / rp.t_pre[0]
        assert d.prefill_latency_s == pytest.approx(d.prefill_pp * rp.t_pre[0], rel=1e-9)
        assert d.prefill_utilization == pytest.approx(rate / (d.prefill_replicas * mu), rel=1e-9)
        need = max(1, math.ceil(rate / (PREFILL_MAX_UTILIZATION * mu) - 1e-9))
        assert d.prefill_replicas in (need, need + 1)
        assert d.prefill_utilization <= PREFILL_MAX_UTILIZATION * (1 + 1e-9)
        # M/D/1 wait
        rho = d.prefill_utilization
        assert d.prefill_queue_s == pytest.approx(rho / (2 * mu * (1 - rho)), rel=1e-9)
        # dollars: decode pool per output token, prefill pool per input token
        usd_d = d.decode_chips * H100.price / 3600
        usd_p = d.prefill_chips * H100.price / 3600
        assert d.usd_per_1k_output_tokens == pytest.approx(usd_d / d.throughput_tokens_per_s * 1000, rel=1e-9)
        assert d.usd_per_1k_input_tokens == pytest.approx(usd_p / (rate * 8192) * 1000, rel=1e-9)
        assert d.usd_per_1k_tokens_blended == pytest.approx(
            (usd_d + usd_p) / (d.throughput_tokens_per_s * (8192 + 256) / 256) * 1000, rel=1e-9)
    a, b = dis.plans
    assert a.chips <= b.chips and b.usd_per_1k_tokens_blended <= a.usd_per_1k_tokens_blended


def test_demand_sizes_both_pools():
    m = resolve_model("llama-3.1-8b")
    wl, tg = Workload(4096, 256), Targets(tpot_max_s=0.03, demand_tokens_per_s=200_000)
    dis = plan_disaggregated(m, H100, wl, tg)
    assert dis.feasible
    for d in dis.plans:
        assert d.throughput_tokens_per_s == pytest.approx(200_000)
        assert d.decode_replicas >= 2


def test_ttft_target_binds():
    m = resolve_model("llama-3.1-70b")
    dis = plan_disaggregated(m, H100, Workload(8192, 256), Targets(tpot_max_s=0.03, ttft_max_s=0.01))
    assert not dis.feasible and dis.binding_constraint == "ttft"


def _run(capsys, *args):
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_table_shows_both_and_the_reason(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    rc, out, _ = _run(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--prompt-tokens", "8192",
                      "--output-tokens", "256", "--tpot", "30ms", "--disaggregate")
    assert rc == 0
    assert "Disaggregated prefill/decode vs aggregated" in out
    assert "Disaggregation wins" in out and "prompts take" in out
    assert out.index("Plans") < out.index("Disaggregated") < out.index("Why:")  # answer first, then why
    rc, out, _ = _run(capsys, "infer", "--prompt-tokens", "128", "--disaggregate")
    assert rc == 0
    assert "Disaggregation loses" in out and "busy" in out


def test_cli_json(capsys):
    rc, out, _ = _run(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--prompt-tokens", "8192",
                      "--output-tokens", "256", "--tpot", "30ms", "--disaggregate", "--format", "json")
    assert rc == 0
    d = json.loads(out)["disaggregated"]
    assert d["verdict"] == "wins" and d["feasible"]
    assert [p["objective"] for p in d["plans"]] == ["min_chips", "min_cost"]
    assert d["plans"][1]["chips"] == d["plans"][1]["decode_chips"] + d["plans"][1]["prefill_chips"]


@pytest.mark.parametrize("extra, needle", [
    (("--tp", "8"), "--disaggregate searches both pools"),
    (("--format", "csv"), "--disaggregate: use --format table or json"),
    (("--sweep", "prompt-tokens=128,256"), "--disaggregate and --sweep"),
])
def test_cli_bad_combinations(capsys, extra, needle):
    rc, _, err = _run(capsys, "infer", "--disaggregate", *extra)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0]
