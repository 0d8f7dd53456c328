"""Per-request replay and its percentiles (serving/replay.py ``replay``, serving/scheduler.py, serving/traffic.py):
expectations derived by hand -- a lone request, a three-request trace's timeline, the Pollaczek-Khinchine
mean wait of an M/D/1 queue -- or from the steady-state model at zero spread.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt4plan.serving import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, Workload, evaluate
from gpt4plan.serving.replay import replay
from gpt4plan.serving.scheduler import PassTimes, moe_jitter_cv
from gpt4plan.serving.step import stage_model
from gpt4plan.serving.traffic import Requests, Traffic, draw_arrivals, draw_lengths, requests_at
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")
M = resolve_model("llama-2-7b")
OVERHEAD = RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S


def _reqs(arrival, prompt, output) -> Requests:
    return Requests(np.asarray(arrival, float), np.asarray(prompt, np.int64), np.asarray(output, np.int64))


def _pass_s(wl: Workload, nb: float, tok: float) -> float:
    """One pass of the one-stage llama-2-7b layout over ``nb`` decoding sequences and ``tok`` prompt tokens."""
    s = stage_model(M, H100, wl, np.array([1.0]), np.array([1.0]), np.array([1.0]))
    return float(s.forward(np.array([nb]), 1.0, np.array([tok / wl.prompt_tokens])).t[0])


def test_lone_requests_percentiles_equal_the_steady_state_at_batch_one():
    """Zero spread, constant arrivals 100 s apart (each request alone): every request's TTFT is the prompt's
    prefill plus the overheads (the steady state's ttft_static + the serving stack's overhead), its TPOT the
    bare decode step (the steady state's TPOT at batch 1), so p50 = p90 = p99 = those figures."""
    wl = Workload(1000, 200)
    r = evaluate(M, H100, wl, [1], [1], [1], [1.0])
    reqs = requests_at(Traffic(arrival_cv=0.0, requests=50), 1000, 200, 0.01, M.max_context)
    res = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=1)
    p = res.percentiles()
    ttft = float(r.ttft_static[0]) + SERVING_TTFT_OVERHEAD_S
    tpot = float(r.tpot[0])
    for q in ("p50", "p90", "p99"):
        assert p["ttft_s"][q] == pytest.approx(ttft, rel=1e-9)
        assert p["tpot_s"][q] == pytest.approx(tpot, rel=1e-9)
        assert p["e2e_s"][q] == pytest.approx(ttft + 199 * tpot, rel=1e-9)


def test_constant_arrivals_at_the_steady_state_rate_give_its_tpot():
    """Constant arrivals at the steady state's request rate at batch 64 (throughput / output tokens) with the
    batch capped at 64: once ramped up, the replica runs the steady state; its median TPOT is the steady
    state's within the scheduling's granularity (prompts one pass at a time, not averaged over passes)."""
    wl = Workload(1000, 200)
    r = evaluate(M, H100, wl, [1], [1], [1], [64.0])
    rate = float(r.throughput[0]) / 200
    reqs = requests_at(Traffic(arrival_cv=0.0, requests=3000), 1000, 200, rate, M.max_context)
    res = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=64)
    p = res.percentiles()
    assert p["tpot_s"]["p50"] == pytest.approx(float(r.tpot[0]), rel=0.03)
    assert p["tpot_s"]["p99"] == pytest.approx(float(r.tpot[0]), rel=0.05)  # no spread: the tail is the median


@pytest.mark.parametrize("rho, rel", [(0.5, 0.04), (0.8, 0.08)])
def test_md1_mean_wait_is_pollaczek_khinchine(rho, rel):
    """One sequence at a time (max_batch 1) and one output token: each request is served by one prefill pass
    of deterministic length S, first come first served, Poisson arrivals at rate rho / S -- an M/D/1 queue.
    Pollaczek-Khinchine: mean wait W = rho / (2 mu (1 - rho)) = rho S / (2 (1 - rho)); a request finds the
    server idle (waits 0) with probability 1 - rho."""
    wl = Workload(1000, 1)
    S = float(evaluate(M, H100, wl, [1], [1], [1], [1.0]).prefill_latency[0])
    reqs = requests_at(Traffic(requests=60_000, seed=3), 1000, 1, rho / S, M.max_context)
    res = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=1)
    wait = res.ttft_s - OVERHEAD - S
    assert np.mean(wait) == pytest.approx(rho * S / (2 * (1 - rho)), rel=rel)
    assert np.mean(wait < 1e-9 * S) == pytest.approx(1 - rho, abs=0.015)


def test_three_request_trace_by_hand():
    """A (1000 prompt, 4 output) at 0; B (1000, 2) at 1 ms, during A's prefill; C (500, 1) at 10 s, alone.

    pass 1: A's prompt alone (a = pass(0 decoding, 1000 tokens)): A's first token at t1 = a.
    pass 2: B admitted; A decodes with B's prompt (b = pass(1, 1000)): B's first token at t2 = t1 + b.
    pass 3: A and B decode (pass(2, 0)): B's second and last token at t3.
    pass 4: A alone decodes (pass(1, 0)): A's fourth and last token at t4.
    idle until 10 s; pass 5: C's 500-token prompt alone (c = pass(0, 500)): its only token at 10 + c."""
    wl = Workload(1000, 4)
    a, b, c = _pass_s(wl, 0, 1000), _pass_s(wl, 1, 1000), _pass_s(wl, 0, 500)
    t1 = a
    t2 = t1 + b
    t3 = t2 + _pass_s(wl, 2, 0)
    t4 = t3 + _pass_s(wl, 1, 0)
    res = replay(M, H100, wl, 1, 1, 1, _reqs([0.0, 0.001, 10.0], [1000, 1000, 500], [4, 2, 1]), exact=True)
    np.testing.assert_allclose(res.ttft_s, np.array([t1, t2 - 0.001, c]) + OVERHEAD, rtol=1e-12)
    np.testing.assert_allclose(res.e2e_s, np.array([t4, t3 - 0.001, c]) + OVERHEAD, rtol=1e-12)
    np.testing.assert_allclose(res.tpot_s, [(t4 - t1) / 3, t3 - t2], rtol=1e-12)  # C has one token: no TPOT
    assert res.duration_s == pytest.approx(10 + c, rel=1e-12)
    assert res.max_running == 2


def test_interpolated_pass_times_agree_with_exact_ones():
    """A mixed pass interpolated on the token grid is within 0.5% of the stage model's own price at every
    prompt-token count of the pass budget; a replay on them gives the exact replay's percentiles within 5%
    (the timeline shifts a little: a pass ending sooner admits a request one pass earlier)."""
    wl = Workload(2048, 256)
    s = stage_model(M, H100, wl, np.array([1.0]), np.array([1.0]), np.array([1.0]))
    times = PassTimes(s, 1, 2048, 64, 8192, exact=False)
    tok = np.arange(1, 8193)
    for nb in (0, 10, 63):
        want = s.forward(np.full(tok.shape, float(nb)), 1.0, tok / 2048).t
        got = np.array([times.mixed(nb, int(t))[0] for t in tok])
        assert np.max(np.abs(got / want - 1)) < 0.005
    reqs = requests_at(Traffic(prompt_cv=0.8, output_cv=0.5, arrival_cv=1.5, requests=400), 2048, 256, 3.0,
                       M.max_context)
    grid = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=64).percentiles()
    exact = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=64, exact=True).percentiles()
    for k in grid:
        for q in grid[k]:
            assert grid[k][q] == pytest.approx(exact[k][q], rel=0.05)


def test_kv_budget_holds_long_requests_back():
    """A request reserves its own prompt + output tokens of KV cache: with 40 times the mean shape's tokens,
    the free memory (~100 mean sequences on one H100: test_serving_sim) holds 2 of them at once."""
    wl = Workload(1000, 200)
    reqs = _reqs(np.zeros(6), [40_000] * 6, [8_000] * 6)
    res = replay(M, H100, wl, 1, 1, 1, reqs, max_batch=64)
    assert res.max_running == 2


def test_moe_jitter_spreads_tpot_and_is_reproducible():
    """Mixtral with EP 2, requests of 2 output tokens arriving alone: each TPOT is one decode pass of one
    sequence, so without the jitter every TPOT is the same and with it they spread by that pass's coefficient
    of variation (moe_jitter_cv; 400 draws: within 15%).  The same seed gives the same run; a dense model's
    passes do not vary."""
    mx = resolve_model("mixtral-8x7b")
    wl = Workload(512, 2)
    reqs = requests_at(Traffic(arrival_cv=0.0, requests=400), 512, 2, 1.0, mx.max_context)
    on = replay(mx, H100, wl, 2, 1, 2, reqs, max_batch=8, seed=1)
    off = replay(mx, H100, wl, 2, 1, 2, reqs, max_batch=8, jitter=False)
    again = replay(mx, H100, wl, 2, 1, 2, reqs, max_batch=8, seed=1)
    np.testing.assert_array_equal(on.tpot_s, again.tpot_s)
    assert np.std(off.tpot_s) < 1e-12
    s = stage_model(mx, H100, wl, np.array([2.0]), np.array([1.0]), np.array([2.0]))
    cv = moe_jitter_cv(s, s.forward(np.array([1.0]), 1.0, np.array([0.0])), 1.0)[0]
    assert 0 < cv < 0.2
    assert np.std(on.tpot_s) / np.mean(on.tpot_s) == pytest.approx(cv, rel=0.15)
    assert np.mean(on.tpot_s) == pytest.approx(off.tpot_s[0], rel=3 * cv / 20)  # mean 1: the mean is unchanged
    dense = stage_model(M, H100, wl, np.array([1.0]), np.array([1.0]), np.array([1.0]))
    assert moe_jitter_cv(dense, dense.forward(np.array([8.0]), 1.0, np.array([0.0])), 8.0)[0] == 0.0


def test_moe_jitter_cv_by_hand():
    """Mixtral (8 experts, top 2, 32 MoE layers) with EP 2 and 16 tokens: mu = 16 x 2 / 2 = 16 copies per rank;
    one layer's busiest-rank time varies by pi / (sqrt 6 sqrt(2 ln 2) sqrt 16) = 0.2723; over 32 layers
    / sqrt 32; times the routed experts' share of the FLOPs and the compute-bound share of the pass."""
    mx = resolve_model("mixtral-8x7b")
    s = stage_model(mx, H100, Workload(512, 64), np.array([2.0]), np.array([1.0]), np.array([2.0]))
    p = s.forward(np.array([16.0]), 1.0, np.array([0.0]))
    cv_layer = math.pi / (math.sqrt(6) * math.sqrt(2 * math.log(2)) * 4)
    assert cv_layer == pytest.approx(0.2723, abs=1e-4)
    _, imb = s.moe_load(np.array([16.0]))
    routed = 2 * s.lc.expert * imb[0]
    share = routed / (s.dense_active + routed)
    want = cv_layer / math.sqrt(32) * share * min(float(p.t_c[0] / p.t[0]), 1.0)
    assert moe_jitter_cv(s, p, np.array([16.0]))[0] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("shape", ["lognormal", "gamma"])
def test_drawn_lengths_have_the_asked_mean_and_spread(shape):
    x = draw_lengths(2048, 0.5, 200_000, np.random.default_rng(0), shape)
    assert x.mean() == pytest.approx(2048, rel=0.01)
    assert x.std() / x.mean() == pytest.approx(0.5, rel=0.02)
    assert (draw_lengths(300, 0.0, 5, np.random.default_rng(0)) == 300).all()


@pytest.mark.parametrize("cv", [0.0, 1.0, 3.0])
def test_arrival_gaps_have_the_asked_rate_and_burstiness(cv):
    t = draw_arrivals(200_000, 4.0, cv, np.random.default_rng(1))
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(0.25, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, abs=0.05 * max(cv, 1))


def test_lengths_fit_the_context_and_the_seed_fixes_the_draw():
    a = requests_at(Traffic(prompt_cv=2.0, output_cv=2.0, requests=2000, seed=7), 3000, 1000, 5.0, 4096)
    b = requests_at(Traffic(prompt_cv=2.0, output_cv=2.0, requests=2000, seed=7), 3000, 1000, 5.0, 4096)
    assert ((a.prompt_tokens + a.output_tokens) <= 4096).all() and (a.prompt_tokens >= 1).all()
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    np.testing.assert_array_equal(a.prompt_tokens, b.prompt_tokens)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), rate=st.floats(0.1, 50), cv=st.floats(0, 3), pcv=st.floats(0, 1.5), seed=st.integers(0, 99),
       replicas=st.integers(1, 3))
def test_every_request_is_served_in_order_of_its_tokens(n, rate, cv, pcv, seed, replicas):
    """Whatever the traffic: every request gets its first token after the overheads and its last no earlier,
    TPOT is positive, and percentiles are ordered p50 <= p90 <= p99."""
    reqs = requests_at(Traffic(prompt_cv=pcv, output_cv=pcv, arrival_cv=cv, requests=n, seed=seed), 800, 60, rate,
                       M.max_context)
    res = replay(M, H100, Workload(800, 60), 1, 1, 1, reqs, replicas=replicas, max_batch=16)
    assert res.ttft_s.size == n and np.all(res.ttft_s >= OVERHEAD) and np.all(res.e2e_s >= res.ttft_s)
    assert np.all(res.tpot_s > 0)
    for v in res.percentiles().values():
        if v["p50"] is not None:
            assert v["p50"] <= v["p90"] <= v["p99"]
