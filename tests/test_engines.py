"""infer --emit vllm|sglang|trtllm: one server's launch arguments for the min-cost plan, with each engine's
documented flag names (vLLM engine arguments, SGLang server arguments, trtllm-serve options)."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from gpt4plan.cli import main
from gpt4plan.emit.engines import checkpoint_of, engine_args
from gpt4plan.serving import Targets, Workload, plan_inference
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

BASE = ("infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--tpot", "30ms", "--kv-cache", "fp8")


def _emit(capsys, engine: str, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([*BASE, *extra, "--emit", engine])
    return rc, capsys.readouterr().out


def _flags(out: str) -> dict[str, str | None]:
    """The command's --flags and their values (flags without a value map to None)."""
    cmd = " ".join(ln for ln in out.replace("\\\n", " ").splitlines() if not ln.startswith("#"))
    cmd = cmd[cmd.index(next(w for w in ("vllm serve", "python -m sglang", "trtllm-serve") if w in cmd)):]
    words = shlex.split(cmd)
    flags: dict[str, str | None] = {}
    for i, w in enumerate(words):
        if w.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else None
            flags[w] = None if nxt is None or nxt.startswith("--") else nxt
    return flags


@pytest.fixture(scope="module")
def plan():
    m = resolve_model("llama-3.1-70b")
    res = plan_inference(m, resolve_hardware("h100-sxm"), Workload(2048, 512, kv_cache="fp8"),
                         Targets(tpot_max_s=0.03))
    return res.plans[1]


def test_vllm(capsys, plan):
    rc, out = _emit(capsys, "vllm")
    assert rc == 0
    assert "vllm serve meta-llama/Llama-3.1-70B" in out
    f = _flags(out)
    assert f["--tensor-parallel-size"] == str(plan.tp) and f["--pipeline-parallel-size"] == str(plan.pp)
    assert f["--max-num-seqs"] == str(plan.batch)
    assert f["--max-model-len"] == "2560"  # 2048 prompt + 512 output
    assert f["--kv-cache-dtype"] == "fp8"
    assert "--enable-expert-parallel" not in f  # dense model


def test_sglang(capsys, plan):
    rc, out = _emit(capsys, "sglang")
    assert rc == 0
    f = _flags(out)
    assert f["--model-path"] == "meta-llama/Llama-3.1-70B"
    assert f["--tp-size"] == str(plan.tp) and f["--pp-size"] == str(plan.pp)
    assert f["--max-running-requests"] == str(plan.batch)
    assert f["--context-length"] == "2560" and f["--kv-cache-dtype"] == "fp8_e4m3"


def test_trtllm_is_a_runnable_script(capsys, plan, tmp_path):
    rc, out = _emit(capsys, "trtllm")
    assert rc == 0
    f = _flags(out)
    assert f["--tp_size"] == str(plan.tp) and f["--pp_size"] == str(plan.pp)
    assert f["--max_batch_size"] == str(plan.batch) and f["--max_seq_len"] == "2560"
    assert f["--extra_llm_api_options"] == "extra_llm_api_options.yaml"
    assert "kv_cache_config:\n  dtype: fp8" in out
    script = tmp_path / "launch.sh"
    script.write_text(out)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_speculative_and_quantisation_flags(capsys):
    _, out = _emit(capsys, "vllm", "--draft-model", "llama-3.1-8b", "--draft-tokens", "4", "--weights", "fp8")
    f = _flags(out)
    assert json.loads(f["--speculative-config"]) == {"model": "meta-llama/Llama-3.1-8B", "num_speculative_tokens": 4}
    assert f["--quantization"] == "fp8"
    _, out = _emit(capsys, "vllm", "--draft-cost-fraction", "0.05", "--draft-tokens", "3")
    assert json.loads(_flags(out)["--speculative-config"])["method"] == "ngram"
    _, out = _emit(capsys, "sglang", "--draft-model", "llama-3.1-8b")
    f = _flags(out)
    assert f["--speculative-algorithm"] == "STANDALONE" and f["--speculative-num-steps"] == "4"
    assert f["--speculative-num-draft-tokens"] == "5" and f["--speculative-draft-model-path"] == "meta-llama/Llama-3.1-8B"
    _, out = _emit(capsys, "trtllm", "--draft-model", "llama-3.1-8b")
    assert "decoding_type: DraftTarget" in out and "max_draft_len: 4" in out


def test_moe_expert_parallel_and_replicas():
    m, h = resolve_model("mixtral-8x7b"), resolve_hardware("h100-sxm")
    res = plan_inference(m, h, Workload(1024, 256), Targets(tpot_max_s=0.03, demand_tokens_per_s=50_000))
    from dataclasses import replace

    p = replace(res.plans[1], tp=2, ep=2, replicas=3)  # an EP plan of 3 replicas, to check the flags
    wl = Workload(1024, 256)
    out = engine_args("sglang", p, m, wl, h)
    assert "--ep-size 2" in out
    out = engine_args("vllm", p, m, wl, h)
    assert "--enable-expert-parallel" in out
    assert "run 3 copies of this server" in out and "--data-parallel-size" in out
    out = engine_args("trtllm", p, m, wl, h)
    assert "--ep_size 2" in out


def test_checkpoint_names():
    assert checkpoint_of(resolve_model("mixtral-8x7b")) == "mistralai/Mixtral-8x7B-v0.1"
    assert checkpoint_of(resolve_model("gpt-4")) == "/path/to/gpt-4"  # no public checkpoint


@pytest.mark.parametrize("extra, needle", [
    (("--format", "json"), "--emit prints launch arguments"),
    (("--disaggregate",), "--emit prints one server's arguments"),
    (("--sweep", "prompt-tokens=128,256"), "--emit prints one server's arguments"),
])
def test_emit_bad_combinations(capsys, extra, needle):
    capsys.readouterr()
    rc = main(["infer", "--emit", "vllm", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0]


def test_emit_infeasible_exits_1(capsys):
    capsys.readouterr()
    rc = main(["infer", "-m", "dense-1t", "-H", "h100-sxm", "--chips", "8", "--tokens-per-s-per-user", "33.33",
               "--emit", "vllm"])
    out, err = capsys.readouterr()
    assert rc == 1 and "vllm serve" not in out and "no feasible plan" in err
