"""The requests a replay serves (docs/design.md): per-request arrival times and prompt and output lengths
(:class:`Requests`), drawn from a description of the traffic (:class:`Traffic`) or read from a request log.

Lengths are fixed (coefficient of variation 0) or drawn with a mean and a coefficient of variation ``cv``
(standard deviation / mean) from a lognormal (``sigma^2 = ln(1 + cv^2)``, ``mu = ln(mean) - sigma^2 / 2``)
or a gamma (shape ``1 / cv^2``, scale ``mean * cv^2``) distribution, rounded to whole tokens of at least 1;
or resampled with replacement from the (prompt, output) pairs of a file.  A request longer than the model's
context has its prompt shortened to fit.  Inter-arrival gaps are gamma-distributed with mean ``1 / rate``
and coefficient of variation ``arrival_cv``: 1 is a Poisson process (exponential gaps), above 1 bursty,
0 evenly spaced.  Every draw comes from ``numpy.random.default_rng(seed)``: the same seed, the same requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Requests", "Traffic", "draw_lengths", "draw_arrivals", "requests_at", "DEFAULT_REPLAY_REQUESTS",
           "LENGTH_SHAPES"]

#: Requests a plan's replay serves unless told otherwise (enough for a p99 from ~20 samples above it).
DEFAULT_REPLAY_REQUESTS = 2000
#: A coefficient of variation below this is taken as 0 (fixed lengths, evenly spaced arrivals).
MIN_CV = 1e-6
#: The distributions a length may be drawn from.
LENGTH_SHAPES = ("lognormal", "gamma")


@dataclass(frozen=True)
class Requests:
    """Requests of one replay: ``arrival_s`` (float, sorted, from 0), ``prompt_tokens`` and ``output_tokens``
    (int, >= 1), shape ``(n,)`` each."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self):
        n = self.arrival_s.size
        if n < 1 or self.prompt_tokens.size != n or self.output_tokens.size != n:
            raise ValueError("requests: at least one, with one arrival, prompt and output length each")
        if np.any(self.prompt_tokens < 1) or np.any(self.output_tokens < 1):
            raise ValueError("requests: prompt and output lengths must be >= 1 token")

    @property
    def n(self) -> int:
        return int(self.arrival_s.size)

    @property
    def span_s(self) -> float:
        """First to last arrival (s)."""
        return float(self.arrival_s[-1] - self.arrival_s[0])

    def uniform(self) -> bool:
        """Every request has the same prompt and output lengths."""
        return bool(np.all(self.prompt_tokens == self.prompt_tokens[0]) and np.all(self.output_tokens == self.output_tokens[0]))

    def part(self, k: int, of: int) -> Requests:
        """Every ``of``-th request from the ``k``-th: one replica's share, dealt round-robin."""
        return Requests(self.arrival_s[k::of], self.prompt_tokens[k::of], self.output_tokens[k::of])


@dataclass(frozen=True)
class Traffic:
    """How the requests of a replay are made: lengths' coefficients of variation (0: fixed, the workload's
    lengths) and distribution (:data:`LENGTH_SHAPES`), the arrivals' coefficient of variation (1: Poisson),
    the number of requests and the seed; or a request log (``trace``: replayed as it is), or (prompt, output)
    pairs to resample lengths from (``lengths``)."""

    prompt_cv: float = 0.0
    output_cv: float = 0.0
    length_shape: str = "lognormal"
    arrival_cv: float = 1.0
    requests: int = DEFAULT_REPLAY_REQUESTS
    seed: int = 0
    trace: Requests | None = None
    lengths: Requests | None = None

    def __post_init__(self):
        if self.length_shape not in LENGTH_SHAPES:
            raise ValueError(f"length distribution: one of {', '.join(LENGTH_SHAPES)}, got {self.length_shape!r}")
        if min(self.prompt_cv, self.output_cv, self.arrival_cv) < 0 or self.requests < 1:
            raise ValueError("coefficients of variation must be >= 0 and requests >= 1")


def draw_lengths(mean: float, cv: float, n: int, rng: np.random.Generator, shape: str = "lognormal") -> np.ndarray:
    """``n`` whole token counts (>= 1) of mean ``mean`` and coefficient of variation ``cv`` (module docstring);
    all ``round(mean)`` when ``cv`` is 0."""
    if cv < MIN_CV:
        return np.full(n, max(1, round(mean)), dtype=np.int64)
    if shape == "gamma":
        x = rng.gamma(1.0 / cv**2, mean * cv**2, n)
    else:
        s2 = math.log1p(cv**2)
        x = rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), n)
    return np.maximum(np.rint(x), 1).astype(np.int64)


def draw_arrivals(n: int, rate: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (s) of ``n`` requests at ``rate`` per second, the first at 0: gamma gaps of mean
    ``1 / rate`` and coefficient of variation ``cv`` (1: Poisson; 0: evenly spaced); all at 0 when the rate is
    infinite."""
    if math.isinf(rate):
        return np.zeros(n)
    if cv < MIN_CV:
        gaps = np.full(n, 1.0 / rate)
    elif cv == 1:  # exponential gaps (the same draws as rng.gamma(1, 1 / rate) would not give)
        gaps = rng.exponential(1.0 / rate, n)
    else:
        gaps = rng.gamma(1.0 / cv**2, cv**2 / rate, n)
    return np.concatenate([[0.0], np.cumsum(gaps[:-1])])


def requests_at(traffic: Traffic, prompt_tokens: float, output_tokens: float, rate: float, max_context: int,
                n: int | None = None) -> Requests:
    """``n`` (default ``traffic.requests``) requests of mean ``prompt_tokens`` + ``output_tokens`` at ``rate``
    per second (module docstring); the lengths drawn before the arrivals, so a rate changes no length."""
    n = traffic.requests if n is None else n
    rng = np.random.default_rng(traffic.seed)
    if traffic.lengths is not None:
        pick = rng.integers(0, traffic.lengths.n, n)
        prompt, output = traffic.lengths.prompt_tokens[pick], traffic.lengths.output_tokens[pick]
    else:
        prompt = draw_lengths(prompt_tokens, traffic.prompt_cv, n, rng, traffic.length_shape)
        output = draw_lengths(output_tokens, traffic.output_cv, n, rng, traffic.length_shape)
    output = np.minimum(output, max_context - 1)
    prompt = np.maximum(np.minimum(prompt, max_context - output), 1)
    return Requests(draw_arrivals(n, rate, traffic.arrival_cv, rng), prompt, output)
