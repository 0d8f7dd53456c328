"""Why a serving request has no plan, and why disaggregation wins or loses: reason codes with their numbers
(:class:`ServeIssue`), the pattern of :class:`gpt4plan.training.reasons.TrainIssue` (docs/design.md).

The planners (:func:`gpt4plan.serving.plan_inference`, :func:`gpt4plan.serving.disaggregate.plan_disaggregated`)
return codes; :func:`word_serve_issue` words one for a caller that names each setting its own way (``flag``:
the CLI passes :func:`gpt4plan.scenario.cli_flag` for ``--max-chips``).  The sentences are here, once; the
names of the settings are the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpt4plan.specs.units import format_bytes, format_seconds, plural

__all__ = ["ServeIssue", "word_serve_issue"]


@dataclass(frozen=True)
class ServeIssue:
    """A reason ``code`` and the numbers and names its wording needs.

    No plan (:attr:`gpt4plan.serving.InferenceResult.reason`, :attr:`~gpt4plan.serving.disaggregate.DisaggResult.reason`):
    the code is the binding constraint, ``memory``, ``tpot``, ``ttft``, ``ttft_percentile``, ``tpot_percentile``
    (a percentile target no replayed candidate holds), ``demand``, ``layout`` (``values['issues']``:
    ``tp_heads``, ``ep_experts``, ``pp_layers``, ``ep_dense``, ``batch_pp``, ``chips_layout`` or ``no_layout``),
    ``context`` (a sweep's request longer than the model's context), ``budget`` (no batch's prompts fit the
    token budget per pass, ``values['max_batched_tokens']``), and for the disaggregated pools (where
    ``values['pool']`` is ``decode``, ``prefill`` or ``pools``) ``network`` too.  A disaggregation verdict
    (:attr:`~gpt4plan.serving.disaggregate.DisaggResult.verdict_reason`): ``only_disaggregated``,
    ``only_aggregated`` (``values`` hold the other side's issue), ``pools_pay``, ``pools_do_not_pay``.
    """

    code: str
    values: dict = field(default_factory=dict)


Flag = Callable[[str], str]


def _layout(v: dict) -> str:
    return v.get("layout") or f"TP {v['tp']} × PP {v['pp']}"


def _memory(v: dict, f: Flag) -> str:
    msg = (f"memory: even the leanest layout needs {format_bytes(v['memory'])} per chip "
           f"({_layout(v)}, batch {v['batch']}); {v['hardware']} has {format_bytes(v['capacity'])} usable")
    t = v["tpot"]
    if t is not None:  # the TPOT target binds too
        msg += (f"; TPOT too: even ignoring memory the best TPOT is {format_seconds(t)} "
                f"({1 / t:.1f} tokens/s per user) > {format_seconds(v['tpot_max'])}")
    return msg


def _tpot(v: dict, f: Flag) -> str:
    t, target = v["tpot"], v["tpot_max"]
    return (f"tpot: the fastest layout that fits memory gives {format_seconds(t)} per output token "
            f"({1 / t:.1f} tokens/s per user); target {format_seconds(target)} ({1 / target:.2f} tokens/s per user)")


_LOADS = {"demand": "at the demand", "trace": "of the trace", "default": "at 80% of a replica's throughput"}


def _percentile(code: str, what: str, v: dict) -> str:
    """A percentile target no replayed candidate holds (serving/verify.py)."""
    return (f"{code}: p{v['percentile']:g} {what} in a replay {_LOADS.get(v['load'], '')} is "
            f"{format_seconds(v['value'])} at best ({plural(v['candidates'], 'cheapest candidate')} replayed, the "
            f"nearest with {plural(v['replicas'], 'replica')}); target {format_seconds(v['target'])}")


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"


def _pools(v: dict, f: Flag) -> tuple[str, str, str, str]:
    """The sentences of a verdict between two feasible plans: the cost, the prefills mixed into the aggregated
    rounds, the prefill pool's load and the KV-cache transfer."""
    cost = (f"${v['usd']:.3g} vs ${v['aggregated_usd']:.3g} per 1k tokens ({v['ratio'] - 1:+.0%}) on "
            f"{v['chips']:,} vs {v['aggregated_chips']:,} chips")
    mixed = f"prefills of {v['prompt_tokens']:,}-token prompts take {_pct(v['share'])} of every aggregated decode round"
    copies = "its own copy" if v["prefill_replicas"] == 1 else f"{v['prefill_replicas']:,} copies"
    pool = (f"the prefill pool ({plural(v['prefill_chips'], 'chip')} holding {copies} of the weights) is busy "
            f"{_pct(v['prefill_utilization'])}")
    kv = f"the KV-cache transfer adds {format_seconds(v['kv_transfer_s'])} to TTFT"
    if v["ttft_s"] > v["aggregated_ttft_s"] * 1.2:
        kv += (f" (TTFT {format_seconds(v['aggregated_ttft_s'])} aggregated -> {format_seconds(v['ttft_s'])}: "
               f"set {f('ttft')} to bound it)")
    return cost, mixed, pool, kv


def _pools_pay(v: dict, f: Flag) -> str:
    cost, why, pool, kv = _pools(v, f)
    if v["batch"] > v["aggregated_batch"] * 1.05:
        why += (f", so to meet the TPOT the aggregated plan holds its batch at {v['aggregated_batch']:,} while the "
                f"decode pool runs {v['batch']:,} undisturbed")
    else:
        why += ", which the decode pool no longer pays"
    return f"{cost}: {why}; {pool}; {kv}"


def _pools_do_not_pay(v: dict, f: Flag) -> str:
    cost, mixed, pool, kv = _pools(v, f)
    parts = [mixed + (" only" if v["share"] < 0.2 else "")]
    parts.append(pool + " at the request rate one decode pool drains" if v["prefill_utilization"] < 0.5 else pool)
    parts.append(kv)
    return f"{cost}: " + "; ".join(parts) + ", so separating the pools does not pay here"


_WORDING: dict[str, Callable[[dict, Flag], str]] = {
    "budget": lambda v, f: (f"budget: {f('max_batched_tokens')} {v['max_batched_tokens']:,} leaves too few prompt "
                            "tokens per pass to refill the slots of any batch searched (the queue would grow "
                            "without bound); raise it"),
    # why there is no plan (the code is the binding constraint)
    "memory": _memory,
    "tpot": _tpot,
    "ttft": lambda v, f: (f"ttft: the best time to first token is {format_seconds(v['ttft'])}; target "
                          f"{format_seconds(v['ttft_max'])}"),
    "ttft_percentile": lambda v, f: _percentile("ttft", "time to first token", v),
    "tpot_percentile": lambda v, f: _percentile("tpot", "time per output token", v),
    "demand": lambda v, f: (f"demand: meeting the demand takes at least {plural(v['chips'], 'chip')}, more than "
                            f"{f('max_chips')} {v['max_chips']:,}"),
    "layout": lambda v, f: "; ".join(word_serve_issue(i, f) for i in v["issues"]),
    "context": lambda v, f: (f"context: {v['prompt_tokens']:,} prompt + "
                             + (f"{v['image_tokens']:,} image + " if v.get("image_tokens") else "")
                             + f"{v['output_tokens']:,} output tokens exceed {v['model']}'s max_context "
                             f"{v['max_context']:,}"),
    # pins (and the chip cap) no layout can take
    "tp_heads": lambda v, f: (f"tp={v['tp']} is not allowed by {v['heads']} heads / {v['kv_heads']} KV heads "
                              f"(allowed: {', '.join(map(str, v['allowed']))})"),
    "ep_experts": lambda v, f: f"ep={v['ep']} does not divide {v['experts']} experts",
    "pp_layers": lambda v, f: f"pp={v['pp']} exceeds the {v['layers']} layers",
    "ep_dense": lambda v, f: f"ep={v['ep']} needs an MoE model; {v['model']} is dense",
    "batch_pp": lambda v, f: f"batch={v['batch']} < pp={v['pp']}: each pipeline stage needs a microbatch of >= 1",
    "chips_layout": lambda v, f: (f"no allowed tp x pp equals {plural(v['chips'], 'chip')} (tp must be one of "
                                  f"{v['allowed']})"),
    "attention_dp_experts": lambda v, f: (
        f"attention_dp={v['attention_dp']}: no expert parallelism over its {v['attention_dp']} x tp chips divides "
        f"the {v['experts']} experts "
        + ("with 0 or one redundant slot per rank (pin --redundant-experts, or choose" if v.get("redundant") is None
           else f"+ {v['redundant']} redundant slots (choose other redundant slots, or")
        + " an attention_dp whose chips the experts divide)"),
    "no_layout": lambda v, f: (f"no layout within {f('max_chips')} {v['max_chips']} satisfies the pinned tp/pp/ep "
                               "(ep must divide tp)"),
    # disaggregated against aggregated
    "only_disaggregated": lambda v, f: (f"only disaggregation meets the targets: the aggregated plan binds on "
                                        f"{v['aggregated'].code} ({word_serve_issue(v['aggregated'], f)})"),
    "only_aggregated": lambda v, f: (f"no disaggregated plan meets the targets "
                                     f"({word_serve_issue(v['disaggregated'], f)}); the aggregated plan does"),
    "pools_pay": _pools_pay,
    "pools_do_not_pay": _pools_do_not_pay,
}

#: Why no disaggregated pair of pools meets the targets, by (binding constraint, pool).
_POOL_WORDING: dict[tuple[str, str], Callable[[dict, Flag], str]] = {
    ("layout", "pools"): lambda v, f: f"layout: no layout within {f('max_chips')}",
    ("memory", "decode"): lambda v, f: "memory: no decode layout fits the weights and KV cache",
    ("memory", "prefill"): lambda v, f: "memory: no prefill layout fits the weights",
    ("tpot", "decode"): lambda v, f: f"tpot: the fastest decode pool gives {v['tpot'] * 1e3:.1f} ms per token",
    ("network", "decode"): lambda v, f: ("network: no decode replica can take in the KV caches of its requests over "
                                         "its scale-out links at the rate it finishes them"),
    ("ttft", "pools"): lambda v, f: (f"ttft: the fastest prefill pool with its KV transfer gives {v['ttft']:.3g} s to "
                                     "the first token"),
    ("demand", "pools"): lambda v, f: (f"demand: the two pools need more than {f('max_chips')} "
                                       f"{plural(v['max_chips'], 'chip')}"),
}


def word_serve_issue(issue: ServeIssue, flag: Flag) -> str:
    """``issue`` as one line, each setting named by ``flag`` (``'max_chips'`` -> ``'--max-chips'`` for the CLI)."""
    pool = issue.values.get("pool")
    if pool is not None:
        return _POOL_WORDING[(issue.code, pool)](issue.values, flag)
    return _WORDING[issue.code](issue.values, flag)
