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
    EP, MB, R, Z, V = (np.array(ax["ep"], float), np.array(ax["mb"], float), np.arange(len(recs), dtype=float),
                       np.array(ax["zero"], float), np.array(ax["v"], float))
    # Candidates in the order of the full (layout, ep, mb, recompute, zero, v) mesh, but the mesh is never
    # built: every rule reads at most (layout, ep, mb, v), so the rules are checked on that smaller mesh and
    # spread over recompute and zero (the same values, in the same order, without ~100 MB of float arrays)
    t, p, d = T[:, None, None, None], P[:, None, None, None], D[:, None, None, None]
    ep, mb, v = EP[None, :, None, None], MB[None, None, :, None], V[None, None, None, :]
    Ls = np.ceil(L / p)
    ok = (d % ep == 0) & (t * p * d * cp <= cap) & (d >= 1)
    ok = ok & ((v == 1) | ((p > 1) & (Ls % v == 0)))  # interleaving splits each stage's layers into v chunks
    M = np.round(B / (d * mb))
    ok = ok & (M >= 1) & (np.abs(M * d * mb - B) <= BATCH_TOLERANCE * B)
    shape = (T.size, EP.size, MB.size, R.size, Z.size, V.size)
    sel = np.flatnonzero(np.broadcast_to(ok[:, :, :, None, None, :], shape))
    i, e, b, r, z, w = np.unravel_index(sel, shape)
    T, P, D, EP, MB, Z, V = T[i], P[i], D[i], EP[e], MB[b], Z[z], V[w]
    rec_names = np.array(recs)
    return {"tp": T, "pp": P, "dp": D, "ep": EP, "mb": MB, "rec": rec_names[R[r].astype(int)], "zero": Z, "v": V,
            "Ls": np.ceil(L / P), "m": np.round(B / (D * MB)), "cp": np.full(sel.size, float(cp))}
