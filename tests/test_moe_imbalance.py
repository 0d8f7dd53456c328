"""The busiest expert rank's load (issue 13, item 3): exact for small cases enumerated here by brute force and
by hand, tending to 1 as the tokens grow, continuous where the exact computation hands over to the normal
approximation, and never above ``ep``."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt4plan.physics.moe import EXACT_MAX_COPIES, eplb_imbalance, expected_max_load, moe_imbalance


def _brute_force(copies: int, ranks: int) -> float:
    """E[max load] by listing every one of ranks^copies equally likely placements."""
    total = 0
    for placement in itertools.product(range(ranks), repeat=copies):
        total += max(placement.count(r) for r in range(ranks))
    return total / ranks**copies


def test_by_hand():
    """2 copies on 2 ranks: loads (2,0), (1,1), (0,2) with probability 1/4, 1/2, 1/4, E[max] = 1.5, mean 1:
    factor 1.5.  2 copies on 3 ranks: together with probability 1/3, E[max] = 2/3 * 1 + 1/3 * 2 = 4/3, mean
    2/3: factor 2.  3 copies on 2 ranks: (3,0) or (0,3) with probability 1/4, else a 2-1 split: E[max] =
    3/4 + 2 * 3/4 = 2.25, mean 1.5: factor 1.5.  One copy: it sits on one rank, factor = ep."""
    assert expected_max_load(2, 2) == pytest.approx(1.5)
    assert expected_max_load(2, 3) == pytest.approx(4 / 3)
    assert expected_max_load(3, 2) == pytest.approx(2.25)
    got = moe_imbalance(np.array([1.0, 2 / 3, 1.5, 1 / 8]), np.array([2, 3, 2, 8]))
    assert got == pytest.approx([1.5, 2.0, 1.5, 8.0])


@pytest.mark.parametrize("copies, ranks", [(c, r) for r in (2, 3, 4, 5) for c in range(1, 8) if r**c <= 80_000])
def test_exact_equals_brute_force(copies, ranks):
    assert expected_max_load(copies, ranks) == pytest.approx(_brute_force(copies, ranks), rel=1e-9)
    assert moe_imbalance(copies / ranks, ranks) == pytest.approx(_brute_force(copies, ranks) / (copies / ranks))


@given(ep=st.sampled_from([2, 4, 8, 16, 32, 64, 72, 256]), mu=st.floats(0.01, 1e5))
def test_between_one_and_ep_and_falls_with_load(ep, mu):
    """The busiest rank holds at least the mean and at most everything; more copies per rank even it out."""
    a, b = moe_imbalance(mu, ep), moe_imbalance(mu * 4, ep)
    assert 1.0 <= b <= a + 1e-9 <= ep + 1e-9


@pytest.mark.parametrize("ep", [2, 8, 32, 256])
def test_tends_to_one(ep):
    """sqrt(mu) fluctuations over a mean of mu: the excess shrinks like 1/sqrt(mu)."""
    mus = np.array([1e2, 1e4, 1e6])
    excess = moe_imbalance(mus, ep) - 1
    assert excess[2] < 0.01 and excess[2] < excess[1] < excess[0]
    assert excess[1] / excess[2] == pytest.approx(10, rel=0.05)  # 100x the load, a tenth of the excess


@pytest.mark.parametrize("ep", [4, 8, 16, 32, 64])
def test_continuous_where_the_approximation_takes_over(ep):
    """At EXACT_MAX_COPIES copies the exact value hands over to the normal approximation without a step, and
    the busiest rank's load (mu x factor) keeps growing with the copies across it."""
    mu = EXACT_MAX_COPIES / ep
    exact, approx = moe_imbalance(mu, ep), moe_imbalance(mu * (1 + 1e-9), ep)
    assert approx == pytest.approx(exact, rel=1e-6)
    mus = mu * np.linspace(0.5, 2.0, 301)
    loads = mus * moe_imbalance(mus, ep)
    assert np.all(np.diff(loads) > 0)


def test_eplb_redundant_slots_even_the_load():
    """256 + 32 slots: the load is taken as that of (256 + 32) / 256 times the mean per rank."""
    assert eplb_imbalance(100.0, 32, 256, 0) == pytest.approx(moe_imbalance(100.0, 32))
    assert eplb_imbalance(100.0, 32, 256, 32) == pytest.approx(moe_imbalance(112.5, 32))
    assert eplb_imbalance(100.0, 32, 256, 32) < moe_imbalance(100.0, 32)


@given(ep=st.sampled_from([2, 3, 8, 16, 72, 256]), mu=st.floats(0.01, 1e4), grow=st.floats(1.0, 3.0))
def test_busiest_load_never_falls_as_copies_are_added(ep, mu, grow):
    """E[max load] = mu x factor is non-decreasing in the copies (exact part, approximation and the seam)."""
    assert mu * grow * moe_imbalance(mu * grow, ep) >= mu * moe_imbalance(mu, ep) * (1 - 1e-12)
