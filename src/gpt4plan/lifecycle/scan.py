"""The lifecycle scan: model size ``N`` and training tokens ``D`` along the iso-loss curve of a scaling law,
each point's training and serving cost, and the point of least total cost (docs/design.md).

Sardana et al. 2023 ("Beyond Chinchilla-Optimal: Accounting for Inference in Language Model Scaling Laws",
arXiv 2401.00448) is the reference result: with a large inference demand the optimum is a smaller model
trained on more tokens than the compute-optimal (Chinchilla) point of the same loss.

How the scan works (``n_shapes`` planner runs per planner, whatever ``n_points``):

1. The range of ``N``: from ``n_max = 3 N_c`` down to ``n_min``, the largest of ``N_c / 100``, the size that
   needs :data:`MAX_TOKENS_PER_PARAM` tokens per parameter (Sardana et al. extrapolate to 10,000; beyond it
   no fit has data), ``1.02 N_floor`` and the family's smallest model.  ``N_c`` is the law's compute-optimal
   point for the loss (:func:`gpt4plan.scaling.chinchilla_point`).
2. ``n_shapes`` model shapes log-spaced over the range (the family rule, :mod:`.shapes`; or the given
   specs), each priced once by each planner (:func:`.price.price_shape`): training dollars and days per
   token, serving dollars per day.  Each is a point priced by the planners (``priced: planner``).
3. ``n_points`` sizes log-spaced over the range, each at its exact ``D(N)``; their rates per token (and per
   day of serving) are interpolated between the two priced shapes around them, linearly in ``log N`` of
   the log of the rate (``priced: interpolated``).  A gap next to a shape that cannot be priced stays empty.
4. The cheapest point overall, if interpolated, is priced as a shape of its own; the optimum is the cheapest
   point priced by the planners.  The Chinchilla point is the family's shape nearest ``N_c``, at the ``D`` that
   brings that shape to the target loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan import scaling
from gpt4plan.lifecycle.price import ServeSetup, ShapePrice
from gpt4plan.lifecycle.shapes import MAX_FAMILY_PARAMS, MIN_FAMILY_PARAMS

if TYPE_CHECKING:
    from gpt4plan.specs import ModelSpec

__all__ = ["MAX_TOKENS_PER_PARAM", "LifecyclePoint", "LifecycleResult", "params_range", "point_of", "scan",
           "target_issue"]

#: the most training tokens per parameter the scan considers by default (Sardana et al. 2023 §4)
MAX_TOKENS_PER_PARAM = 10_000.0


@dataclass
class LifecyclePoint:
    """One (N, D) on the iso-loss curve and what it costs.  Dollars in USD, ``train_days`` for the training
    run, ``serve_chips`` the fleet; ``priced`` is ``planner`` or ``interpolated``; ``shape`` the priced model
    (planner points only)."""

    params: float
    tokens: float
    train_usd: float
    train_days: float
    serve_usd: float
    serve_chips: float
    priced: str
    shape: ShapePrice | None = None

    @property
    def total_usd(self) -> float:
        return self.train_usd + self.serve_usd

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def feasible(self) -> bool:
        return math.isfinite(self.total_usd)


@dataclass
class LifecycleResult:
    """What a lifecycle scan found: the law and the loss, the point of least total cost (``optimum``; None
    when no point is feasible), the Chinchilla point, every point (by size) and the priced shapes."""

    law: scaling.ScalingLaw
    target_loss: float
    serve: ServeSetup
    params_range: tuple[float, float]
    chinchilla_params: float
    chinchilla_tokens: float
    chinchilla: LifecyclePoint
    optimum: LifecyclePoint | None
    points: list[LifecyclePoint]
    shapes: list[ShapePrice]
    notes: list[str] = field(default_factory=list)


def target_issue(law: scaling.ScalingLaw, target_loss: float) -> str | None:
    """Why ``target_loss`` cannot be scanned (:func:`gpt4plan.scaling.loss_issue`, or a Chinchilla point the
    family cannot build: from ``N_c = (A (alpha + beta) / (beta R))^(1/alpha)``, ``R = L - E``, the loss whose
    Chinchilla point has ``N`` parameters is ``E + A (alpha + beta) / (beta N^alpha)``), or None."""
    issue = scaling.loss_issue(law, target_loss)
    if issue:
        return issue
    n_c, _ = scaling.chinchilla_point(law, target_loss)
    a, b = law.alpha, law.beta
    lo, hi = MIN_FAMILY_PARAMS, MAX_FAMILY_PARAMS / 3.0  # the scan reaches 3 N_c
    if not (lo <= n_c <= hi):
        return (f"its compute-optimal model would have {n_c:.3g} parameters; the scan's models run from "
                f"{lo:.3g} to {hi:.3g} (under {law.name}, losses from {law.E + law.A * (a + b) / (b * hi ** a):.4g} "
                f"to {law.E + law.A * (a + b) / (b * lo ** a):.4g})")
    return None


def params_range(law: scaling.ScalingLaw, target_loss: float) -> tuple[float, float]:
    """The default ``(n_min, n_max)`` of the scan (module docstring, step 1)."""
    n_c, _ = scaling.chinchilla_point(law, target_loss)
    floor = scaling.params_floor(law, target_loss)
    grid = np.geomspace(floor * 1.0001, n_c, 2000)
    ratio = scaling.tokens_for_loss(law, grid, target_loss) / grid
    at_cap = float(grid[np.argmax(ratio <= MAX_TOKENS_PER_PARAM)]) if ratio[-1] <= MAX_TOKENS_PER_PARAM else n_c
    return max(n_c / 100.0, at_cap, 1.02 * floor, MIN_FAMILY_PARAMS), 3.0 * n_c


def point_of(s: ShapePrice, law: scaling.ScalingLaw, target_loss: float, serve: ServeSetup) -> LifecyclePoint:
    """The planner-priced point of shape ``s``: its exact ``D(N)`` and costs."""
    d = scaling.tokens_for_loss(law, s.params, target_loss)
    return LifecyclePoint(s.params, d, d * s.train_usd_per_token, d * s.train_days_per_token,
                          s.serve_usd_per_day * serve.days, s.serve_chips, "planner", s)


def _interpolated(shapes: list[ShapePrice], n: np.ndarray, law, target_loss, serve) -> list[LifecyclePoint]:
    """Points at sizes ``n`` with the shapes' rates interpolated in log-log (module docstring, step 3)."""
    ok = [s for s in shapes if s.feasible]
    if len(ok) < 2:
        return []
    ok.sort(key=lambda s: s.params)
    xs = np.log([s.params for s in ok])
    n = n[(n > ok[0].params) & (n < ok[-1].params)]
    x = np.log(n)
    # a gap between two priced shapes with an unpriceable one between them stays empty
    all_x = np.log([s.params for s in shapes])
    bad_x = all_x[[not s.feasible for s in shapes]]
    i = np.searchsorted(xs, x)
    gap = np.zeros(x.shape, dtype=bool)
    for b in bad_x:
        gap |= (xs[i - 1] < b) & (b < xs[i])

    def rate(values) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        if not (v > 0).all():  # no serving demand: zero everywhere
            return np.interp(x, xs, v)
        return np.exp(np.interp(x, xs, np.log(v)))

    d = scaling.tokens_for_loss(law, n, target_loss)
    usd_tok, days_tok = rate([s.train_usd_per_token for s in ok]), rate([s.train_days_per_token for s in ok])
    usd_day, chips = rate([s.serve_usd_per_day for s in ok]), rate([s.serve_chips for s in ok])
    return [LifecyclePoint(float(n[j]), float(d[j]), float(d[j] * usd_tok[j]), float(d[j] * days_tok[j]),
                           float(usd_day[j] * serve.days), float(math.ceil(chips[j] - 1e-9)), "interpolated")
            for j in range(n.size) if not gap[j]]


def scan(
    law: scaling.ScalingLaw,
    target_loss: float,
    price: Callable[[ModelSpec], ShapePrice],
    shape_for: Callable[[float], ModelSpec],
    serve: ServeSetup,
    n_shapes: int = 24,
    n_points: int = 240,
    n_range: tuple[float, float] | None = None,
    models: list[ModelSpec] | None = None,
    on_shape: Callable[[int, int], None] | None = None,
) -> LifecycleResult:
    """Scan the iso-loss curve of ``target_loss`` (module docstring).

    ``price`` prices one model (:func:`.price.price_shape` with the setups bound); ``shape_for(N)`` builds
    the family's model nearest ``N`` parameters.  ``models``: price these specs instead of family shapes
    (no interpolation).  ``on_shape(i, n)`` is called before each of the ``n`` planner runs (progress).
    Raises ValueError when ``target_loss`` cannot be planned (:func:`target_issue`).
    """
    issue = target_issue(law, target_loss)
    if issue:
        raise ValueError(issue)
    n_c, d_c = scaling.chinchilla_point(law, target_loss)
    lo, hi = n_range or params_range(law, target_loss)
    chin_model = shape_for(n_c)
    candidates = _distinct((list(models) if models is not None else
                            [shape_for(float(v)) for v in np.geomspace(lo, hi, max(2, n_shapes))]) + [chin_model])
    floor = scaling.params_floor(law, target_loss)
    total = len(candidates) + (models is None)  # the refinement of an interpolated optimum: one more
    priced: dict[str, ShapePrice] = {}

    def add(m) -> ShapePrice:
        if on_shape is not None:
            on_shape(len(priced), total)
        priced[m.name] = price(m)
        return priced[m.name]

    for m in candidates:
        add(m)
    reachable = [s for s in sorted(priced.values(), key=lambda s: s.params) if s.params > floor]
    points = [point_of(s, law, target_loss, serve) for s in reachable]
    if models is None:
        points += _interpolated(reachable, np.geomspace(lo, hi, max(2, n_points)), law, target_loss, serve)
        best = min((p for p in points if p.feasible), key=lambda p: p.total_usd, default=None)
        if best is not None and best.priced == "interpolated" and shape_for(best.params).name not in priced:
            s = add(shape_for(best.params))  # the cheapest region, priced by the planners
            if s.params > floor:
                points.append(point_of(s, law, target_loss, serve))
    points.sort(key=lambda p: p.params)
    shapes = sorted(priced.values(), key=lambda s: s.params)
    if models is not None:  # the range is the given models'
        lo, hi = shapes[0].params, shapes[-1].params
    exact = [p for p in points if p.priced == "planner" and p.feasible]
    optimum = min(exact, key=lambda p: (p.total_usd, p.params), default=None)
    chin = point_of(priced[chin_model.name], law, target_loss, serve)
    notes = [f"{s.model.name}: {s.params:.3g} parameters cannot reach loss {target_loss:.4g} under {law.name} "
             f"(the floor is {floor:.3g})" for s in shapes if s.params <= floor]
    return LifecycleResult(law, target_loss, serve, (lo, hi), n_c, d_c, chin, optimum, points, shapes, notes)


def _distinct(models: list) -> list:
    """The models with distinct names, in order (the family rule maps nearby sizes to one shape)."""
    seen: set[str] = set()
    out = []
    for m in models:
        if m.name not in seen:
            seen.add(m.name)
            out.append(m)
    return out
