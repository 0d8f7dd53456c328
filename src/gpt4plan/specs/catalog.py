"""The shipped catalog of model and hardware specs, and name-or-path resolution.

The YAML files live inside the package (``gpt4plan/data/models``, ``gpt4plan/data/hardware``) so a
plain ``pip install .`` ships them; a user may always pass a path instead of a name.

A catalog name is answered from the validated cache (:mod:`gpt4plan.specs.cache`) as a record
(:mod:`gpt4plan.specs.records`) without pydantic or yaml; a path, or a catalog file changed since the cache
was written, is read and validated.

Errors: :class:`gpt4plan.specs.errors.SpecError` naming the unknown name and the nearest catalog names.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from gpt4plan.specs import cache
from gpt4plan.specs.records import RECORDS, HardwareRecord, ModelRecord

if TYPE_CHECKING:
    from gpt4plan.specs.hardware import HardwareSpec
    from gpt4plan.specs.model import ModelSpec

__all__ = ["catalog_dir", "model_names", "hardware_names", "resolve_model", "resolve_hardware"]


def catalog_dir(kind: str) -> Path:
    """Folder of the shipped specs of ``kind`` (``'models'`` or ``'hardware'``)."""
    return cache.data_dir() / kind


def _names(kind: str) -> list[str]:
    return sorted(p.stem for p in catalog_dir(kind).glob("*.yaml"))


def model_names() -> list[str]:
    """Names of the shipped model specs, sorted."""
    return _names("models")


def hardware_names() -> list[str]:
    """Names of the shipped hardware specs, sorted."""
    return _names("hardware")


def _looks_like_path(ref: str) -> bool:
    # lexists: a broken symlink or a link loop is a path too (the loader then says what is wrong with it)
    return any(ch in ref for ch in "/\\") or ref.endswith((".yaml", ".yml", ".json")) or os.path.lexists(ref)


def _resolve(ref: str, kind: str, option: str) -> Path:
    if ref.strip():
        path = catalog_dir(kind) / f"{ref}.yaml"
        if path.is_file():
            return path
        if _looks_like_path(ref):
            return Path(ref)
    from gpt4plan.specs.errors import SpecError, name_hint  # only to word the error (a fast start)

    if not ref.strip():
        raise SpecError(option, None, None, "empty name; give a catalog name or a path")
    hint = name_hint(ref, _names(kind))
    raise SpecError(option, None, None, f"unknown {kind[:-1] if kind == 'models' else kind} '{ref}'; {hint} "
                    f"(or give a path to a YAML file; list with 'gpt4plan {kind}')")


def _shipped(ref: str, kind: str, path: Path):
    """The validated catalog entry ``ref`` from the cache as a record, or None (a path; an edited file)."""
    if path != catalog_dir(kind) / f"{ref}.yaml":
        return None
    value = cache.shipped(f"{kind}/{ref}.yaml", path)
    return None if value is None else RECORDS[kind](value)


@lru_cache(maxsize=64)
def resolve_model(ref: str) -> ModelSpec | ModelRecord:
    """A catalog model name (``gpt-4``) or a path (YAML spec or HF ``config.json``) -> :class:`ModelSpec`
    (a catalog name: its :class:`~gpt4plan.specs.records.ModelRecord`, validated when the cache was made)."""
    path = _resolve(ref, "models", "--model")
    shipped = _shipped(ref, "models", path)
    if shipped is not None:
        return shipped
    from gpt4plan.specs.validate import load_model  # pydantic, yaml: only for a file the cache does not hold

    return load_model(path)


@lru_cache(maxsize=64)
def resolve_hardware(ref: str) -> HardwareSpec | HardwareRecord:
    """A catalog hardware name (``h100-sxm``) or a YAML path -> :class:`HardwareSpec` (a catalog name: its
    :class:`~gpt4plan.specs.records.HardwareRecord`, validated when the cache was made)."""
    path = _resolve(ref, "hardware", "--hardware")
    shipped = _shipped(ref, "hardware", path)
    if shipped is not None:
        return shipped
    from gpt4plan.specs.validate import load_hardware

    return load_hardware(path)
