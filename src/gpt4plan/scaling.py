"""Parametric scaling laws of pre-training loss: ``L(N, D) = E + A / N^alpha + B / D^beta`` (docs/design.md).

``N`` is the total parameter count (Hoffmann et al. count every parameter, embeddings included; Pearce &
Song 2024, "Reconciling Kaplan and Chinchilla scaling laws"), ``D`` training tokens, ``L`` the loss in nats
per token on the law's corpus.  Pure arithmetic (floats or numpy arrays): no planner, no spec.

Two published fits (:data:`LAWS`):

* ``hoffmann2022``: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv
  2203.15556), approach 3, eq. 10: ``E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28``.
* ``besiroglu2024``: Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv
  2404.10102), their refit of approach 3 on data reconstructed from Hoffmann's figure 4, eq. 4:
  ``E = 1.8172, A = 482.01, B = 2085.43, alpha = 0.3478, beta = 0.3658`` (compute-optimal exponent
  ``beta / (alpha + beta) = 0.5126``, consistent with Hoffmann's approaches 1 and 2).

The two quantities a lifecycle plan needs, derived here once:

**Iso-loss curve.**  For a target ``L`` write ``R = L - E`` (the reducible loss).  A model of ``N``
parameters reaches ``L`` after ``D(N) = (B / (R - A / N^alpha))^(1/beta)`` tokens, defined where
``A / N^alpha < R``, i.e. for ``N > N_floor = (A / R)^(1/alpha)`` (at ``N_floor`` even infinite data is
not enough).  ``D`` falls as ``N`` grows.

**Compute-optimal ("Chinchilla") point.**  With training compute ``C = 6 N D`` (Kaplan et al. 2020 §2.1),
minimise ``N D`` on the iso-loss curve.  With ``x = A / N^alpha`` and ``y = B / D^beta`` the constraint is
``x + y = R``; Lagrange on ``ln N + ln D`` gives ``1/N = lam * alpha x / N`` and ``1/D = lam * beta y / D``,
so ``alpha x = beta y``, hence ``x = R beta / (alpha + beta)``, ``y = R alpha / (alpha + beta)`` and

    N_c = (A (alpha + beta) / (beta R))^(1/alpha),    D_c = (B (alpha + beta) / (alpha R))^(1/beta).

The condition ``alpha A / N^alpha = beta B / D^beta`` is the one that defines the compute-optimal
allocation for a budget ``C`` (Hoffmann eq. 4): ``N_opt(C) = G (C/6)^(beta/(alpha+beta))``,
``D_opt(C) = (C/6) / N_opt`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``; so the point of least
compute for a loss is the compute-optimal point of its own budget (:func:`compute_optimal`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ScalingLaw", "LAWS", "FLOPS_PER_PARAM_TOKEN", "law_named", "loss", "tokens_for_loss",
           "params_floor", "compute_optimal", "chinchilla_point", "loss_issue"]

#: Training FLOPs per parameter per token, forward and backward (Kaplan et al. 2020 §2.1: C = 6 N D).
FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class ScalingLaw:
    """``L(N, D) = E + A / N^alpha + B / D^beta`` (nats per token; N parameters, D tokens) and its source."""

    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str

    def as_dict(self) -> dict:
        return {"name": self.name, "E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha,
                "beta": self.beta, "source": self.source}


LAWS: dict[str, ScalingLaw] = {
    "hoffmann2022": ScalingLaw("hoffmann2022", 1.69, 406.4, 410.7, 0.34, 0.28,
                               "Hoffmann et al. 2022 (arXiv 2203.15556), approach 3, eq. 10"),
    "besiroglu2024": ScalingLaw("besiroglu2024", 1.8172, 482.01, 2085.43, 0.3478, 0.3658,
                                "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt "
                                "(arXiv 2404.10102), eq. 4"),
}


def law_named(name: str) -> ScalingLaw:
    """The law called ``name``; ValueError naming the choices otherwise."""
    try:
        return LAWS[name]
    except KeyError:
        raise ValueError(f"unknown scaling law {name!r}; choose from {', '.join(LAWS)}") from None


def loss(law: ScalingLaw, n_params, tokens):
    """``E + A / N^alpha + B / D^beta`` (nats per token) for ``N`` parameters trained on ``D`` tokens."""
    return law.E + law.A / np.power(n_params, law.alpha) + law.B / np.power(tokens, law.beta)


def tokens_for_loss(law: ScalingLaw, n_params, target_loss: float):
    """Tokens ``D(N)`` a model of ``n_params`` needs to reach ``target_loss`` (the iso-loss curve):
    ``(B / (L - E - A / N^alpha))^(1/beta)``; ``inf`` where ``N <= N_floor`` (never reached)."""
    left = target_loss - law.E - law.A / np.power(np.asarray(n_params, dtype=float), law.alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(left > 0, np.power(law.B / np.where(left > 0, left, 1.0), 1.0 / law.beta), np.inf)
    return float(d) if np.ndim(d) == 0 else d


def params_floor(law: ScalingLaw, target_loss: float) -> float:
    """``N_floor = (A / (L - E))^(1/alpha)``: below it no amount of data reaches ``target_loss``."""
    return (law.A / (target_loss - law.E)) ** (1.0 / law.alpha)


def compute_optimal(law: ScalingLaw, flops: float) -> tuple[float, float]:
    """``(N_opt, D_opt)`` for a training budget of ``flops`` = 6 N D (Hoffmann et al. 2022, eq. 4)."""
    a, b = law.alpha, law.beta
    g = (a * law.A / (b * law.B)) ** (1.0 / (a + b))
    n = g * (flops / FLOPS_PER_PARAM_TOKEN) ** (b / (a + b))
    return n, flops / FLOPS_PER_PARAM_TOKEN / n


def chinchilla_point(law: ScalingLaw, target_loss: float) -> tuple[float, float]:
    """``(N_c, D_c)``: the point of the iso-loss curve of least training compute (module docstring)."""
    r, a, b = target_loss - law.E, law.alpha, law.beta
    n = (law.A * (a + b) / (b * r)) ** (1.0 / a)
    d = (law.B * (a + b) / (a * r)) ** (1.0 / b)
    return n, d


def loss_issue(law: ScalingLaw, target_loss: float) -> str | None:
    """Why ``target_loss`` cannot be planned under ``law`` (not finite, at or below the irreducible ``E``),
    or None."""
    if not math.isfinite(target_loss):
        return f"the loss must be a finite number, got {target_loss!r}"
    if target_loss <= law.E:
        return (f"{target_loss:g} is at or below the irreducible loss E = {law.E:g} of {law.name}: no model "
                "and no amount of data reaches it")
    return None
