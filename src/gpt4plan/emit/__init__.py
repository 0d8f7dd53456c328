"""Launch arguments for serving engines (:mod:`.engines`) and training frameworks (:mod:`.megatron`)."""

from gpt4plan.lazy import lazy_exports

__all__ = ["ENGINES", "checkpoint_of", "engine_args", "megatron_args"]

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'ENGINES': ('engines', 'ENGINES'),
    'checkpoint_of': ('engines', 'checkpoint_of'),
    'engine_args': ('engines', 'engine_args'),
    'megatron_args': ('megatron', 'megatron_args'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

