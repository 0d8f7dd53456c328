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

from gpt4plan.specs.errors import ResultNotWritten, SpecError, plain_message, write_atomically, write_error
from gpt4plan.specs.fields import DTYPE_BYTES, DTYPES

# Importable from here as before, outside __all__ (gpt4plan.accuracy.replay uses some of them).
from gpt4plan.specs.fields import Bytes as Bytes
from gpt4plan.specs.fields import BytesPerS as BytesPerS
from gpt4plan.specs.fields import FlopsPerS as FlopsPerS
from gpt4plan.specs.fields import Fraction as Fraction
from gpt4plan.specs.fields import NonNegInt as NonNegInt
from gpt4plan.specs.fields import PeakDtype as PeakDtype
from gpt4plan.specs.fields import PosInt as PosInt
from gpt4plan.specs.fields import Seconds as Seconds
from gpt4plan.specs.fields import UsdPerHour as UsdPerHour
from gpt4plan.specs.hardware import Efficiency, HardwareSpec, ScaleOut, ScaleUp
from gpt4plan.specs.hf import HF_MODEL_TYPES, hf_config_to_model
from gpt4plan.specs.loader import MAX_FILE_BYTES, load_yaml_with_lines
from gpt4plan.specs.model import MLASpec, ModelSpec, MoESpec
from gpt4plan.specs.validate import hardware_from_mapping, load_hardware, load_model, model_from_mapping
from gpt4plan.specs.validate import validate_mapping as validate_mapping

__all__ = [
    "SpecError",
    "MoESpec",
    "MLASpec",
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

