"""The bad-input corpus (tests/bad_inputs/) and contradictory CLI flags: exit 2, one line, no traceback.

Every file of ``tests/bad_inputs/`` is listed in ``tests/bad_inputs/expected.yaml`` with the line, the
field and a part of the message its error must show; each runs through ``gpt4plan.cli.main`` as the
user would give it (``infer --model``, ``infer --hardware``, ``train --model``, ``check``).  Inputs
that cannot live in git (a directory, an unreadable file, a 10 MB file, non-UTF-8 bytes, a NUL byte)
are made in a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt4plan import specs
from gpt4plan.cli import main
from gpt4plan.specs import HardwareSpec, ModelSpec
from gpt4plan.specs import loader as yaml_loader

CORPUS = Path(__file__).parent / "bad_inputs"
MANIFEST = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
CLI_CASES = yaml.safe_load((CORPUS / "cli_cases.yaml").read_text(encoding="utf-8"))
NOT_CORPUS = ("expected.yaml", "cli_cases.yaml")  # the data files that describe the corpus
ERROR_PREFIX = "gpt4plan: error: "
VALID_MODEL = """\
name: tiny
layers: 4
d_model: 512
heads: 8
kv_heads: 2
ffn: 1408
vocab: 32000
max_context: 4096
"""


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch, tmp_path):
    """Wide, colourless output; run in an empty folder (a YAML tag that ran would leave a file here)."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


def _the_line(capsys, args: list[str]) -> str:
    """Run the CLI; it must exit 2 with exactly one non-empty stderr line and no traceback: that line."""
    capsys.readouterr()
    rc = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"exit {rc}, expected 2 for {args}: {err!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    return lines[0]


def _one_line(capsys, args: list[str]) -> str:
    """:func:`_the_line` without the ``gpt4plan: error:`` prefix."""
    line = _the_line(capsys, args)
    return line[len(ERROR_PREFIX):] if line.startswith(ERROR_PREFIX) else line


def _commands(kind: str, path: str) -> list[list[str]]:
    return {
        "model": [["infer", "--model", path], ["train", "--model", path]],
        "hf": [["infer", "--model", path], ["train", "--model", path]],
        "hardware": [["infer", "--hardware", path], ["train", "--hardware", path]],
        "budgets": [["check", path]],
        "measurements": [["validate", path]],
    }[kind]


def _check_line(line: str, path: str, expect_line: int | None, field: str | None, contains: str) -> None:
    assert line.startswith(path), f"does not start with the file {path!r}: {line!r}"
    rest = line[len(path):]
    if expect_line is not None:
        assert rest.startswith(f":{expect_line}: "), f"expected ':{expect_line}: ' after the file: {line!r}"
        rest = rest[len(f":{expect_line}: "):]
    else:
        assert rest.startswith(": "), line
        rest = rest[2:]
    if field is not None:
        assert rest.startswith(f"{field}: "), f"expected field {field!r}: {line!r}"
    assert contains in rest, f"{contains!r} not in {line!r}"


def test_corpus_is_complete():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name not in NOT_CORPUS)
    assert sorted(MANIFEST) == files, "every file in tests/bad_inputs/ needs an entry in expected.yaml, and back"
    assert len(files) >= 40
    for name, e in MANIFEST.items():
        assert set(e) == {"kind", "line", "field", "contains"}, name
        assert e["kind"] in ("model", "hardware", "hf", "budgets", "measurements"), name
        assert e["contains"], name


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_file(capsys, name, tmp_path):
    e = MANIFEST[name]
    path = str(CORPUS / name)
    for args in _commands(e["kind"], path):
        line = _one_line(capsys, args)
        _check_line(line, path, e["line"], e["field"], e["contains"])
    assert not any(tmp_path.iterdir()), "something ran: a file appeared in the working folder"


def _cli_case_id(case: dict) -> str:
    return " ".join(a if a else "''" for a in case["args"])[:80]


def test_cli_cases_are_well_formed():
    assert len(CLI_CASES) >= 25
    for case in CLI_CASES:
        assert set(case) == {"args", "contains"}, case
        assert all(isinstance(a, str) for a in case["args"]) and case["contains"], case
    commands = {c["args"][0] for c in CLI_CASES if c["args"]}
    assert {"infer", "train", "compare", "check", "validate", "calibrate", "models", "hardware"} <= commands


@pytest.mark.parametrize("case", CLI_CASES, ids=_cli_case_id)
def test_cli_case(capsys, case, tmp_path):
    """A bad command line (tests/bad_inputs/cli_cases.yaml): exit 2, one stderr line with the substring;
    an option's error reads "gpt4plan: error: --option: ...", a file's starts with the file."""
    root = Path(__file__).parent.parent
    args = [a.format(corpus=CORPUS, root=root, tmp=tmp_path) for a in case["args"]]
    line = _the_line(capsys, args)
    assert case["contains"] in line, (case["contains"], line)
    assert line.startswith(ERROR_PREFIX) or any(a and line.startswith(a) for a in args if "/" in a), line
    assert not (tmp_path / "h100-sxm.calibrated.yaml").exists()


def test_python_tag_never_executes(tmp_path, capsys):
    """The corpus file's tag would run 'touch GPT4PLAN_EXECUTED' (in the working folder) if constructed."""
    text = (CORPUS / "model_python_object_tag.yaml").read_text(encoding="utf-8")
    assert "!!python/object/apply:os.system" in text and "GPT4PLAN_EXECUTED" in text
    _one_line(capsys, ["infer", "--model", str(CORPUS / "model_python_object_tag.yaml")])
    assert not (tmp_path / "GPT4PLAN_EXECUTED").exists()


# ---------------------------------------------------------------------------------------------
# Generated bad inputs (not committed: a directory, an unreadable or huge file, raw bytes)


def _make(tmp: Path, case: str) -> tuple[Path, int | None, str]:
    """Make one generated bad input; return (path, expected line or None, substring of the message)."""
    if case == "directory":
        d = tmp / "a_directory.yaml"
        d.mkdir()
        return d, None, "is a directory"
    if case == "ten_megabytes":  # a valid model followed by 10 MB of comments: refused unread
        big = tmp / "ten_megabytes.yaml"
        with big.open("w", encoding="utf-8") as fh:
            fh.write(VALID_MODEL)
            line = "# " + "x" * 97 + "\n"
            fh.write(line * (10_000_000 // len(line) + 1))
        assert big.stat().st_size >= 10_000_000
        return big, None, "too large"
    if case == "missing":
        return tmp / "no_such_file.yaml", None, "no such file"
    raw, line_no, contains = {
        "non_utf8": (VALID_MODEL.encode() + b"source: caf\xe9 menu\n", 9, "not UTF-8"),
        "utf16": (VALID_MODEL.encode("utf-16"), 1, "not UTF-8"),
        "nul_byte": (VALID_MODEL.encode().replace(b"vocab: 32000", b"vocab: 32\x0000"), 7,
                     "unacceptable character #x0000"),
        "empty": (b"", 1, "file is empty"),
        "comment_only": (b"# a model spec, one day\n\n", 1, "file is empty"),
    }[case]
    p = tmp / f"{case}.yaml"
    p.write_bytes(raw)
    return p, line_no, contains


GENERATED = ["directory", "ten_megabytes", "non_utf8", "utf16", "nul_byte", "empty", "comment_only", "missing"]


@pytest.mark.parametrize("case", GENERATED)
@pytest.mark.parametrize("option", ["--model", "--hardware"])
def test_generated_bad_file(capsys, tmp_path, case, option):
    path, line_no, contains = _make(tmp_path, case)
    line = _one_line(capsys, ["infer", option, str(path)])
    _check_line(line, str(path), line_no, None, contains)


def test_generated_bad_budgets_file(capsys, tmp_path):
    path, _, _ = _make(tmp_path, "ten_megabytes")
    _check_line(_one_line(capsys, ["check", str(path)]), str(path), None, None, "too large")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a chmod-000 file anyway; test_unreadable_file_simulated covers the path")
def test_unreadable_file(capsys, tmp_path):
    p = tmp_path / "secret.yaml"
    p.write_text(VALID_MODEL, encoding="utf-8")
    p.chmod(0)
    try:
        line = _one_line(capsys, ["infer", "--model", str(p)])
    finally:
        p.chmod(0o644)
    _check_line(line, str(p), None, None, "cannot read")


def test_unreadable_file_simulated(capsys, tmp_path, monkeypatch):
    """The loader's PermissionError branch, reachable as root too."""
    p = tmp_path / "secret.yaml"
    p.write_text(VALID_MODEL, encoding="utf-8")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(yaml_loader, "open", denied, raising=False)  # the module that reads the file
    line = _one_line(capsys, ["infer", "--model", str(p)])
    _check_line(line, str(p), None, None, "cannot read: Permission denied")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("args", [["infer", "--model"], ["train", "--model"], ["infer", "--hardware"], ["check"],
                                  ["validate"]], ids=["infer-model", "train-model", "hardware", "budgets",
                                                      "measurements"])
def test_fifo_is_refused_before_open(capsys, tmp_path, args):
    """A FIFO would block open() until a writer comes: it is refused from its stat, unopened, one line."""
    fifo = tmp_path / "model.yaml"
    os.mkfifo(fifo)
    line = _one_line(capsys, [*args, str(fifo)])
    _check_line(line, str(fifo), None, None, "is a FIFO (named pipe), expected a regular file")


def test_character_device_is_refused(capsys):
    """/dev/null is no spec file: refused as a device, not read as an empty file."""
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    line = _one_line(capsys, ["infer", "--model", "/dev/null"])
    _check_line(line, "/dev/null", None, None, "is a character device, expected a regular file")


def test_large_file_without_aliases_is_not_an_alias_bomb(tmp_path):
    """The alias guard scales with the document: 20,000 plain keys are not 'too many aliases'."""
    p = tmp_path / "wide.yaml"
    p.write_text("extra:\n" + "".join(f"  k{i}: {i}\n" for i in range(20_000)) + VALID_MODEL, encoding="utf-8")
    with pytest.raises(specs.SpecError) as info:
        specs.load_model(p)
    assert "too many YAML aliases" not in str(info.value)
    assert str(info.value).startswith(f"{p}:1: extra: unknown field")


# ---------------------------------------------------------------------------------------------
# head_dim x heads vs d_model: an error only where it matters


def test_head_dim_times_heads_may_differ_from_d_model(tmp_path):
    """Given explicitly, head_dim x heads need not equal d_model (Gemma 7B: 16 x 256 = 4096 vs d_model
    3072; Mistral Nemo: 32 x 128 = 4096 vs 5120): the projections are d_model x heads*head_dim."""
    p = tmp_path / "gemma-like.yaml"
    p.write_text(VALID_MODEL.replace("d_model: 512", "d_model: 3072").replace("heads: 8\n", "heads: 16\n")
                 + "head_dim: 256\n", encoding="utf-8")
    m = specs.load_model(p)
    assert m.heads * m.head_dim == 4096 != m.d_model


def test_head_dim_needed_when_d_model_does_not_split(capsys):
    """Omitted, head_dim defaults to d_model / heads: a d_model that heads do not divide is an error."""
    path = str(CORPUS / "model_d_model_not_divisible_by_heads.yaml")
    line = _one_line(capsys, ["infer", "--model", path])
    assert line.startswith(f"{path}:1: head_dim: ") and "give head_dim" in line


# ---------------------------------------------------------------------------------------------
# CLI flags: unknown names suggest the catalog's nearest; contradictory flags are one line, exit 2


@pytest.mark.parametrize(("args", "expect"), [
    (["infer", "-m", "llama3.1-70b"], ["--model", "'llama-3.1-70b'"]),
    (["infer", "-m", "mixtral-8x7"], ["'mixtral-8x7b'"]),
    (["infer", "-H", "H100-SXM"], ["--hardware", "'h100-sxm'"]),
    (["infer", "-H", "mi300"], ["'mi300x'"]),
    (["train", "-m", "gpt4"], ["'gpt-4'"]),
    (["train", "-H", "a100-80"], ["'a100-80gb'"]),
    (["infer", "-m", "zzzzzzzz"], ["unknown model", "known:", "gpt-4"]),
], ids=["model-dot", "model-truncated", "hardware-case", "hardware-short", "train-model", "train-hardware",
        "nothing-near"])
def test_unknown_name_suggests_catalog(capsys, args, expect):
    line = _one_line(capsys, args)
    for s in expect:
        assert s in line, (s, line)


@pytest.mark.parametrize(("args", "expect"), [
    (["train", "--chips", "8", "--days", "3"], ["--chips and --days"]),
    (["infer", "--tpot", "50ms", "--tokens-per-s-per-user", "20"], ["--tpot and --tokens-per-s-per-user"]),
    (["infer", "-m", "llama-3.1-70b", "--tp", "3"], ["--tp 3", "64 heads", "8 KV heads", "allowed: 1, 2, 4, 8"]),
    (["infer", "-m", "llama-3.1-70b", "--tp", "128"], ["--tp 128", "allowed"]),
    (["train", "-m", "llama-3.1-70b", "--tp", "6"], ["--tp 6", "allowed"]),
    (["infer", "-m", "deepseek-v3", "--tp", "3"], ["--tp 3", "128 heads"]),
    (["infer", "-m", "llama-3.1-8b", "--pp", "33"], ["--pp 33", "32 layers"]),
    (["infer", "-m", "llama-3.1-8b", "--ep", "2"], ["--ep 2", "dense"]),
    (["infer", "-m", "mixtral-8x7b", "--ep", "3"], ["--ep 3", "8 experts"]),
    (["infer", "-m", "mixtral-8x7b", "--tp", "4", "--ep", "6"], ["--ep 6 must divide --tp 4", "a multiple"]),
    (["infer", "-m", "llama-3.1-8b", "--tp", "4", "--pp", "2", "--chips", "16"], ["--chips 16", "= 8"]),
    (["infer", "-m", "llama-3.1-8b", "--tp", "8", "--chips", "12"], ["--chips 12", "--tp 8"]),
    (["infer", "-m", "llama-3.1-8b", "--pp", "4", "--batch", "2"], ["--batch 2 < --pp 4"]),
    (["infer", "-m", "llama-3.1-8b", "--chips", "64", "--max-chips", "32"], ["--max-chips 32"]),
    (["train", "-m", "llama-3.1-8b", "--tp", "8", "--pp", "4", "--dp", "4", "--chips", "64"], ["128", "--chips 64"]),
    (["train", "-m", "llama-3.1-8b", "--pp", "1", "--interleave", "2"], ["--interleave 2", "--pp > 1"]),
    (["train", "-m", "llama-3.1-8b", "--pp", "4", "--interleave", "3"], ["--interleave 3", "8 layers"]),
    (["train", "-m", "mixtral-8x7b", "--ep", "4", "--dp", "6"], ["--ep 4 must divide --dp 6"]),
], ids=["chips-and-days", "tpot-and-tps", "tp-not-heads", "tp-beyond-heads", "train-tp", "mla-tp", "pp-gt-layers",
        "ep-dense", "ep-experts", "ep-tp", "chips-vs-tp-pp", "chips-vs-tp", "batch-lt-pp", "chips-gt-max",
        "train-chips", "interleave-pp1", "interleave-layers", "ep-dp"])
def test_contradictory_flags_exit_2(capsys, args, expect):
    line = _one_line(capsys, args)
    for s in expect:
        assert s in line, (s, line)


def test_allowed_pins_still_plan(capsys):
    """The checks refuse only contradictions: allowed pins reach the planner (exit 0 or 1, never 2)."""
    for args in (["infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--tp", "8", "--pp", "1", "--chips", "8"],
                 ["infer", "-m", "mixtral-8x7b", "-H", "h100-sxm", "--tp", "8", "--ep", "8"],
                 ["train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "1T", "--chips", "64",
                  "--tp", "8", "--pp", "2", "--interleave", "2"]):
        capsys.readouterr()
        rc = main([*args, "--format", "json"])
        err = capsys.readouterr().err
        assert rc in (0, 1), (args, err)
        assert "Traceback" not in err




# ---------------------------------------------------------------------------------------------
# Fuzzing the loader (hypothesis): whatever the bytes, a spec or a one-line SpecError, nothing else

FUZZ_EXAMPLES = int(os.environ.get("GPT4PLAN_FUZZ_EXAMPLES", 500))
_VALID_HARDWARE = """\
name: chip
memory: 80 GB
memory_bandwidth: 3.35 TB/s
peak_flops: {bf16: 989.4 TFLOP/s, fp8: 1978.9 TFLOP/s}
scale_up: {domain: 8, bandwidth: 450 GB/s, latency: 3 us}
scale_out: {bandwidth: 50 GB/s, latency: 10 us}
price: 2.50 USD/h
efficiency: {compute: 0.7, memory: 80%}
"""
_YAMLISH = st.sampled_from(list(":-[]{}&*!|>'\"%@`#,?\t\n \\\x00\x07\xe9") + ["!!python/object:os.system", "&a", "*a",
                                                                              "<<", "---", "...", "1e400", ".nan",
                                                                              "0x", "GB", "TB/s", "~", "null"])


def _load_any(path: Path) -> None:
    for loader in (specs.load_model, specs.load_hardware):
        try:
            loader(path)
        except specs.SpecError as exc:
            text = str(exc)
            assert text.startswith(str(path)) and "\n" not in text and "Traceback" not in text, text


@given(raw=st.binary(max_size=400))
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_raw_bytes(tmp_path, raw):
    p = tmp_path / "fuzz.yaml"
    p.write_bytes(raw)
    _load_any(p)


@given(base=st.sampled_from([VALID_MODEL, _VALID_HARDWARE]), edits=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 3), _YAMLISH), min_size=1, max_size=6))
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_mutated_specs(tmp_path, base, edits):
    """A valid spec with characters inserted, deleted or replaced: YAML's special characters, tags,
    anchors, units and non-finite numbers, where a careless edit would put them."""
    text = base
    for where, cut, ins in edits:
        i = int(where * len(text))
        text = text[:i] + ins + text[i + cut:]
    p = tmp_path / "fuzz.yaml"
    p.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _load_any(p)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["80 GB", "3 TB/s", "1e14", "2.5 USD/h", "90%", "13T", "-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["experts", "top_k", "expert_ffn", "kv_lora_rank", "domain", "bandwidth", "latency", "bf16",
                         "compute", "memory", "x"]), inner, max_size=4),
    max_leaves=12)
_MODEL_KEYS = list(ModelSpec.model_fields) + ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                              "num_key_value_heads", "num_local_experts", "model_type"]


@given(data=st.dictionaries(st.sampled_from(_MODEL_KEYS + list(HardwareSpec.model_fields)), _JSONISH, max_size=12))
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None)
def test_fuzz_mappings(data):
    """Any mapping of known field names to any values: a spec or a SpecError (never a pydantic, type or
    numpy error), for model specs, Hugging Face configs and hardware specs."""
    for build in (specs.model_from_mapping, specs.hardware_from_mapping):
        try:
            build(data)
        except specs.SpecError as exc:
            assert "\n" not in str(exc), str(exc)


_CLI_VALUES = st.sampled_from(["0", "1", "2", "3", "8", "64", "-1", "nan", "inf", "-inf", "1e400", "1e-12", "abc", "",
                               " 4 ", "5ms", "2s", "1T", "60M", "99999999999", "0.5", "[red]x", "fp8", "int4", "full"])
_INFER_FLAGS = ["--prompt-tokens", "--output-tokens", "--weights", "--kv-cache", "--ttft", "--tpot",
                "--tokens-per-s-per-user", "--demand", "--users", "--tp", "--pp", "--ep", "--batch", "--chips",
                "--max-chips", "--price-per-hour", "--demand-profile", "--min-replicas", "--scale-up-lag", "--idle-value"]
_TRAIN_FLAGS = ["--tokens", "--unique-tokens", "--epochs", "--data", "--chips", "--days", "--max-chips", "--seq-len", "--global-batch", "--precision",
                "--price-per-hour", "--tp", "--pp", "--dp", "--ep", "--zero", "--microbatch", "--recompute",
                "--interleave", "--checkpoint-s", "--restart-s", "--failure-rate"]


@given(cmd=st.sampled_from(["infer", "train"]), model=st.sampled_from(["llama-3.1-8b", "mixtral-8x7b", "deepseek-v3"]),
       data=st.data())
@settings(max_examples=int(os.environ.get("GPT4PLAN_CLI_FUZZ_EXAMPLES", 150)), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fuzz_cli_flags(capsys, cmd, model, data):
    """Random flags with odd values: exit 0, 1 or 2; never a traceback; exit 2 is one stderr line; no
    NaN or infinity in the JSON."""
    flags = data.draw(st.lists(st.sampled_from(_INFER_FLAGS if cmd == "infer" else _TRAIN_FLAGS), max_size=4,
                               unique=True))
    args = [cmd, "-m", model, "-H", "h100-sxm", "--format", "json"]
    for f in flags:
        args += [f, data.draw(_CLI_VALUES)]
    if cmd == "train" and "--chips" not in flags and "--days" not in flags:
        args += ["--chips", "64"]  # keep the search small
    capsys.readouterr()
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2), (args, rc, err)
    assert "Traceback" not in out + err, args
    if rc == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, (args, err)
    else:
        assert "NaN" not in out and "Infinity" not in out, args


@pytest.mark.parametrize("case", ["deep", "digits", "latin1", "directory", "not_json", "missing"])
def test_bad_baseline_file(capsys, tmp_path, case):
    """check --baseline OLD.json: a bad baseline is one line and exit 2 (read before any plan is made)."""
    p = tmp_path / "old.json"
    if case == "deep":
        p.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif case == "digits":
        p.write_text('{"scenarios": [{"name": "a", "values": {"x": ' + "9" * 5000 + "}}]}", encoding="utf-8")
    elif case == "latin1":
        p.write_bytes(b'{"scenarios": [{"name": "caf\xe9"}]}')
    elif case == "directory":
        p.mkdir()
    elif case == "not_json":
        p.write_text("scenarios: []\n", encoding="utf-8")
    budgets = Path(__file__).parent.parent / "examples" / "budgets.yaml"
    line = _one_line(capsys, ["check", str(budgets), "--baseline", str(p)])
    assert line.startswith(str(p)), line


def test_unwritable_outputs(capsys, tmp_path):
    """--write-bands and calibrate's --output into a folder or a missing directory: one line, exit 2."""
    from gpt4plan.accuracy.calibrate import write_calibrated_spec

    for target in (tmp_path, tmp_path / "missing" / "bands.yaml"):
        line = _one_line(capsys, ["validate", "--write-bands", str(target)])
        assert line.startswith(f"{target}: cannot write (--write-bands)"), line
        with pytest.raises(specs.SpecError) as info:
            write_calibrated_spec("h100-sxm", {"compute": 0.7}, "dev.yaml", 10, target)
        assert str(info.value).startswith(f"{target}: cannot write (--output)")


def test_link_loop_and_device_say_what_they_are(capsys, tmp_path, monkeypatch):
    """A symlink loop as --model read as 'unknown model', /dev/zero in a budgets file as 'no such file'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop1").symlink_to("loop1")
    assert "Too many levels of symbolic links" in _one_line(capsys, ["infer", "-m", "loop1"])
    f = tmp_path / "b.yaml"
    f.write_text("budgets:\n  - name: a\n    kind: infer\n    model: /dev/zero\n    hardware: h100-sxm\n",
                 encoding="utf-8")
    assert "budgets[0].model: '/dev/zero' is not a regular file" in _one_line(capsys, ["check", str(f)])
