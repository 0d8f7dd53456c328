"""The shipped catalog of model and hardware specs, and name-or-path resolution.

The YAML files live inside the package (``gpt4plan/data/models``, ``gpt4plan/data/hardware``) so a
plain ``pip install .`` ships them; a user may always pass a path instead of a name.

Errors: :class:`gpt4plan.specs.errors.SpecError` naming the unknown name and the nearest catalog names.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from gpt4plan.specs.errors import SpecError, name_hint
from gpt4plan.specs.hardware import HardwareSpec
from gpt4plan.specs.model import ModelSpec
from gpt4plan.specs.validate import load_hardware, load_model

__all__ = ["catalog_dir", "model_names", "hardware_names", "resolve_model", "resolve_hardware"]


def catalog_dir(kind: str) -> Path:
    """Folder of the shipped specs of ``kind`` (``'models'`` or ``'hardware'``)."""
    return Path(str(files("gpt4plan") / "data" / kind))


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
    if not ref.strip():
        raise SpecError(option, None, None, "empty name; give a catalog name or a path")
    path = catalog_dir(kind) / f"{ref}.yaml"
    if path.is_file():
        return path
    if _looks_like_path(ref):
        return Path(ref)
    names = _names(kind)
    hint = name_hint(ref, names)
    raise SpecError(option, None, None, f"unknown {kind[:-1] if kind == 'models' else kind} '{ref}'; {hint} "
                    f"(or give a path to a YAML file; list with 'gpt4plan {kind}')")


@lru_cache(maxsize=64)
def resolve_model(ref: str) -> ModelSpec:
    """A catalog model name (``gpt-4``) or a path (YAML spec or HF ``config.json``) -> :class:`ModelSpec`."""
    return load_model(_resolve(ref, "models", "--model"))


@lru_cache(maxsize=64)
def resolve_hardware(ref: str) -> HardwareSpec:
    """A catalog hardware name (``h100-sxm``) or a YAML path -> :class:`HardwareSpec`."""
    return load_hardware(_resolve(ref, "hardware", "--hardware"))
