"""Presentation: Rich tables, JSON, CSV, Markdown and plots for planner results.  Computes no physics.

One module per command (:mod:`.infer`, :mod:`.train`, :mod:`.compare`, :mod:`.check`, :mod:`.validate`,
:mod:`.catalog`), shared formatting in :mod:`.common`, plots in :mod:`.plots` (docs/design.md).  This
package only re-exports their public names.
"""

from __future__ import annotations

from gpt4plan.report.catalog import hardware_json, print_hardware, print_models
from gpt4plan.report.check import (
    LIMIT_LABELS,
    check_failures,
    check_json,
    check_junit,
    check_markdown,
    check_rows,
    print_check,
)
from gpt4plan.report.common import bar, to_json
from gpt4plan.report.compare import (
    INFER_COMPARE_COLUMNS,
    SWEEP_HEADERS,
    TRAIN_COMPARE_COLUMNS,
    comparison_csv,
    comparison_headline,
    comparison_json,
    comparison_markdown,
    print_comparison,
)
from gpt4plan.report.infer import infer_csv, infer_json, infer_markdown, print_infer, targets_text
from gpt4plan.report.plots import frontier_series, plot_frontiers, plot_validation, require_matplotlib
from gpt4plan.report.train import print_train, train_csv, train_json, train_markdown
from gpt4plan.report.validate import METRIC_LABELS, print_validate

__all__ = [
    "INFER_COMPARE_COLUMNS", "LIMIT_LABELS", "METRIC_LABELS", "SWEEP_HEADERS", "TRAIN_COMPARE_COLUMNS", "bar",
    "check_failures", "check_json", "check_junit", "check_markdown", "check_rows", "comparison_csv",
    "comparison_headline", "comparison_json", "comparison_markdown", "frontier_series", "hardware_json",
    "infer_csv", "infer_json", "infer_markdown", "plot_frontiers", "plot_validation", "print_check",
    "print_comparison", "print_hardware", "print_infer", "print_models", "print_train", "print_validate",
    "require_matplotlib", "targets_text", "to_json", "train_csv", "train_json", "train_markdown",
]
