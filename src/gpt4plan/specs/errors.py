"""Errors of bad input, and the one way to word them (docs/design.md).

Every loading error is a :class:`SpecError` whose ``str()`` is one line,
``file:line: field: what is wrong``, which the CLI prints before exiting with code 2; a result that
could not be written for a reason that is not the user's (a full disk) is :class:`ResultNotWritten`
(exit 3).

The helpers here are shared by every reader of user files (specs, budgets, measurements), so that a
misspelt field, a wrong type or an out-of-range value reads the same wherever it is written:

* :func:`suggest` -- the " (did you mean 'x'?)" tail for an unknown word; :func:`name_hint` -- the
  nearest catalog names, or all of them;
* :func:`field_path` -- a key path as the user writes it (``measurements[0].source``);
* :func:`short_repr` -- a value shown in a message, cut to a width;
* :func:`plain_message` -- plain words for pydantic's common error types;
* :func:`pick_error`, :func:`bound_message` and :func:`validation_to_spec_error` -- a pydantic
  ``ValidationError`` turned into one :class:`SpecError` with its file, line and field.
"""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic only where a ValidationError is worded: SpecError alone never needs it
    from pydantic import BaseModel, ValidationError

__all__ = [
    "SpecError",
    "ResultNotWritten",
    "write_error",
    "suggest",
    "name_hint",
    "field_path",
    "short_repr",
    "plain_message",
    "pick_error",
    "bound_message",
    "validation_to_spec_error",
]


class SpecError(ValueError):
    """A spec file or value is invalid.  ``str(err)`` is ``file:line: field: message``."""

    def __init__(self, file: str | None, line: int | None, field: str | None, message: str):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}:{line}" if line else (file or "<input>")
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ResultNotWritten(OSError):
    """A result file could not be written for a reason that is not the user's input (full disk, I/O error,
    quota): the CLI prints ``err.strerror`` (``PATH: cannot write (OPTION): reason``) as one line, exit 3."""


#: errno values that mean "the result could not be written", not "bad path": exit 3 rather than 2.
_WRITE_FAILED_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})


def write_error(path: str | Path, option: str, exc: OSError) -> Exception:
    """The error to raise when writing ``path`` (given by ``option``) failed with ``exc``.

    A full disk or an I/O error is :class:`ResultNotWritten` (exit 3); a folder, a missing directory or a
    permission is :class:`SpecError` naming the path (bad input, exit 2).  Both read
    ``PATH: cannot write (OPTION): reason``.
    """
    reason = exc.strerror or str(exc)
    if exc.errno in _WRITE_FAILED_ERRNOS:
        return ResultNotWritten(exc.errno, f"{path}: cannot write ({option}): {reason}")
    return SpecError(str(path), None, None, f"cannot write ({option}): {reason}")


def write_atomically(path: str | Path, option: str, write) -> None:
    """Write ``path`` by calling ``write(tmp)`` on a temporary file beside it, then renaming it over ``path``.

    A write that fails (full disk, a folder, no permission) leaves an existing file whole and no empty
    file behind.  A path that exists and is neither a file nor a folder (``/dev/stdout``) is written in
    place: renaming over a device would replace it.  The temporary name keeps ``path``'s extension (matplotlib reads the format from it).

    Raises:
        ResultNotWritten: a full disk or an I/O error (exit 3); SpecError: a bad path (exit 2)
            (:func:`write_error`).
    """
    import os

    p = Path(path)
    if p.exists() and not p.is_file() and not p.is_dir():  # /dev/stdout, /dev/full, a FIFO: write in place
        try:
            write(p)
        except OSError as exc:
            raise write_error(path, option, exc) from None
        return
    tmp = p.with_name(f".{p.stem}.{os.getpid()}.tmp{p.suffix}")
    try:
        write(tmp)
        os.replace(tmp, p)
    except OSError as exc:
        raise write_error(path, option, exc) from None
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------------------------------------
# Wording


def suggest(word: Any, choices: Iterable[Any], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the choice nearest ``word``, or ``""`` when none is near enough."""
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{near[0]}'?)" if near else ""


def name_hint(word: str, names: list[str]) -> str:
    """``did you mean 'a', 'b'?`` (up to three names near ``word``), else ``known: <all names>`` -- for an
    unknown catalog name."""
    near = difflib.get_close_matches(word, names, n=3, cutoff=0.4)
    return f"did you mean {', '.join(repr(n) for n in near)}?" if near else f"known: {', '.join(names)}"


def field_path(keys: Iterable[Any]) -> str:
    """('measurements', 0, 'source') -> 'measurements[0].source' (list indices in brackets)."""
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def short_repr(value: Any, width: int = 60) -> str:
    """``repr(value)``, cut to ``width`` characters with ``...``."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def plain_message(err: Mapping[str, Any]) -> str | None:
    """A plain-language message for a pydantic error of a common type (wrong type, empty, not one of),
    or None to keep pydantic's own."""
    kind, got = err.get("type", ""), short_repr(err.get("input"))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of field: value, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        return f"got {got}; expected one of {', '.join(choices) or expected}{suggest(err.get('input'), choices)}"
    return None


# ---------------------------------------------------------------------------------------------
# pydantic ValidationError -> SpecError

_BOUND_OPS = {"greater_than": ">", "greater_than_equal": ">=", "less_than_equal": "<=", "less_than": "<"}


def pick_error(exc: ValidationError) -> tuple[dict[str, Any], tuple]:
    """The error to report of a ``ValidationError``, and its location with real keys only.

    An unknown field is usually a misspelt one: it is reported (with its suggestion) before "missing".
    pydantic puts tagged-union and function names (``function-after[...]``, ``[key]``) in ``loc``:
    they are dropped.
    """
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and (x.startswith("function-") or x == "[key]")))
    return err, loc


def bound_message(err: Mapping[str, Any], si_units: bool = True) -> str | None:
    """``must be >= 1e+06 (SI units), got 5`` for a pydantic bound error, else None.  A count (an int)
    has no units; ``si_units=False`` never names them."""
    op = _BOUND_OPS.get(err["type"])
    if op is None:
        return None
    bound = next(iter(err["ctx"].values()))
    got = err.get("input")
    units = " (SI units)" if si_units and not (isinstance(got, int) and not isinstance(got, bool)) else ""
    return f"must be {op} {bound:g}{units}, got {got!r}"


def _known_fields(schema: type[BaseModel], loc: tuple) -> Mapping[str, Any]:
    """The fields of the (nested) model that holds ``loc[-1]``, for a did-you-mean."""
    from pydantic import BaseModel

    parent = schema
    for part in loc[:-1]:
        ann = getattr(parent, "model_fields", {}).get(part)
        sub = getattr(ann, "annotation", None) if ann else None
        sub = next((a for a in getattr(sub, "__args__", (sub,)) if isinstance(a, type)), sub)
        parent = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else parent
    return getattr(parent, "model_fields", {})


def _line_of(loc: tuple, lines: Mapping[tuple, int]) -> int | None:
    """The line of the longest prefix of ``loc`` written in the file."""
    for n in range(len(loc), -1, -1):
        key = loc[:n] if loc[:n] in lines else tuple(str(x) for x in loc[:n])  # a YAML key 1 is '1' in lines
        if key in lines:
            return lines[key]
    return None


def validation_to_spec_error(
    exc: ValidationError, file: str, lines: Mapping[tuple, int], schema: type[BaseModel]
) -> SpecError:
    """One :class:`SpecError` (``file:line: field: message``) for a pydantic ``ValidationError`` raised
    validating ``schema``; ``lines`` maps key paths to the lines they are written on."""
    err, loc = pick_error(exc)
    field = ".".join(str(x) for x in loc) or None
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        # cross-field checks say which field they are about: "kv_heads: heads (64) is not ..."
        head, sep, rest = msg.partition(": ")
        if sep and head.replace(".", "").replace("_", "").isalnum() and " " not in head:
            loc = loc + tuple(head.split("."))
            field = ".".join(str(x) for x in loc)
            msg = rest
    line = _line_of(loc, lines)
    if err["type"] == "extra_forbidden" and loc:
        msg = f"unknown field{suggest(loc[-1], _known_fields(schema, loc))}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "invalid_key":
        msg = f"field names are text; {err.get('input')!r} is not a field"
    elif plain_message(err):
        msg = plain_message(err)
    elif err["type"] in _BOUND_OPS:
        msg = bound_message(err)
    if not loc and isinstance(err.get("input"), Mapping) is False and err["type"] == "model_type":
        msg = "expected a mapping of field: value"
    return SpecError(file, line, field, msg)
