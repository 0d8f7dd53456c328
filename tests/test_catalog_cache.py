"""The validated catalog cache (gpt4plan.specs.cache) and its records (gpt4plan.specs.records): a fast start.

The shipped cache is fresh (equal to what ``python -m gpt4plan.specs.cache`` writes now), every record equals
the spec its YAML validates to, field by field and type by type, a changed catalog file is read from YAML
again, and a run on catalog names imports neither pydantic nor yaml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpt4plan.specs import cache
from gpt4plan.specs.catalog import catalog_dir, hardware_names, model_names, resolve_hardware, resolve_model
from gpt4plan.specs.records import HardwareRecord, ModelRecord, Record
from gpt4plan.specs.validate import load_hardware, load_model

CATALOG = [("models", n) for n in model_names()] + [("hardware", n) for n in hardware_names()]


def _same(a, b, where="") -> None:
    """Equal values of the same types all the way down (1 is not 1.0, a list is not a tuple)."""
    if isinstance(a, Record):
        a = a.__dict__
    if hasattr(type(b), "model_fields"):
        b = dict(b)
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"  # order: peak_flops' is printed
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def test_data_dir_is_the_packages_resource_folder():
    from importlib.resources import files

    assert cache.data_dir() == Path(str(files("gpt4plan") / "data"))


def test_shipped_cache_is_fresh():
    """Changed a catalog YAML?  Run ``python -m gpt4plan.specs.cache`` and commit the cache file."""
    shipped = json.loads((cache.data_dir() / cache.CACHE_FILE).read_text(encoding="utf-8"))
    assert shipped == cache.build(), "stale: run python -m gpt4plan.specs.cache"


@pytest.mark.parametrize(("kind", "name"), CATALOG, ids=[f"{k}/{n}" for k, n in CATALOG])
def test_every_record_equals_its_validated_yaml(kind, name):
    path = catalog_dir(kind) / f"{name}.yaml"
    spec = (load_model if kind == "models" else load_hardware)(path)
    rec = (resolve_model if kind == "models" else resolve_hardware)(name)
    assert isinstance(rec, ModelRecord if kind == "models" else HardwareRecord)
    _same(rec, spec, name)
    assert rec == spec and spec == rec
    assert rec.model_dump() == spec.model_dump()
    assert repr(rec) == repr(spec)
    if kind == "models":
        assert (rec.moe_layers, rec.dense_layers, rec.is_moe) == (spec.moe_layers, spec.dense_layers, spec.is_moe)
    else:
        for dtype in ("fp4", "fp8", "int8", "bf16", "fp16", "tf32", "fp32"):
            assert (rec.peak_dtype(dtype), rec.peak(dtype)) == (spec.peak_dtype(dtype), spec.peak(dtype))


def test_error_bands_entry_equals_the_yaml():
    path = cache.data_dir() / "error_bands.yaml"
    _same(cache.shipped(path.name, path), yaml.safe_load(path.read_text(encoding="utf-8")), "error_bands")


def test_record_copy_and_frozen_as_pydantic():
    h = resolve_hardware("h100-sxm")
    spec = load_hardware(catalog_dir("hardware") / "h100-sxm.yaml")
    cheap = h.with_price(1)
    assert isinstance(cheap, HardwareRecord) and cheap.price == 1.0 and h.price == spec.price
    assert cheap == spec.with_price(1)
    eff = h.efficiency.model_copy(update={"compute": 0.5})
    assert eff.compute == 0.5 and h.efficiency.compute == spec.efficiency.compute
    assert h.model_copy(update={"efficiency": eff}).model_dump() == \
        spec.model_copy(update={"efficiency": spec.efficiency.model_copy(update={"compute": 0.5})}).model_dump()
    with pytest.raises(Exception) as rec_err:
        h.price = 2.0
    with pytest.raises(Exception) as spec_err:
        spec.price = 2.0
    assert type(rec_err.value) is type(spec_err.value) and str(rec_err.value) == str(spec_err.value)
    assert dict(h) == dict(spec)


def test_a_changed_catalog_file_is_read_from_yaml(tmp_path, monkeypatch):
    """A cache entry whose file no longer matches is not used: the file is validated again."""
    root = tmp_path / "data"
    (root / "models").mkdir(parents=True)
    src = catalog_dir("models") / "llama-3.1-8b.yaml"
    text = src.read_text(encoding="utf-8")
    (root / "models" / "llama-3.1-8b.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(cache, "data_dir", lambda: root)
    cache.write()
    cache._entries.cache_clear()
    resolve_model.cache_clear()
    try:
        assert isinstance(resolve_model("llama-3.1-8b"), ModelRecord)
        (root / "models" / "llama-3.1-8b.yaml").write_text(text.replace("layers: 32", "layers: 31"), encoding="utf-8")
        resolve_model.cache_clear()
        m = resolve_model("llama-3.1-8b")
        assert not isinstance(m, Record) and m.layers == 31
    finally:
        monkeypatch.undo()
        cache._entries.cache_clear()
        resolve_model.cache_clear()


def test_a_catalog_run_imports_neither_pydantic_nor_yaml():
    code = ("import sys, io\nfrom gpt4plan.cli import main\nsys.stdout = io.StringIO()\n"
            "rc = main(['infer', '-m', 'llama-3.1-70b', '-H', 'h100-sxm', '--tpot', '50ms'])\n"
            "rc2 = main(['train', '--chips', '2048', '--price-per-hour', '1', '--global-batch', '60M'])\n"
            "sys.stdout = sys.__stdout__\n"
            "print(rc, rc2, sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'yaml', 'pint'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "0", "[]"], out
