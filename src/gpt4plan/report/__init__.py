"""Presentation: Rich tables, JSON, CSV, Markdown and plots for planner results.  Computes no physics.

One module per command (:mod:`.infer`, :mod:`.train`, :mod:`.compare`, :mod:`.check`, :mod:`.validate`,
:mod:`.catalog`, :mod:`.lifecycle`; :mod:`.demand` for ``infer --demand-profile``), shared formatting in :mod:`.common`, plots in :mod:`.plots` (docs/design.md).  This
package only re-exports their public names.
"""

from __future__ import annotations

from gpt4plan.lazy import lazy_exports

__all__ = [
    "INFER_COMPARE_COLUMNS", "LIMIT_LABELS", "METRIC_LABELS", "SWEEP_HEADERS", "TRAIN_COMPARE_COLUMNS", "bar", "data_text", "loading_text", "demand_json", "demand_series", "plot_demand_profile", "print_demand",
    "check_failures", "check_json", "check_junit", "check_markdown", "check_rows", "comparison_csv",
    "comparison_headline", "comparison_json", "comparison_markdown", "frontier_series", "hardware_json",
    "infer_csv", "infer_json", "infer_markdown", "infer_message", "lifecycle_csv", "lifecycle_json",
    "plot_lifecycle", "print_lifecycle", "performance_model_line", "plot_frontiers", "plot_validation", "print_check",
    "print_comparison", "print_coverage", "print_hardware", "print_infer", "print_models", "print_train", "print_validate",
    "require_matplotlib", "targets_text", "to_json", "train_csv", "train_json", "train_markdown",
    "train_message", "train_warnings",
]

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'INFER_COMPARE_COLUMNS': ('compare', 'INFER_COMPARE_COLUMNS'),
    'LIMIT_LABELS': ('check', 'LIMIT_LABELS'),
    'METRIC_LABELS': ('validate', 'METRIC_LABELS'),
    'SWEEP_HEADERS': ('compare', 'SWEEP_HEADERS'),
    'TRAIN_COMPARE_COLUMNS': ('compare', 'TRAIN_COMPARE_COLUMNS'),
    'bar': ('common', 'bar'),
    'check_failures': ('check', 'check_failures'),
    'data_text': ('train', 'data_text'),
    'loading_text': ('train', 'loading_text'),
    'demand_json': ('demand', 'demand_json'),
    'demand_series': ('demand', 'demand_series'),
    'plot_demand_profile': ('plots', 'plot_demand_profile'),
    'print_demand': ('demand', 'print_demand'),
    'check_json': ('check', 'check_json'),
    'check_junit': ('check', 'check_junit'),
    'check_markdown': ('check', 'check_markdown'),
    'check_rows': ('check', 'check_rows'),
    'comparison_csv': ('compare', 'comparison_csv'),
    'comparison_headline': ('compare', 'comparison_headline'),
    'comparison_json': ('compare', 'comparison_json'),
    'comparison_markdown': ('compare', 'comparison_markdown'),
    'frontier_series': ('plots', 'frontier_series'),
    'hardware_json': ('catalog', 'hardware_json'),
    'infer_csv': ('infer', 'infer_csv'),
    'infer_json': ('infer', 'infer_json'),
    'infer_markdown': ('infer', 'infer_markdown'),
    'infer_message': ('infer', 'infer_message'),
    'lifecycle_csv': ('lifecycle', 'lifecycle_csv'),
    'lifecycle_json': ('lifecycle', 'lifecycle_json'),
    'performance_model_line': ('common', 'performance_model_line'),
    'plot_lifecycle': ('lifecycle', 'plot_lifecycle'),
    'plot_frontiers': ('plots', 'plot_frontiers'),
    'plot_validation': ('plots', 'plot_validation'),
    'print_check': ('check', 'print_check'),
    'print_comparison': ('compare', 'print_comparison'),
    'print_coverage': ('validate', 'print_coverage'),
    'print_hardware': ('catalog', 'print_hardware'),
    'print_infer': ('infer', 'print_infer'),
    'print_lifecycle': ('lifecycle', 'print_lifecycle'),
    'print_models': ('catalog', 'print_models'),
    'print_train': ('train', 'print_train'),
    'print_validate': ('validate', 'print_validate'),
    'require_matplotlib': ('plots', 'require_matplotlib'),
    'targets_text': ('infer', 'targets_text'),
    'to_json': ('common', 'to_json'),
    'train_csv': ('train', 'train_csv'),
    'train_json': ('train', 'train_json'),
    'train_markdown': ('train', 'train_markdown'),
    'train_message': ('train', 'train_message'),
    'train_warnings': ('train', 'train_warnings'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

