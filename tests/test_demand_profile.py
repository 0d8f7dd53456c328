"""`infer --demand-profile` (issue 15, item 2): replicas per step, a static fleet sized for the peak against an
autoscaled one, utilisation and the effective $/1k output tokens.  Values are worked by hand in the comments
(a replica of 8 chips at $2/chip-hour serving 1,000 output tokens/s unless said otherwise)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import one_line, run_cli
from gpt4plan.serving import Pins, Targets, Workload, plan_inference
from gpt4plan.serving.demand import demand_day, replica_tokens_per_s
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

PEAKED = [0.0] * 12 + [2000.0] * 12  # mean 1,000 tokens/s, peak 2,000: peak = 2 x mean
FLAT = [1000.0] * 24


def _day(demand, **kw):
    return demand_day(demand, 3600.0, 1000.0, 8, 2.0, **kw)


def test_peak_twice_mean_costs_twice_flat_with_a_static_fleet():
    # flat: 1 replica x 8 chips x 24 h x $2 = $384 for 1,000 x 86,400 = 86.4M tokens -> $0.004444/1k
    # peaked: 2 replicas all day = $768 for the same 86.4M tokens -> $0.008889/1k: twice, at 50% utilisation
    flat, peaked = _day(FLAT).static, _day(PEAKED).static
    assert flat.usd == pytest.approx(384.0)
    assert flat.usd_per_1k_output_tokens_all_in == pytest.approx(384.0 / 86_400)
    assert flat.utilization == pytest.approx(1.0)
    assert peaked.usd == pytest.approx(768.0)
    assert peaked.usd_per_1k_output_tokens_all_in == pytest.approx(2 * 384.0 / 86_400)
    assert peaked.utilization == pytest.approx(0.5)
    assert peaked.peak_chips == 16


def test_autoscaled_fleet_pays_the_lag_and_the_minimum():
    # min 1 replica, lag 10 min: hours 0-10 hold 1 replica; hour 11 holds 1 for 50 min and 2 for the last 10
    # (the second one loading); hours 12-23 hold 2; hour 23's next hour is hour 0 (1 replica).
    # replica-hours = 11 + (50 + 2 x 10)/60 + 24 = 36.1667; x 8 chips = 289.33 chip-hours; x $2 = $578.67
    a = _day(PEAKED, min_replicas=1, scale_up_lag_s=600.0, idle_value=1.0).autoscaled
    assert a.chip_hours == pytest.approx(289.3333, rel=1e-6)
    assert a.usd == pytest.approx(578.6667, rel=1e-6)
    assert list(a.replicas[10:13]) == [1, 2, 2]
    assert a.replica_hours[11] == pytest.approx(70 / 60)
    assert a.released_chip_hours == pytest.approx(384 - 289.3333, rel=1e-6)
    # 86.4M tokens / (36.1667 replica-hours x 3,600 s x 1,000 tokens/s) = 66.4%
    assert a.utilization == pytest.approx(86.4e6 / (36.16667 * 3.6e6), rel=1e-5)


def test_idle_value_prices_the_released_chip_hours():
    # released 94.67 chip-hours x $2 = $189.33; recovering none of it costs what the static fleet does ($768),
    # half of it: $578.67 + $94.67 = $673.33
    none = _day(PEAKED, idle_value=0.0).autoscaled
    half = _day(PEAKED, idle_value=0.5).autoscaled
    assert none.usd == pytest.approx(768.0)
    assert half.usd == pytest.approx(673.3333, rel=1e-6)
    assert half.usd_recovered == pytest.approx(94.6667, rel=1e-6)


def test_no_lag_no_minimum_autoscales_to_the_flat_cost():
    # 12 h x 2 replicas = 24 replica-hours = 192 chip-hours = $384 for 86.4M tokens: the flat figure, 100% used
    a = _day(PEAKED, min_replicas=0, scale_up_lag_s=0.0).autoscaled
    assert a.usd == pytest.approx(384.0)
    assert a.utilization == pytest.approx(1.0)
    assert list(a.replicas) == [0] * 12 + [2] * 12


def test_a_lag_longer_than_a_step():
    # lag 1.5 h on hourly steps, demand only in hour 3: the replica is asked for at 1.5 h, so hour 1 pays half
    # an hour, hour 2 a whole one, hour 3 a whole one; 2.5 replica-hours in all
    a = demand_day([0, 0, 0, 500.0], 3600.0, 1000.0, 1, 1.0, min_replicas=0, scale_up_lag_s=5400.0).autoscaled
    assert list(a.replica_hours) == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_the_profile_wraps_around():
    # the step after the last is the first: a peak in hour 0 is loaded during the last 10 min of hour 2
    a = demand_day([2000.0, 1000.0, 1000.0], 3600.0, 1000.0, 1, 1.0, scale_up_lag_s=600.0).autoscaled
    assert a.replica_hours[2] == pytest.approx((50 + 2 * 10) / 60)
    assert a.replica_hours[1] == pytest.approx(1.0)


@given(demand=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e5)), min_size=1, max_size=48).filter(
           lambda d: max(d) > 0),
       lag=st.floats(0, 86400), idle=st.floats(0, 1), min_replicas=st.integers(0, 3))
@settings(max_examples=300, deadline=None)
def test_autoscaling_never_costs_more_than_the_static_fleet(demand, lag, idle, min_replicas):
    """While the minimum is within the peak, the autoscaled fleet holds at most the static one at every instant;
    its released chip-hours at worst cost what they did; utilisation stays within (0, 1]."""
    day = demand_day(demand, 3600.0, 1000.0, 4, 2.0, min_replicas=min_replicas, scale_up_lag_s=lag, idle_value=idle)
    s, a = day.static, day.autoscaled
    assert 0 < s.utilization <= 1 + 1e-9 and 0 < a.utilization <= 1 + 1e-9
    if min_replicas <= s.peak_replicas:
        assert a.usd <= s.usd * (1 + 1e-9)
        assert a.chip_hours + a.released_chip_hours == pytest.approx(s.chip_hours)
    assert np.all(a.replicas >= day.needed)


@pytest.mark.parametrize("bad", [[], [-1.0, 2.0], [0.0, 0.0], [float("nan")]])
def test_bad_demand_is_a_value_error(bad):
    with pytest.raises(ValueError):
        demand_day(bad, 3600.0, 1000.0, 1, 1.0)


def test_replica_throughput_is_the_single_replicas():
    """A pinned layout without demand is one fully used replica: its fleet throughput is the replica's."""
    m, h = resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm")
    res = plan_inference(m, h, Workload(2048, 512), Targets(), Pins(tp=1, pp=1, batch=64))
    p = res.plans[1]
    assert p.replicas == 1
    assert replica_tokens_per_s(p) == pytest.approx(p.throughput_tokens_per_s, rel=1e-12)


PINS = ("-m", "llama-3.1-8b", "-H", "h100-sxm", "--tp", "1", "--pp", "1", "--batch", "64")


def _profile_json(capsys, demand, *extra):
    rc, out, err = run_cli(capsys, "infer", *PINS, "--demand-profile", ",".join(f"{x!r}" for x in demand),
                           *extra, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def test_cli_peak_twice_mean_doubles_the_static_cost(capsys):
    """The replica's fully used all-in $/1k comes from a plan without demand (evaluate's own figure); a flat
    profile of whole replicas costs it, a profile peaking at twice its mean twice it."""
    rc, out, _ = run_cli(capsys, "infer", *PINS, "--format", "json")
    plan = json.loads(out)["plans"][1]
    R, full = plan["throughput_tokens_per_s"], plan["usd_per_1k_output_tokens_all_in"]
    flat = _profile_json(capsys, [2 * R] * 24)["demand_profile"]
    peaked = _profile_json(capsys, [0.0] * 12 + [4 * R] * 12)["demand_profile"]
    assert flat["static"]["usd_per_1k_output_tokens_all_in"] == pytest.approx(full, rel=1e-9)
    assert peaked["static"]["usd_per_1k_output_tokens_all_in"] == pytest.approx(2 * full, rel=1e-9)
    assert peaked["static"]["utilization"] == pytest.approx(0.5)
    assert peaked["static"]["chips"] == 4  # 4 replicas of 1 chip at the peak
    assert len(peaked["hours"]) == 24 and peaked["hours"][12]["replicas_needed"] == 4
    # the decode share keeps the plan's ratio of decode share to all-in
    share = plan["usd_per_1k_output_tokens"] / plan["usd_per_1k_output_tokens_all_in"]
    assert peaked["static"]["usd_per_1k_output_tokens"] == pytest.approx(2 * full * share, rel=1e-9)
    assert set(peaked["autoscaled"]) >= {"chips", "utilization", "usd_per_1k_output_tokens"}


def test_cli_table_csv_file_and_plot(capsys, tmp_path):
    f = tmp_path / "day.csv"
    f.write_text("time,demand\n00:00,1k\n00:30,3k\n01:00,2k\n", encoding="utf-8")
    rc, out, err = run_cli(capsys, "infer", *PINS, "--demand-profile", f, "--format", "json")
    assert rc == 0, err
    dp = json.loads(out)["demand_profile"]
    assert dp["step_s"] == 1800 and dp["period_s"] == 5400
    assert [h["time"] for h in dp["hours"]] == ["00:00", "00:30", "01:00"]
    # 1k x 1,800 + 3k x 1,800 + 2k x 1,800 = 10.8M output tokens
    assert dp["output_tokens"] == pytest.approx(10.8e6)
    rc, out, err = run_cli(capsys, "infer", *PINS, "--demand-profile", f)
    assert rc == 0 and "Fleets over the profile" in out and "autoscaled" in out
    pytest.importorskip("matplotlib")
    png = tmp_path / "day.png"
    rc, _, err = run_cli(capsys, "infer", *PINS, "--demand-profile", f, "--plot", png)
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "expected"), [
    (("--demand-profile", "1k,2k,-5"), "--demand-profile: hour 2: -5 is negative"),
    (("--demand-profile", "0,0,0"), "every step is 0"),
    (("--demand-profile", "1k,,2k"), "hour 1: empty"),
    (("--demand-profile", "1k,nan"), "hour 1:"),
    (("--demand-profile", "1k", "--demand", "5k"), "--demand-profile and --demand"),
    (("--demand-profile", "1k", "--users", "50"), "--demand-profile and --users"),
    (("--min-replicas", "2"), "--min-replicas: an autoscaling setting; needs --demand-profile"),
    (("--demand-profile", "1k", "--idle-value", "1.5"), "--idle-value"),
    (("--demand-profile", "1k", "--scale-up-lag", "-1s"), "--scale-up-lag"),
    (("--demand-profile", "1k", "--scale-up-lag", "5 GB"), "--scale-up-lag"),
    (("--demand-profile", "1k", "--format", "csv"), "use --format table or json"),
    (("--demand-profile", "1k", "--disaggregate"), "not with --disaggregate"),
    (("--demand-profile", "missing.csv"), "no file missing.csv"),
    (("--demand-profile", ""), "--demand-profile: empty"),
])
def test_cli_bad_input_is_one_line_exit_2(capsys, args, expected):
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", *args)
    assert rc == 2
    assert expected in one_line(err)


@pytest.mark.parametrize(("text", "expected"), [
    ("time,demand\n0,1000\n1,-5\n", ":3: demand: -5 is negative"),
    ("time,demand\n0,1000\n1,2000\n3,5\n", ":4: time: a step of 2 h after steps of 1 h"),
    ("time,demand\n1,1000\n0,2000\n", ":3: time: 0 h does not follow 1 h"),
    ("time,demand\n0,1000,7\n", ":2: row: 3 columns"),
    ("time,demand\nnoon,1000\n", ":2: time: cannot read 'noon'"),
    ("time,demand\n", "no rows"),
])
def test_cli_bad_csv_names_file_line_and_column(capsys, tmp_path, text, expected):
    f = tmp_path / "p.csv"
    f.write_text(text, encoding="utf-8")
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--demand-profile", f)
    assert rc == 2
    line = one_line(err)
    assert str(f) in line and expected in line


def test_cli_a_peak_no_plan_can_serve_exits_1_with_a_null_profile(capsys):
    # 2M output tokens/s within 64 chips: no 70B layout serves that (the demand binds)
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--max-chips", "64",
                         "--demand-profile", "1M,2M", "--format", "json")
    res = json.loads(out)
    assert rc == 1 and res["binding_constraint"] == "demand" and res["demand_profile"] is None
