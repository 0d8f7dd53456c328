"""The shipped catalog's specs as read-only records: the fields and derived values of the pydantic
schemas, without importing pydantic (a fast start, docs/design.md).

A record is made from the ``model_dump()`` of a spec the schema validated (:mod:`gpt4plan.specs.cache`),
never from user input: a user's file always goes through the schemas and their error messages.  Reading a
field, a derived value (:mod:`gpt4plan.specs.derived`: ``moe_layers``, ``peak``, ``with_price``) and
``model_copy`` (unvalidated, as pydantic's) need no pydantic; the rest of pydantic's API (``model_dump``,
``model_fields``, ...), ``repr``, ``hash`` and setting a field (refused: frozen) are the genuine schema
instance's, built from the record's values when asked.  ``==`` holds between a record and the schema
instance of the same values.  A record is not an instance of the schema class (``isinstance``).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from gpt4plan.specs.derived import ChipRates, ModelShape

__all__ = ["Record", "ModelRecord", "HardwareRecord", "RECORDS"]


class Record:
    """One validated spec's fields as attributes (nested specs as records)."""

    #: ``module:class`` of the schema under :mod:`gpt4plan.specs` whose ``model_dump()`` this holds
    SCHEMA = ""
    #: field -> record type of a nested spec
    NESTED: dict[str, type[Record]] = {}

    def __init__(self, values: Mapping[str, Any]) -> None:
        fields = self.__dict__
        for k, v in values.items():
            sub = self.NESTED.get(k)
            fields[k] = sub(v) if sub is not None and isinstance(v, Mapping) else v

    def as_schema(self) -> Any:
        """The schema instance of the same values (pydantic's ``model_construct``: no validation)."""
        module, name = self.SCHEMA.split(":")
        schema = getattr(importlib.import_module(f"gpt4plan.specs.{module}"), name)
        return schema.model_construct(**{k: v.as_schema() if isinstance(v, Record) else v
                                         for k, v in self.__dict__.items()})

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Record:
        """A copy with ``update`` applied, unvalidated (as pydantic's ``model_copy``)."""
        new = object.__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__dict__) if deep else self.__dict__)
        new.__dict__.update(update or {})
        return new

    def __getattr__(self, name: str) -> Any:  # only names that are not fields
        if name.startswith("model_"):
            return getattr(self.as_schema(), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        self.as_schema().__setattr__(name, value)  # frozen: pydantic's own error

    def __delattr__(self, name: str) -> None:
        self.as_schema().__delattr__(name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return type(self) is type(other) and self.__dict__ == other.__dict__
        if hasattr(type(other), "model_fields"):  # a schema instance
            return self.as_schema() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_schema())

    def __iter__(self) -> Iterator[tuple[str, Any]]:  # as a pydantic model: (field, value) pairs
        return iter(self.__dict__.items())

    def __repr__(self) -> str:
        return repr(self.as_schema())

    def __str__(self) -> str:
        return str(self.as_schema())


class MoERecord(Record):
    SCHEMA = "model:MoESpec"


class MLARecord(Record):
    SCHEMA = "model:MLASpec"


class VisionRecord(Record):
    SCHEMA = "model:VisionSpec"


class ModelRecord(ModelShape, Record):
    """A shipped :class:`~gpt4plan.specs.model.ModelSpec`."""

    SCHEMA = "model:ModelSpec"
    NESTED = {"moe": MoERecord, "mla": MLARecord, "vision": VisionRecord}


class ScaleUpRecord(Record):
    SCHEMA = "hardware:ScaleUp"


class ScaleOutRecord(Record):
    SCHEMA = "hardware:ScaleOut"


class EfficiencyRecord(Record):
    SCHEMA = "hardware:Efficiency"


class HardwareRecord(ChipRates, Record):
    """A shipped :class:`~gpt4plan.specs.hardware.HardwareSpec`."""

    SCHEMA = "hardware:HardwareSpec"
    NESTED = {"scale_up": ScaleUpRecord, "scale_out": ScaleOutRecord, "efficiency": EfficiencyRecord}


#: catalog kind (folder) -> record type
RECORDS: dict[str, type[Record]] = {"models": ModelRecord, "hardware": HardwareRecord}
