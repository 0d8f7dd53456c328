"""Loading and validating specs: a YAML file, a Hugging Face ``config.json`` or a mapping -> a spec.

Every error is a one-line :class:`~gpt4plan.specs.errors.SpecError`, ``file:line: field: what is
wrong`` (docs/design.md); for a HF config the line is the one of the HF key the field comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gpt4plan.specs.errors import SpecError, validation_to_spec_error
from gpt4plan.specs.hardware import HardwareSpec
from gpt4plan.specs.hf import hf_config_to_model, hf_error_key, hf_lines
from gpt4plan.specs.loader import load_yaml_with_lines
from gpt4plan.specs.model import ModelSpec

__all__ = ["validate_mapping", "model_from_mapping", "hardware_from_mapping", "load_model", "load_hardware"]


def validate_mapping(schema: type[BaseModel], data: Any, file: str, lines: Mapping[tuple, int]):
    """Validate ``data`` against a pydantic ``schema``; raises :class:`SpecError` (``file:line: field``),
    with ``lines`` mapping key paths (relative to ``data``) to YAML line numbers."""
    if not isinstance(data, Mapping):
        raise SpecError(file, lines.get((), 1), None, f"expected a mapping of field: value, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_to_spec_error(exc, file, lines, schema) from None


def model_from_mapping(data: Any, file: str = "<model>", lines: dict | None = None) -> ModelSpec:
    """Validate a mapping as a :class:`ModelSpec`; a HF config (has ``hidden_size``) is mapped first."""
    if isinstance(data, Mapping) and "hidden_size" in data and "d_model" not in data:
        try:
            data = hf_config_to_model(data, default_name=Path(file).stem)
        except SpecError as exc:
            raise SpecError(file, None, exc.field, exc.message) from None
        lines = {}
    return validate_mapping(ModelSpec, data, file, lines or {})


def hardware_from_mapping(data: Any, file: str = "<hardware>", lines: dict | None = None) -> HardwareSpec:
    """Validate a mapping as a :class:`HardwareSpec`."""
    return validate_mapping(HardwareSpec, data, file, lines or {})


def _default_model_name(path: str | Path) -> str:
    """The name of a model read from ``path`` when its config has no ``_name_or_path``: the file's stem,
    or the folder's name for a file called ``config.json`` (``Qwen2.5-7B/config.json`` -> ``Qwen2.5-7B``)."""
    p = Path(path)
    if p.name == "config.json" and p.resolve().parent.name:
        return p.resolve().parent.name
    return p.stem or "hf-model"


def _is_hf_config(data: Any) -> bool:
    return isinstance(data, Mapping) and ("hidden_size" in data or "model_type" in data) and "d_model" not in data


def _load_hf_model(data: Mapping[str, Any], path: str | Path, lines: dict[tuple, int]) -> ModelSpec:
    """A HF config read from ``path``: mapped, then validated with the HF keys' lines."""
    try:
        mapped = hf_config_to_model(data, default_name=_default_model_name(path))
    except SpecError as exc:  # a missing HF key has no line of its own: the mapping's first line
        key = hf_error_key(exc.field)
        line = lines.get(key, lines.get(key[:1], lines.get(()))) if key else None
        raise SpecError(str(path), line, exc.field, exc.message) from None
    except (KeyError, TypeError, ValueError) as exc:
        bad = exc.args[0] if isinstance(exc, KeyError) else None
        raise SpecError(str(path), lines.get((bad,)) if bad else None, bad,
                        "missing or invalid Hugging Face config field" if bad else
                        f"not a recognised Hugging Face config ({exc})") from None
    return validate_mapping(ModelSpec, mapped, str(path), hf_lines(lines))


def load_model(path: str | Path) -> ModelSpec:
    """Load a model spec from YAML, or a Hugging Face ``config.json``.  Raises :class:`SpecError`."""
    data, lines = load_yaml_with_lines(path)
    if _is_hf_config(data):
        return _load_hf_model(data, path, lines)
    return validate_mapping(ModelSpec, data, str(path), lines)


def load_hardware(path: str | Path) -> HardwareSpec:
    """Load a hardware spec from YAML.  Raises :class:`SpecError`."""
    data, lines = load_yaml_with_lines(path)
    return validate_mapping(HardwareSpec, data, str(path), lines)
