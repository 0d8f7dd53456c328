"""Candidate training layouts as flat arrays: the search grid (docs/design.md).

Every candidate is one ``(tp, pp, dp, ep, microbatch, recompute, ZeRO stage, interleave)`` whose
``dp x microbatch x microbatches`` meets the global batch within :data:`BATCH_TOLERANCE`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics import arch
from gpt4plan.specs.vocabulary import Recompute, values
from gpt4plan.training.workload import TrainPins, TrainWorkload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["RECOMPUTE", "MICROBATCHES", "INTERLEAVE", "BATCH_TOLERANCE", "grid"]

RECOMPUTE = values(Recompute)
MICROBATCHES = (1, 2, 4, 8)
INTERLEAVE = (1, 2, 4)


def _dp_grid(max_dp: int) -> np.ndarray:
    base = np.array([1, 1.25, 1.5, 1.75])
    vals = np.unique(np.round(np.outer(2.0 ** np.arange(0, 18), base).ravel()))
    vals = np.concatenate([np.arange(1, 17), vals])
    return np.unique(vals[vals <= max_dp])


#: A plan may round the requested global batch to a multiple of dp x microbatch by at most this much.
BATCH_TOLERANCE = 0.05


def _tp_choices(model: ModelSpec, hw: HardwareSpec) -> list[int]:
    dom = hw.scale_up.domain
    tps = [t for t in arch.allowed_tp(model) if (dom % t == 0 or t % dom == 0)]
    if model.dense_layers and model.ffn:
        tps = [t for t in tps if model.ffn % t == 0]
    if model.moe:
        tps = [t for t in tps if model.moe.expert_ffn % t == 0]
    return tps


def _axes(model: ModelSpec, hw: HardwareSpec, pins: TrainPins) -> dict | None:
    """The values each layout axis may take (a pinned axis: its pin), or None when a pin leaves none."""
    tps = _tp_choices(model, hw)
    if pins.tp is not None:
        tps = [pins.tp] if pins.tp in arch.allowed_tp(model) else []
    L = model.layers
    pps = [p for p in range(1, min(L, 128) + 1) if math.ceil(L / math.ceil(L / p)) == p]
    if pins.pp is not None:
        pps = [pins.pp] if 1 <= pins.pp <= L else []
    E = model.moe.experts if model.moe else 1
    eps = [e for e in range(1, E + 1) if E % e == 0]
    if pins.ep is not None:
        eps = [pins.ep] if E % pins.ep == 0 else []
    if not (tps and pps and eps):
        return None
    return {
        "tp": tps, "pp": pps, "ep": eps,
        "mb": [pins.microbatch] if pins.microbatch else list(MICROBATCHES),
        "rec": [pins.recompute] if pins.recompute else list(RECOMPUTE),
        # ZeRO-0 is never faster than ZeRO-1 here (same gradient traffic, more memory): search 1-3 unless pinned
        "zero": [pins.zero] if pins.zero is not None else [1, 2, 3],
        "v": [pins.interleave] if pins.interleave else list(INTERLEAVE),
    }  # fmt: skip


def _tp_pp_dp(ax: dict, pins: TrainPins, B: float, cap: int, cp: int, dp_values: dict | None):
    """The (tp, pp, dp) triples to try, as three flat arrays, or None when no triple fits ``cap`` chips."""
    Ts, Ps, Ds = [], [], []
    for t in ax["tp"]:
        for p in ax["pp"]:
            most = cap // (t * p * cp)
            if most < 1:
                continue
            if pins.dp is not None:
                dvals = np.array([pins.dp], float)
            elif dp_values is not None:
                dvals = np.asarray(dp_values.get((t, p), []), float)
            else:
                # at most B sequences' worth of DP ranks; always try the largest that fits
                top = int(min(most, max(1, B * (1 + BATCH_TOLERANCE))))
                dvals = np.unique(np.concatenate([_dp_grid(top), [top]]))
            if dvals.size:
                Ts.append(np.full(dvals.size, t, float))
                Ps.append(np.full(dvals.size, p, float))
                Ds.append(dvals)
    if not Ts:
        return None
    return np.concatenate(Ts), np.concatenate(Ps), np.concatenate(Ds)


def grid(model: ModelSpec, hw: HardwareSpec, wl: TrainWorkload, pins: TrainPins, chips: int | None, max_chips: int,
         dp_values: dict | None = None):
    """Candidate layouts as flat arrays.  ``dp_values`` maps (tp, pp) to the DP degrees to try (refinement)."""
    ax = _axes(model, hw, pins)
    if ax is None:
        return None
    L = model.layers
    B = wl.global_batch_tokens / wl.seq_len
    cap = chips or max_chips
    cp = pins.cp or 1
    tpd = _tp_pp_dp(ax, pins, B, cap, cp, dp_values)
    if tpd is None:
        return None
    T, P, D = tpd
    recs = ax["rec"]
    axes = [np.array(ax["ep"], float), np.array(ax["mb"], float), np.arange(len(recs), dtype=float),
            np.array(ax["zero"], float), np.array(ax["v"], float)]
    idx = np.arange(T.size, dtype=float)
    mesh = np.meshgrid(idx, *axes, indexing="ij")
    flat = [x.ravel() for x in mesh]
    i = flat[0].astype(int)
    EP, MB, R, Z, V = flat[1:]
    T, P, D = T[i], P[i], D[i]
    Ls = np.ceil(L / P)
    ok = (D % EP == 0) & (T * P * D * cp <= cap) & (D >= 1)
    ok &= (V == 1) | ((P > 1) & (Ls % V == 0))  # interleaving splits each stage's layers into v chunks
    M = np.round(B / (D * MB))
    ok &= (M >= 1) & (np.abs(M * D * MB - B) <= BATCH_TOLERANCE * B)
    sel = np.flatnonzero(ok)
    rec_names = np.array(recs)
    return {"tp": T[sel], "pp": P[sel], "dp": D[sel], "ep": EP[sel], "mb": MB[sel], "rec": rec_names[R[sel].astype(int)],
            "zero": Z[sel], "v": V[sel], "Ls": Ls[sel], "m": M[sel], "cp": np.full(sel.size, float(cp))}
