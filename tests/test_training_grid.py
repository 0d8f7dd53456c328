"""The training grid (gpt4plan.training.layouts.grid) checks its rules without building the full mesh of
candidates (a fast start): it must give exactly what filtering the full mesh gives, value for value and in
the same order (the search breaks ties by position)."""

from __future__ import annotations

import numpy as np
import pytest

from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.training import layouts
from gpt4plan.training.workload import TrainPins, TrainWorkload


def _mesh_grid(model, hw, wl, pins, chips, max_chips, dp_values=None):
    """The grid as it was first written: every rule on the full (layout, ep, mb, recompute, zero, v) mesh."""
    ax = layouts._axes(model, hw, pins)
    if ax is None:
        return None
    L = model.layers
    B = wl.global_batch_tokens / wl.seq_len
    cap = chips or max_chips
    cp = pins.cp or 1
    tpd = layouts._tp_pp_dp(ax, pins, B, cap, cp, dp_values)
    if tpd is None:
        return None
    T, P, D = tpd
    recs = ax["rec"]
    axes = [np.array(ax["ep"], float), np.array(ax["mb"], float), np.arange(len(recs), dtype=float),
            np.array(ax["zero"], float), np.array(ax["v"], float)]
    mesh = np.meshgrid(np.arange(T.size, dtype=float), *axes, indexing="ij")
    flat = [x.ravel() for x in mesh]
    i = flat[0].astype(int)
    EP, MB, R, Z, V = flat[1:]
    T, P, D = T[i], P[i], D[i]
    Ls = np.ceil(L / P)
    ok = (D % EP == 0) & (T * P * D * cp <= cap) & (D >= 1)
    ok &= (V == 1) | ((P > 1) & (Ls % V == 0))
    M = np.round(B / (D * MB))
    ok &= (M >= 1) & (np.abs(M * D * MB - B) <= layouts.BATCH_TOLERANCE * B)
    sel = np.flatnonzero(ok)
    return {"tp": T[sel], "pp": P[sel], "dp": D[sel], "ep": EP[sel], "mb": MB[sel],
            "rec": np.array(recs)[R[sel].astype(int)], "zero": Z[sel], "v": V[sel], "Ls": Ls[sel], "m": M[sel],
            "cp": np.full(sel.size, float(cp))}


CASES = [
    ("gpt-4", "a100-40gb", 60e6, 8192, TrainPins(), 25000, None),
    ("gpt-4", "h100-sxm", 60e6, 8192, TrainPins(), None, None),
    ("llama-3.1-70b", "h100-sxm", 4e6, 8192, TrainPins(), 2048, None),
    ("deepseek-v3", "h100-sxm", 15e6, 4096, TrainPins(), 2048, None),
    ("llama-3.1-8b", "h100-sxm", 4e6, 8192, TrainPins(cp=2), 64, None),
    ("llama-3.1-8b", "a100-40gb", 1e6, 2048, TrainPins(tp=2, zero=3, interleave=2), 512, None),
    ("mixtral-8x7b", "h100-sxm", 8e6, 4096, TrainPins(ep=4, microbatch=2, recompute="full"), 1024, None),
    ("llama-3.1-70b", "h100-sxm", 4e6, 8192, TrainPins(), None, {(8, 4): [3, 5, 7, 9, 11], (4, 8): [1, 2]}),
    ("gpt-4", "a100-40gb", 4e6, 8192, TrainPins(dp=96), 100000, None),
]


@pytest.mark.parametrize(("model", "hw", "gb", "seq", "pins", "chips", "dp_values"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_grid_equals_the_filtered_full_mesh(model, hw, gb, seq, pins, chips, dp_values):
    m, h = resolve_model(model), resolve_hardware(hw)
    wl = TrainWorkload(tokens=1e12, seq_len=seq, global_batch_tokens=gb)
    want = _mesh_grid(m, h, wl, pins, chips, 100_000, dp_values)
    got = layouts.grid(m, h, wl, pins, chips, 100_000, dp_values)
    assert (got is None) == (want is None)
    if want is None:
        return
    assert list(got) == list(want) and want["tp"].size > 0
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k]), k


def _evaluate_all_kept(model, hw, wl, rel, c, capacity, days, chunk):
    """The search's evaluation as it was first written: every candidate evaluated in full."""
    from gpt4plan.training.step import evaluate_training

    kept, lean, fast = [], None, None
    for start in range(0, c["tp"].size, chunk):
        cc = {k: v[start:start + chunk] for k, v in c.items()}
        with np.errstate(all="ignore"):
            r = evaluate_training(model, hw, wl, rel, cc)
        finite = np.isfinite(r["days"]) & np.isfinite(r["mem"])
        mem_ok = (r["mem"] <= capacity) & finite
        feas = mem_ok & (True if days is None else r["days"] <= days)
        kept.append({k: v[feas] for k, v in r.items()})
        i = int(np.argmin(np.where(finite, r["mem"], np.inf)))
        if lean is None or r["mem"][i] < lean["mem"][0]:
            lean = {k: v[i:i + 1] for k, v in r.items()}
        if mem_ok.any():
            j = int(np.argmin(np.where(mem_ok, r["days"], np.inf)))
            if fast is None or r["days"][j] < fast["days"][0]:
                fast = {k: v[j:j + 1] for k, v in r.items()}
    parts = kept + [p for p in (lean, fast) if p is not None]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n_feas = sum(p["tp"].size for p in kept)
    feasible = np.zeros(out["tp"].size, dtype=bool)
    feasible[:n_feas] = True
    mem_ok = out["mem"] <= capacity
    mem_ok[:n_feas] = True
    return out, mem_ok & np.isfinite(out["mem"]), feasible


@pytest.mark.parametrize(("model", "hw", "gb", "seq", "pins", "chips", "dp_values"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize(("capacity_scale", "days", "chunk"), [(1.0, None, 150_000), (1.0, 60.0, 7_000),
                                                               (1e-3, None, 50_000), (1.0, 1e-3, 150_000)])
def test_memory_first_evaluation_keeps_what_full_evaluation_keeps(model, hw, gb, seq, pins, chips, dp_values,
                                                                   capacity_scale, days, chunk):
    """Only the layouts that fit are evaluated in full (tools: memory_per_chip): the kept rows, the leanest
    and the fastest are the same, bit for bit, with any chunking, when nothing fits and when no plan is fast
    enough."""
    from gpt4plan.training import search
    from gpt4plan.training.reliability import Reliability

    m, h = resolve_model(model), resolve_hardware(hw)
    wl = TrainWorkload(tokens=1e12, seq_len=seq, global_batch_tokens=gb)
    c = layouts.grid(m, h, wl, pins, chips, 100_000, dp_values)
    capacity = h.memory * h.usable_memory * capacity_scale
    want = _evaluate_all_kept(m, h, wl, Reliability(), c, capacity, days, chunk)
    got = search._evaluate_kept(m, h, wl, Reliability(), c, capacity, days, chunk)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2])
    assert list(got[0]) == list(want[0])
    for k in want[0]:
        assert got[0][k].dtype == want[0][k].dtype, k
        assert np.array_equal(got[0][k], want[0][k], equal_nan=want[0][k].dtype.kind == "f"), k
