"""Command line: ``gpt4plan infer | train | compare | lifecycle | check | validate | calibrate | models | hardware``.

Parses options, calls the planners, hands results to :mod:`gpt4plan.report` (docs/design.md).  The Typer
app, :func:`main` and the exit codes are in :mod:`.app`; output streams and bad input in :mod:`.console`;
shared options in :mod:`.options`; one module per command.  This package only re-exports.
"""

from __future__ import annotations

from gpt4plan.cli.app import EXIT_WRITE_FAILED, app, main, run
from gpt4plan.cli.catalog import hardware_cmd, models_cmd
from gpt4plan.cli.check import CheckFormat, check
from gpt4plan.cli.compare import COMPARE_EPILOG, Objective, compare
from gpt4plan.cli.console import BadInput, err_console
from gpt4plan.cli.infer import INFER_EPILOG, infer
from gpt4plan.cli.infer_options import InferOptions
from gpt4plan.cli.lifecycle import LIFECYCLE_EPILOG, lifecycle
from gpt4plan.cli.options import Dtype, Emit, EngineName, Format, PlanFormat, Recompute, TrainPrecision
from gpt4plan.cli.sweep import SWEEP_PROGRESS_AFTER_S
from gpt4plan.cli.train import TRAIN_EPILOG, train
from gpt4plan.cli.train_options import TrainOptions
from gpt4plan.cli.validate import VALIDATE_EPILOG, calibrate, validate

__all__ = [
    "COMPARE_EPILOG", "EXIT_WRITE_FAILED", "INFER_EPILOG", "LIFECYCLE_EPILOG", "SWEEP_PROGRESS_AFTER_S", "TRAIN_EPILOG",
    "VALIDATE_EPILOG", "BadInput", "CheckFormat", "Dtype", "Emit", "EngineName", "Format", "InferOptions",
    "Objective", "PlanFormat", "Recompute", "TrainOptions", "TrainPrecision", "app", "calibrate", "check",
    "compare", "err_console", "hardware_cmd", "infer", "lifecycle", "main", "models_cmd", "run", "train", "validate",
]
