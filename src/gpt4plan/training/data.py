"""Training data as unique tokens seen for a number of epochs (docs/design.md): the token total a mix
implies, and what repeating data is worth.

A source of ``U`` unique tokens seen for ``E`` epochs contributes ``U x E`` training tokens; a mix, the sum.
The seed (SemiAnalysis 2023, S8): GPT-4's ~13T tokens are "not unique tokens": text is seen for 2 epochs and
code for 4.  The article gives no split; any ``U_text, U_code`` with ``2 U_text + 4 U_code = 13T`` reproduces it
(5.5T text and 0.5T code, for one).

Repetition (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", NeurIPS; arXiv:2305.16264):
"training with up to 4 epochs of repeated data yields negligible changes to loss compared to having unique
data"; beyond, the value of more repetition decays, and around 16 epochs more compute on the same data is
nearly worthless.  Their fit (eq. 5) gives the unique-equivalent tokens of ``U`` tokens seen ``E`` times
(``R = E - 1`` repetitions)::

    D' = U + U * R* * (1 - exp(-R / R*)),   R* = 15.4 (their fitted R*_D)

so 4 epochs are worth 3.73 epochs of unique data (93%), 16 epochs 9.9 (62%) and no number of epochs more
than 16.4.  The fit comes from runs up to 9B parameters; here it is a warning's evidence, not a planner input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpt4plan.training.reasons import TrainIssue

__all__ = ["EPOCHS_NEARLY_FREE", "EPOCHS_WORTHLESS", "REPEAT_DECAY", "DataSource", "DataMix", "effective_tokens",
           "repeat_issue"]

#: Epochs up to which repeated data is almost as good as unique data (Muennighoff et al. 2023, abstract).
EPOCHS_NEARLY_FREE = 4.0
#: Epochs around which further repetition is nearly worthless (Muennighoff et al. 2023, §5: R*_D ~ 15).
EPOCHS_WORTHLESS = 16.0
#: R*_D, the fitted decay constant of repeated data's value (Muennighoff et al. 2023, eq. 5 fit: 15.39).
REPEAT_DECAY = 15.4


def effective_tokens(unique_tokens: float, epochs: float) -> float:
    """Unique-equivalent tokens of ``unique_tokens`` seen ``epochs`` times (Muennighoff et al. 2023, eq. 5);
    at most one epoch: just the tokens seen."""
    if epochs <= 1.0:
        return unique_tokens * epochs
    return unique_tokens * (1.0 + REPEAT_DECAY * (1.0 - math.exp(-(epochs - 1.0) / REPEAT_DECAY)))


@dataclass(frozen=True)
class DataSource:
    """``unique_tokens`` of one kind of data (``name``: text, code...), seen for ``epochs`` (> 0)."""

    name: str
    unique_tokens: float
    epochs: float

    @property
    def tokens(self) -> float:
        return self.unique_tokens * self.epochs

    def as_dict(self) -> dict:
        return {"name": self.name, "unique_tokens": self.unique_tokens, "epochs": self.epochs,
                "tokens": self.tokens, "effective_tokens": effective_tokens(self.unique_tokens, self.epochs)}


@dataclass(frozen=True)
class DataMix:
    """The sources a run trains on; ``tokens`` is what they imply."""

    sources: tuple[DataSource, ...]

    @property
    def tokens(self) -> float:
        return sum(s.tokens for s in self.sources)

    @property
    def max_epochs(self) -> float:
        return max(s.epochs for s in self.sources)

    def as_dict(self) -> dict:
        """The JSON ``data`` object: sources, the token total, the most epochs of any source and the
        unique-equivalent tokens of the mix."""
        return {"sources": [s.as_dict() for s in self.sources], "tokens": self.tokens,
                "unique_tokens": sum(s.unique_tokens for s in self.sources), "max_epochs": self.max_epochs,
                "effective_tokens": sum(effective_tokens(s.unique_tokens, s.epochs) for s in self.sources)}


def repeat_issue(mix: DataMix | None) -> TrainIssue | None:
    """A ``repeated_data`` warning when a source is seen for more than :data:`EPOCHS_NEARLY_FREE` epochs (its
    name, epochs and the share of its tokens that count as unique-equivalent), else None."""
    if mix is None:
        return None
    over = [s for s in mix.sources if s.epochs > EPOCHS_NEARLY_FREE]
    if not over:
        return None
    worst = max(over, key=lambda s: s.epochs)
    worth = effective_tokens(worst.unique_tokens, worst.epochs) / worst.tokens
    return TrainIssue("repeated_data", {"name": worst.name, "epochs": worst.epochs, "worth": worth,
                                        "limit": EPOCHS_NEARLY_FREE, "worthless": EPOCHS_WORTHLESS})
