"""Lazy re-exports for package ``__init__``s (PEP 562): a name is imported from its module on first use.

Importing one module of a package, or the package for one name, then does not import every module's
dependencies (pydantic, numpy, yaml): a fast start (docs/design.md).  A name must not equal one of the
package's submodules, which would shadow it once imported (``tests/test_architecture.py`` checks).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: dict[str, tuple[str, str]]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``table`` maps a name to ``(submodule, attribute)``."""

    def __getattr__(name: str):
        try:
            module, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), attr)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
