"""Model and hardware specs: pydantic v2 schemas and YAML / Hugging Face ``config.json`` loading.

Field names follow DESIGN.md §2a (a contract: users' files depend on them).  Quantities are parsed
with pint at this boundary (`gpt4plan.specs.units`) and stored as SI floats: bytes, bytes/s, FLOP/s,
seconds; prices in USD per hour.

Every loading error is a :class:`SpecError` whose ``str()`` is one line,
``file:line: field: what is wrong``, which the CLI prints before exiting with code 2.
YAML is read with ``yaml.SafeLoader`` only (no tags execute).
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import stat
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gpt4plan.specs.units import UnitError, parse_count, parse_quantity

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
]

#: Bytes stored per element of each precision gpt4plan knows (weights, KV cache, compute).
#:
#: * ``fp4`` is NVFP4 (NVIDIA Blackwell): 4-bit E2M1 values in blocks of 16, each block with one FP8
#:   (E4M3) scale, so ``(16 * 4 + 8) / 16 = 4.5`` bits = 0.5625 bytes per value (the per-tensor FP32
#:   scale is negligible).  Llama-3-8B's KV cache in NVFP4: ``32 * 8 * 128 * 2 * 0.5625 = 36,864`` B/token.
#: * ``int4`` is the bare 4-bit payload, 0.5 bytes: group-wise weight quantisation (GPTQ/AWQ) adds its
#:   scales and zero points on top (one FP16 scale per group of 128 is +0.0156 B/value, about 3%),
#:   but the group size (32 to 128) and the scale format vary by recipe, so they are not counted.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": (16 * 4 + 8) / 16 / 8,  # NVFP4: 16 E2M1 values share one FP8 scale -> 0.5625 B
    "int4": 0.5,
}
DTYPES = tuple(DTYPE_BYTES)
PeakDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]

# Largest value any size-like field may take: catches typos like d_model: 81920000 before numpy does.
_MAX_DIM = 10_000_000
#: Largest spec, HF config or budgets file read (bytes): real ones are a few kB, the measurements
#: file ~100 kB; PyYAML takes seconds per MB (a minute on a 10 MB file).
MAX_FILE_BYTES = 2**20


class SpecError(ValueError):
    """A spec file or value is invalid.  ``str(err)`` is ``file:line: field: message``."""

    def __init__(self, file: str | None, line: int | None, field: str | None, message: str):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}:{line}" if line else (file or "<input>")
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ResultNotWritten(OSError):
    """A result file could not be written for a reason that is not the user's input (full disk, I/O error,
    quota): the CLI prints ``err.strerror`` (``PATH: cannot write (OPTION): reason``) as one line, exit 3."""


#: errno values that mean "the result could not be written", not "bad path": exit 3 rather than 2.
_WRITE_FAILED_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})


def write_error(path: str | Path, option: str, exc: OSError) -> Exception:
    """The error to raise when writing ``path`` (given by ``option``) failed with ``exc``.

    A full disk or an I/O error is :class:`ResultNotWritten` (exit 3); a folder, a missing directory or a
    permission is :class:`SpecError` naming the path (bad input, exit 2).  Both read
    ``PATH: cannot write (OPTION): reason``.
    """
    reason = exc.strerror or str(exc)
    if exc.errno in _WRITE_FAILED_ERRNOS:
        return ResultNotWritten(exc.errno, f"{path}: cannot write ({option}): {reason}")
    return SpecError(str(path), None, None, f"cannot write ({option}): {reason}")


# ---------------------------------------------------------------------------------------------
# Field types


def _quantity(dimension: str):
    return BeforeValidator(lambda v: parse_quantity(v, dimension))


def _count_int(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(v, (bytes, bytearray)):  # YAML !!binary: pydantic would read b"4" as 4
        raise ValueError("expected an integer, got binary data")
    if isinstance(v, (str, float)):
        try:
            x = parse_count(v)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if x != int(x):
            raise ValueError(f"expected a whole number, got {v!r}")
        return int(x)
    return v


def _fraction(v: Any) -> Any:
    if isinstance(v, (bool, bytes, bytearray)):
        raise ValueError(f"expected a fraction such as 0.8, got {type(v).__name__}")
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(f"cannot read {v!r} as a fraction (0.8 or 80%)") from None
    return v


PosInt = Annotated[int, BeforeValidator(_count_int), Field(gt=0, le=_MAX_DIM)]
NonNegInt = Annotated[int, BeforeValidator(_count_int), Field(ge=0, le=_MAX_DIM)]
Bytes = Annotated[float, _quantity("bytes"), Field(ge=1e6, le=1e18)]
BytesPerS = Annotated[float, _quantity("bytes_per_s"), Field(ge=1e6, le=1e16)]
FlopsPerS = Annotated[float, _quantity("flops_per_s"), Field(ge=1e6, le=1e19)]
Seconds = Annotated[float, _quantity("seconds"), Field(ge=0, le=10.0)]
UsdPerHour = Annotated[float, _quantity("usd_per_hour"), Field(gt=0, le=1e4)]
Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0.001, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# ---------------------------------------------------------------------------------------------
# Model spec


class MoESpec(_Strict):
    """Mixture-of-experts block (DESIGN.md §2a).  Widths in elements, counts dimensionless."""

    experts: PosInt
    top_k: PosInt
    expert_ffn: PosInt
    shared_experts: NonNegInt = 0
    shared_expert_ffn: NonNegInt = 0
    first_dense_layers: NonNegInt = 0
    every: PosInt = 1
    router_bias: bool = False
    #: Qwen2-MoE: a ``d_model x 1`` sigmoid gate scales the shared experts' output (d parameters per layer)
    shared_expert_gate: bool = False

    @model_validator(mode="after")
    def _check(self) -> MoESpec:
        if self.top_k > self.experts:
            raise ValueError(f"top_k: {self.top_k} exceeds experts ({self.experts})")
        if self.shared_experts and not self.shared_expert_ffn:
            raise ValueError("shared_expert_ffn: shared_experts > 0 needs the width of one shared expert")
        return self


class MLASpec(_Strict):
    """DeepSeek multi-head latent attention (DeepSeek-V2 paper, arXiv 2405.04434, §2.1)."""

    q_lora_rank: NonNegInt = 0  # 0 = no query compression (DeepSeek-V2-Lite)
    kv_lora_rank: PosInt
    qk_rope_head_dim: PosInt
    qk_nope_head_dim: PosInt
    v_head_dim: PosInt


class ModelSpec(_Strict):
    """A decoder-only transformer, dense or MoE (DESIGN.md §2a field names).

    ``head_dim`` defaults to ``d_model / heads``; heads that do not divide ``d_model`` are then an
    error (give ``head_dim``).  Given explicitly, ``heads * head_dim`` may differ from ``d_model``
    (Gemma 7B: 16 x 256 vs 3072; Mistral Nemo: 32 x 128 vs 5120): the projections are
    ``d_model x heads*head_dim``, so it is not an error.  With MLA the attention widths come from ``mla``.

    Normalisation (parameter counts, elements): ``norm`` is the kind of every norm in the model,
    ``rmsnorm`` (a scale vector, Zhang & Sennrich 2019; Llama, Qwen, Gemma), ``layernorm_bias`` (scale and
    bias, Ba et al. 2016; GPT-2/3, GPT-NeoX, Falcon) or ``layernorm_no_bias`` (scale only).  Omitted, it
    is ``layernorm_bias`` when ``linear_bias`` is set, else ``rmsnorm``.  ``norms_per_layer`` d_model-sized
    norms sit in each layer: 2 pre-norms (attention, FFN), 4 with Gemma-2/3's post-norms, 1 with
    Falcon-7B's shared input norm; one more closes the stack.  ``qk_norm`` adds a head_dim-sized norm on
    the queries and one on the keys per layer (Qwen3, Gemma-3).  ``attention_sinks``: one learned
    logit per head per layer (gpt-oss).
    """

    name: str = Field(min_length=1)
    layers: PosInt
    d_model: PosInt
    heads: PosInt
    kv_heads: PosInt | None = None
    head_dim: PosInt | None = None
    ffn: PosInt | None = None
    ffn_gated: bool = True
    vocab: PosInt
    tied_embeddings: bool = False
    max_context: PosInt = 4096
    sliding_window: PosInt | None = None
    sliding_window_layers: NonNegInt | None = None  # how many layers use the window (default: all)
    qkv_bias: bool = False
    linear_bias: bool = False
    norm: Literal["rmsnorm", "layernorm_bias", "layernorm_no_bias"] | None = None
    norms_per_layer: Annotated[int, BeforeValidator(_count_int), Field(ge=1, le=8)] = 2
    qk_norm: bool = False
    attention_sinks: bool = False
    moe: MoESpec | None = None
    mla: MLASpec | None = None
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            if data.get("norm") is None:  # the historical default: LayerNorm with bias iff linear biases
                data["norm"] = "layernorm_bias" if data.get("linear_bias") is True else "rmsnorm"
            if data.get("kv_heads") is None and "heads" in data:
                data["kv_heads"] = data["heads"]
            if data.get("head_dim") is None and "heads" in data and "d_model" in data:
                try:
                    h, d = _count_int(data["heads"]), _count_int(data["d_model"])
                    if isinstance(h, int) and isinstance(d, int) and h > 0 and d % h == 0:
                        data["head_dim"] = d // h
                except ValueError:
                    pass
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.head_dim is None:
            raise ValueError(
                f"head_dim: d_model ({self.d_model}) is not divisible by heads ({self.heads}); give head_dim"
            )
        if self.kv_heads > self.heads:
            raise ValueError(f"kv_heads: {self.kv_heads} exceeds heads ({self.heads})")
        if self.mla is None and self.heads % self.kv_heads:
            raise ValueError(f"kv_heads: heads ({self.heads}) is not divisible by kv_heads ({self.kv_heads})")
        if self.dense_layers > 0 and self.ffn is None:
            raise ValueError("ffn: required, the model has dense FFN layers")
        if self.moe and self.moe.first_dense_layers > self.layers:
            raise ValueError("moe.first_dense_layers: exceeds layers")
        if self.sliding_window_layers is not None and self.sliding_window_layers > self.layers:
            raise ValueError(f"sliding_window_layers: {self.sliding_window_layers} exceeds layers ({self.layers})")
        return self

    # Layer counts -------------------------------------------------------------------------
    @property
    def moe_layers(self) -> int:
        """Number of MoE layers: after ``first_dense_layers``, every ``every``-th layer."""
        if self.moe is None:
            return 0
        rest = self.layers - self.moe.first_dense_layers
        return rest // self.moe.every

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def is_moe(self) -> bool:
        return self.moe is not None


# ---------------------------------------------------------------------------------------------
# Hardware spec


class ScaleUp(_Strict):
    """Scale-up domain (NVLink/NVSwitch, ICI, xGMI): chips, per-chip per-direction bandwidth, latency."""

    domain: PosInt
    bandwidth: BytesPerS
    latency: Seconds = 3e-6


class ScaleOut(_Strict):
    """Scale-out network (InfiniBand/RoCE/DCN): per-chip per-direction bandwidth and latency."""

    bandwidth: BytesPerS
    latency: Seconds = 10e-6


class Efficiency(_Strict):
    """Achievable fractions of peak compute, memory bandwidth and link bandwidth (calibrated)."""

    compute: Fraction = 0.7
    memory: Fraction = 0.85
    network: Fraction = 0.8


class HardwareSpec(_Strict):
    """One accelerator (DESIGN.md §2a).  SI floats: bytes, bytes/s, FLOP/s (dense), s; USD per hour."""

    name: str = Field(min_length=1)
    description: str | None = None
    memory: Bytes
    memory_bandwidth: BytesPerS
    peak_flops: dict[PeakDtype, FlopsPerS]
    scale_up: ScaleUp
    scale_out: ScaleOut
    price: UsdPerHour
    price_date: str | None = None
    efficiency: Efficiency = Efficiency()
    usable_memory: Fraction = 0.9
    source: str | None = None

    @model_validator(mode="after")
    def _check(self) -> HardwareSpec:
        if not self.peak_flops:
            raise ValueError("peak_flops: give at least one dtype (e.g. bf16: 989.4 TFLOP/s)")
        return self

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for a compute ``dtype``, falling back to the nearest wider type the chip has.

        fp16 falls back to bf16 (and back), fp8 and int8 to the 16-bit rate (never to each other: a chip
        without FP8 units runs FP8 models in 16-bit), fp4 to fp8, tf32 to fp32.
        A chip that lists none of those falls back to its slowest listed rate.
        """
        return self.peak_flops[self.peak_dtype(dtype)]  # type: ignore[index]

    def peak_dtype(self, dtype: str) -> str:
        """The compute dtype :meth:`peak` actually uses for ``dtype`` on this chip (see there)."""
        chain = {
            "fp4": ["fp4", "fp8", "bf16", "fp16"],
            "fp8": ["fp8", "bf16", "fp16"],
            "int8": ["int8", "bf16", "fp16"],
            "bf16": ["bf16", "fp16"],
            "fp16": ["fp16", "bf16"],
            "tf32": ["tf32", "fp32"],
            "fp32": ["fp32", "tf32", "bf16"],
        }[dtype]
        for d in chain:
            if d in self.peak_flops:
                return d
        # no rate of this width: the slowest listed rate is the safe (pessimistic) assumption
        return min(self.peak_flops, key=self.peak_flops.get)  # type: ignore[arg-type]

    def with_price(self, usd_per_hour: float) -> HardwareSpec:
        return self.model_copy(update={"price": float(usd_per_hour)})


# ---------------------------------------------------------------------------------------------
# Loading with line numbers


class _DuplicateKey(Exception):
    def __init__(self, field: str, line: int):
        self.field, self.line = field, line


def _node_lines(node: yaml.Node, prefix: tuple = (), out: dict | None = None,
                seen: set | None = None) -> dict[tuple, int]:
    """Map every key path in a composed YAML node to its 1-based line number.

    Each node is walked once: an alias (``*a``) is not expanded again, so alias bombs
    ("billion laughs") and self-references cost linear time.
    """
    out = {} if out is None else out
    seen = set() if seen is None else seen
    out.setdefault(prefix, node.start_mark.line + 1)
    if id(node) in seen or len(prefix) > 50:
        return out
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            if key in keys and key != "<<":
                raise _DuplicateKey(_field_path(prefix + (key,)), k.start_mark.line + 1)
            keys.add(key)
            out[prefix + (key,)] = k.start_mark.line + 1
            _node_lines(v, prefix + (key,), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _node_lines(v, prefix + (i,), out, seen)
    return out


def _too_many_aliases(node: yaml.Node, limit: int | None = None) -> bool:
    """True if expanding the document's aliases would exceed ``limit`` nodes (billion-laughs guard).

    The default limit is 10,000 nodes plus ten times the nodes actually written, so a large file
    without aliases passes and an alias bomb (or a self-referencing alias) does not.
    """
    if limit is None:
        seen: set[int] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if isinstance(n, yaml.MappingNode):
                stack.extend(x for kv in n.value for x in kv)
            elif isinstance(n, yaml.SequenceNode):
                stack.extend(n.value)
        limit = 10_000 + 10 * len(seen)
    memo: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > 200:
            return limit + 1
        key = id(n)
        if key in memo:
            return memo[key]
        memo[key] = limit + 1  # a cycle counts as too big
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v, depth + 1) for v in n.value)
        else:
            total = 1
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(node, 0) > limit


def _find_node(node: yaml.Node | None, pred) -> tuple[tuple, int] | None:
    """(key path, line) of the first node (in document order) for which ``pred(node)`` holds, or None."""
    stack: deque[tuple[tuple, yaml.Node]] = deque([((), node)] if node is not None else [])
    seen: set[int] = set()
    while stack:
        key, n = stack.popleft()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if pred(n):
            return key, n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode) and len(key) < 50:
            stack.extend((key + (k.value if isinstance(k, yaml.ScalarNode) else "?",), v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode) and len(key) < 50:
            stack.extend((key + (i,), v) for i, v in enumerate(n.value))
    return None


def load_yaml_with_lines(path: str | Path) -> tuple[Any, dict[tuple, int]]:
    """Read a YAML (or JSON) file safely; return ``(data, {key path: line})``.

    Raises:
        SpecError: the file is missing, a directory or another non-regular file (a FIFO, a device, a
            socket: checked before ``open()``, which would block on a FIFO), unreadable, larger than
            :data:`MAX_FILE_BYTES`, not UTF-8, empty, not valid YAML, or an alias bomb.
    """
    p = Path(path)
    name = str(path)
    if not name.strip():  # Path('') is '.', a directory: say what is really wrong
        raise SpecError(None, None, None, "empty path; expected a YAML file")
    try:
        mode = os.stat(p).st_mode  # follows symlinks: a link to a regular file is fine
    except FileNotFoundError:
        raise SpecError(name, None, None, "no such file") from None
    except (OSError, ValueError) as exc:  # permission denied on a folder, a name with a NUL byte...
        raise SpecError(name, None, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(mode):
        raise SpecError(name, None, None, "is a directory, expected a YAML file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise SpecError(name, None, None, f"is {kind}, expected a regular file (refused unread)")
    try:
        with open(p, "rb") as fh:  # bounded read: a huge file, or a device such as /dev/zero, is refused
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(name, None, None, "no such file") from None
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(name, None, None, f"file is too large (over {MAX_FILE_BYTES // 2**20} MiB; "
                        "a spec or budgets file is a few kB): refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(name, line, None, f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                        "save the file as UTF-8") from None
    node = None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise SpecError(name, 1, None, "file is empty")
        if _too_many_aliases(node):
            raise SpecError(name, None, None, "too many YAML aliases or a self-referencing alias (refused)")
        loader = yaml.SafeLoader("")  # construct from the composed node: no second parse
        try:
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(name, None, None, "nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        where = _find_node(node, lambda n: isinstance(n, yaml.ScalarNode) and n.tag.endswith(":int")
                           and len(n.value) > 4300)
        if where is not None:
            key, line = where
            raise SpecError(name, line, ".".join(map(str, key)) or None,
                            "number too long (more than 4300 digits)") from None
        raise SpecError(name, None, None, f"unreadable value: {str(exc).splitlines()[0]}") from None
    except yaml.constructor.ConstructorError as exc:  # a tag such as !!python/object: refused, never run
        m = re.search(r"for the tag '([^']*)'", exc.problem or "")
        if m is None:
            raise SpecError(name, exc.problem_mark.line + 1 if exc.problem_mark else None, None,
                            f"YAML error: {' '.join(str(exc.problem).split())}") from None
        where = _find_node(node, lambda n: n.tag == m.group(1))
        tag = m.group(1).replace("tag:yaml.org,2002:", "!!")
        raise SpecError(name, where[1] if where else (exc.problem_mark.line + 1 if exc.problem_mark else None),
                        _field_path(where[0]) or None if where else None,
                        f"YAML tag '{tag}' is refused: spec files hold plain values, nothing in them is run") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(", ".join(x for x in (exc.context, exc.problem) if x).split()) or "invalid YAML"
        raise SpecError(name, line, None, f"YAML syntax error: {what}") from None
    except yaml.reader.ReaderError as exc:  # a control character (NUL, BEL...) in the text
        line = text[: exc.position].count("\n") + 1
        raise SpecError(name, line, None, f"YAML error: unacceptable character #x{exc.character:04x} "
                        "(control characters are not allowed)") from None
    except yaml.YAMLError as exc:
        raise SpecError(name, None, None, f"YAML error: {' '.join(str(exc).split())}") from None
    try:
        return data, _node_lines(node)
    except _DuplicateKey as dup:
        raise SpecError(name, dup.line, dup.field, "duplicate key (YAML keeps only the last one)") from None


def _field_path(keys: tuple) -> str:
    """('measurements', 0, 'source') -> 'measurements[0].source' (list indices in brackets)."""
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _suggest(word: str, choices) -> str:
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def plain_message(err: Mapping[str, Any]) -> str | None:
    """A plain-language message for a pydantic error of a common type (wrong type, empty, not one of),
    or None to keep pydantic's own."""
    kind, got = err.get("type", ""), _short(err.get("input"))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of field: value, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        return f"got {got}; expected one of {', '.join(choices) or expected}{_suggest(err.get('input'), choices)}"
    return None


def _validation_to_spec_error(
    exc: ValidationError, file: str, lines: dict[tuple, int], schema: type[BaseModel]
) -> SpecError:
    errors = exc.errors()
    # an unknown field is usually a misspelt one: report it (with its suggestion) before "missing"
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and (x.startswith("function-") or x == "[key]")))
    # pydantic puts tagged-union/function names in loc; keep real keys only
    field = ".".join(str(x) for x in loc) or None
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        # cross-field checks say which field they are about: "kv_heads: heads (64) is not ..."
        head, sep, rest = msg.partition(": ")
        if sep and head.replace(".", "").replace("_", "").isalnum() and " " not in head:
            loc = loc + tuple(head.split("."))
            field = ".".join(str(x) for x in loc)
            msg = rest
    line = None
    for n in range(len(loc), -1, -1):
        key = loc[:n] if loc[:n] in lines else tuple(str(x) for x in loc[:n])  # a YAML key 1 is '1' in lines
        if key in lines:
            line = lines[key]
            break
    if err["type"] == "extra_forbidden" and loc:
        parent = schema
        for part in loc[:-1]:
            ann = getattr(parent, "model_fields", {}).get(part)
            sub = getattr(ann, "annotation", None) if ann else None
            sub = next((a for a in getattr(sub, "__args__", (sub,)) if isinstance(a, type)), sub)
            parent = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else parent
        known = getattr(parent, "model_fields", {})
        msg = f"unknown field{_suggest(loc[-1], known)}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "invalid_key":
        msg = f"field names are text; {err.get('input')!r} is not a field"
    elif plain_message(err):
        msg = plain_message(err)
    elif err["type"] in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than_equal": "<=", "less_than": "<"}[err["type"]]
        bound = next(iter(err["ctx"].values()))
        got = err.get("input")
        units = "" if isinstance(got, int) and not isinstance(got, bool) else " (SI units)"  # a count has none
        msg = f"must be {op} {bound:g}{units}, got {got!r}"
    if not loc and isinstance(err.get("input"), Mapping) is False and err["type"] == "model_type":
        msg = "expected a mapping of field: value"
    return SpecError(file, line, field, msg)


def _validate(schema: type[BaseModel], data: Any, file: str, lines: dict[tuple, int]):
    if not isinstance(data, Mapping):
        raise SpecError(file, lines.get((), 1), None, f"expected a mapping of field: value, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise _validation_to_spec_error(exc, file, lines, schema) from None


def validate_mapping(schema: type[BaseModel], data: Any, file: str, lines: dict[tuple, int]):
    """Validate ``data`` against a pydantic ``schema``; raises :class:`SpecError` (``file:line: field``),
    with ``lines`` mapping key paths (relative to ``data``) to YAML line numbers."""
    return _validate(schema, data, file, lines)


def model_from_mapping(data: Any, file: str = "<model>", lines: dict | None = None) -> ModelSpec:
    """Validate a mapping as a :class:`ModelSpec`; a HF config (has ``hidden_size``) is mapped first."""
    if isinstance(data, Mapping) and "hidden_size" in data and "d_model" not in data:
        try:
            data = hf_config_to_model(data, default_name=Path(file).stem)
        except SpecError as exc:
            raise SpecError(file, None, exc.field, exc.message) from None
        lines = {}
    return _validate(ModelSpec, data, file, lines or {})


def hardware_from_mapping(data: Any, file: str = "<hardware>", lines: dict | None = None) -> HardwareSpec:
    """Validate a mapping as a :class:`HardwareSpec`."""
    return _validate(HardwareSpec, data, file, lines or {})


def _default_model_name(path: str | Path) -> str:
    """The name of a model read from ``path`` when its config has no ``_name_or_path``: the file's stem,
    or the folder's name for a file called ``config.json`` (``Qwen2.5-7B/config.json`` -> ``Qwen2.5-7B``)."""
    p = Path(path)
    if p.name == "config.json" and p.resolve().parent.name:
        return p.resolve().parent.name
    return p.stem or "hf-model"


def load_model(path: str | Path) -> ModelSpec:
    """Load a model spec from YAML, or a Hugging Face ``config.json``.  Raises :class:`SpecError`."""
    data, lines = load_yaml_with_lines(path)
    if isinstance(data, Mapping) and ("hidden_size" in data or "model_type" in data) and "d_model" not in data:
        try:
            mapped = hf_config_to_model(data, default_name=_default_model_name(path))
        except SpecError as exc:  # a missing HF key has no line of its own: the mapping's first line
            key: tuple = ()
            if exc.field:
                m = re.fullmatch(r"(\w+)\[(\d+)\]", exc.field)  # layer_types[3] -> ("layer_types", 3)
                key = (m.group(1), int(m.group(2))) if m else (exc.field,)
            line = lines.get(key, lines.get(key[:1], lines.get(()))) if key else None
            raise SpecError(str(path), line, exc.field, exc.message) from None
        except (KeyError, TypeError, ValueError) as exc:
            key = exc.args[0] if isinstance(exc, KeyError) else None
            raise SpecError(str(path), lines.get((key,)) if key else None, key,
                            "missing or invalid Hugging Face config field" if key else
                            f"not a recognised Hugging Face config ({exc})") from None
        hf_lines = {(k,): lines.get((v,), None) for k, v in _HF_KEYS.items()}
        hf_lines[("norms_per_layer",)] = lines.get(("num_ln_in_parallel_attn",))
        for k, hf_keys in _HF_NESTED_KEYS.items():  # moe.top_k -> num_experts_per_tok, ...
            hf_lines[k] = next((lines[(v,)] for v in hf_keys if (v,) in lines), None)
        hf_lines[()] = lines.get((), 1)
        return _validate(ModelSpec, mapped, str(path), {k: v for k, v in hf_lines.items() if v})
    return _validate(ModelSpec, data, str(path), lines)


def load_hardware(path: str | Path) -> HardwareSpec:
    """Load a hardware spec from YAML.  Raises :class:`SpecError`."""
    data, lines = load_yaml_with_lines(path)
    return _validate(HardwareSpec, data, str(path), lines)


# ---------------------------------------------------------------------------------------------
# Hugging Face config.json

# gpt4plan field -> HF field (used for line numbers in errors)
_HF_KEYS = {
    "layers": "num_hidden_layers",
    "d_model": "hidden_size",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "head_dim": "head_dim",
    "ffn": "intermediate_size",
    "vocab": "vocab_size",
    "tied_embeddings": "tie_word_embeddings",
    "max_context": "max_position_embeddings",
    "name": "_name_or_path",
    "sliding_window_layers": "layer_types",
}


# nested gpt4plan fields -> the HF fields they come from (first one present gives the line)
_HF_NESTED_KEYS = {
    ("moe",): ("num_local_experts", "n_routed_experts", "num_experts"),
    ("moe", "experts"): ("num_local_experts", "n_routed_experts", "num_experts"),
    ("moe", "top_k"): ("num_experts_per_tok",),
    ("moe", "expert_ffn"): ("moe_intermediate_size", "intermediate_size"),
    ("moe", "shared_experts"): ("n_shared_experts", "shared_expert_intermediate_size"),
    ("moe", "shared_expert_ffn"): ("shared_expert_intermediate_size", "moe_intermediate_size"),
    ("moe", "first_dense_layers"): ("first_k_dense_replace", "mlp_only_layers"),
    ("moe", "every"): ("moe_layer_freq", "decoder_sparse_step"),
    ("mla",): ("kv_lora_rank",),
    **{("mla", k): (k,) for k in ("q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")},
    ("sliding_window",): ("sliding_window",),
    ("layers",): ("num_hidden_layers", "n_layer"),
    ("heads",): ("num_attention_heads", "n_head"),
    ("kv_heads",): ("num_key_value_heads", "num_kv_heads"),
    ("ffn",): ("intermediate_size", "ffn_hidden_size"),
}


_HF_INT_KEYS = {
    "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "vocab_size", "max_position_embeddings", "sliding_window", "max_window_layers",
    "num_local_experts", "n_routed_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
    "n_shared_experts", "shared_expert_intermediate_size", "first_k_dense_replace", "moe_layer_freq",
    "decoder_sparse_step", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
    "sliding_window_pattern", "n_layer", "n_head", "num_kv_heads", "ffn_hidden_size", "num_ln_in_parallel_attn",
}
_HF_BOOL_KEYS = {
    "tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window", "multi_query",
    "new_decoder_architecture", "parallel_attn", "bias",
}

#: Hugging Face ``model_type`` values gpt4plan maps exactly (parameter counts, KV cache, window layers).
HF_MODEL_TYPES = (
    "deepseek_v2", "deepseek_v3", "falcon", "gemma", "gemma2", "gemma3_text", "gpt_neox", "gpt_oss", "llama",
    "mistral", "mixtral", "phi3", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
)
# model_types users bring that are refused on purpose, with the reason
_HF_REFUSED = {
    "llama4": "interleaved MoE/dense layers and chunked attention are not mapped exactly; a multimodal config",
    "llama4_text": "interleaved MoE/dense layers and chunked attention are not mapped exactly",
    "gemma3": "a multimodal config: pass its text_config part, model_type gemma3_text",
    "qwen3_next": "hybrid linear-attention layers are not mapped",
}
# Hugging Face's default for tie_word_embeddings where config.json omits it (the config class's default)
_HF_TIED_DEFAULT = {"gemma": True, "gemma2": True, "gemma3_text": True, "falcon": True}
_HF_LAYER_KINDS = ("sliding_attention", "full_attention")


def _hf_error(field: str, message: str) -> SpecError:
    return SpecError(None, None, field, message)


def _hf_window(cfg: Mapping[str, Any], mtype: str, layers: int) -> tuple[int | None, int | None]:
    """(sliding_window, sliding_window_layers) from ``layer_types`` or, without it, the model_type's own
    pattern (the one its Hugging Face config class writes into ``layer_types``)."""
    sw = cfg.get("sliding_window")
    if cfg.get("use_sliding_window") is False:  # Qwen: the window is off whatever sliding_window says
        sw = None
    types = cfg.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or isinstance(types, str):
            raise _hf_error("layer_types", f"expected a list of {' or '.join(_HF_LAYER_KINDS)}, got {_short(types)}")
        if len(types) != layers:
            raise _hf_error("layer_types", f"has {len(types)} entries, num_hidden_layers is {layers}")
        for i, t in enumerate(types):
            if t not in _HF_LAYER_KINDS:
                raise _hf_error(f"layer_types[{i}]", f"got {_short(t)}; expected one of "
                                f"{', '.join(_HF_LAYER_KINDS)}{_suggest(t, _HF_LAYER_KINDS)}")
        n = sum(t == "sliding_attention" for t in types)
        if n and sw is None and cfg.get("use_sliding_window") is not False:
            raise _hf_error("sliding_window", f"required: layer_types has {n} sliding_attention layers")
        return (sw, n) if (n and sw) else (None, None)
    if not sw:
        return None, None
    if mtype in ("gemma2", "gpt_oss"):  # every other layer, from the first: ceil(L/2)
        return sw, (layers + 1) // 2
    if mtype == "gemma3_text":  # 5 local : 1 global; layer i is global when (i+1) % pattern == 0
        pattern = cfg.get("sliding_window_pattern") or 6
        return sw, layers - layers // pattern
    if mtype.startswith("qwen"):  # layers from max_window_layers on use the window (HF default 28)
        mwl = cfg.get("max_window_layers")
        return sw, max(0, layers - (28 if mwl is None else mwl))
    if mtype in ("mistral", "mixtral", "phi3"):  # every layer
        return sw, None
    return None, None  # the others have no window (a stray key is ignored, as Hugging Face does)


def hf_config_to_model(cfg: Mapping[str, Any], default_name: str = "hf-model") -> dict[str, Any]:
    """Map a Hugging Face ``config.json`` onto gpt4plan's model fields; a plain dict for :class:`ModelSpec`.

    Only the ``model_type`` values in :data:`HF_MODEL_TYPES` are read (each mapped from its modelling
    code in ``transformers``: which projections have biases, how many norms and of what kind, which
    layers keep a sliding window, whether the embeddings are tied when the config does not say); any
    other, or none, is refused rather than read as a Llama.  The model's name is ``_name_or_path``'s
    last part, else ``default_name``.

    Raises:
        SpecError: the model_type is missing or not supported, a required field is missing, or a field
            has the wrong type (field named by its HF key, file and line left to the caller).
    """
    mtype = cfg.get("model_type")
    supported = ", ".join(HF_MODEL_TYPES)
    if mtype is None:
        raise _hf_error("model_type", f"required to read a Hugging Face config; supported: {supported}")
    if mtype not in HF_MODEL_TYPES:
        why = _HF_REFUSED.get(mtype) if isinstance(mtype, str) else None
        if why is None and isinstance(cfg.get("text_config"), Mapping):
            why = "a multimodal config: its text_config part may be supported"
        raise _hf_error("model_type", f"{_short(mtype)} is not supported{f' ({why})' if why else ''}; "
                        f"supported: {supported}")
    cfg = dict(cfg)
    if mtype == "falcon":  # Falcon's older configs spell these n_layer / n_head
        for new, old in (("num_hidden_layers", "n_layer"), ("num_attention_heads", "n_head")):
            if cfg.get(new) is None and old in cfg:
                cfg[new] = cfg[old]
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size"):
        if cfg.get(key) is None:
            raise _hf_error(key, "required Hugging Face config field is missing "
                            "(a multimodal config keeps it under text_config: pass that part)")
    for key, v in cfg.items():  # HF configs hold numbers as JSON numbers; reject strings early
        if key in _HF_INT_KEYS and v is not None and (isinstance(v, (str, bool)) or not isinstance(v, (int, float))):
            raise _hf_error(key, f"expected a number, got {_short(v)}")
        if key in _HF_BOOL_KEYS and v is not None and not isinstance(v, bool):
            raise _hf_error(key, f"expected true or false, got {_short(v)}")
    raw_name = cfg.get("_name_or_path")
    if raw_name is not None and not isinstance(raw_name, str):
        raise _hf_error("_name_or_path", f"expected text, got {_short(raw_name)}")
    L = cfg["num_hidden_layers"]
    if not isinstance(L, int) or L <= 0:  # ModelSpec reports it by name; the window pattern needs it first
        L = None
    tied = cfg.get("tie_word_embeddings")
    out: dict[str, Any] = {
        "name": (raw_name or "").rstrip("/").split("/")[-1] or default_name,
        "layers": cfg["num_hidden_layers"],
        "d_model": cfg["hidden_size"],
        "heads": cfg["num_attention_heads"],
        "vocab": cfg["vocab_size"],
        "tied_embeddings": _HF_TIED_DEFAULT.get(mtype, False) if tied is None else tied,
        "ffn_gated": mtype not in ("gpt_neox", "falcon"),  # the others' MLPs are gated (SwiGLU/GeGLU)
        "norm": "rmsnorm",
        "source": f"Hugging Face config.json (model_type {mtype})",
    }
    if cfg.get("num_key_value_heads") is not None:
        out["kv_heads"] = cfg["num_key_value_heads"]
    if cfg.get("head_dim") is not None:
        out["head_dim"] = cfg["head_dim"]
    if cfg.get("intermediate_size") is not None:
        out["ffn"] = cfg["intermediate_size"]
    if cfg.get("max_position_embeddings") is not None:
        out["max_context"] = cfg["max_position_embeddings"]
    # biases: only gpt-oss (attention) and GPT-NeoX / Falcon (all linears) have them beyond Qwen2's QKV
    if cfg.get("mlp_bias") and mtype not in ("gpt_neox",):
        raise _hf_error("mlp_bias", f"true is not mapped for model_type {mtype} (no gpt4plan field for MLP-only "
                        "biases)")
    if cfg.get("attention_bias") and mtype not in ("gpt_neox", "gpt_oss", "qwen2", "qwen2_moe"):
        raise _hf_error("attention_bias", f"true is not mapped for model_type {mtype} (no gpt4plan field for "
                        "attention-only output biases)")
    if mtype in ("qwen2", "qwen2_moe"):
        out["qkv_bias"] = True  # Qwen2: biases on q, k, v (not o)
    if mtype in ("qwen3", "qwen3_moe", "gemma3_text"):
        out["qk_norm"] = True  # q_norm, k_norm: RMSNorm over head_dim
    if mtype in ("gemma2", "gemma3_text"):
        out["norms_per_layer"] = 4  # input, post-attention, pre-feedforward, post-feedforward
    if mtype == "gpt_oss":
        out.update(linear_bias=True, attention_sinks=True)  # q/k/v/o and expert biases; rmsnorm stays
    if mtype == "gpt_neox":
        if cfg.get("attention_bias") is False:
            raise _hf_error("attention_bias", "false is not mapped for model_type gpt_neox (its MLP keeps biases)")
        out.update(linear_bias=True, norm="layernorm_bias")
    if mtype == "falcon":
        new_arch = bool(cfg.get("new_decoder_architecture"))
        h = cfg["num_attention_heads"]
        if new_arch:
            out["kv_heads"] = cfg.get("num_kv_heads") or h
        else:
            out["kv_heads"] = 1 if cfg.get("multi_query", True) else h
        out["ffn"] = cfg.get("ffn_hidden_size") or 4 * cfg["hidden_size"]
        out["max_context"] = cfg.get("max_position_embeddings") or 2048
        n_ln = cfg.get("num_ln_in_parallel_attn") or (2 if new_arch else 1)
        out["norms_per_layer"] = 2 if not cfg.get("parallel_attn", True) else n_ln
        out.update(linear_bias=bool(cfg.get("bias", False)), norm="layernorm_bias")
    if L is not None:
        sw, swl = _hf_window(cfg, mtype, L)
        if sw:
            out["sliding_window"] = sw
            if swl is not None:
                out["sliding_window_layers"] = swl
    # MoE ------------------------------------------------------------------------------------
    experts = cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts")
    if experts and mtype in ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt_oss"):
        moe: dict[str, Any] = {
            "experts": experts,
            "top_k": cfg.get("num_experts_per_tok", 2),
            "expert_ffn": cfg.get("moe_intermediate_size") or cfg.get("intermediate_size"),
        }
        shared = cfg.get("n_shared_experts") or 0
        if shared:
            moe["shared_experts"] = shared
            moe["shared_expert_ffn"] = cfg.get("moe_intermediate_size")
        elif mtype == "qwen2_moe" and cfg.get("shared_expert_intermediate_size"):  # one gated shared expert
            moe.update(shared_experts=1, shared_expert_ffn=cfg["shared_expert_intermediate_size"],
                       shared_expert_gate=True)
        if cfg.get("first_k_dense_replace"):
            moe["first_dense_layers"] = cfg["first_k_dense_replace"]
        dense = cfg.get("mlp_only_layers") or []
        if dense:  # Qwen-MoE: dense layers by index; exact only when they are the first k layers
            if not isinstance(dense, list) or dense != list(range(len(dense))):
                raise _hf_error("mlp_only_layers", f"{_short(dense)}: only the first layers (0, 1, ... k-1) "
                                "can be dense in gpt4plan's layout")
            moe["first_dense_layers"] = len(dense)
        moe["every"] = cfg.get("moe_layer_freq") or cfg.get("decoder_sparse_step") or 1
        if cfg.get("topk_method") == "noaux_tc" or mtype == "gpt_oss":
            moe["router_bias"] = True  # DeepSeek-V3's e_score_correction_bias; gpt-oss's router bias
        out["moe"] = moe
    elif experts:
        raise _hf_error("num_local_experts" if cfg.get("num_local_experts") else "num_experts",
                        f"model_type {mtype} is dense; experts belong to a MoE model_type (mixtral, qwen3_moe...)")
    # MLA ------------------------------------------------------------------------------------
    if mtype in ("deepseek_v2", "deepseek_v3") and cfg.get("kv_lora_rank"):
        for key in ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
            if cfg.get(key) is None:
                raise _hf_error(key, "required Hugging Face config field is missing (with kv_lora_rank)")
        out["mla"] = {
            "q_lora_rank": cfg.get("q_lora_rank") or 0,
            "kv_lora_rank": cfg["kv_lora_rank"],
            "qk_rope_head_dim": cfg["qk_rope_head_dim"],
            "qk_nope_head_dim": cfg["qk_nope_head_dim"],
            "v_head_dim": cfg["v_head_dim"],
        }
        out["head_dim"] = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
    return out
