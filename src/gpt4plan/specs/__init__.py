"""Model and hardware specs: pydantic v2 schemas and YAML / Hugging Face ``config.json`` loading.

Field names follow docs/design.md (a contract: users' files depend on them).  Quantities are parsed
with pint at this boundary (:mod:`gpt4plan.specs.units`) and stored as SI floats: bytes, bytes/s,
FLOP/s, seconds; prices in USD per hour.

Every loading error is a :class:`SpecError` whose ``str()`` is one line,
``file:line: field: what is wrong``, which the CLI prints before exiting with code 2.
YAML is read with ``yaml.SafeLoader`` only (no tags execute).

Modules, each of one role (this ``__init__`` only re-exports):

* :mod:`~gpt4plan.specs.errors` -- SpecError, ResultNotWritten, and the wording of errors (did-you-mean,
  field paths, pydantic errors as one line);
* :mod:`~gpt4plan.specs.loader` -- safe YAML reading with the line of every key;
* :mod:`~gpt4plan.specs.fields` -- field types, dtypes and their bytes;
* :mod:`~gpt4plan.specs.model`, :mod:`~gpt4plan.specs.hardware` -- the schemas;
* :mod:`~gpt4plan.specs.hf` -- Hugging Face ``config.json`` mapping;
* :mod:`~gpt4plan.specs.validate` -- file or mapping -> validated spec;
* :mod:`~gpt4plan.specs.units` -- quantities with units; :mod:`~gpt4plan.specs.catalog` -- shipped specs.
"""

from __future__ import annotations

from gpt4plan.lazy import lazy_exports

# Importable from here as before, outside __all__ (gpt4plan.accuracy.replay uses some of them).

__all__ = [
    "SpecError",
    "MoESpec",
    "MLASpec",
    "VisionSpec",
    "ModelSpec",
    "HardwareSpec",
    "ScaleUp",
    "ScaleOut",
    "Efficiency",
    "DTYPES",
    "DTYPE_BYTES",
    "load_yaml_with_lines",
    "load_model",
    "load_hardware",
    "model_from_mapping",
    "hardware_from_mapping",
    "hf_config_to_model",
    "HF_MODEL_TYPES",
    "plain_message",
    "MAX_FILE_BYTES",
    "ResultNotWritten",
    "write_error",
    "write_atomically",
]

# Names are imported on first use (gpt4plan.lazy): a fast start (docs/design.md).
_LAZY: dict[str, tuple[str, str]] = {
    'Bytes': ('fields', 'Bytes'),
    'BytesPerS': ('fields', 'BytesPerS'),
    'DTYPES': ('vocabulary', 'DTYPES'),
    'DTYPE_BYTES': ('vocabulary', 'DTYPE_BYTES'),
    'Efficiency': ('hardware', 'Efficiency'),
    'FlopsPerS': ('fields', 'FlopsPerS'),
    'Fraction': ('fields', 'Fraction'),
    'HF_MODEL_TYPES': ('hf', 'HF_MODEL_TYPES'),
    'HardwareSpec': ('hardware', 'HardwareSpec'),
    'MAX_FILE_BYTES': ('loader', 'MAX_FILE_BYTES'),
    'MLASpec': ('model', 'MLASpec'),
    'VisionSpec': ('model', 'VisionSpec'),
    'MoESpec': ('model', 'MoESpec'),
    'ModelSpec': ('model', 'ModelSpec'),
    'NonNegInt': ('fields', 'NonNegInt'),
    'PeakDtype': ('fields', 'PeakDtype'),
    'PosInt': ('fields', 'PosInt'),
    'ResultNotWritten': ('errors', 'ResultNotWritten'),
    'ScaleOut': ('hardware', 'ScaleOut'),
    'ScaleUp': ('hardware', 'ScaleUp'),
    'Seconds': ('fields', 'Seconds'),
    'SpecError': ('errors', 'SpecError'),
    'UsdPerHour': ('fields', 'UsdPerHour'),
    'hardware_from_mapping': ('validate', 'hardware_from_mapping'),
    'hf_config_to_model': ('hf', 'hf_config_to_model'),
    'load_hardware': ('validate', 'load_hardware'),
    'load_model': ('validate', 'load_model'),
    'load_yaml_with_lines': ('loader', 'load_yaml_with_lines'),
    'model_from_mapping': ('validate', 'model_from_mapping'),
    'plain_message': ('errors', 'plain_message'),
    'validate_mapping': ('validate', 'validate_mapping'),
    'write_atomically': ('errors', 'write_atomically'),
    'write_error': ('errors', 'write_error'),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

