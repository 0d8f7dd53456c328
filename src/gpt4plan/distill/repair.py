"""The repairs every distilled table gets (docs/kernels.md): outliers dropped, unmeasured cells filled along
one axis, measurement noise that makes a larger shape faster than a smaller one removed."""

from __future__ import annotations

import numpy as np

__all__ = ["MS", "SPIKE", "running_max", "drop_spikes", "fill_loglog", "fill_batch_length"]

MS = 1e-3  # the source's latencies are milliseconds


def running_max(a: np.ndarray, axes) -> tuple[np.ndarray, int]:
    """``a`` made non-decreasing along each of ``axes`` with the least bias: per axis, the mean of the running
    maximum from the small end and the running minimum from the large end (both non-decreasing; an axis
    already monotone is left as it was, and making one axis monotone keeps the others so).  Returns it with
    the number of cells moved by more than 1 %."""
    out = a.copy()
    for ax in axes:
        hi = np.maximum.accumulate(out, axis=ax)
        lo = np.flip(np.minimum.accumulate(np.flip(out, axis=ax), axis=ax), axis=ax)
        out = 0.5 * (hi + lo)
    return out, int(np.count_nonzero(np.abs(out / a - 1) > 0.01))


#: A measured cell over this many times both neighbours along an axis is an outlier: kernel time does not
#: fall as a shape grows, and one grid step at most doubles it.  (H200, TensorRT-LLM: MLA decode at batch 32
#: and 3 tokens recorded 2,223 us between neighbours of 14-15 us.)
SPIKE = 3.0


def drop_spikes(t: np.ndarray, axes) -> int:
    """Set to NaN (in place) each cell of ``t`` over :data:`SPIKE` times both neighbours along one of ``axes``
    (to be refilled from its neighbours); returns how many."""
    bad = np.zeros(t.shape, dtype=bool)
    for ax in axes:
        mid = np.moveaxis(t, ax, 0)
        nb = np.fmax(mid[:-2], mid[2:])
        np.moveaxis(bad, ax, 0)[1:-1] |= mid[1:-1] > SPIKE * nb
    t[bad] = np.nan
    return int(bad.sum())


def fill_loglog(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fill NaNs of ``y(x)``: log-log interpolation between measured points, proportional to ``x`` beyond the
    largest measured one (a kernel twice as large does twice the work), the smallest's value below it (a
    smaller kernel is not cheaper than the smallest measured: launch and tile bound)."""
    ok = np.isfinite(y)
    if ok.all() or not ok.any():
        return y
    xs, ys = x[ok], y[ok]
    out = np.exp(np.interp(np.log(x), np.log(xs), np.log(ys)))
    return np.where(x > xs[-1], ys[-1] * x / xs[-1], out)


def fill_batch_length(t: np.ndarray, batch: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Fill the NaNs of ``t[batch, length]`` in place (and return it): proportional in batch beyond the largest
    measured batch (independent sequences cost the same each), log-log between, then along the length."""
    for j in range(len(length)):
        col = t[:, j]
        ok = np.flatnonzero(np.isfinite(col))
        if ok.size:
            top = ok[-1]
            col[top + 1:] = col[top] * batch[top + 1:] / batch[top]
            col[:top] = fill_loglog(batch[:top + 1], col[:top + 1])[:top]
    for i in range(len(batch)):
        t[i] = fill_loglog(length, t[i])
    return t
