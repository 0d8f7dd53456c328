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
    #: the unique tokens and epochs the total came from (:class:`gpt4plan.training.DataMix`), None for --tokens
    data: object | None = None
    #: --image-token-fraction (None: no data-loading check) and --image-token-bytes
    image_token_fraction: float | None = None
    bytes_per_image_token: float = 600.0

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
                             precision=self.precision, performance_model=self.performance_model, data=self.data,
                             image_token_fraction=self.image_token_fraction,
                             bytes_per_image_token=self.bytes_per_image_token)

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
    restart_s: float = 300.0, performance_model: str = "roofline", unique_tokens: str | None = None,
    epochs: float | None = None, data: str | None = None, image_token_fraction: float | None = None,
    bytes_per_image_token: float | None = None,
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
    mix = data_mix(tokens, unique_tokens, epochs, data)
    tokens = tokens if tokens is not None else ("13T" if mix is None else f"{mix.tokens:.6g}")
    global_batch = global_batch if global_batch is not None else "4M"
    n_tokens = parse_amount(tokens, "--tokens") if mix is None else mix.tokens
    n_batch = parse_amount(global_batch, "--global-batch")
    from gpt4plan.scenario import cli_flag
    from gpt4plan.training import batch_budget_issue

    problem = batch_budget_issue(n_tokens, n_batch, tokens, global_batch)
    if problem:
        blamed = problem.values["setting"]
        if mix is not None and blamed == "tokens":  # the total came from the data options: name them
            what = f"{'--data' if data else '--unique-tokens x --epochs'}: {mix.tokens:,.0f} tokens"
        else:
            what = f"{cli_flag(blamed)} {tokens if blamed == 'tokens' else global_batch}"
        raise BadInput(f"{what}: {word(problem)}")
    return TrainOptions(n_tokens, chips, days, max_chips, seq_len, n_batch,
                        global_batch, TrainPrecision(precision).value, price_per_hour, failure_rate, checkpoint_s,
                        restart_s, getattr(performance_model, "value", performance_model), mix,
                        *_image_loading(image_token_fraction, bytes_per_image_token))


def _image_loading(fraction: float | None, bytes_per_image_token: float | None) -> tuple[float | None, float]:
    """``--image-token-fraction`` in [0, 1] and ``--image-token-bytes`` (> 0, at most 1 MB; the seed's 600 by
    default, and only with a fraction)."""
    from gpt4plan.training import SEED_BYTES_PER_IMAGE_TOKEN

    if fraction is not None and not (0.0 <= fraction <= 1.0):
        raise BadInput(f"--image-token-fraction: a fraction of the tokens in [0, 1], got {fraction!r}")
    if bytes_per_image_token is None:
        return fraction, SEED_BYTES_PER_IMAGE_TOKEN
    if fraction is None:
        raise BadInput("--image-token-bytes needs --image-token-fraction F (the share of image tokens)")
    if not (0.0 < bytes_per_image_token <= 1e6):
        raise BadInput(f"--image-token-bytes: bytes per token above 0 and at most 1,000,000, got "
                       f"{bytes_per_image_token!r}")
    return fraction, float(bytes_per_image_token)


#: Most epochs taken for one source (Muennighoff et al. 2023 go to 1,500 epochs; beyond is surely a slip).
MAX_EPOCHS = 10_000


def _epochs(value: float | str, where: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{where}: cannot read {value!r} as a number of epochs (2, 0.5)") from None
    if not (0 < x <= MAX_EPOCHS):
        raise BadInput(f"{where}: epochs must be above 0 and at most {MAX_EPOCHS:,}, got {value!r}")
    return x


def _data_source(item: str):
    """One ``name=TOKENS[:EPOCHS]`` of ``--data`` (epochs 1 when not given)."""
    from gpt4plan.training import DataSource

    name, eq, rest = item.partition("=")
    name = name.strip()
    if not eq or not name:
        raise BadInput(f"--data: {item.strip()!r}: give name=TOKENS:EPOCHS, e.g. text=5.5T:2")
    if not all(c.isalnum() or c in "_-." for c in name):
        raise BadInput(f"--data: {name!r}: a source name is letters, digits, '_', '-' or '.'")
    amount, colon, ep = rest.partition(":")
    unique = parse_amount(amount.strip(), f"--data {name}")
    return DataSource(name, unique, _epochs(ep.strip(), f"--data {name}") if colon else 1.0)


def data_mix(tokens: str | None, unique_tokens: str | None, epochs: float | None, data: str | None):
    """``--unique-tokens T --epochs E`` or ``--data name=T:E,...`` as a :class:`gpt4plan.training.DataMix`
    (None when neither is given); with ``--tokens`` or with each other they are bad input."""
    from gpt4plan.training import DataMix, DataSource

    if data is None and unique_tokens is None and epochs is None:
        return None
    if tokens is not None:
        raise BadInput("--tokens and --unique-tokens/--epochs/--data both set the training tokens; give one")
    if data is not None:
        if unique_tokens is not None or epochs is not None:
            raise BadInput("--data and --unique-tokens/--epochs both describe the data; give one")
        sources = [_data_source(item) for item in data.split(",")]
        names = [src.name for src in sources]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise BadInput(f"--data: {dup!r} is given twice; give each source once")
        return DataMix(tuple(sources))
    if unique_tokens is None:
        raise BadInput("--epochs needs --unique-tokens T (the unique tokens seen that many times)")
    unique = parse_amount(unique_tokens, "--unique-tokens")
    return DataMix((DataSource("data", unique, 1.0 if epochs is None else _epochs(epochs, "--epochs")),))
