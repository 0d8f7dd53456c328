"""`gpt4plan validate`: three development records replayed and checked against the formulas by hand,
plus the file-level behaviour (unreplayable records listed, malformed files exit 2).

The hardware efficiency factors are inputs like the datasheet numbers: read from the spec in the test.
"""

import json
import math

import pytest

from gpt4plan.accuracy.replay import replay_file
from gpt4plan.cli import main
from gpt4plan.serving import (
    ELEMENTWISE_TRAFFIC_FORWARD,
    LAYER_OVERHEAD_S,
    ROOFLINE_OVERLAP,
    RUNTIME_TTFT_OVERHEAD_S,
)
from gpt4plan.specs.catalog import catalog_dir, resolve_hardware
from gpt4plan.training import DP_OVERLAP, ELEMENTWISE_TRAFFIC, GEMM_HALF_RIDGES

DEV = catalog_dir("measurements") / "validation-dev.yaml"


def _roofline(c, m):
    return max(c, m) + (1 - ROOFLINE_OVERLAP) * min(c, m)


@pytest.fixture(scope="module")
def dev_records():
    return {(r.id, r.metric): r for r in replay_file(DEV)}


def test_ft13b_decode_and_prefill_by_hand(dev_records):
    """kipply 2022 / FasterTransformer: 13B GPT (40 x 5120, MHA, GELU 20480, tied, vocab 50272) on one
    A100-40GB at fp16, batch 1, 512-token prompt, 10 output tokens."""
    hw = resolve_hardware("a100-40gb")
    L, d, ff, V, h, dh = 40, 5120, 20480, 50272, 40, 128
    params_read = L * (4 * d * d + 2 * d * ff + 2 * d) + d + V * d  # layers + final norm + LM head
    kv_tok = 2 * L * h * dh * 2  # 819,200 B per token at fp16
    peak, bw = 312e12 * hw.efficiency.compute, 1.555e12 * hw.efficiency.memory
    # decode (static batch): one step at the mean context 512 + 10/2
    c = 512 + 10 / 2
    t_c = (2 * params_read + 4 * c * h * dh * L) / peak
    t_m = (2 * params_read + c * kv_tok) / bw
    act = (15 + 19 * ff / (4 * d)) * d  # Korthikanti activation bytes per token per layer (GELU MLP)
    tpot = _roofline(t_c, t_m) + ELEMENTWISE_TRAFFIC_FORWARD * 1 * act * L / bw + L * LAYER_OVERHEAD_S
    assert dev_records[("infer-ft13b-a100-40gb-tp1", "tpot_s")].predicted == pytest.approx(tpot, rel=1e-9)
    # prefill: 512 tokens through every matmul (LM head for the last token only) + causal attention
    flops = 512 * 2 * (params_read - V * d) + 2 * V * d + 512 * 4 * (512 / 2) * h * dh * L
    bytes_ = 2 * params_read + 512 * kv_tok
    ttft = _roofline(flops / peak, bytes_ / bw) + ELEMENTWISE_TRAFFIC_FORWARD * 512 * act * L / bw + L * LAYER_OVERHEAD_S
    ttft += RUNTIME_TTFT_OVERHEAD_S  # the runtime's setup, sampling and return of the first token
    assert dev_records[("infer-ft13b-a100-40gb-tp1", "ttft_s")].predicted == pytest.approx(ttft, rel=1e-9)
    # and the published measurement (22 ms per token, 63 ms prefill) is within 25%
    assert tpot == pytest.approx(0.022, rel=0.25)
    assert ttft == pytest.approx(0.06317, rel=0.25)


def test_mpt7b_training_by_hand(dev_records):
    """llm-foundry MPT-7B on 8 A100-80GB: FSDP (ZeRO-3), microbatch 6, global batch 96 x 2048, no recompute."""
    hw = resolve_hardware("a100-80gb")
    L, d, ff, V, h, s = 32, 4096, 16384, 50368, 32, 2048
    mb, dp, gb = 6, 8, 96
    m = gb // (dp * mb)  # 2 microbatches per step
    active_matmul = L * (4 * d * d + 2 * d * ff) + V * d
    mf_tok = 6 * active_matmul + 12 * L * h * (d // h) * s  # Narayanan et al. eq. 3
    tokens_mb = s * mb
    ridge = 312e12 / 2.039e12  # FLOP per byte at which the A100 80GB turns compute-bound
    gemm_eff = 1 / (1 + GEMM_HALF_RIDGES * ridge / d)  # narrow GEMMs run below peak
    t_flops = tokens_mb * mf_tok / (312e12 * hw.efficiency.compute * gemm_eff)
    coeff = 15 + 19 * 1.0 * ff / (4 * d)  # Korthikanti: 34 sbh for a 4h GELU MLP
    t_elem = ELEMENTWISE_TRAFFIC * coeff * s * mb * d * L / (2.039e12 * hw.efficiency.memory)
    t_mb = t_flops + t_elem
    # FSDP: weights all-gathered per microbatch forward and backward + gradient reduce-scatter, on NVLink
    params = L * (4 * d * d + 2 * d * ff + 2 * d) + d + V * d  # tied: embedding = head, held once
    nbytes, n = params * 2, 8
    bw, alpha = 300e9 * hw.efficiency.network, 3e-6
    ar = min(2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bw, 2 * math.log2(n) * alpha + 2 * nbytes / bw)
    t_dp = (1 + m) * ar
    window = m * (t_flops + t_elem)  # FSDP prefetches the all-gathers during forward and backward
    exposed = max(t_dp - DP_OVERLAP * window, (1 - DP_OVERLAP) * t_dp)
    states = params * 16 / dp  # ZeRO-3: weights, grads and Adam states all sharded
    t_opt = 2 * states / (2.039e12 * hw.efficiency.memory)
    step = m * t_mb + exposed + t_opt
    tokens_per_s = m * mb * dp * s / step
    r = dev_records[("train-mpt-a100-80gb-7b-8gpu", "tokens_per_s")]
    assert r.predicted == pytest.approx(tokens_per_s, rel=1e-5)
    assert r.predicted == pytest.approx(37130.0, rel=0.25)  # llm-foundry's measurement


def test_megatron_1t_replayed(dev_records):
    """Narayanan et al. 2021: 163 TFLOP/s per GPU (hardware FLOP, full recompute) on 3,072 A100s."""
    r = dev_records[("train-meg21-1t", "hardware_flops_per_s_per_chip")]
    assert r.measured == 163e12
    assert r.predicted == pytest.approx(163e12, rel=0.25)


def test_unreplayable_record_is_listed_and_exit_0(tmp_path, capsys):
    text = DEV.read_text(encoding="utf-8")
    start = text.index("- id: infer-ft13b-a100-40gb-tp1")
    rec = text[start:]
    bad = rec.replace("hardware: a100-40gb", "hardware: a100-96gb").replace("infer-ft13b-a100-40gb-tp1", "unknown-chip")
    p = tmp_path / "m.yaml"
    p.write_text("measurements:\n" + rec + bad, encoding="utf-8")
    assert main(["validate", str(p), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    skipped = [r for r in d["records"] if r["skipped"]]
    assert skipped and all(r["id"] == "unknown-chip" for r in skipped)
    assert "a100-96gb" in skipped[0]["reason"]
    assert d["summary"]["infer"]["count"] == 3
    assert skipped[0]["chips"] == 1  # the record's own chip count, also when skipped


def test_nothing_replayed_exits_1(tmp_path, capsys):
    """Every record on an unknown chip: the table lists them with the reason, then one line, exit 1."""
    text = DEV.read_text(encoding="utf-8")
    rec = text[text.index("- id: infer-ft13b-a100-40gb-tp1"):].replace("hardware: a100-40gb", "hardware: a100-96gb")
    p = tmp_path / "m.yaml"
    p.write_text("measurements:\n" + rec, encoding="utf-8")
    assert main(["validate", str(p)]) == 1
    cap = capsys.readouterr()
    assert "a100-96gb" in cap.out
    assert cap.err.strip().startswith("gpt4plan: nothing replayed") and len(cap.err.strip().splitlines()) == 1


@pytest.mark.parametrize("body,field", [
    ("measurements:\n- id: x\n  kind: train\n", "model"),
    ("measurements:\n- id: x\n  kind: serve\n  model: gpt-4\n  hardware: h100-sxm\n  workload: {}\n  measured: {mfu: 0.4}\n", "kind"),
    ("measurements:\n- id: x\n  kind: train\n  model: gpt-4\n  hardware: h100-sxm\n  workload: {}\n  measured: {tokens_per_sec: 3}\n", "tokens_per_sec"),
    ("nothing: here\n", "measurements"),
])
def test_malformed_file_exits_2(tmp_path, capsys, body, field):
    p = tmp_path / "bad.yaml"
    p.write_text(body, encoding="utf-8")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(str(p)) and field in err and len(err.splitlines()) == 1


def test_validate_plot_is_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "v.png"
    assert main(["validate", "--plot", str(out), "--format", "json"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _one_record(tmp_path, workload: str, extra: str = ""):
    p = tmp_path / "m.yaml"
    p.write_text("measurements:\n  - id: r1\n    kind: infer\n    model: llama-3.1-8b\n    hardware: h100-sxm\n"
                 f"    chips: 1\n    layout: {{tp: 1}}\n{extra}    workload: {workload}\n"
                 "    measured: {tpot_s: 0.012}\n", encoding="utf-8")
    return p


def test_closed_loop_concurrency_record_replays(tmp_path, capsys):
    p = _one_record(tmp_path, "{input_tokens: 512, output_tokens: 256, concurrency: 32, num_requests: 320}")
    assert main(["validate", str(p), "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)["records"][0]
    assert not rec["skipped"] and 0.005 < rec["predicted"] < 0.05


def test_unknown_setting_is_listed_a_typo_is_an_error(tmp_path, capsys):
    # a workload key the models do not have: the record is listed as not replayed, naming the key
    p = _one_record(tmp_path, "{input_tokens: 512, output_tokens: 256, batch: 8, think_time_s: 1.0}")
    assert main(["validate", str(p), "--format", "json"]) == 1  # nothing else replays
    rec = json.loads(capsys.readouterr().out)["records"][0]
    assert rec["skipped"] and "workload.think_time_s" in rec["reason"]
    # free metadata at the record level is fine
    p = _one_record(tmp_path, "{input_tokens: 512, output_tokens: 256, batch: 8}", extra="    engine: vllm 0.6\n")
    assert main(["validate", str(p), "--format", "json"]) == 0
    capsys.readouterr()
    # near misses of known keys are typos: one line, exit 2, with the suggestion
    for workload, extra, field in [("{input_tokens: 512, output_tokens: 256, concurency: 8}", "", "workload.concurency"),
                                   ("{input_tokens: 512, output_tokens: 256, batch: 8}", "    precison: fp8\n", "precison")]:
        p = _one_record(tmp_path, workload, extra)
        assert main(["validate", str(p)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"measurements[0].{field}: unknown field (did you mean" in err and len(err.splitlines()) == 1, err
