"""The error-band slot of plan dataclasses (:class:`Banded`).

It lives at the bottom of the package (specs) so that the planners (serving, training) can carry bands
without importing :mod:`gpt4plan.accuracy`, which fills them (:func:`gpt4plan.accuracy.bands.attach`);
the arrows point one way (docs/design.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Banded"]


@dataclass
class Banded:
    """Mixin for plan dataclasses: ``bands`` maps a field to its ``[low, high]`` error band (or None);
    :meth:`as_dict` flattens them to ``<field>_band`` keys, the JSON contract."""

    bands: dict = field(default_factory=dict, kw_only=True)

    def as_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.pop("bands").items():
            d[f"{k}_band"] = v
        return d
