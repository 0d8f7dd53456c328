"""Safe YAML (and JSON) reading with the line of every key (docs/design.md).

:func:`load_yaml_with_lines` returns the data and ``{key path: line}`` so that every later error can
name ``file:line: field``.  It reads with ``yaml.SafeLoader`` only (no tags execute) and refuses, as a
one-line :class:`~gpt4plan.specs.errors.SpecError`: special files (a FIFO is refused before ``open()``,
which would block), files over :data:`MAX_FILE_BYTES`, text that is not UTF-8, empty files, syntax
errors, duplicate keys (YAML would keep only the last) and alias bombs ("billion laughs").
"""

from __future__ import annotations

import os
import re
import stat
from collections import deque
from pathlib import Path
from typing import Any

import yaml

from gpt4plan.specs.errors import SpecError, field_path

__all__ = ["MAX_FILE_BYTES", "load_yaml_with_lines"]

#: Largest spec, HF config or budgets file read (bytes): real ones are a few kB, the measurements
#: file ~100 kB; PyYAML takes seconds per MB (a minute on a 10 MB file).
MAX_FILE_BYTES = 2**20


class _DuplicateKey(Exception):
    def __init__(self, field: str, line: int):
        self.field, self.line = field, line


def _node_lines(node: yaml.Node, prefix: tuple = (), out: dict | None = None,
                seen: set | None = None) -> dict[tuple, int]:
    """Map every key path in a composed YAML node to its 1-based line number.

    Each node is walked once: an alias (``*a``) is not expanded again, so alias bombs
    ("billion laughs") and self-references cost linear time.
    """
    out = {} if out is None else out
    seen = set() if seen is None else seen
    out.setdefault(prefix, node.start_mark.line + 1)
    if id(node) in seen or len(prefix) > 50:
        return out
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            if key in keys and key != "<<":
                raise _DuplicateKey(field_path(prefix + (key,)), k.start_mark.line + 1)
            keys.add(key)
            out[prefix + (key,)] = k.start_mark.line + 1
            _node_lines(v, prefix + (key,), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _node_lines(v, prefix + (i,), out, seen)
    return out


def _count_nodes(node: yaml.Node) -> int:
    """Number of distinct nodes written in the document (aliases not expanded)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for kv in n.value for x in kv)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return len(seen)


def _too_many_aliases(node: yaml.Node, limit: int | None = None) -> bool:
    """True if expanding the document's aliases would exceed ``limit`` nodes (billion-laughs guard).

    The default limit is 10,000 nodes plus ten times the nodes actually written, so a large file
    without aliases passes and an alias bomb (or a self-referencing alias) does not.
    """
    if limit is None:
        limit = 10_000 + 10 * _count_nodes(node)
    memo: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > 200:
            return limit + 1
        key = id(n)
        if key in memo:
            return memo[key]
        memo[key] = limit + 1  # a cycle counts as too big
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v, depth + 1) for v in n.value)
        else:
            total = 1
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(node, 0) > limit


def _find_node(node: yaml.Node | None, pred) -> tuple[tuple, int] | None:
    """(key path, line) of the first node (in document order) for which ``pred(node)`` holds, or None."""
    stack: deque[tuple[tuple, yaml.Node]] = deque([((), node)] if node is not None else [])
    seen: set[int] = set()
    while stack:
        key, n = stack.popleft()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if pred(n):
            return key, n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode) and len(key) < 50:
            stack.extend((key + (k.value if isinstance(k, yaml.ScalarNode) else "?",), v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode) and len(key) < 50:
            stack.extend((key + (i,), v) for i, v in enumerate(n.value))
    return None


# ---------------------------------------------------------------------------------------------
# Reading the file


def _check_regular_file(p: Path, name: str) -> None:
    """Refuse a missing path, a directory or a special file from its ``stat``, before any ``open()``."""
    try:
        mode = os.stat(p).st_mode  # follows symlinks: a link to a regular file is fine
    except FileNotFoundError:
        raise SpecError(name, None, None, "no such file") from None
    except (OSError, ValueError) as exc:  # permission denied on a folder, a name with a NUL byte...
        raise SpecError(name, None, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(mode):
        raise SpecError(name, None, None, "is a directory, expected a YAML file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise SpecError(name, None, None, f"is {kind}, expected a regular file (refused unread)")


def _read_text(p: Path, name: str) -> str:
    """The file's text: at most :data:`MAX_FILE_BYTES`, UTF-8."""
    try:
        with open(p, "rb") as fh:  # bounded read: a huge file, or a device such as /dev/zero, is refused
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(name, None, None, "no such file") from None
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(name, None, None, f"file is too large (over {MAX_FILE_BYTES // 2**20} MiB; "
                        "a spec or budgets file is a few kB): refused")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(name, line, None, f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                        "save the file as UTF-8") from None


def read_small_text(path: str | Path) -> str:
    """A small input file's text (a spec, budgets, measurements or baseline file): a regular file of at
    most :data:`MAX_FILE_BYTES`, UTF-8.  A FIFO or device is refused unread (it would block or never end).

    Raises:
        SpecError: ``PATH: no such file`` / ``is a directory`` / ``is a FIFO ...`` / ``file is too large`` /
            ``not UTF-8 text``.
    """
    name = str(path)
    if not name.strip():
        raise SpecError(None, None, None, "empty path; expected a file")
    p = Path(path)
    _check_regular_file(p, name)
    return _read_text(p, name)


# ---------------------------------------------------------------------------------------------
# Parsing, and PyYAML's errors as one line each


def _construct(node: yaml.Node | None, name: str) -> Any:
    """The data of a composed document, refusing an empty file and alias bombs."""
    if node is None:
        raise SpecError(name, 1, None, "file is empty")
    if _too_many_aliases(node):
        raise SpecError(name, None, None, "too many YAML aliases or a self-referencing alias (refused)")
    loader = yaml.SafeLoader("")  # construct from the composed node: no second parse
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _value_error(node: yaml.Node | None, name: str, exc: ValueError) -> SpecError:
    """An unreadable value, e.g. an integer with more than 4300 digits (named by its key when found)."""
    where = _find_node(node, lambda n: isinstance(n, yaml.ScalarNode) and n.tag.endswith(":int")
                       and len(n.value) > 4300)
    if where is not None:
        key, line = where
        return SpecError(name, line, ".".join(map(str, key)) or None, "number too long (more than 4300 digits)")
    return SpecError(name, None, None, f"unreadable value: {str(exc).splitlines()[0]}")


def _constructor_error(node: yaml.Node | None, name: str, exc: yaml.constructor.ConstructorError) -> SpecError:
    """A tag such as ``!!python/object``: refused, never run (named by its key when found)."""
    m = re.search(r"for the tag '([^']*)'", exc.problem or "")
    if m is None:
        return SpecError(name, exc.problem_mark.line + 1 if exc.problem_mark else None, None,
                         f"YAML error: {' '.join(str(exc.problem).split())}")
    where = _find_node(node, lambda n: n.tag == m.group(1))
    tag = m.group(1).replace("tag:yaml.org,2002:", "!!")
    return SpecError(name, where[1] if where else (exc.problem_mark.line + 1 if exc.problem_mark else None),
                     field_path(where[0]) or None if where else None,
                     f"YAML tag '{tag}' is refused: spec files hold plain values, nothing in them is run")


def _parse(text: str, name: str) -> tuple[yaml.Node, Any]:
    """(composed node, data) of ``text``; every PyYAML or Python error becomes a one-line SpecError."""
    node = None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # kept to locate a bad value's key below
        return node, _construct(node, name)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(name, None, None, "nested too deeply") from None
    except ValueError as exc:
        raise _value_error(node, name, exc) from None
    except yaml.constructor.ConstructorError as exc:
        raise _constructor_error(node, name, exc) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(", ".join(x for x in (exc.context, exc.problem) if x).split()) or "invalid YAML"
        raise SpecError(name, line, None, f"YAML syntax error: {what}") from None
    except yaml.reader.ReaderError as exc:  # a control character (NUL, BEL...) in the text
        line = text[: exc.position].count("\n") + 1
        raise SpecError(name, line, None, f"YAML error: unacceptable character #x{exc.character:04x} "
                        "(control characters are not allowed)") from None
    except yaml.YAMLError as exc:
        raise SpecError(name, None, None, f"YAML error: {' '.join(str(exc).split())}") from None


def load_yaml_with_lines(path: str | Path) -> tuple[Any, dict[tuple, int]]:
    """Read a YAML (or JSON) file safely; return ``(data, {key path: line})``.

    Raises:
        SpecError: the file is missing, a directory or another non-regular file (a FIFO, a device, a
            socket: checked before ``open()``, which would block on a FIFO), unreadable, larger than
            :data:`MAX_FILE_BYTES`, not UTF-8, empty, not valid YAML, or an alias bomb.
    """
    p = Path(path)
    name = str(path)
    if not name.strip():  # Path('') is '.', a directory: say what is really wrong
        raise SpecError(None, None, None, "empty path; expected a YAML file")
    _check_regular_file(p, name)
    text = _read_text(p, name)
    node, data = _parse(text, name)
    try:
        return data, _node_lines(node)
    except _DuplicateKey as dup:
        raise SpecError(name, dup.line, dup.field, "duplicate key (YAML keeps only the last one)") from None
