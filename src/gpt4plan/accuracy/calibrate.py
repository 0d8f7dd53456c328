"""Calibration: fit a chip's efficiency factors to the measurements on that chip, and write the fitted
spec (docs/design.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gpt4plan.accuracy.replay import Record, replay_file, summarise
from gpt4plan.specs import write_atomically
from gpt4plan.specs.catalog import catalog_dir, resolve_hardware
from gpt4plan.specs.units import plural

__all__ = ["CALIBRATION_BOUNDS", "MIN_RECORDS_PER_FACTOR", "HUBER_DELTA", "calibrate", "write_calibrated_spec"]

#: Physically plausible ranges for fitted efficiency factors (fractions of datasheet peaks).
CALIBRATION_BOUNDS = {"compute": (0.25, 0.95), "memory": (0.4, 0.95), "network": (0.3, 0.95)}
#: A factor is fitted only when this many distinct runs on the chip constrain it (else the spec's value stays).
MIN_RECORDS_PER_FACTOR = 3


#: Log errors beyond this count linearly, not quadratically (Huber 1964): one record that the model
#: cannot explain (software maturity, an unmodelled feature) must not drag every other prediction.
HUBER_DELTA = 0.25


def _loss(records: list[Record]) -> tuple[float, int]:
    """Mean Huber loss of log(predicted / measured) over the replayed metrics (least squares near zero)."""
    errs = np.array([math.log1p(r.error) for r in records if not r.skipped and r.error is not None and r.error > -1])
    if errs.size == 0:
        return math.inf, 0
    a = np.abs(errs)
    h = np.where(a <= HUBER_DELTA, 0.5 * a**2, HUBER_DELTA * (a - 0.5 * HUBER_DELTA))
    return float(np.mean(h)), int(errs.size)


def calibrate(path: str | Path, hardware: str, params: tuple[str, ...] = ("compute", "memory", "network"),
              sweeps: int = 3, performance_model: str = "roofline", start: Mapping[str, float] | None = None) -> dict:
    """Fit a chip's efficiency factors to the records on that chip: least squares on log(pred/measured),
    made robust with a Huber loss (:data:`HUBER_DELTA`).

    Coordinate descent over each factor on a grid within :data:`CALIBRATION_BOUNDS` (then a finer grid
    around the best), ``sweeps`` rounds, starting from the catalog spec's factors, or from ``start``
    (``{factor: value}``, e.g. the uncalibrated defaults) where given; a factor left unfitted keeps its
    starting value.  ``performance_model`` prices the replays (``"roofline"`` or ``"measured"``, as in
    :func:`~gpt4plan.accuracy.replay.replay_file`).  Returns ``{"fitted": {...}, "before": loss, "after": loss,
    "records": n, "summary_before": ..., "summary_after": ...}``.  Raises SpecError on a bad file and
    ValueError when no record on ``hardware`` can be replayed.
    """
    hw0 = resolve_hardware(hardware)
    if start:
        hw0 = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update=dict(start))})

    def replay(hw) -> list[Record]:
        return replay_file(path, {hw0.name: hw}, only_hardware=hardware, performance_model=performance_model)

    before_recs = replay(hw0)
    before, n = _loss(before_recs)
    if n == 0:
        raise ValueError(f"no replayable record on hardware '{hardware}' in {path}")
    # fit a factor only where at least MIN_RECORDS_PER_FACTOR distinct runs constrain it
    ok = [r for r in before_recs if not r.skipped]
    constrained = {
        "compute": {r.id for r in ok if r.kind == "train" or r.regime == "prefill"},
        "memory": {r.id for r in ok if r.kind == "infer" and r.metric != "ttft_s"},
        "network": {r.id for r in ok if r.chips > 1},
    }
    params = tuple(p for p in params if len(constrained[p]) >= MIN_RECORDS_PER_FACTOR)
    if not params:
        raise ValueError(f"too few runs on '{hardware}' to fit any factor (need {MIN_RECORDS_PER_FACTOR} "
                         f"distinct runs per factor; have compute {len(constrained['compute'])}, memory "
                         f"{len(constrained['memory'])}, network {len(constrained['network'])})")
    eff = hw0.efficiency.model_dump()

    def loss_for(e: dict) -> float:
        hw = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update=e)})
        return _loss(replay(hw))[0]

    best = loss_for(eff)
    for sweep in range(sweeps):
        step = 0.05 if sweep == 0 else 0.01
        for name in params:
            lo, hi = CALIBRATION_BOUNDS[name]
            centre = eff[name]
            grid = np.arange(lo, hi + 1e-9, step) if sweep == 0 else np.clip(centre + step * np.arange(-4, 5), lo, hi)
            for x in np.unique(np.round(grid, 4)):
                trial = {**eff, name: float(x)}
                val = loss_for(trial)
                if val < best - 1e-12:
                    best, eff = val, trial
    hw = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update=eff)})
    after_recs = replay(hw)
    return {"hardware": hardware, "fitted": {k: round(eff[k], 3) for k in params}, "before": before,
            "after": best, "records": n, "summary_before": summarise(before_recs), "summary_after": summarise(after_recs)}


def write_calibrated_spec(hardware: str, fitted: dict, data_name: str, n_records: int, out: str | Path) -> Path:
    """Write ``hardware``'s catalog YAML with the fitted efficiency values and a comment naming the data."""
    src = catalog_dir("hardware") / f"{hardware}.yaml"
    text = src.read_text(encoding="utf-8") if src.is_file() else None
    if text is None:
        raise ValueError(f"'{hardware}' is not a catalog hardware name")
    for key, val in fitted.items():
        text = re.sub(rf"(?m)^(\s+{key}:\s*)[^#\n]*(#.*)?$",
                      lambda m, v=val: f"{m.group(1)}{v:<8}# fitted by gpt4plan calibrate: least squares on "
                                       f"log error over {plural(n_records, 'metric')} of {data_name}", text, count=1)
    out = Path(out)
    # a folder, a missing directory, no permission: exit 2; a full disk: exit 3; never a half-written file
    write_atomically(out, "--output", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out
