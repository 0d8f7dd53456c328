"""The shipped data, read and validated once: a run on catalog names imports neither pydantic nor yaml
(a fast start, docs/design.md).

``gpt4plan/data/catalog_cache.json`` holds, for every shipped YAML file (``models/*.yaml``,
``hardware/*.yaml``, ``error_bands.yaml``), what reading it gives: a spec's ``model_dump()`` after the
schema validated it, the band table as ``yaml.safe_load`` parses it.  Each entry carries the size and
CRC-32 of the file it was made from; a file that no longer matches (an edited catalog) is read and
validated as before, so the cache can be stale but never wrong.

Rewrite it with ``python -m gpt4plan.specs.cache`` after changing a shipped file;
``tests/test_catalog_cache.py`` checks that it is fresh and that every entry equals what the YAML gives.
"""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["CACHE_FILE", "data_dir", "shipped", "build", "write"]

CACHE_FILE = "catalog_cache.json"
_FORMAT = 1


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """The folder of the shipped data (``gpt4plan/data``, next to the package's modules: what
    ``importlib.resources.files`` gives for an installed package, without importing it)."""
    return Path(__file__).parent.parent / "data"


@lru_cache(maxsize=1)
def _entries() -> dict[str, dict]:
    try:
        doc = json.loads((data_dir() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc.get("files", {}) if isinstance(doc, dict) and doc.get("format") == _FORMAT else {}


def _stamp(data: bytes) -> dict[str, int]:
    return {"size": len(data), "crc32": zlib.crc32(data)}


def shipped(key: str, path: Path) -> Any | None:
    """The cached reading of the shipped file ``key`` (``models/gpt-4.yaml``) when ``path`` still holds the
    bytes it was made from; ``None`` otherwise (no entry, a changed or unreadable file)."""
    entry = _entries().get(key)
    if entry is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if _stamp(data) != {"size": entry.get("size"), "crc32": entry.get("crc32")}:
        return None
    return entry.get("value")


def build() -> dict:
    """The cache document for the shipped files as they are now (validating each with the schemas)."""
    import yaml

    from gpt4plan.specs.validate import load_hardware, load_model

    root = data_dir()
    out: dict[str, dict] = {}
    for kind, load in (("models", load_model), ("hardware", load_hardware)):
        for path in sorted((root / kind).glob("*.yaml")):
            out[f"{kind}/{path.name}"] = {**_stamp(path.read_bytes()), "value": load(path).model_dump()}
    bands = root / "error_bands.yaml"
    if bands.is_file():
        out[bands.name] = {**_stamp(bands.read_bytes()), "value": yaml.safe_load(bands.read_text(encoding="utf-8"))}
    return {"format": _FORMAT, "files": out}


def write(path: Path | None = None) -> Path:
    """Write :func:`build`'s document (to the shipped cache file unless ``path`` is given)."""
    path = path or data_dir() / CACHE_FILE
    path.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")  # key order kept: peak_flops
    return path


if __name__ == "__main__":  # pragma: no cover - python -m gpt4plan.specs.cache
    print(f"wrote {write()}")
