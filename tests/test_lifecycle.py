"""``gpt4plan lifecycle``: the scaling laws, the family rule, the iso-loss scan and the command.

Hand arithmetic (Hoffmann et al. 2022, approach 3: E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28):

* 70B on 1.4T: 70e9^0.34 = e^(0.34 x 24.9717) = e^8.4904 = 4,867.7, so A / N^alpha = 406.4 / 4,867.7 = 0.08349;
  1.4e12^0.28 = e^(0.28 x 27.9673) = e^7.8308 = 2,517.2, so B / D^beta = 410.7 / 2,517.2 = 0.16316;
  L = 1.69 + 0.08349 + 0.16316 = 1.93665.
* compute-optimal at Gopher's budget C = 5.76e23 FLOPs (Hoffmann eq. 4): G = (0.34 x 406.4 / (0.28 x
  410.7))^(1/0.62) = (138.176 / 114.996)^1.6129 = 1.20157^1.6129 = e^(0.18363 x 1.6129) = e^0.29618 = 1.3447;
  C/6 = 9.6e22, (9.6e22)^(0.28/0.62) = 10^(22.98227 x 0.451613) = 10^10.37909 = 2.3934e10;
  N_opt = 1.3447 x 2.3934e10 = 3.2184e10 parameters, D_opt = 9.6e22 / 3.2184e10 = 2.983e12 tokens.
* N_opt grows as C^(beta/(alpha+beta)): 0.28 / 0.62 = 0.4516 (Hoffmann table 2 gives a = 0.46 for approach 3
  from the unrounded fit); Besiroglu et al. 2024 publish a = 0.5126 for theirs (0.3658 / 0.7136 = 0.51261).
* Llama 3 8B's shape in the family (vocabulary 32,000): per layer 2 x 4,096^2 + 2 x 4,096 x 8 x 128 +
  3 x 4,096 x 14,336 + 2 x 4,096 = 33,554,432 + 8,388,608 + 176,160,768 + 8,192 = 218,112,000; x 32 layers =
  6,979,584,000; + 2 x 32,000 x 4,096 + 4,096 = 262,148,096; total 7,241,732,096.
"""

from __future__ import annotations

import json
import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import one_line, run_cli
from gpt4plan import scaling
from gpt4plan.lifecycle import (
    ServeSetup,
    ShapePrice,
    TrainSetup,
    family_fields,
    family_model,
    family_params,
    price_shape,
    scan,
)
from gpt4plan.physics import arch
from gpt4plan.serving import Targets, Workload
from gpt4plan.specs.catalog import resolve_hardware

HOFF, BESI = scaling.LAWS["hoffmann2022"], scaling.LAWS["besiroglu2024"]


@pytest.fixture(autouse=True)
def _narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")


# --- the scaling laws -------------------------------------------------------------------------------------

def test_loss_of_chinchilla_by_hand():
    assert scaling.loss(HOFF, 70e9, 1.4e12) == pytest.approx(1.93665, abs=2e-5)


def test_compute_optimal_at_gophers_budget_by_hand():
    n, d = scaling.compute_optimal(HOFF, 5.76e23)
    assert n == pytest.approx(3.2184e10, rel=1e-3)
    assert d == pytest.approx(2.983e12, rel=1e-3)


@pytest.mark.parametrize("law, exponent, tol", [(HOFF, 0.46, 0.01), (BESI, 0.5126, 1e-4)])
def test_compute_optimal_exponent_is_the_published_one(law, exponent, tol):
    (n1, _), (n2, _) = scaling.compute_optimal(law, 1e21), scaling.compute_optimal(law, 1e25)
    assert math.log(n2 / n1) / math.log(1e4) == pytest.approx(exponent, abs=tol)


@given(law=st.sampled_from([HOFF, BESI]), log_n=st.floats(8, 13), log_d=st.floats(9, 15))
@settings(max_examples=200, deadline=None)
def test_iso_loss_points_have_the_target_loss(law, log_n, log_d):
    """Every point of the iso-loss curve of L(N0, D0) has loss L, and N0 itself needs D0."""
    n0, d0 = 10.0 ** log_n, 10.0 ** log_d
    target = float(scaling.loss(law, n0, d0))
    assert scaling.tokens_for_loss(law, n0, target) == pytest.approx(d0, rel=1e-6)
    floor = scaling.params_floor(law, target)
    ns = np.geomspace(floor * 1.001, floor * 1e4, 50)
    ds = scaling.tokens_for_loss(law, ns, target)
    assert np.allclose(scaling.loss(law, ns, ds), target, rtol=1e-9, atol=0)
    assert (np.diff(ds) < 0).all()  # a larger model needs fewer tokens


def test_below_the_floor_no_data_is_enough():
    target = float(scaling.loss(HOFF, 70e9, 1.4e12))
    floor = scaling.params_floor(HOFF, target)
    # A / N_floor^alpha = L - E exactly: the data term would have to be zero
    assert HOFF.A / floor ** HOFF.alpha == pytest.approx(target - HOFF.E)
    assert scaling.tokens_for_loss(HOFF, floor * 0.99, target) == math.inf


@pytest.mark.parametrize("law", [HOFF, BESI])
def test_chinchilla_point_is_the_least_compute_on_the_curve(law):
    target = float(scaling.loss(law, 70e9, 1.4e12))
    n_c, d_c = scaling.chinchilla_point(law, target)
    assert scaling.loss(law, n_c, d_c) == pytest.approx(target, rel=1e-12)
    # the first-order condition alpha A / N^alpha = beta B / D^beta
    assert law.alpha * law.A / n_c ** law.alpha == pytest.approx(law.beta * law.B / d_c ** law.beta, rel=1e-9)
    # brute force: N D(N) over a dense grid is least at N_c
    ns = np.geomspace(scaling.params_floor(law, target) * 1.01, n_c * 100, 200_001)
    nd = ns * scaling.tokens_for_loss(law, ns, target)
    assert ns[np.argmin(nd)] == pytest.approx(n_c, rel=1e-3)
    # and it is the compute-optimal point of its own budget
    n, d = scaling.compute_optimal(law, 6 * n_c * d_c)
    assert (n, d) == (pytest.approx(n_c, rel=1e-9), pytest.approx(d_c, rel=1e-9))


def test_besiroglu_puts_chinchilla_near_20_tokens_per_parameter():
    """Besiroglu et al.: their fit agrees with Chinchilla's ~20 tokens per parameter; Hoffmann's rounded
    constants put the same loss at far more tokens per parameter (the bias they report)."""
    for law, lo, hi in ((BESI, 15, 25), (HOFF, 60, 120)):
        n_c, d_c = scaling.chinchilla_point(law, float(scaling.loss(law, 70e9, 1.4e12)))
        assert lo < d_c / n_c < hi


@pytest.mark.parametrize("bad", [1.69, 1.0, float("nan"), float("inf")])
def test_loss_issue(bad):
    assert scaling.loss_issue(HOFF, bad)


# --- the family rule --------------------------------------------------------------------------------------

def test_family_params_of_llama3_8b_shape_by_hand():
    assert family_params(32, 4096) == 7_241_732_096


@given(n=st.floats(1e9, 2e12))
@settings(max_examples=150, deadline=None)
def test_family_shapes_are_exact_friendly_and_near_their_size(n):
    f = family_fields(n)
    m = family_model(n)
    assert arch.params(m).total == family_params(f["layers"], f["d_model"])
    assert abs(math.log(arch.params(m).total / n)) < 0.035  # within half a layer of the chosen width
    assert f["heads"] % 8 == 0 and f["kv_heads"] == 8 and f["head_dim"] * f["heads"] == f["d_model"]
    assert 8 in arch.allowed_tp(m) and f["ffn"] % 256 == 0
    # near the aspect ratio of 128: within 64-256 (the widths step by 1,024), 90-180 from 10B up
    assert 64 <= f["d_model"] / f["layers"] <= 256
    if n >= 1e10:
        assert 90 <= f["d_model"] / f["layers"] <= 180


def test_family_has_no_model_below_its_smallest():
    with pytest.raises(ValueError):
        family_fields(1e6)


# --- the scan, priced by a stand-in with hand-checkable costs ----------------------------------------------

def _stub_serve(tokens_per_day: float, days: float = 1000.0) -> ServeSetup:
    return ServeSetup(None, Workload(), Targets(), tokens_per_day, days)


def _stub_price(m, serve: ServeSetup) -> ShapePrice:
    """Training $1 per 1e18 FLOPs (6 N per token); serving $1 per 1e18 FLOPs (2 N per output token): what a
    constant-MFU planner would charge."""
    n = float(arch.params(m).total)
    return ShapePrice(m, n, 6 * n / 1e18, 6 * n / 1e24, 2 * n * serve.tokens_per_day / 1e18,
                      int(n * serve.tokens_per_day > 0))


def _stub_scan(law, target, tokens_per_day, **kw):
    serve = _stub_serve(tokens_per_day)
    return scan(law, target, partial(_stub_price, serve=serve), family_model, serve, **kw)


@pytest.mark.parametrize("law", [HOFF, BESI])
def test_zero_demand_optimum_is_the_chinchilla_point(law):
    target = float(scaling.loss(law, 70e9, 1.4e12))
    n_c, d_c = scaling.chinchilla_point(law, target)
    res = _stub_scan(law, target, 0.0)
    o = res.optimum
    assert o.serve_usd == 0 and o.serve_chips == 0
    # the family's sizes near 70B are ~1.5% apart (one layer): the optimum is the shape nearest N_c
    assert o.params == pytest.approx(n_c, rel=0.03)
    assert o.params * o.tokens == pytest.approx(n_c * d_c, rel=1e-3)  # N D is flat at its minimum
    assert o.train_usd == pytest.approx(6 * o.params * o.tokens / 1e18, rel=1e-9)


def test_stub_optimum_matches_a_continuous_minimisation():
    """With a serving demand the least of 6 N D(N) + 2 N T (T lifetime tokens) along the curve, found by
    brute force on the continuous function (200,001 sizes), is where the scan puts the optimum (to the
    family's resolution)."""
    target = float(scaling.loss(BESI, 70e9, 1.4e12))
    tokens_per_day = 1e11
    lifetime = tokens_per_day * 1000.0
    ns = np.geomspace(scaling.params_floor(BESI, target) * 1.01, 1e12, 200_001)
    total = 6 * ns * scaling.tokens_for_loss(BESI, ns, target) + 2 * ns * lifetime
    i = int(np.argmin(total))
    res = _stub_scan(BESI, target, tokens_per_day)
    assert res.optimum.params == pytest.approx(ns[i], rel=0.05)
    assert res.optimum.total_usd == pytest.approx(total[i] / 1e18, rel=0.01)


def test_more_demand_smaller_model_more_tokens():
    """Sardana et al. 2023: as the inference demand grows the optimum shrinks and trains on more tokens."""
    target = float(scaling.loss(BESI, 70e9, 1.4e12))
    opts = [_stub_scan(BESI, target, t).optimum for t in (0.0, 1e9, 1e10, 1e11)]
    assert all(a.params > b.params for a, b in zip(opts, opts[1:], strict=False))
    assert all(a.tokens < b.tokens for a, b in zip(opts, opts[1:], strict=False))


def test_interpolated_points_lie_between_priced_ones():
    target = float(scaling.loss(BESI, 70e9, 1.4e12))
    res = _stub_scan(BESI, target, 1e10, n_shapes=8, n_points=100)
    planner = [p for p in res.points if p.priced == "planner"]
    inter = [p for p in res.points if p.priced == "interpolated"]
    assert len(inter) >= 90 and len(planner) >= 8
    # the stub's rates are exactly linear in N: log-log interpolation between shapes reproduces them
    for p in inter:
        assert p.train_usd == pytest.approx(6 * p.params * p.tokens / 1e18, rel=1e-9)
        assert scaling.loss(BESI, p.params, p.tokens) == pytest.approx(target, rel=1e-9)


def test_given_models_are_priced_alone():
    from gpt4plan.specs.catalog import resolve_model

    target = float(scaling.loss(BESI, 8e9, 15e12))
    ms = [resolve_model(n) for n in ("llama-3.1-8b", "llama-3.1-70b")]
    res = _stub_scan(BESI, target, 0.0, models=ms)
    assert {p.shape.model.name for p in res.points} == {"llama-3.1-8b", "llama-3.1-70b", res.chinchilla.shape.model.name}
    assert all(p.priced == "planner" for p in res.points)


# --- the real planners ------------------------------------------------------------------------------------

def test_price_shape_scales_linearly_with_tokens():
    """One training search per shape: the plan for 2e12 tokens costs twice the one for 1e12 (same layout)."""
    from gpt4plan.training import TrainWorkload, plan_training

    h = resolve_hardware("h100-sxm")
    m = family_model(7e9)
    serve = ServeSetup(h, Workload(), Targets(tpot_max_s=0.05), 1e9, 365)
    s = price_shape(m, TrainSetup(h, 512), serve)
    two = plan_training(m, h, TrainWorkload(tokens=2e12, seq_len=8192), chips=512, max_chips=512).plan
    assert 2e12 * s.train_usd_per_token == pytest.approx(two.usd, rel=1e-5)
    # the fleet for 1e9 tokens/day (11,574 tokens/s), paid every hour
    assert s.serve_plan.throughput_tokens_per_s == pytest.approx(1e9 / 86400, rel=1e-9)
    assert s.serve_usd_per_day == pytest.approx(s.serve_plan.chips * h.price * 24)


def _json(capsys, *args):
    rc, out, err = run_cli(capsys, "lifecycle", "--shapes", "10", "--points", "60", "--format", "json", *args)
    assert rc == 0, err
    return json.loads(out)


def test_json_contract(capsys):
    d = _json(capsys)
    assert {"law", "target_loss", "optimum", "chinchilla", "points"} <= set(d)
    keys = {"params", "tokens", "train_usd", "serve_usd", "total_usd", "train_days", "serve_chips"}
    assert keys <= set(d["optimum"]) and keys <= set(d["chinchilla"])
    assert d["law"] == "besiroglu2024" and d["law_constants"]["E"] == 1.8172
    assert d["target_loss"] == pytest.approx(float(scaling.loss(BESI, 70e9, 1.4e12)))
    for p in d["points"]:
        assert p["total_usd"] == pytest.approx(p["train_usd"] + p["serve_usd"])
    assert d["optimum"]["total_usd"] <= d["chinchilla"]["total_usd"]


def test_planners_zero_demand_near_compute_optimal(capsys):
    """Priced by the planners, training dollars are FLOPs / MFU: the optimum moves off N_c only by the MFU the
    planner finds for each shape, and N D is flat there, so its training FLOPs stay within a few per cent."""
    d = _json(capsys, "--serve-tokens-per-day", "0", "--law", "hoffmann2022")
    o, c = d["optimum"], d["chinchilla"]
    assert o["serve_usd"] == 0 and o["serve_chips"] == 0
    assert o["train_flops"] <= 1.05 * c["train_flops"]
    assert o["total_usd"] <= c["total_usd"]


def test_planners_follow_sardana(capsys):
    low = _json(capsys, "--serve-tokens-per-day", "1B")["optimum"]
    high = _json(capsys, "--serve-tokens-per-day", "1T")["optimum"]
    assert high["params"] < low["params"] and high["tokens"] > low["tokens"]
    assert high["serve_chips"] > low["serve_chips"]


def test_table_and_csv(capsys):
    rc, out, _ = run_cli(capsys, "lifecycle", "--shapes", "6", "--points", "20")
    assert rc == 0 and "Chinchilla" in out and "optimum" in out
    rc, out, _ = run_cli(capsys, "lifecycle", "--shapes", "6", "--points", "20", "--format", "csv")
    lines = out.splitlines()
    assert rc == 0 and lines[0].startswith("params,tokens,tokens_per_param,train_usd")
    assert sum("optimum" in ln for ln in lines[1:]) == 1


def test_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "lc.png"
    rc, _, err = run_cli(capsys, "lifecycle", "--shapes", "6", "--points", "20", "--plot", str(path))
    assert rc == 0 and f"wrote {path}" in err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["--loss", "1.5"], "irreducible loss E = 1.8172"),
    (["--loss", "1.6", "--law", "hoffmann2022"], "irreducible loss E = 1.69"),
    (["--loss", "nan"], "--loss"),
    (["--loss", "100"], "compute-optimal model would have"),  # N_c of a few hundred parameters
    (["--loss", "1.82"], "compute-optimal model would have"),  # N_c of ~1e16 parameters
    (["--quality", "70B"], "expected PARAMS:TOKENS"),
    (["--quality", "70B:lots"], "number of tokens"),
    (["--quality", "nosuchmodel:1T"], "neither a parameter count"),
    (["--quality", "70B:1.4T", "--loss", "2"], "give one"),
    (["--serve-tokens-per-day", "-5"], "--serve-tokens-per-day"),
    (["--serve-tokens-per-day", "many"], "--serve-tokens-per-day"),
    (["--serve-days", "0"], "--serve-days"),
    (["--min-params", "1B"], "never reached"),
    (["--min-params", "100B", "--max-params", "50B"], "below --max-params"),
    (["--law", "kaplan2020"], "--law"),
    (["--models", "nosuchmodel"], "nosuchmodel"),
    (["--models", "llama-3.1-8b", "--min-params", "1B"], "--models"),
    (["--precision", "fp8", "-H", "a100-80gb"], "--precision"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, words):
    rc, _, err = run_cli(capsys, "lifecycle", *args)
    assert rc == 2
    assert words in one_line(err)
