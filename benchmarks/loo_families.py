"""Leave one source family out: the errors of each performance model on a family whose records its per-chip
efficiency factors were not fitted on (issue "A shape-aware kernel model built from measured data").

Run by hand (minutes; progress on stderr, the tables on stdout as Markdown):

    PYTHONPATH=src python3 benchmarks/loo_families.py --jobs 2 --json /tmp/loo.json

The in-sample error of the roofline flatters it: its per-chip factors (compute, memory, network) were fitted
by ``gpt4plan calibrate`` on the same development set that ``gpt4plan validate`` replays.  Here, for each
source family F (:func:`gpt4plan.accuracy.coverage.source_family`) and each performance model:

1. every chip that F's records run on is re-fitted on that chip's records *not* in F, with the catalog's
   own recipe (docs/accuracy.md, "How each efficiency factor was obtained"): ``calibrate`` on the chip's
   records for h100-sxm, a100-80gb and a100-40gb (:data:`FITTED`), h200 takes h100-sxm's factors
   (:data:`TRANSFERRED`), any other chip keeps its catalog spec (b200, gb200: the defaults);
2. F's records are replayed with those specs, and their errors collected.

Each fit starts, as ``gpt4plan calibrate`` does, from the catalog's factors (``--start defaults``: from
the uncalibrated defaults compute 0.7, memory 0.85, network 0.8).  Every factor is re-scanned over its whole
range, so the start only decides which of several near-equal optima the coordinate search ends in -- but it
does decide that (docs/accuracy.md).  A chip on which too few runs outside F constrain any factor
(``calibrate``'s rule: three per factor) gets the defaults, as an uncalibrated chip, not the catalog's spec
that was fitted on F; a factor left unfitted keeps its starting value (here only a100-40gb's memory, which
is the default); a chip with *no* record outside F keeps its catalog spec.  The chips F does not
use are not re-fitted: their specs do not enter F's predictions.  The measured model is re-fitted the same
way, its replays priced by the measured kernels (it uses the memory and network factors for non-matmul
traffic and the collectives its tables do not hold, and compute where a chip has no tables or for the host
time of MoE expert GEMMs in training).

Three columns per model: *in-sample* (today's catalog, as ``gpt4plan validate [--performance-model measured]``),
*in-sample re-fit* (the same recipe on every family: what the leave-one-out column should be compared with,
since the catalog was fitted on an older model and the measured model's catalog factors were fitted for the
roofline), and *leave one family out*.

Cost: one ``calibrate`` replays the chip's records about 95 times (``--sweeps 3``: a 0.05 grid over each
factor, then two rounds of 0.01 around the best).  A replay of h100-sxm's records takes ~0.3 s with the
roofline and ~2.7 s with the measured kernels (the serving benchmarks are simulated pass by pass, each pass
priced kernel by kernel): 34 fits would take ~45 min on a 2-core machine.  The fits of one chip therefore run
in one process and share a cache of each record's replay at each point of the grid (:class:`_RecordCache`;
the results are those of ``--no-cache``), which cuts the whole run to ~7 min with ``--jobs 2``;
``--sweeps-measured 2`` (~70 replays per fit) shortens it further.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import yaml

from gpt4plan.accuracy.calibrate import calibrate
from gpt4plan.accuracy.coverage import source_family
from gpt4plan.accuracy.replay import replay_file
from gpt4plan.specs.catalog import catalog_dir, resolve_hardware
from gpt4plan.specs.hardware import Efficiency

#: chips whose catalog factors were fitted by ``gpt4plan calibrate`` on their own records
FITTED = ("h100-sxm", "a100-80gb", "a100-40gb")
#: chips whose catalog factors were copied from another chip's fit (same die and links)
TRANSFERRED = {"h200": "h100-sxm"}
#: the uncalibrated factors (the schema's defaults): a chip with too few runs to fit, or ``--start defaults``
DEFAULTS = Efficiency().model_dump()
ALL = "(all families)"  # the in-sample re-fit
KINDS = ("train", "infer", "all")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _chip(rec: dict) -> str:
    hw = rec["hardware"]
    return hw if isinstance(hw, str) else str(hw.get("name", "?"))


def _family(rec: dict) -> str:
    return source_family(None if rec.get("source") is None else str(rec["source"]), str(rec["id"]))


def _write(recs: list[dict], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"measurements": recs}, sort_keys=False, width=10_000), encoding="utf-8")
    return path


class _RecordCache:
    """Each record's replay, remembered by (record, performance model, the chip's factors).

    ``calibrate`` replays a chip's records ~95 times per fit, and the fits of one chip without each family
    visit mostly the same grid points on mostly the same records.  A record's prediction depends on the
    record and the chip's spec only, and a fit changes only the spec's efficiency factors, so the remembered
    replay is the replay.  Installed in place of :func:`~gpt4plan.accuracy.calibrate`'s ``replay_file`` in
    a worker (``--no-cache``: not installed)."""

    def __init__(self, record_files: dict[str, str], file_ids: dict[str, list[str]]):
        self.record_files, self.file_ids, self.memo = record_files, file_ids, {}
        self.hits = self.misses = 0

    def __call__(self, path, hardware_overrides=None, only_hardware=None, performance_model="roofline"):
        ids = self.file_ids.get(str(path))
        if ids is None:
            return replay_file(path, hardware_overrides, only_hardware, performance_model)
        spec = tuple(sorted((name, tuple(sorted(hw.efficiency.model_dump().items())))
                            for name, hw in (hardware_overrides or {}).items()))
        out = []
        for rid in ids:
            key = (rid, performance_model, only_hardware, spec)
            if key not in self.memo:
                self.misses += 1
                self.memo[key] = replay_file(self.record_files[rid], hardware_overrides, only_hardware,
                                             performance_model)
            else:
                self.hits += 1
            out += self.memo[key]
        return out


def _fit(path: str, chip: str, model: str, sweeps: int, start: str) -> dict:
    """One ``calibrate``: the chip's factors, or the defaults where too few runs fit any."""
    t0 = time.perf_counter()
    base = dict(DEFAULTS) if start == "defaults" else resolve_hardware(chip).efficiency.model_dump()
    try:
        res = calibrate(path, chip, sweeps=sweeps, performance_model=model,
                        start=DEFAULTS if start == "defaults" else None)
    except ValueError as exc:  # too few runs outside the family for any factor: an uncalibrated chip
        return {"efficiency": dict(DEFAULTS), "fitted": {}, "records": 0, "loss": None, "note": str(exc),
                "seconds": time.perf_counter() - t0}
    return {"efficiency": {**base, **res["fitted"]}, "fitted": res["fitted"], "records": res["records"],
            "loss": res["after"], "note": None, "seconds": time.perf_counter() - t0}


def _fit_group(group: list[tuple], sweeps: int, start: str, cache: _RecordCache | None) -> dict:
    """The fits of one (model, chip) in one worker, one after the other (they share the record cache)."""
    if cache is not None:
        import gpt4plan.accuracy.calibrate as cal

        cal.replay_file = cache
    out = {}
    for model, chip, target, path in group:
        out[(model, chip, target)] = res = _fit(path, chip, model, sweeps, start)
        what = res["note"] or ", ".join(f"{k} {v:g}" for k, v in res["fitted"].items())
        _say(f"  {model} {chip} {'on all' if target == ALL else 'without ' + repr(target)}: {what} "
             f"({res['records']} metrics, {res['seconds']:.0f} s"
             + ("" if cache is None else f"; cache {cache.hits} hits, {cache.misses} replays") + ")")
    return out


def _fit_tasks(raw: list[dict], families: dict[str, set[str]], models: list[str], tmp: Path) -> tuple[list, dict, dict]:
    """``(model, chip, target, file)`` for every fit needed: each fitted chip on all its records (target
    ``ALL``) and without each family whose records run on it (or on a chip that takes its factors); with
    each record's own file and the records of each fit's file (the cache's)."""
    tasks, record_files, file_ids = [], {}, {}
    for chip in FITTED:
        users = {chip} | {c for c, src in TRANSFERRED.items() if src == chip}
        for target in [ALL] + sorted(f for f, chips in families.items() if chips & users):
            recs = [r for r in raw if _chip(r) == chip and (target == ALL or _family(r) != target)]
            if not recs:
                continue  # no record outside the family: the catalog spec stays
            path = str(_write(recs, tmp / f"fit-{chip}-{len(tasks)}.yaml"))
            file_ids[path] = [str(r["id"]) for r in recs]
            for r in recs:
                if str(r["id"]) not in record_files:
                    record_files[str(r["id"])] = str(_write([r], tmp / f"record-{len(record_files)}.yaml"))
            tasks += [(m, chip, target, path) for m in models]
    return tasks, record_files, file_ids


def _specs(fits: dict, model: str, target: str, chips: set[str]) -> dict:
    """Override specs for ``chips`` under ``target``'s fits (catalog spec where nothing was fitted)."""
    out = {}
    for chip in chips:
        src = TRANSFERRED.get(chip, chip)
        if (model, src, target) in fits:
            hw = resolve_hardware(chip)
            eff = fits[(model, src, target)]["efficiency"]
            out[chip] = hw.model_copy(update={"efficiency": hw.efficiency.model_copy(update=eff)})
    return out


def _stats(errs: list[float]) -> dict:
    a = np.abs(np.asarray(errs, dtype=float))
    return {"n": int(a.size), "median": float(np.median(a)) if a.size else None,
            "p90": float(np.percentile(a, 90)) if a.size else None}


def _by_kind(recs) -> dict:
    return {k: _stats([r.error for r in recs if k in ("all", r.kind)]) for k in KINDS}


def _replayed(recs) -> list:
    return [r for r in recs if not r.skipped]


def _fit_all(tasks: list[tuple], record_files: dict, file_ids: dict, sweeps: dict, start: str, jobs: int,
             cache: bool, t_start: float) -> dict:
    """Every fit, ``{(model, chip, without): result}``: one (model, chip) group per worker, slowest first."""
    groups: dict = {}
    for t in tasks:
        groups.setdefault(t[:2], []).append(t)
    # the slowest group first (measured, the chip with the most serving runs): parallel workers finish together
    order = sorted(groups, key=lambda k: (k[0] != "measured", FITTED.index(k[1])))
    _say(f"{len(tasks)} fits in {len(groups)} groups ({jobs} process{'es' if jobs > 1 else ''}, "
         f"record cache {'on' if cache else 'off'})")
    fits = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(_fit_group, groups[k], sweeps[k[0]], start,
                            _RecordCache(record_files, file_ids) if cache else None): k for k in order}
        for fut in as_completed(futs):
            fits.update(fut.result())
            _say(f"done: {' '.join(futs[fut])} ({time.perf_counter() - t_start:.0f} s in all)")
    return fits


def _held_out(raw: list[dict], fits: dict, m: str, held: list[str], families: dict, in_sample: list,
              tmp: Path) -> tuple[list, dict]:
    """Each held-out family replayed with the factors fitted without it: (all its records, per family)."""
    loo, per_family = [], {}
    for f in held:
        recs = [r for r in raw if _family(r) == f]
        got = _replayed(replay_file(_write(recs, tmp / "held.yaml"), _specs(fits, m, f, families[f]),
                                    performance_model=m))
        loo += got
        ins = [r for r in in_sample if source_family(r.source, r.id) == f]
        per_family[f] = {"chips": sorted(families[f]), "held_out": _by_kind(got), "in_sample": _by_kind(ins),
                         "by_chip": {c: {"held_out": _stats([r.error for r in got if r.hardware == c]),
                                         "in_sample": _stats([r.error for r in ins if r.hardware == c])}
                                     for c in sorted(families[f])}}
        med = per_family[f]["held_out"]["all"]["median"]
        _say(f"{m}: {f} held out: " + (f"median |error| {med:.1%}" if med is not None else "no metric replayed"))
    return loo, per_family


def run(path: str, models: list[str], sweeps: int, sweeps_measured: int, jobs: int, only: str | None,
        start: str = "catalog", cache: bool = True) -> dict:
    """The whole study (the JSON that ``--json`` writes)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["measurements"]
    t_start = time.perf_counter()
    in_sample = {}
    for m in models:
        _say(f"in-sample replay, {m} ...")
        in_sample[m] = _replayed(replay_file(path, performance_model=m))
    families: dict[str, set[str]] = {}  # family -> chips of its replayed records
    for r in in_sample[models[0]]:
        families.setdefault(source_family(r.source, r.id), set()).add(r.hardware)
    held = sorted(f for f in families if only is None or only.lower() in f.lower())
    rounds = {m: sweeps_measured if m == "measured" else sweeps for m in models}
    _say(f"{len(held)} families held out")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        tasks, record_files, file_ids = _fit_tasks(raw, {f: families[f] for f in held}, models, tmp)
        fits = _fit_all(tasks, record_files, file_ids, rounds, start, jobs, cache, t_start)
        out = {"file": path, "start": start, "cache": cache, "models": {},
               "fits": [{"model": k[0], "chip": k[1], "without": k[2], **v} for k, v in sorted(fits.items())]}
        for m in models:
            refit = _replayed(replay_file(path, _specs(fits, m, ALL, set(FITTED) | set(TRANSFERRED)),
                                          performance_model=m))
            loo, per_family = _held_out(raw, fits, m, held, families, in_sample[m], tmp)
            cols = {"in_sample": in_sample[m], "in_sample_refit": refit, "leave_one_family_out": loo}
            by_chip = {c: {k: _stats([r.error for r in v if r.hardware == c]) for k, v in cols.items()}
                       for c in sorted({r.hardware for r in loo})}
            out["models"][m] = {**{k: _by_kind(v) for k, v in cols.items()}, "by_chip": by_chip,
                                "families": per_family, "sweeps": rounds[m]}
    out["seconds"] = time.perf_counter() - t_start
    return out


def _pct(s: dict, key: str) -> str:
    return "–" if s[key] is None else f"{s[key]:.1%}"


def markdown(out: dict) -> str:
    models = list(out["models"])
    lines = ["| model | kind | in-sample (catalog) median / p90 | in-sample re-fit median / p90 | "
             "leave one family out median / p90 | metrics |", "|---|---|---|---|---|---|"]
    for m in models:
        d = out["models"][m]
        for k in KINDS:
            cols = [d[c][k] for c in ("in_sample", "in_sample_refit", "leave_one_family_out")]
            ns = {c["n"] for c in cols}
            lines.append(f"| {m} | {k} | " + " | ".join(f"{_pct(c, 'median')} / {_pct(c, 'p90')}" for c in cols)
                         + f" | {'/'.join(str(n) for n in sorted(ns))} |")
    lines += ["", "| chip | metrics | " + " | ".join(f"{m} in-sample re-fit median / p90 | {m} held out median / p90"
                                                  for m in models) + " |", "|---|---|" + "---|---|" * len(models)]
    for c, st in out["models"][models[0]]["by_chip"].items():
        row = [c, str(st["leave_one_family_out"]["n"])]
        for m in models:
            row += [f"{_pct(g, 'median')} / {_pct(g, 'p90')}" for g in
                    (out["models"][m]["by_chip"][c][k] for k in ("in_sample_refit", "leave_one_family_out"))]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| family | chips | metrics | " + " | ".join(f"{m} in-sample | {m} held out" for m in models) + " |",
              "|---|---|---|" + "---|---|" * len(models)]
    for f, fam in out["models"][models[0]]["families"].items():
        row = [f, ", ".join(fam["chips"]), str(fam["held_out"]["all"]["n"])]
        for m in models:
            g = out["models"][m]["families"][f]
            row += [_pct(g["in_sample"]["all"], "median"), _pct(g["held_out"]["all"], "median")]
        lines.append("| " + " | ".join(row) + " |")
        for c in fam["chips"] if len(fam["chips"]) > 1 else ():
            row = ["", c, str(fam["by_chip"][c]["held_out"]["n"])]
            for m in models:
                g = out["models"][m]["families"][f]["by_chip"][c]
                row += [_pct(g["in_sample"], "median"), _pct(g["held_out"], "median")]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| model | chip | without | compute | memory | network | metrics |", "|---|---|---|---|---|---|---|"]
    for fit in out["fits"]:
        e, fitted = fit["efficiency"], fit["fitted"]
        cells = [f"{e[k]:g}" + ("" if k in fitted else " (not fitted)") for k in ("compute", "memory", "network")]
        lines.append(f"| {fit['model']} | {fit['chip']} | {fit['without']} | " + " | ".join(cells)
                     + f" | {fit['records']} |")
    lines.append(f"\nrun time {out['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", default=str(catalog_dir("measurements") / "validation-dev.yaml"))
    ap.add_argument("--models", default="roofline,measured", help="comma-separated performance models")
    ap.add_argument("--sweeps", type=int, default=3, help="calibrate's rounds for the roofline (its default: 3)")
    ap.add_argument("--sweeps-measured", type=int, default=3, help="calibrate's rounds for the measured model")
    ap.add_argument("--jobs", type=int, default=1, help="fits run in this many processes")
    ap.add_argument("--start", choices=("catalog", "defaults"), default="catalog",
                    help="where each fit starts: the catalog's factors (as 'gpt4plan calibrate') or the defaults")
    ap.add_argument("--no-cache", action="store_true", help="replay every record at every grid point (slow)")
    ap.add_argument("--family", default=None, help="hold out only the families whose name contains this")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    out = run(a.file, [m.strip() for m in a.models.split(",") if m.strip()], a.sweeps, a.sweeps_measured,
              a.jobs, a.family, a.start, not a.no_cache)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(markdown(out))


if __name__ == "__main__":
    main()
