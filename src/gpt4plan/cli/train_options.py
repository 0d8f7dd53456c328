"""The validated options of ``train`` and ``compare --train``: :class:`TrainOptions` and
:func:`train_options`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpt4plan.cli.console import BadInput
from gpt4plan.cli.options import TrainPrecision, check_positive, parse_amount, parse_whole


def word(issue) -> str:
    """A training reason code (:class:`~gpt4plan.training.TrainIssue`) in the command line's words."""
    from gpt4plan.scenario import cli_flag
    from gpt4plan.training import word_train_issue

    return word_train_issue(issue, cli_flag)


@dataclass(frozen=True)
class TrainOptions:
    """The validated options of ``train`` (and ``compare --train``): everything but the model and the chip."""

    tokens: float
    chips: int | None
    days: float | None
    max_chips: int
    seq_len: int | None
    global_batch: float
    global_batch_text: str
    precision: str
    price_per_hour: float | None
    failure_rate: float | None
    checkpoint_s: float
    restart_s: float
    performance_model: str = "roofline"

    def hardware(self, h):
        return h if self.price_per_hour is None else h.with_price(self.price_per_hour)

    def precision_issue(self, h):
        """Why ``h`` cannot train in the asked precision (a :class:`~gpt4plan.training.TrainIssue`), or None."""
        from gpt4plan.training import precision_issue

        return precision_issue(h, self.precision)

    def workload(self, m):
        from gpt4plan.training import TrainWorkload

        s = self.seq_len or min(m.max_context, 8192)
        if s > m.max_context:
            raise BadInput(f"--seq-len {s} exceeds {m.name}'s max_context {m.max_context}")
        from gpt4plan.training import sequence_batch_issue

        problem = sequence_batch_issue(self.global_batch, s)
        if problem:
            raise BadInput(f"--global-batch {self.global_batch_text} is {word(problem)}")
        return TrainWorkload(tokens=self.tokens, seq_len=s, global_batch_tokens=self.global_batch,
                             precision=self.precision, performance_model=self.performance_model)

    def reliability(self):
        from gpt4plan.training import FAILURE_RATE_PER_GPU_HOUR, Reliability

        return Reliability(self.failure_rate or FAILURE_RATE_PER_GPU_HOUR, self.checkpoint_s, self.restart_s)

    def sources(self, h) -> dict[str, str]:
        return {"price": f"{h.price:.4g} USD/chip-hour " + ("(--price-per-hour)" if self.price_per_hour
                                                            else f"from the {h.name} spec ({h.price_date or 'undated'})")}


def train_options(
    tokens: str | None = None, chips: int | None = None, days: float | None = None, max_chips: str | int = 100_000,
    seq_len: int | None = None, global_batch: str | None = None, precision: TrainPrecision = TrainPrecision.bf16,
    price_per_hour: float | None = None, failure_rate: float | None = None, checkpoint_s: float = 60.0,
    restart_s: float = 300.0, performance_model: str = "roofline",
) -> TrainOptions:
    """Check the options of ``train``/``compare --train`` (bad ones raise :class:`BadInput`)."""
    if chips is not None and days is not None:
        raise BadInput("--chips and --days ask different questions (fastest on N chips / fewest chips for D days); give one")
    if days is not None:
        check_positive(days, "--days", 1e6)
    check_positive(price_per_hour, "--price-per-hour", 1e4)
    if failure_rate is not None and not (0 < failure_rate < 1):
        raise BadInput(f"--failure-rate: failures per GPU-hour must be in (0, 1), got {failure_rate!r}")
    max_chips = parse_whole(max_chips, "--max-chips")
    tokens = tokens if tokens is not None else "13T"
    global_batch = global_batch if global_batch is not None else "4M"
    n_tokens, n_batch = parse_amount(tokens, "--tokens"), parse_amount(global_batch, "--global-batch")
    from gpt4plan.scenario import cli_flag
    from gpt4plan.training import batch_budget_issue

    problem = batch_budget_issue(n_tokens, n_batch, tokens, global_batch)
    if problem:
        blamed = problem.values["setting"]
        raise BadInput(f"{cli_flag(blamed)} {tokens if blamed == 'tokens' else global_batch}: {word(problem)}")
    return TrainOptions(n_tokens, chips, days, max_chips, seq_len, n_batch,
                        global_batch, TrainPrecision(precision).value, price_per_hour, failure_rate, checkpoint_s,
                        restart_s, getattr(performance_model, "value", performance_model))
