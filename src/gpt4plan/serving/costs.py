"""What a token costs (docs/design.md): named formulas shared by the aggregated plans
(:mod:`gpt4plan.serving.evaluation`, :mod:`gpt4plan.serving.search`) and the disaggregated ones
(:mod:`gpt4plan.serving.disaggregate`).

Money is USD, rates per second, every ``usd_per_1k_*`` figure per 1,000 tokens.  The functions work on
floats and numpy arrays alike; each keeps the order of operations its callers used, so the numbers are
the same to the last bit.  For an aggregated replica (mixed batching, see :mod:`gpt4plan.serving.evaluation`)::

    $ per output token          = replica $/s * pp * cycle / tokens per round   # the decode share
    $ per output token, all-in  = replica $/s * round / tokens per round        # prefills and drafts too
    $ per input token           = replica $/s * what a prompt adds to the round / prompt
    with prefix caching: $ per cached input token   = replica $/s * reading its KV once (one stage)
                         $ per uncached input token = (what a prompt adds - its cached tokens' $) / uncached tokens
    $ per token, blended        = all-in $ per output token * output / (prompt + output)

A fleet provisioned for a demand below its capacity is used a fraction ``util`` of the time; each
cost per token is then divided by ``util`` (:func:`at_utilisation`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "usd_per_s",
    "usd_per_1k",
    "usd_per_1k_output_decode_share",
    "usd_per_1k_output_all_in",
    "usd_per_1k_input",
    "usd_per_1k_input_cached_uncached",
    "usd_per_1k_blended",
    "tokens_per_s_in_and_out",
    "utilisation",
    "at_utilisation",
]


def usd_per_s(chips, usd_per_chip_hour):
    """What ``chips`` chips cost per second."""
    return chips * usd_per_chip_hour / 3600.0


def usd_per_1k(usd, tokens):
    """Dollars ``usd`` spent on ``tokens`` tokens (or $/s over tokens/s), per 1k tokens."""
    return usd / tokens * 1000


def usd_per_1k_output_decode_share(replica_usd_per_s, pp, cycle_s, tokens_per_round):
    """The decode share of an output token: the ``pp`` stage cycles of a round (``cycle_s`` each: the
    decode or verify pass plus the draft steps) over the output tokens the round yields; prefills not
    included."""
    return usd_per_1k(replica_usd_per_s * pp * cycle_s, tokens_per_round)


def usd_per_1k_output_all_in(replica_usd_per_s, round_s, tokens_per_round):
    """The whole spend of a round (decode, prefills mixed in, drafts) over the output tokens it yields."""
    return usd_per_1k(replica_usd_per_s * round_s, tokens_per_round)


def usd_per_1k_input(replica_usd_per_s, prompt_s, prompt_tokens):
    """An input token costs what its prompt adds to the round (``prompt_s``: the marginal time of a
    mixed pass per prompt, plus the draft's prefill) over the prompt's tokens."""
    return usd_per_1k(replica_usd_per_s * prompt_s, prompt_tokens)


def usd_per_1k_input_cached_uncached(replica_usd_per_s, prompt_s, cached_tokens, uncached_tokens, cached_token_s):
    """(cached, uncached) $ per 1k input tokens with prefix caching.  A cached token costs the time its KV
    takes to read once (``cached_token_s``: its bytes on one stage's chip over the memory bandwidth; nothing
    is computed for it); an uncached token the rest of what its prompt adds to the round (``prompt_s``, as in
    :func:`usd_per_1k_input`) over the ``uncached_tokens``.  With ``cached_tokens`` (means per prompt) they
    make up the blended figure: ``cached * C + uncached * U = usd_per_1k_input * (C + U)``."""
    cached = usd_per_1k(replica_usd_per_s * cached_token_s, 1.0)
    uncached = usd_per_1k(replica_usd_per_s * (prompt_s - cached_tokens * cached_token_s), uncached_tokens)
    return cached, uncached


def usd_per_1k_blended(usd_per_1k_out_all_in, prompt_tokens, output_tokens):
    """Per token of prompt and output: the all-in spend per output token spread over both."""
    return usd_per_1k_out_all_in * output_tokens / (prompt_tokens + output_tokens)


def tokens_per_s_in_and_out(output_tokens_per_s, prompt_tokens, output_tokens):
    """Prompt plus output tokens per second at an output rate (each request: prompt + output tokens)."""
    return output_tokens_per_s * (prompt_tokens + output_tokens) / output_tokens


def utilisation(demand_tokens_per_s, replicas, replica_tokens_per_s):
    """Fraction of the provisioned capacity a demand uses, at most 1."""
    return np.minimum(1.0, demand_tokens_per_s / (replicas * replica_tokens_per_s))


def at_utilisation(usd_per_1k_full, util):
    """A cost per token of a fully used replica, at utilisation ``util`` (idle capacity is paid for)."""
    return usd_per_1k_full / util
