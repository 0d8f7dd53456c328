"""Why a training request cannot be planned, and what to look at in a plan: reason codes with their numbers
(:class:`TrainIssue`), the pattern of :class:`gpt4plan.scenario.PinIssue` (docs/design.md).

The planners return codes; :func:`word_train_issue` words one for a caller that names each setting its own
way (``flag``: the CLI passes :func:`gpt4plan.scenario.cli_flag` for ``--global-batch``, a budgets file its
own names).  The sentences are here, once; the names of the settings are the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpt4plan.specs.units import format_bytes, plural

__all__ = ["TrainIssue", "word_train_issue"]


@dataclass(frozen=True)
class TrainIssue:
    """A reason ``code`` and the numbers and names its wording needs.

    A plan that cannot be made (:attr:`gpt4plan.training.TrainResult.reason`): ``layout`` (``values['pins']``:
    the pin issues ``tp_heads``, ``pp_layers``, ``ep_dense``, ``ep_experts``, ``interleave_pp1``,
    ``interleave_layers``, ``pins_over_chips``, ``dp_batch``, ``microbatch_batch``, ``ep_dp``, or
    ``no_layout``), ``memory``, ``days`` (``values['hint']``: ``batch_caps_dp``, ``raise_max_chips`` or
    ``max_chips_at_limit``), ``precision``; the code is the binding constraint.  A plan to look at
    (:attr:`~gpt4plan.training.TrainResult.warnings`): ``batch_rounded``, ``bubble``, ``slow_cheapest``, and
    ``repeated_data`` (a data source seen for more than 4 epochs: :mod:`gpt4plan.training.data`), ``host_io``
    (data loading above a fraction of the host link: :mod:`gpt4plan.training.loading`).  Input
    that cannot be planned: ``batch_over_budget``, ``budget_under_batch`` (``values['setting']``: the one
    blamed), ``batch_under_sequence``, ``batch_not_whole``.
    """

    code: str
    values: dict = field(default_factory=dict)


Flag = Callable[[str], str]


def _tp_heads(v: dict, f: Flag) -> str:
    return (f"{f('tp')} {v['tp']}: must divide the {v['heads']} heads and divide or be a multiple of the "
            f"{v['kv_heads']} KV heads (allowed: {', '.join(map(str, v['allowed']))})")


def _days(v: dict, f: Flag) -> str:
    target = v["target"]
    return (f"days: the fastest layout within {plural(v['max_chips'], 'chip')} takes {v['days']:.1f} days "
            f"on {plural(v['chips'], 'chip')}; target {target:g} day{'s' if target != 1 else ''} "
            f"({_WORDING[v['hint']](v, f)})")


def _memory(v: dict, f: Flag) -> str:
    return (f"memory: the leanest layout needs {format_bytes(v['memory'])} per chip (tp={v['tp']}, pp={v['pp']}, "
            f"dp={v['dp']}, ZeRO-{v['zero']}, {v['recompute']} recompute); {v['hardware']} has "
            f"{format_bytes(v['capacity'])} usable")


def _batch_rounded(v: dict, f: Flag) -> str:
    return (f"global batch rounded to {plural(v['sequences'], 'sequence')} ({v['change']:+.1%} vs the target "
            f"{v['target_tokens']:,.0f}-token global batch) to fit DP x microbatch x microbatches")


def _batch_not_whole(v: dict, f: Flag) -> str:
    return (f"{v['sequences']:.3g} sequences of {v['seq_len']:,} tokens; give whole sequences, e.g. "
            f"{v['whole'] * v['seq_len']:,} tokens ({plural(v['whole'], 'sequence')})")


_WORDING: dict[str, Callable[[dict, Flag], str]] = {
    # why there is no plan (the code is the binding constraint)
    "layout": lambda v, f: "layout: " + "; ".join(word_train_issue(i, f) for i in v["pins"]),
    "memory": _memory,
    "days": _days,
    "precision": lambda v, f: (f"{v['hardware']} has no FP8 peak in its spec (it would run FP8 at its 16-bit "
                               f"rate); use {f('precision')} bf16"),
    # pins no layout can take
    "tp_heads": _tp_heads,
    "pp_layers": lambda v, f: f"{f('pp')} {v['pp']}: more stages than the {v['layers']} layers",
    "ep_dense": lambda v, f: f"{f('ep')} {v['ep']}: {v['model']} is dense (no experts)",
    "ep_experts": lambda v, f: f"{f('ep')} {v['ep']}: must divide the {v['experts']} experts",
    "interleave_pp1": lambda v, f: f"{f('interleave')} needs {f('pp')} > 1",
    "interleave_layers": lambda v, f: (f"{f('interleave')} {v['interleave']}: must divide the {v['stage_layers']} "
                                       "layers of a stage"),
    "pins_over_chips": lambda v, f: (f"{f('tp')} x {f('pp')} x {f('dp')} = {v['need']:,} chips > "
                                     f"{plural(v['chips'], 'chip')} available"),
    "dp_batch": lambda v, f: (f"{f('dp')} {v['dp']} x microbatch {v['microbatch']} exceeds the global batch of "
                              f"{plural(v['sequences'], 'sequence')}"),
    "microbatch_batch": lambda v, f: (f"{f('microbatch')} {v['microbatch']} exceeds the global batch of "
                                      f"{plural(v['sequences'], 'sequence')}"),
    "ep_dp": lambda v, f: (f"{f('ep')} {v['ep']} must divide {f('dp')} {v['dp']} (experts are spread over "
                           "data-parallel ranks)"),
    "no_layout": lambda v, f: (f"no layout fits the pins and a global batch of {plural(v['sequences'], 'sequence')} "
                               f"within {plural(v['chips'], 'chip')} (dp x microbatch must divide the batch within "
                               f"{v['tolerance']:.0%}; ep must divide dp and the experts)"),
    # what would meet a deadline the fastest layout misses
    "batch_caps_dp": lambda v, f: (f"the global batch of {plural(v['sequences'], 'sequence')} caps data "
                                   f"parallelism, so more chips do not help: raise {f('global_batch')}"),
    "raise_max_chips": lambda v, f: f"raise {f('max_chips')}",
    "max_chips_at_limit": lambda v, f: (f"{f('max_chips')} is at its limit of {v['limit']:,}: allow more "
                                        f"{f('days')} or train on fewer {f('tokens')}"),
    # a plan to look at before signing
    "batch_rounded": _batch_rounded,
    "bubble": lambda v, f: (f"the pipeline bubble is {v['share']:.0%} of each step: a larger {f('global_batch')} "
                            "(more microbatches) or fewer pipeline stages would raise MFU"),
    "repeated_data": lambda v, f: (f"{v['name']} is seen for {v['epochs']:g} epochs: beyond ~{v['limit']:g} epochs "
                                   f"repeated tokens are worth less than unique ones (these {v['worth']:.0%} as "
                                   f"much, by the paper's fit) and past ~{v['worthless']:g} epochs more repetition is "
                                   "almost worthless (Muennighoff et al. 2023, 'Scaling Data-Constrained Language "
                                   "Models')"),
    "host_io": lambda v, f: (f"data loading: {format_bytes(v['bytes_per_s_per_chip'])}/s per loading chip "
                             f"({v['image_token_fraction']:.0%} image tokens at {v['bytes_per_image_token']:g} B, text at "
                             f"{v['bytes_per_text_token']:g} B) is {v['fraction_of_host_io']:.0%} of {v['hardware']}'s host "
                             f"link ({format_bytes(v['host_io_bytes_per_s'])}/s), above {v['limit']:.0%}: the input "
                             "pipeline may stall the step (load on every tensor-parallel rank, or encode images "
                             "in fewer bytes)"),
    "slow_cheapest": lambda v, f: (f"the cheapest plan takes {v['days']:,.0f} days; give {f('days')} D for a "
                                   f"deadline or {f('chips')} N"),
    # input that cannot be planned
    "batch_over_budget": lambda v, f: (f"larger than the training budget of {v['tokens_text']} tokens "
                                       f"({f('tokens')}); one optimizer step takes a whole global batch"),
    "budget_under_batch": lambda v, f: (f"less than one optimizer step, a global batch of {v['batch_text']} tokens "
                                        f"({f('global_batch')}); give at least {v['global_batch_tokens']:,.0f} tokens"),
    "batch_under_sequence": lambda v, f: f"smaller than one sequence of {v['seq_len']:,} tokens",
    "batch_not_whole": _batch_not_whole,
}


def word_train_issue(issue: TrainIssue, flag: Flag) -> str:
    """``issue`` as one line, each setting named by ``flag`` (``'global_batch'`` -> ``'--global-batch'`` for the
    CLI)."""
    return _WORDING[issue.code](issue.values, flag)
