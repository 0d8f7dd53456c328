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
