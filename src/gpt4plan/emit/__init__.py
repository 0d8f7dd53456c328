"""Launch arguments for serving engines (:mod:`.engines`) and training frameworks (:mod:`.megatron`)."""


__all__ = ["ENGINES", "checkpoint_of", "engine_args", "megatron_args"]

# Names are imported on first use (PEP 562), so that importing one module of this package (or the
# package for one name) does not import every module's dependencies: a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'ENGINES': ('engines', 'ENGINES'),
    'checkpoint_of': ('engines', 'checkpoint_of'),
    'engine_args': ('engines', 'engine_args'),
    'megatron_args': ('megatron', 'megatron_args'),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

