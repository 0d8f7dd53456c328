"""The error-band slot of plan dataclasses (:class:`Banded`) and which of their fields the JSON and CSV carry
(:func:`contract_fields`).

It lives at the bottom of the package (specs) so that the planners (serving, training) can carry bands
without importing :mod:`gpt4plan.accuracy`, which fills them (:func:`gpt4plan.accuracy.bands.attach`);
the arrows point one way (docs/design.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

__all__ = ["Banded", "BREAKDOWN", "NESTED", "contract_fields"]

#: ``field(metadata=BREAKDOWN)``: a part of a figure that the tables print but the JSON and CSV contract leaves
#: out (the figure itself is in it)
BREAKDOWN = {"contract": False}
#: ``field(metadata=NESTED)``: a nested object the JSON carries as it is (the CSV flattens it its own way)
NESTED = {"contract": False, "nested": True}


def contract_fields(cls) -> list[str]:
    """A plan dataclass's scalar fields that its JSON and CSV carry, in order (error bands go to JSON only,
    flattened by :meth:`Banded.as_dict`; :data:`BREAKDOWN` fields go to neither)."""
    return [f.name for f in fields(cls) if f.name != "bands" and f.metadata.get("contract", True)]


@dataclass
class Banded:
    """Mixin for plan dataclasses: ``bands`` maps a field to its ``[low, high]`` error band (or None);
    :meth:`as_dict` flattens them to ``<field>_band`` keys, the JSON contract."""

    bands: dict = field(default_factory=dict, kw_only=True)

    def as_dict(self) -> dict:
        full = asdict(self)
        d = {k: full[k] for k in contract_fields(type(self))}
        for k, v in full["bands"].items():
            d[f"{k}_band"] = v
        for f in fields(self):
            if f.metadata.get("nested"):
                d[f.name] = full[f.name]
        return d
