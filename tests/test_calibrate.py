"""`gpt4plan.accuracy.calibrate.calibrate`: the fit finds a factor that the measurements were made with, from
a given start, and prices its replays with the performance model it is asked for."""

import pytest
import yaml

import gpt4plan.accuracy.calibrate as cal
from gpt4plan.accuracy.replay import replay_file
from gpt4plan.specs.catalog import catalog_dir, resolve_hardware

DEV = catalog_dir("measurements") / "validation-dev.yaml"
DEFAULTS = {"compute": 0.7, "memory": 0.85, "network": 0.8}  # an uncalibrated chip


@pytest.fixture
def synthetic(tmp_path):
    """The three MPT training runs on A100-40GB, their metrics replaced by the model's own predictions
    with compute 0.6 (memory and network at the defaults): a file whose best compute factor is 0.6."""
    data = yaml.safe_load(DEV.read_text(encoding="utf-8"))
    recs = [r for r in data["measurements"] if r["id"].startswith("train-mpt-a100-40gb-")]
    assert len(recs) == 3
    hw0 = resolve_hardware("a100-40gb")
    hw = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update={**DEFAULTS, "compute": 0.6})})
    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump({"measurements": recs}), encoding="utf-8")
    pred = {(r.id, r.metric): r.predicted for r in replay_file(p, {"a100-40gb": hw})}
    for r in recs:
        r["measured"] = {k: pred[(r["id"], k)] for k in r["measured"]}
    p.write_text(yaml.safe_dump({"measurements": recs}), encoding="utf-8")
    return p


def test_fit_from_a_given_start_finds_the_factor_the_data_were_made_with(synthetic):
    res = cal.calibrate(synthetic, "a100-40gb", ("compute",), sweeps=2, start=DEFAULTS)
    assert res["fitted"] == {"compute": 0.6}
    assert res["after"] < 1e-9 < res["before"]  # the start (0.7) is off, the fit is exact
    assert res["records"] == 9


def test_fit_replays_with_the_performance_model_asked_for(synthetic, monkeypatch):
    models = []

    def spy(*args, **kwargs):
        models.append(kwargs.get("performance_model", "roofline"))
        return replay_file(*args, **kwargs)

    monkeypatch.setattr(cal, "replay_file", spy)
    cal.calibrate(synthetic, "a100-40gb", ("compute",), sweeps=1, performance_model="measured", start=DEFAULTS)
    assert len(models) > 10 and set(models) == {"measured"}
