"""Option values coerced without pydantic where the result is certain (a fast start, docs/design.md).

Typer from 0.2x coerces every option's value through a pydantic ``TypeAdapter``, which it builds for every
option of the command on every run, even an option left at its default ``None``: for ``gpt4plan infer``
that is importing pydantic and building ~30 adapters, ~70 ms of a start that should take 0.25 s.

:func:`install` puts :class:`LazyRuntimeParam` in Typer's place.  It returns at once what Typer's adapter
would return for the plain cases: no value (``None``, or ``()`` for a repeatable option), a string for a
``str`` option, a bool for a flag, a list of strings for a ``list[str]`` option, a choice as Typer's own
matching finds it, plain digits for an ``int`` and plain decimals for a ``float`` (within the option's
``min``/``max``).  Any other value, and every value that would be refused, goes to Typer's own adapter,
built on first need, so every result and every error message is Typer's (``tests/test_cli_coercion.py``
compares both on every option of every command).  A Typer without adapters (click-based) is left alone.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["install", "LazyRuntimeParam"]

#: a value the fast path does not decide: Typer's adapter does
_UNDECIDED = object()


class LazyRuntimeParam:
    """Typer's runtime coercion of one option, without pydantic for the plain cases."""

    def __init__(self, descriptor: Any, build: Any) -> None:
        self.descriptor = descriptor
        self._build = build
        self._full: Any = None

    def __getattr__(self, name: str) -> Any:  # anything else Typer asks of its RuntimeParam
        return getattr(self.full(), name)

    def full(self) -> Any:
        """Typer's own RuntimeParam (built with pydantic on first need)."""
        if self._full is None:
            self._full = self._build(self.descriptor)
        return self._full

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # Typer's RuntimeParam.coerce, before any adapter
            return () if multi else None
        fast = _UNDECIDED
        if not isinstance(value, str) or not multi:
            try:
                fast = self._fast(value, multi, ctx)
            except Exception:  # a refused value: Typer words it
                fast = _UNDECIDED
        if fast is not _UNDECIDED:
            return fast
        return self.full().coerce(value, param=param, ctx=ctx)

    def _fast(self, value: Any, multi: bool, ctx: Any) -> Any:
        d = self.descriptor
        info = d.parameter_info
        if d.file_annotation is not None or info.parser is not None:
            return _UNDECIDED
        if multi:
            if d.annotation == list[str] and isinstance(value, list | tuple) and all(type(v) is str for v in value):
                return list(value)
            return _UNDECIDED
        return _leaf(d.annotation, info, value, ctx)


def _leaf(annotation: Any, info: Any, value: Any, ctx: Any) -> Any:
    """The value Typer's adapter returns for a plain ``value`` of a one-value option, or ``_UNDECIDED``."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        from typer._param_types import coerce_cli_choice  # Typer's own choice matching, pydantic-free

        return coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
    if annotation is str or annotation is bool:
        return value if type(value) is annotation else _UNDECIDED
    if annotation is int and not info.clamp:
        x = int(value) if type(value) is str and _digits(value) else value
        return x if type(x) is int and _within(x, info) else _UNDECIDED
    if annotation is float and not info.clamp:
        x = float(value) if type(value) is str and all(map(_digits, value.split(".", 1))) else value
        return x if type(x) is float and x == x and abs(x) != float("inf") and _within(x, info) else _UNDECIDED
    return _UNDECIDED


def _digits(text: str) -> bool:
    """1 to 15 ASCII digits, nothing else."""
    return 0 < len(text) <= 15 and text.isascii() and text.isdigit()


def _within(x: float, info: Any) -> bool:
    return (info.min is None or x >= info.min) and (info.max is None or x <= info.max)


def install() -> None:
    """Put :class:`LazyRuntimeParam` in place of Typer's adapter-built coercion (once; if Typer has one)."""
    try:
        import typer.core as core
    except ImportError:  # pragma: no cover - typer is a dependency
        return
    build = getattr(core, "build_runtime_param", None)
    if build is None or hasattr(build, "typer_build"):  # no adapters, or installed already
        return

    def build_lazy(descriptor: Any) -> LazyRuntimeParam:
        return LazyRuntimeParam(descriptor, build)

    build_lazy.typer_build = build  # type: ignore[attr-defined]  # Typer's own (tests compare both)
    core.build_runtime_param = build_lazy
