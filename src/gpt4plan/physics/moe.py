"""The MoE layer's routing physics: how unevenly the experts' ranks are loaded, what each token's dispatch and
combine move, and how long DeepEP's all-to-all takes (docs/design.md; used by :mod:`gpt4plan.physics.step`).

Units: bytes, seconds; every function is vectorised over candidate layouts.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics.comm import all_to_all_two_tier_s

if TYPE_CHECKING:
    from gpt4plan.physics.kernels import KernelTables
    from gpt4plan.specs import HardwareSpec

__all__ = ["moe_imbalance", "expected_max_load", "EXACT_MAX_COPIES", "eplb_imbalance", "DISPATCH_SCALE_BLOCK", "COMBINE_BYTES", "moe_a2a_bytes_per_token",
           "a2a_bytes_per_copy", "remote_nodes_per_token", "moe_a2a_s", "DEEPEP_NORMAL_SMS", "deepep_sm_share"]

#: Bytes per element of the combine (and of a 16-bit dispatch): bf16.
COMBINE_BYTES = 2.0


#: Up to this many routed copies in a pass the busiest rank's expected load is computed exactly.
EXACT_MAX_COPIES = 64


def moe_imbalance(routed_per_rank, ep):
    """Compute of the busiest EP rank over the mean, ``E[max load] / mu`` (1 at ep = 1), with ``mu`` the mean
    routed copies per rank (tokens x top_k / ep) and the ``n = mu ep`` copies each landing on a rank drawn
    uniformly (balls into bins; the routers' skew beyond uniform choice is left out).

    Up to :data:`EXACT_MAX_COPIES` copies it is exact (:func:`expected_max_load`; between whole numbers of
    copies, linear; below one copy, ``ep``: a lone copy sits on one rank).  Above, the normal approximation
    of the loads (mean ``mu``, variance ``mu (1 - 1/ep)``, the multinomial's) with Blom's (1958) expected
    maximum of ``ep`` standard normals, ``z = Phi^-1((ep - 0.375) / (ep + 0.25))``, plus a constant ``c``
    that makes it meet the exact value at :data:`EXACT_MAX_COPIES` copies (so the load never falls as copies
    are added): ``E[max] ~ mu + c + z sqrt(mu (1 - 1/ep))``; ``c`` is about half a copy (0.45 at ep 8, 0.54 at
    32), the usual continuity correction of a discrete load.  With ``c = 0.5`` this is within 4 % of the
    exact value at 64 and 128 copies on 8 to 64 ranks (the Gaussian maximal bound used before,
    ``mu + sqrt(2 mu ln ep)``, was 5-13 % high).  Capped at ``ep``.
    """
    mu = np.maximum(np.asarray(routed_per_rank, dtype=float), 1e-12)
    ep = np.asarray(ep, dtype=float)
    mu, ep = np.broadcast_arrays(mu, ep)
    n = mu * ep
    out = np.ones(mu.shape)
    for e in sorted(set(ep[ep > 1].tolist())):  # (not np.unique: it imports numpy.ma, 8 ms of a fast start)
        sel = ep == e
        z = _blom(int(e))
        table = _exact_table(int(e))  # E[max] for 0..EXACT_MAX_COPIES copies
        mu_n = EXACT_MAX_COPIES / e
        offset = table[EXACT_MAX_COPIES] - mu_n - z * np.sqrt(mu_n * (1 - 1 / e))  # continuity at N copies
        approx = np.minimum(1 + (offset + z * np.sqrt(mu[sel] * (1 - 1 / e))) / mu[sel], e)
        nn = np.clip(n[sel], 1.0, EXACT_MAX_COPIES)
        lo = np.floor(nn).astype(int)
        hi = np.minimum(lo + 1, EXACT_MAX_COPIES)
        exact = (table[lo] + (nn - lo) * (table[hi] - table[lo])) / mu[sel]
        exact = np.where(n[sel] < 1, e, np.minimum(exact, e))
        out[sel] = np.where(n[sel] <= EXACT_MAX_COPIES, exact, approx)
    return out


def expected_max_load(copies: int, ranks: int) -> float:
    """Exact expected load of the busiest of ``ranks`` ranks when ``copies`` copies each land on a rank drawn
    uniformly and independently (``copies <= EXACT_MAX_COPIES``).

    ``E[max] = sum_{m >= 0} (1 - P(max <= m))`` with ``P(max <= m) = n! [x^n] (sum_{j <= m} (x/B)^j / j!)^B``
    for ``n`` copies on ``B`` ranks (the exponential generating function of the multinomial, each rank
    holding at most ``m``).  By hand: 2 copies on 2 ranks, loads (2,0), (1,1), (0,2) with probabilities
    1/4, 1/2, 1/4: ``E[max] = 1.5``; 2 on 3 ranks: together with probability 1/3, ``E[max] = 4/3``."""
    return float(_exact_table(int(ranks))[int(copies)])


@functools.lru_cache(maxsize=256)
def _exact_table(ranks: int) -> np.ndarray:
    """:func:`expected_max_load` for 0 .. EXACT_MAX_COPIES copies on ``ranks`` ranks, all at once: for each
    cap ``m`` the truncated series is raised to the power ``ranks`` (binary powering, truncated at degree
    N), its coefficients give ``P(max <= m)`` for every ``n <= N`` together.  Only the caps that can bind are
    computed: ``P(max > m) <= ranks P(Binomial(N, 1/ranks) > m)`` (a union bound over the ranks), so caps where
    that is below 1e-18 add nothing to ``E[max]`` (2-10 ms saved per rank count at plan time)."""
    N = EXACT_MAX_COPIES
    j = np.arange(N + 1)
    log_fact = np.array([math.lgamma(k + 1) for k in j])
    base = np.exp(-j * math.log(ranks) - log_fact)  # (1/B)^j / j!
    p = 1.0 / ranks
    pmf = np.exp(log_fact[N] - log_fact - log_fact[::-1] + j * math.log(p) + (N - j) * math.log1p(-p))
    tail = np.cumsum(pmf[::-1])[::-1]  # P(Binomial(N, 1/ranks) >= k)
    binding = np.flatnonzero(ranks * tail[1:] >= 1e-18)  # caps m (0 .. N-1) with P(max > m) not negligible
    m_top = int(binding.max()) if binding.size else 0
    caps = np.arange(m_top + 1)
    series = np.where(j[None, :] <= caps[:, None], base[None, :], 0.0)  # (caps, N+1)
    power = np.zeros_like(series)
    power[:, 0] = 1.0
    e = ranks
    while e:
        if e & 1:
            power = _mul_truncated(power, series)
        e >>= 1
        if e:
            series = _mul_truncated(series, series)
    p_le = np.clip(power * np.exp(log_fact)[None, :], 0.0, 1.0)  # P(max <= m | n), (caps, N+1)
    return np.array([float(np.sum(1.0 - p_le[:min(n, m_top + 1), n])) for n in j])


def _mul_truncated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise product of polynomials (coefficient arrays, one per row) truncated at the rows' degree."""
    n = a.shape[1]
    out = np.zeros_like(a)
    for k in range(n):  # out[:, i] += a[:, k] b[:, i - k]
        out[:, k:] += a[:, k:k + 1] * b[:, :n - k]
    return out


@functools.lru_cache(maxsize=256)
def _blom(ranks: int) -> float:
    """Blom's (1958) approximation of the expected maximum of ``ranks`` standard normal variables,
    ``Phi^-1((ranks - 0.375) / (ranks + 0.25))``."""
    return _normal_quantile((ranks - 0.375) / (ranks + 0.25))


def _normal_quantile(p: float) -> float:
    """``Phi^-1(p)`` for 0 < p < 1 by Newton's method on ``Phi(z) = erfc(-z / sqrt 2) / 2`` (to 1e-12; the
    standard library's ``statistics.NormalDist`` would import ``random`` and ``hashlib`` at plan time)."""
    z = 0.0
    for _ in range(100):
        err = 0.5 * math.erfc(-z / math.sqrt(2)) - p
        step = err / (math.exp(-z * z / 2) / math.sqrt(2 * math.pi))
        z -= step
        if abs(step) < 1e-12:
            break
    return z


def eplb_imbalance(routed_per_rank, ep, experts: int, redundant):
    """The busiest EP rank's load over the mean with ``redundant`` extra expert slots rebalanced by EPLB:
    :func:`moe_imbalance` at ``routed_per_rank * (E + R) / E`` (equal to it at ``R = 0``).

    A modelling assumption, not a derivation: EPLB (DeepSeek-V3 report, arXiv 2412.19437 sec. 3.4;
    github.com/deepseek-ai/EPLB; SGLang's ``--ep-num-redundant-experts``) copies the hottest experts into the
    ``R`` extra slots and splits their tokens between the copies, so a rank's load is made of ``(E + R) / ep``
    smaller, evened-out shares instead of ``E / ep`` whole experts.  We take its effect as that of a mean load
    per rank larger by ``(E + R) / E`` in :func:`moe_imbalance`: the relative excess of the busiest rank
    shrinks by between ``E / (E + R)`` and ``sqrt(E / (E + R))`` (256 + 32 slots: by 5.7 to 11 %).  Uniform
    routing already leaves out the routers' skew that EPLB exists to remove, so this credits EPLB only with
    the finer granularity.
    """
    return moe_imbalance(routed_per_rank * ((experts + redundant) / experts), ep)


#: FP8 dispatch carries one fp32 scale per 128 channels of each token (DeepSeek-V3's 1 x 128 activation
#: tiles, arXiv 2412.19437 sec. 3.3; DeepEP's FP8 dispatch, github.com/deepseek-ai/DeepEP)
DISPATCH_SCALE_BLOCK = 128


def moe_a2a_bytes_per_token(d_model: int, top_k: int, ep, low_precision: bool):
    """(dispatch, combine) bytes one token's copies move off its rank in one MoE layer over ``ep`` ranks.

    The token goes to ``top_k`` experts, each on a rank drawn uniformly, so ``top_k (ep - 1) / ep`` copies
    leave the rank (no per-node deduplication yet).  Dispatch sends each copy in FP8 with one fp32 scale per
    :data:`DISPATCH_SCALE_BLOCK` channels (``d + 4 d / 128`` bytes) when the experts' matmuls run in 8 bits
    or fewer (``low_precision``), else in 16 bits (``2 d``); combine returns each in 16 bits (``2 d``).
    DeepSeek-V3 (d 7168, top-8) at EP 16: 7.5 copies, 55,440 and 107,520 bytes.
    """
    copies = top_k * (np.asarray(ep, dtype=float) - 1) / np.asarray(ep, dtype=float)
    dispatch, combine = a2a_bytes_per_copy(d_model, low_precision)
    return copies * dispatch, copies * combine


def a2a_bytes_per_copy(d_model: int, low_precision: bool) -> tuple[float, float]:
    """(dispatch, combine) bytes of one token copy: ``d + 4 d / 128`` (FP8 with fp32 scales) or ``2 d``
    (16-bit) out, ``2 d`` back (see :func:`moe_a2a_bytes_per_token`)."""
    dispatch = d_model + 4 * d_model / DISPATCH_SCALE_BLOCK if low_precision else COMBINE_BYTES * d_model
    return float(dispatch), COMBINE_BYTES * d_model


def remote_nodes_per_token(nodes, top_k: int, groups: int = 1, groups_per_token: int | None = None):
    """Expected number of other nodes a token's ``top_k`` expert copies land on, with the experts spread
    evenly over ``nodes`` nodes (``nodes`` > 1, an array) and the groups of group-limited routing laid out in
    order (a node holds ``groups / nodes`` whole groups, or a group spans ``nodes / groups`` nodes).

    Derivation (experts, groups and the token's choices uniform; the routers' skew is left out).  Without
    group limits the ``k`` copies pick nodes independently: a node is touched with probability
    ``1 - (1 - 1/n)^k``, so ``n (1 - (1 - 1/n)^k)`` nodes.  With ``G`` of ``g`` groups per token (DeepSeek-V3:
    4 of 8) and ``n <= g``: each node holds ``h = g / n`` groups and is touched when one of its groups is
    chosen (each chosen group gets at least one of the copies, as the routers rank groups by their best
    experts), ``1 - C(g - h, G) / C(g, G)``; with ``n > g`` each chosen group spans ``m = n / g`` nodes and gets
    ``k / G`` copies: ``G m (1 - (1 - 1/m)^(k/G))`` nodes.  One touched node in ``n`` is, on average, the
    token's own, hence the factor ``(n - 1) / n``.  DeepSeek-V3 over 4 nodes: ``4 (1 - C(6, 4) / C(8, 4)) =
    4 (1 - 15/70) = 3.143`` nodes, 2.357 of them remote (against 3.6 without the group limit); over 8 nodes
    at most 4 are touched: ``8 (1 - C(7, 4) / C(8, 4)) = 4``."""
    n = np.maximum(np.asarray(nodes, dtype=float), 1.0)
    k = float(top_k)
    free = n * (1 - (1 - 1 / n) ** k)
    G = groups_per_token if groups_per_token and groups > 1 and groups_per_token < groups else None
    if G is None:
        touched = free
    else:
        g = float(groups)
        h = g / np.minimum(n, g)
        miss = np.ones_like(n)  # C(g - h, G) / C(g, G) = prod_i (g - h - i) / (g - i)
        for i in range(G):
            miss = miss * np.maximum(g - h - i, 0.0) / (g - i)
        m = np.maximum(n / g, 1.0)
        touched = np.where(n <= g, n * (1 - miss), G * m * (1 - (1 - 1 / m) ** (k / G)))
    return touched * (n - 1) / n


#: SMs DeepEP's normal (prefill) kernels hold while they run (deep_ep/buffer.py: ``Buffer.num_sms = 20``, the
#: default SGLang and vLLM keep); its low-latency kernels hold none while waiting (DeepEP README: "hook-based
#: communication-computation overlapping ... without occupying any SM").
DEEPEP_NORMAL_SMS = 20


def deepep_sm_share(hw: HardwareSpec) -> float:
    """Share of the chip's SMs left to the matmuls while DeepEP's normal kernels run beside them (two-batch
    overlap of a prefill): ``(sms - 20) / sms`` (H100: 112 / 132 = 0.848); 1 where the spec gives no SM count."""
    sms = getattr(hw, "sms", None)
    return (sms - DEEPEP_NORMAL_SMS) / sms if sms and sms > DEEPEP_NORMAL_SMS else 1.0


def moe_a2a_s(hw: HardwareSpec, ep, sent_copies, recv_copies, d_model: int, top_k: int, low_precision: bool,
              prefill, tables: KernelTables | None = None, groups: int = 1, groups_per_token: int | None = None):
    """(dispatch, combine) time (s) of one MoE layer's all-to-all on the busiest rank of ``ep``.

    ``sent_copies`` is the token copies the rank's own tokens make (its tokens x ``top_k``), ``recv_copies``
    the copies the busiest expert rank receives (imbalance included); the busier of the two sets the pace.

    The model: :func:`gpt4plan.physics.comm.all_to_all_two_tier_s` of the remote share ``(ep - 1) / ep`` of the
    copies, with :func:`a2a_bytes_per_copy` bytes each (network efficiency fitted with the rest of the
    roofline): DeepEP's low-latency kernels (decode, and a pass mixing decode with prompts: a mixed pass then
    costs at least the decode step) send every copy to its rank.  DeepEP's normal kernels (``prefill`` true:
    a pass of prompts alone, across nodes) send a token once to each other node it needs, which forwards it over
    NVLink to the GPUs of its experts, and combine in reverse (DeepEP README: "intranode and internode"
    kernels, NVLink forwarding; DeepSeek-V3 report sec. 3.2.2): the scale-out link carries
    :func:`remote_nodes_per_token` copies per token (``groups``, ``groups_per_token``: the model's
    group-limited routing), the scale-up link the ``top_k (D - 1) / D`` copies that end on another GPU of a
    node of ``D``; the slower sets the time, after one scale-out latency.  Where the chip has measured DeepEP tables (``tables``, :meth:`KernelTables.deepep_s`) and
    ``ep`` is whole nodes of 8, the measured time is a floor under it: the normal kernels for a pass with
    prompts (``prefill`` true: what SGLang's ``--deepep-mode auto`` runs for a prefill batch), the low-latency
    kernels for a decode pass, at the busiest rank's tokens ``max(sent, recv) / top_k`` and this model's
    bytes per copy relative to the measured shape.  A floor, not a replacement: the tables are unit tests of
    the kernels alone, and in a serving pass they run slower ("Both DeepSeek and SGLang have a communication
    time slower than unit test results", lm-sys blog 2025-05-05 "large-scale EP", Profile Results); priced
    by the tables alone, SGLang's DeepSeek-V3 prefill record came out 88 % too fast and its decode record
    42 % (docs/accuracy.md).  What the floor adds is DeepEP's measured latency at a few tokens per rank
    (25-60 us per dispatch or combine across nodes), well above one network latency."""
    dispatch_b, combine_b = a2a_bytes_per_copy(d_model, low_precision)
    ep = np.asarray(ep, dtype=float)
    copies = np.maximum(sent_copies, recv_copies)
    remote = copies * (ep - 1) / ep
    dispatch = all_to_all_two_tier_s(ep, remote * dispatch_b, hw)
    combine = all_to_all_two_tier_s(ep, remote * combine_b, hw)
    dom, eff = float(hw.scale_up.domain), hw.efficiency.network
    multi = np.asarray(prefill, dtype=bool) & (ep > dom)
    if multi.any():  # normal mode across nodes: one copy per remote node, forwarded over NVLink
        tokens = copies / top_k
        out_copies = tokens * remote_nodes_per_token(ep / dom, top_k, groups, groups_per_token)
        in_copies = tokens * top_k * (dom - 1) / dom
        for_bytes = []
        for b in (dispatch_b, combine_b):
            t = np.maximum(out_copies * b / (hw.scale_out.bandwidth * eff), in_copies * b / (hw.scale_up.bandwidth * eff))
            for_bytes.append(hw.scale_out.latency + t)
        dispatch, combine = np.where(multi, for_bytes[0], dispatch), np.where(multi, for_bytes[1], combine)
    if tables is None:
        return dispatch, combine
    hidden, k_ref, _ = tables.arrays["deepep_shape"]
    ref_dispatch, ref_combine = a2a_bytes_per_copy(int(hidden), True)
    nodes = ep / 8.0
    whole = (ep >= 8) & (np.mod(ep, 8.0) == 0)
    tokens = copies / top_k
    scales = (top_k * dispatch_b / (k_ref * ref_dispatch), top_k * combine_b / (k_ref * ref_combine))
    ll = tables.deepep_s("ll", nodes, tokens, *scales)
    normal = tables.deepep_s("normal", nodes, tokens, *scales)
    pre = np.broadcast_to(np.asarray(prefill, dtype=bool), np.shape(ll[0]))
    return (np.where(whole, np.maximum(dispatch, np.where(pre, normal[0], ll[0])), dispatch),
            np.where(whole, np.maximum(combine, np.where(pre, normal[1], ll[1])), combine))
