"""Launch arguments for serving engines (:mod:`.engines`) and training frameworks (:mod:`.megatron`)."""

from gpt4plan.emit.engines import ENGINES, checkpoint_of, engine_args
from gpt4plan.emit.megatron import megatron_args

__all__ = ["ENGINES", "checkpoint_of", "engine_args", "megatron_args"]
