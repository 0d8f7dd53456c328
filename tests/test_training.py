"""Training model: expectations from the seed figures, published runs and hand arithmetic."""

import math

import pytest

from gpt4plan.physics import arch
from gpt4plan.specs import model_from_mapping
from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.training import (
    FAILURE_RATE_PER_GPU_HOUR,
    TrainPins,
    TrainWorkload,
    bubble_fraction,
    goodput,
    model_state_bytes_per_param,
    plan_training,
    train_flops_per_token,
)

GPT4 = resolve_model("gpt-4")
SEED = TrainWorkload(tokens=13e12, seq_len=8192, global_batch_tokens=60e6)  # seed S8-S10


def test_gpt4_total_flops_matches_seed():
    """S12: 6 x active x tokens ~ 2.15e25 FLOP; ours adds the attention term 12*L*d_attn*S."""
    mf, _ = train_flops_per_token(GPT4, 8192)
    total = mf * 13e12
    assert total == pytest.approx(2.15e25, rel=0.15)
    # by hand: 6 * 278.16e9 active matmul params (embedding excluded) * 13e12 = 2.17e25, plus
    # attention 12 * 120 layers * (112 heads * 128) * 8192 * 13e12 = 2.20e24
    by_hand = 6 * arch.params(GPT4).active_matmul * 13e12 + 12 * 120 * 112 * 128 * 8192 * 13e12
    assert total == pytest.approx(by_hand, rel=1e-12)


def test_gpt4_on_25000_a100():
    """S13/S14: ~25,000 A100 for 90-100 days at 32-36% MFU, ~$63M at $1/GPU-hour."""
    hw = resolve_hardware("a100-40gb").with_price(1.0)
    res = plan_training(GPT4, hw, SEED, chips=25_000)
    assert res.feasible
    p = res.plan
    assert p.chips <= 25_000
    assert 0.25 <= p.mfu <= 0.45
    assert 70 <= p.days <= 130
    assert 40e6 <= p.usd <= 90e6
    # dollars = chips x days x 24 h x $1
    assert p.usd == pytest.approx(p.chips * p.days * 24 * 1.0, rel=1e-9)


def test_gpt4_on_8192_h100():
    """S15: ~8,192 H100 for ~55 days, ~$21.5M at $2/GPU-hour.

    The seed's own arithmetic: 2.15e25 FLOP in 55 days on 8,192 H100 needs 0.56 of the BF16 dense peak
    (no published H100 run reaches that; Llama 3 reports 38-43%) or 0.28 of the FP8 peak: an FP8 run.
    """
    hw = resolve_hardware("h100-sxm").with_price(2.0)
    fp8 = TrainWorkload(tokens=13e12, seq_len=8192, global_batch_tokens=60e6, precision="fp8")
    res = plan_training(GPT4, hw, fp8, chips=8192)
    p = res.plan
    assert 35 <= p.days <= 90
    assert 14e6 <= p.usd <= 35e6


def test_megatron_2021_gpt_1t_per_gpu_flops():
    """Narayanan et al. 2021 Table 1: GPT 1T on 3,072 A100-80GB, TP 8, PP 64, batch 3,072 x 2,048:
    163 TFLOP/s per GPU, counting the recompute forward (hardware FLOP)."""
    m = model_from_mapping({"name": "gpt-1t", "layers": 128, "d_model": 25600, "heads": 160, "ffn": 102400,
                            "ffn_gated": False, "vocab": 51200, "tied_embeddings": True})
    hw = resolve_hardware("a100-80gb")
    wl = TrainWorkload(tokens=1e12, seq_len=2048, global_batch_tokens=3072 * 2048)
    res = plan_training(m, hw, wl, chips=3072, pins=TrainPins(tp=8, pp=64, dp=6, recompute="full", microbatch=1,
                                                             interleave=1))
    assert res.feasible
    per_gpu = res.plan.hfu * 312e12
    assert per_gpu == pytest.approx(163e12, rel=0.20)


def test_zero_model_states_figure_1():
    """ZeRO paper Figure 1: 7.5B params, 64 GPUs, mixed-precision Adam (16 B/param)."""
    n, dp = 7.5e9, 64
    assert n * model_state_bytes_per_param(0, dp) == pytest.approx(120e9)
    assert n * model_state_bytes_per_param(1, dp) == pytest.approx(n * (2 + 2 + 12 / 64))  # 31.4 GB
    assert n * model_state_bytes_per_param(2, dp) == pytest.approx(n * (2 + 14 / 64))  # 16.6 GB
    assert n * model_state_bytes_per_param(3, dp) == pytest.approx(n * 16 / 64)  # 1.9 GB
    assert n * (2 + 2 + 12 / 64) / 1e9 == pytest.approx(31.4, abs=0.05)
    assert n * (2 + 14 / 64) / 1e9 == pytest.approx(16.6, abs=0.05)


def test_pipeline_bubble():
    assert bubble_fraction(8, 32) == pytest.approx(7 / 32)
    assert bubble_fraction(8, 32, 4) == pytest.approx(7 / 128)


def test_goodput_young_daly_by_hand():
    chips, delta, restart = 16384, 60.0, 300.0
    mtbf = 3600 / (chips * FAILURE_RATE_PER_GPU_HOUR)  # ~ 3.1 h: Llama 3 saw ~8 failures a day
    tau = math.sqrt(2 * delta * mtbf)
    expected = 1 / (1 + delta / tau + (tau / 2 + delta + restart) / mtbf)
    g, t, mt = goodput(chips, delta, restart)
    assert float(g) == pytest.approx(expected)
    assert float(t) == pytest.approx(tau) and float(mt) == pytest.approx(mtbf)
    assert 0.8 < float(g) < 0.95  # Meta reports > 90% effective training time


def test_activations_that_do_not_fit_name_memory():
    """A 405B dense model on 8 A100-40GB cannot hold its model states: memory binds."""
    m = resolve_model("llama-3.1-405b")
    res = plan_training(m, resolve_hardware("a100-40gb"), TrainWorkload(1e12, 8192, 4e6), chips=8)
    assert not res.feasible and res.binding_constraint == "memory"
    # no recompute at a long sequence: the pinned layout's activations alone overflow
    m8 = resolve_model("llama-3.1-8b")
    res = plan_training(m8, resolve_hardware("h100-sxm"), TrainWorkload(1e12, 131072, 131072 * 8), chips=8,
                        pins=TrainPins(tp=1, pp=1, dp=8, zero=3, recompute="none", microbatch=1))
    assert not res.feasible and res.binding_constraint == "memory"


def test_infeasible_plans_return_reason_codes_the_caller_words():
    """The planner says why in codes and numbers; the CLI and a budgets file name the settings their own way."""
    from gpt4plan.scenario import cli_flag
    from gpt4plan.training import word_train_issue

    h100, m8 = resolve_hardware("h100-sxm"), resolve_model("llama-3.1-8b")
    res = plan_training(m8, h100, TrainWorkload(1e12, 8192, 8192 * 16), pins=TrainPins(dp=64))
    assert res.binding_constraint == res.reason.code == "layout"
    (pin,) = res.reason.values["pins"]
    assert (pin.code, pin.values["dp"], pin.values["sequences"]) == ("dp_batch", 64, 16.0)
    assert word_train_issue(res.reason, cli_flag) == ("layout: --dp 64 x microbatch 1 exceeds the global batch of "
                                                      "16 sequences")
    # 1e18 tokens in a day at the command line's chip limit: only the deadline or the work can give
    res = plan_training(m8, h100, TrainWorkload(1e18, 8192, 1e12), days=1, max_chips=10_000_000)
    assert res.reason.code == "days" and res.reason.values["hint"] == "max_chips_at_limit"
    assert "(--max-chips is at its limit of 10,000,000: allow more --days or train on fewer --tokens)" in \
        word_train_issue(res.reason, cli_flag)
    assert "(max-chips is at its limit of 10,000,000: allow more days or train on fewer tokens)" in \
        word_train_issue(res.reason, lambda name: name.replace("_", "-"))
    ok = plan_training(resolve_model("llama-3.1-70b"), h100, TrainWorkload(1e12, 8192, 8192 * 64), chips=512,
                       pins=TrainPins(tp=8, pp=16))
    assert ok.feasible and ok.reason is None and ok.binding_constraint is None
    assert [w.code for w in ok.warnings] == ["bubble"] and ok.warnings[0].values["share"] > 0.2


def test_days_objective_gives_fewest_chips():
    hw = resolve_hardware("h100-sxm")
    m = resolve_model("llama-3.1-8b")
    wl = TrainWorkload(15e12, 8192, 4e6)
    res = plan_training(m, hw, wl, days=30)
    assert res.feasible and res.plan.days <= 30
    faster = plan_training(m, hw, wl, days=15)
    assert faster.plan.chips >= res.plan.chips


def test_more_chips_not_slower():
    hw = resolve_hardware("h100-sxm")
    m = resolve_model("llama-3.1-70b")
    wl = TrainWorkload(1e12, 8192, 4e6)
    a = plan_training(m, hw, wl, chips=512)
    b = plan_training(m, hw, wl, chips=1024)
    assert b.plan.days <= a.plan.days


def test_cli_train_json_contract(capsys):
    import json

    from gpt4plan.cli import main

    rc = main(["train", "--chips", "25000", "--price-per-hour", "1", "--global-batch", "60M", "--tokens", "13e12",
               "--format", "json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert {"name", "params_total", "params_active"} <= set(d["model"])
    for k in ("chips", "tp", "pp", "dp", "ep", "zero_stage", "microbatch", "recompute", "global_batch_tokens",
              "step_time_s", "mfu", "hfu", "total_flops", "days", "gpu_hours", "usd", "memory_per_chip_bytes",
              "goodput"):
        assert k in d["plan"], k
    assert d["feasible"] is True and d["binding_constraint"] is None
    assert isinstance(d["alternatives"], list)
    p = d["plan"]
    assert p["chips"] == p["tp"] * p["pp"] * p["dp"]


def test_cli_train_errors_and_emit(capsys):
    from gpt4plan.cli import main

    assert main(["train", "--chips", "8", "--days", "3"]) == 2
    assert "--chips and --days" in capsys.readouterr().err
    assert main(["train", "--tokens", "13 furlongs"]) == 2
    assert main(["train", "-m", "llama-3.1-405b", "--chips", "8"]) == 1
    assert "memory" in capsys.readouterr().err
    assert main(["train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "1T", "--chips", "64",
                 "--emit", "megatron"]) == 0
    out = capsys.readouterr().out
    for flag in ("--tensor-model-parallel-size", "--pipeline-model-parallel-size", "--micro-batch-size",
                 "--global-batch-size"):
        assert flag in out
    # the architecture flags Megatron-LM needs to build a Llama (its defaults are learned positions,
    # LayerNorm and biased linears)
    for flag in ("--swiglu", "--position-embedding-type rope", "--normalization RMSNorm", "--disable-bias-linear",
                 "--group-query-attention", "--num-query-groups 8"):
        assert flag in out


# ---------------------------------------------------------------------------------------------
# Counting: MLA's A V product and full recompute (issue 16, item 11a)

#: DeepSeek-V2-Lite's attention (config.json of deepseek-ai/DeepSeek-V2-Lite: 27 layers, hidden 2048,
#: 16 heads, q_lora_rank none, kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128);
#: a dense FFN stands in for the experts, which do not enter the attention term.
V2_LITE = model_from_mapping({
    "name": "deepseek-v2-lite-attn", "layers": 27, "d_model": 2048, "heads": 16, "kv_heads": 16, "head_dim": 192,
    "ffn": 10944, "vocab": 102400,
    "mla": {"q_lora_rank": 0, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
            "v_head_dim": 128}})


def test_mla_attention_train_flops_use_v_head_dim():
    """Q K^T runs over the 192-wide query/key heads (128 nope + 64 rope), A V over the 128-wide value heads.

    Per token, forward + backward, seq 8192 (no causal halving, as Megatron):
    6 * L * S * h * (d_qk + d_v) = 6 * 27 * 8192 * 16 * (192 + 128) = 6,794,772,480 FLOP.
    Counting both products at 192 (12 * L * h * 192 * S) gives 8,153,726,976: 384 / 320 = 1.2x, 20% high.
    """
    from gpt4plan.training import attention_train_flops_per_token

    assert attention_train_flops_per_token(V2_LITE, 8192) == pytest.approx(6_794_772_480, rel=1e-12)
    # the model FLOP: 6 x active matmul params + that attention term
    mf, hf = train_flops_per_token(V2_LITE, 8192, "none")
    assert mf == pytest.approx(6 * arch.params(V2_LITE).active_matmul + 6_794_772_480, rel=1e-12)
    assert hf == mf
    # inference counts the same products forward only: per layer 2*c*h*192 + 2*c*h*128 = 27 * 8192 * 16 * 640
    assert arch.attention_flops_per_token(V2_LITE, 8192) == pytest.approx(27 * 8192 * 16 * 640, rel=1e-12)
    assert arch.attention_flops_per_token(V2_LITE, 8192) == pytest.approx(2_264_924_160, rel=1e-12)


def test_full_recompute_reruns_layers_not_the_lm_head():
    """GPT-1.3B shape (24 layers, h 2048, 4h GELU MLP, no biases, s 2048, V 51200).

    Narayanan et al. 2021 §5.1: model FLOP per batch ``72 B s L h^2 (1 + s/6h + V/12Lh)``, with full
    recompute ``96 B s L h^2 (1 + s/6h + V/16Lh)`` -- the layers' 3x becomes 4x, the LM head stays 3x.
    s/6h = 2048/12288 = 0.166667; V/16Lh = 51200/786432 = 0.065104; V/12Lh = 51200/589824 = 0.086806:
    HFU / MFU = 96 * 1.231771 / (72 * 1.253472) = 118.25 / 90.25 = 1.31025 (4/3 would recompute the head).
    """
    m = model_from_mapping({"name": "gpt-1.3b", "layers": 24, "d_model": 2048, "heads": 16, "ffn": 8192,
                            "ffn_gated": False, "vocab": 51200, "tied_embeddings": True})
    L, h, s, V = 24, 2048, 2048, 51200
    mf, hf = train_flops_per_token(m, s, "full")
    assert mf == pytest.approx(72 * s * L * h**2 * (1 + s / (6 * h) + V / (12 * L * h)) / s, rel=1e-12)
    assert hf == pytest.approx(96 * s * L * h**2 * (1 + s / (6 * h) + V / (16 * L * h)) / s, rel=1e-12)
    assert hf / mf == pytest.approx(118.25 / 90.25, rel=1e-9)
    assert hf / mf == pytest.approx(1.31025, abs=5e-6)
    # the plan's HFU / MFU carries the same ratio
    res = plan_training(m, resolve_hardware("a100-80gb"), TrainWorkload(1e9, s, 512 * s), chips=8,
                        pins=TrainPins(tp=1, pp=1, dp=8, recompute="full", microbatch=1, zero=1, interleave=1))
    assert res.feasible
    assert res.plan.hfu / res.plan.mfu == pytest.approx(1.31025, abs=5e-6)


# ---------------------------------------------------------------------------------------------
# A token budget smaller than one global batch is bad input (issue 16, item 3)


@pytest.mark.parametrize("args, option", [
    # 2T-token batches cannot train a 1T budget: one step would be twice the run
    (["--tokens", "1T", "--chips", "64", "--global-batch", "2T"], "--global-batch 2T:"),
    # 1e18 tokens per step vs the default 13T budget
    (["--global-batch", "1e18"], "--global-batch 1e18:"),
    # 1,000 tokens is 1/4000 of one step of the default 4M-token batch
    (["--tokens", "1k"], "--tokens 1k:"),
    (["--tokens", "1M", "--global-batch", "2M"], "--tokens 1M:"),
])
def test_cli_train_budget_below_one_step_is_bad_input(capsys, args, option):
    from cli_helpers import one_line, run_cli

    rc, out, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", *args)
    assert rc == 2 and out == ""
    assert one_line(err).startswith(f"gpt4plan: error: {option} ")
    rc, out, err = run_cli(capsys, "compare", "--train", "-m", "llama-3.1-8b", *args[:2])
    if args[0] == "--tokens" and len(args) == 2:  # compare --train takes the same budget rule
        assert rc == 2 and one_line(err).startswith(f"gpt4plan: error: {option} ")


def test_cli_train_budget_of_exactly_one_step_is_accepted(capsys):
    """tokens = global batch (512 sequences x 8,192 = 4,194,304 tokens) is one step: a plan, not an error."""
    from cli_helpers import run_cli

    rc, out, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tokens", "4194304",
                           "--global-batch", "4194304", "--chips", "8", "--format", "json")
    assert rc == 0, err
    import json

    assert json.loads(out)["plan"]["steps"] == 1


@pytest.mark.parametrize("workload, line, field, words", [
    ("{tokens: 1T, global_batch: 2T}", 6, "global_batch", ["larger than the training budget"]),
    ("{tokens: 1k, global_batch: 4M}", 6, "tokens", ["less than one optimizer step"]),
])
def test_check_train_budget_below_one_step_is_bad_input(capsys, tmp_path, workload, line, field, words):
    from cli_helpers import one_line, run_cli

    p = tmp_path / "budgets.yaml"
    p.write_text("budgets:\n  - name: tiny\n    kind: train\n    model: llama-3.1-8b\n    hardware: h100-sxm\n"
                 f"    workload: {workload}\n    targets: {{chips: 64}}\n")
    rc, out, err = run_cli(capsys, "check", p)
    assert rc == 2 and out == ""
    got = one_line(err)
    assert got.startswith(f"{p}:{line}: budgets[0].workload.{field}: "), got
    for w in words:
        assert w in got


def test_global_batch_of_a_fraction_of_a_sequence_is_bad_input(capsys):
    """12,288 tokens at 8,192 per sequence are 1.5 sequences: no layout can take half a sequence (the search
    allows 5% rounding, BATCH_TOLERANCE), so it is bad input naming a whole alternative, not 'no feasible
    plan: layout' (exit 1) as before; 16,384 = 2 sequences plans."""
    from cli_helpers import one_line, run_cli

    base = ("train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--chips", "64", "--seq-len", "8192", "--tokens", "1M")
    rc, _, err = run_cli(capsys, *base, "--global-batch", "12288")
    assert rc == 2
    assert one_line(err) == ("gpt4plan: error: --global-batch 12288 is 1.5 sequences of 8,192 tokens; give whole "
                             "sequences, e.g. 16,384 tokens (2 sequences)")
    rc, _, _ = run_cli(capsys, *base, "--global-batch", "16384")
    assert rc == 0
    # 4M tokens = 488.3 sequences: within 5% of 488, planned as before
    rc, _, _ = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--chips", "64", "--tokens", "1T")
    assert rc == 0
