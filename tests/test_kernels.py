"""Measured kernel tables: interpolation, physical bounds, provenance, and where they price a plan.

Expectations are derived by hand: a power law is interpolated exactly in log space; a measured point comes
back exactly; the roofline bounds use the H100 SXM datasheet (989.4 TFLOP/s dense BF16, 3.35 TB/s HBM3).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.cli_helpers import run_cli

from gpt4plan.physics.kernels import CHIP_SYSTEMS, ENGINES, TABLE_DIR, interp_loglog, tables_for
from gpt4plan.physics.measured import gemm_time_s
from gpt4plan.physics.step import stage_model
from gpt4plan.serving import Workload
from gpt4plan.serving.step import kernel_tables, performance_model
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100_PEAK_BF16 = 989.4e12  # NVIDIA H100 SXM datasheet, dense BF16
H100_HBM = 3.35e12


@pytest.fixture(scope="module")
def h100():
    kt = tables_for("h100-sxm", "trtllm")
    assert kt is not None
    return kt


def test_every_shipped_table_names_its_source_engine_and_license():
    files = sorted(TABLE_DIR.glob("*.npz"))
    assert len(files) == len(CHIP_SYSTEMS) * len(ENGINES)  # 5 chips x 3 engines
    total = 0
    for f in files:
        hw, engine = f.name.split(".")[:2]
        kt = tables_for(hw, engine)
        m = kt.meta
        assert m["source"].startswith("aiconfigurator-core ") and "Apache-2.0" in m["license"]
        assert m["engine"] == engine and m["hardware"] == hw and m["system"] == CHIP_SYSTEMS[hw]
        assert m["engine_versions"]["gemm"] and m["device"].startswith("NVIDIA")
        total += f.stat().st_size
    assert total < 6e6  # "a few MB at most for the whole catalog": 5.2 MB with the MoE and MLA tables


def test_every_shipped_latency_is_finite_and_positive():
    for f in sorted(TABLE_DIR.glob("*.npz")):
        hw, engine = f.name.split(".")[:2]
        for key, arr in tables_for(hw, engine).arrays.items():
            if key.endswith("_s"):
                assert np.isfinite(arr).all() and (arr > 0).all(), f"{f.name}: {key}"


def test_a_power_law_is_interpolated_exactly_between_grid_points():
    # t = 1e-9 * m * n^0.5 on a coarse grid: log t is linear in (log m, log n), so any point in between is exact
    m, n = np.array([1.0, 16.0, 256.0]), np.array([64.0, 4096.0])
    table = 1e-9 * m[:, None] * np.sqrt(n)[None, :]
    got = interp_loglog((m, n), table, (np.array([4.0, 100.0]), np.array([512.0, 1000.0])))
    assert got == pytest.approx([1e-9 * 4 * 512 ** 0.5, 1e-9 * 100 * 1000 ** 0.5], rel=1e-12)


def test_beyond_the_grid_time_is_proportional_above_and_clamped_below():
    m, n = np.array([1.0, 16.0]), np.array([64.0, 128.0])
    table = np.array([[1.0, 2.0], [3.0, 4.0]])
    # m = 32 is twice the largest measured m: twice the edge's time (3 at n = 64)
    assert interp_loglog((m, n), table, (32.0, 64.0)) == pytest.approx(6.0)
    # m = 0.5 is below the grid: the edge's time (a kernel is not cheaper than at m = 1)
    assert interp_loglog((m, n), table, (0.5, 128.0)) == pytest.approx(2.0)
    # unless the axis is "linear" below (half a prompt's attention costs half)
    assert interp_loglog((m, n), table, (0.5, 128.0), below={0: "linear"}) == pytest.approx(1.0)


def test_measured_points_come_back_exactly(h100):
    a = h100.arrays
    d = a["gemm_dtypes"].tolist().index("bfloat16")
    rng = np.random.default_rng(0)
    i, j, k = (rng.integers(0, len(a[f"gemm_{x}"]), 50) for x in "mnk")
    got = h100.gemm_s(a["gemm_m"][i], a["gemm_n"][j], a["gemm_k"][k], "bf16")
    assert got == pytest.approx(a["gemm_s"][d][i, j, k].astype(float), rel=1e-6)


def test_a_4096_cube_gemm_reads_as_the_source_measured_it(h100):
    # aiconfigurator-core 0.12.0, h100_sxm/gemm/trtllm/1.3.0rc20: m = n = k = 4096, bfloat16, 0.174285 ms
    # (2 * 4096^3 FLOP / 0.174285 ms = 789 TFLOP/s, 80 % of the 989.4 TFLOP/s datasheet peak).  The distiller's
    # noise repair (monotone in every dimension) may move a cell by a few per cent: here by under 3 %.
    assert h100.gemm_s(4096.0, 4096.0, 4096.0, "bf16") == pytest.approx(0.174285e-3, rel=0.03)


dims = st.floats(min_value=1.0, max_value=70000.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(m=dims, n=dims, k=dims, grow=st.floats(min_value=1.0, max_value=8.0), axis=st.integers(0, 2))
def test_gemm_time_grows_with_each_dimension_and_respects_the_roofline(h100, m, n, k, grow, axis):
    shape = [m, n, k]
    bigger = list(shape)
    bigger[axis] *= grow
    t0 = gemm_time_s(h100, "bf16", H100_PEAK_BF16, H100_HBM, 2.0, *shape)
    t1 = gemm_time_s(h100, "bf16", H100_PEAK_BF16, H100_HBM, 2.0, *bigger)
    assert t1 >= t0 * (1 - 1e-9)
    roof = max(2 * m * n * k / H100_PEAK_BF16, (k * n * 2 + 2 * (m * k + m * n)) / H100_HBM)
    assert t0 >= 0.95 * roof


@settings(max_examples=100, deadline=None)
@given(b=st.floats(min_value=0.25, max_value=4096.0), c=st.floats(min_value=1.0, max_value=200000.0),
       grow=st.floats(min_value=1.0, max_value=4.0))
def test_decode_attention_grows_with_batch_and_context(h100, b, c, grow):
    def t(batch, ctx):
        return float(h100.attention_s("generation", batch, ctx, 8.0, 1.0, 128.0, False)[()])
    assert t(b * grow, c) >= t(b, c) * (1 - 1e-9)
    assert t(b, c * grow) >= t(b, c) * (1 - 1e-9)


def test_no_sequences_no_attention_time(h100):
    assert h100.attention_s("context", 0.0, 2048.0, 16.0, 2.0, 128.0, False) == 0.0


def test_a_chip_without_tables_gives_the_roofline_numbers_unchanged():
    model, hw = resolve_model("llama-3.1-70b"), resolve_hardware("mi300x")
    wl = Workload(performance_model="measured")
    assert kernel_tables(hw, wl) is None
    pm = performance_model(hw, wl)
    assert pm["kind"] == "roofline" and "no measured trtllm tables for mi300x" in pm["reason"]
    tp = np.array([1.0, 2.0, 8.0])
    roof = stage_model(model, hw, tp, 1.0, 1.0, prompt_tokens=2048, output_tokens=512)
    same = stage_model(model, hw, tp, 1.0, 1.0, prompt_tokens=2048, output_tokens=512, kernels=kernel_tables(hw, wl))
    assert same.forward(np.array(16.0), 1.0, np.array(0.0)).t.tolist() == \
        roof.forward(np.array(16.0), 1.0, np.array(0.0)).t.tolist()


def test_a_precision_the_tables_lack_falls_back_to_the_roofline():
    # the A100 tables hold bfloat16 GEMMs only: fp8 weights (run in 16-bit on an A100) -> the fp16 GEMM...
    hw = resolve_hardware("h100-sxm")
    wl = Workload(weights="int8", performance_model="measured")  # W8A8 int8: no int8 GEMM table on H100
    pm = performance_model(hw, wl)
    assert pm["kind"] == "roofline" and "hold no int8 GEMMs" in pm["reason"]


def test_infer_json_says_which_model_priced_the_plan(capsys):
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--performance-model", "measured",
                         "--engine", "vllm", "--format", "json")
    assert rc == 0
    pm = json.loads(out)["performance_model"]
    assert pm["kind"] == "measured-kernels" and pm["engine"] == "vllm" and pm["engine_version"] == "0.24.0"
    assert pm["source"] == "aiconfigurator-core 0.12.0"
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--format", "json")
    assert json.loads(out)["performance_model"]["kind"] == "roofline"


def test_the_table_view_names_the_performance_model(capsys):
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h200", "--performance-model", "measured")
    assert rc == 0
    assert "performance model: measured kernels (aiconfigurator-core 0.12.0, trtllm 1.3.0rc20" in " ".join(out.split())


def test_measured_kernels_price_a_decode_step_near_its_weight_read():
    # Llama-3.1-8B, TP 1, batch 1 on H100: the step reads 16.06 GB of bf16 weights; at the 3.35 TB/s datasheet
    # bandwidth that alone takes 4.79 ms, so the step can be no faster; the GEMMs run at 60-85 % of the
    # bandwidth at m = 1 in the measured table, so the step is under 4.79 / 0.6 + the non-matmul time.
    model, hw = resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm")
    kt = tables_for("h100-sxm", "trtllm")
    st_k = stage_model(model, hw, np.array([1.0]), 1.0, 1.0, prompt_tokens=128, output_tokens=128, kernels=kt)
    t = float(st_k.forward(np.array([1.0]), 1.0, np.array([0.0])).t[0])
    assert 4.79e-3 <= t <= 4.79e-3 / 0.6 + 1.0e-3


def test_distilled_metadata_is_json():
    with np.load(TABLE_DIR / "h200.sglang.npz") as z:
        meta = json.loads(str(z["meta"]))
    assert meta["engine"] == "sglang" and meta["device"] == "NVIDIA H200"


def test_training_backward_gemms_are_the_forward_shapes_transposed():
    # one forward GEMM [m, k] x [k, n] has backward GEMMs [m, n] x [n, k] (input gradient) and [k, m] x [m, n]
    # (weight gradient): each does the forward's 2 m n k FLOP, so at the compute roofline the three take 3x
    from gpt4plan.physics.measured import train_microbatch_s

    model, hw = resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm")
    kt = tables_for("h100-sxm", "trtllm")
    args = (model, kt, "bf16", hw.peak("bf16"), hw.peak("bf16"), hw.memory_bandwidth)
    one = train_microbatch_s(*args, np.array([1.0]), 1.0, 1.0, 8192.0, 1.0, 32.0, 0.0)
    full = train_microbatch_s(*args, np.array([1.0]), 1.0, 1.0, 8192.0, 1.0, 32.0, 1.0)
    # a microbatch of 8,192 tokens of Llama-3.1-8B: 6 x 7.5e9 matmul params x 8192 = 3.7e14 FLOP of GEMMs
    # (+ attention); at 989 TFLOP/s that is 0.37 s at the least, and the measured GEMMs run at 60-85 % of it
    assert 0.37 < float(one[0]) < 0.37 / 0.55
    # full recompute adds one forward: a third of the GEMM time, plus the attention forward
    assert 1.25 < float(full[0] / one[0]) < 1.45


def test_train_json_says_which_model_priced_the_plan(capsys):
    rc, out, _ = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--chips", "64", "--tokens", "1T",
                         "--performance-model", "measured", "--format", "json")
    assert rc == 0 and json.loads(out)["performance_model"]["kind"] == "measured-kernels"
    rc, out, _ = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "tpu-v5p", "--chips", "64", "--tokens", "1T",
                         "--performance-model", "measured", "--format", "json")
    pm = json.loads(out)["performance_model"]
    assert rc == 0 and pm["kind"] == "roofline" and pm["reason"] == "no measured trtllm tables for tpu-v5p"


def test_all_reduce_is_measured_for_2_4_8_ranks_and_left_to_physics_beyond(h100):
    a = h100.arrays
    i = int(np.flatnonzero(a["all_reduce_bytes"] == 1048576.0)[0])  # 1 MiB, measured
    assert h100.all_reduce_s(4.0, 1048576.0) == pytest.approx(float(a["all_reduce_s"][1, i]), rel=1e-6)
    assert h100.all_reduce_s(1.0, 1e6) == 0.0  # one rank: nothing to reduce
    assert np.isnan(h100.all_reduce_s(16.0, 1e6))  # not measured: the caller's alpha-beta model prices it
    # a 1 MiB all-reduce over 4 NVLink ranks cannot beat the link: 2 (n-1)/n x 1 MiB at 450 GB/s per direction
    assert float(h100.all_reduce_s(4.0, 1048576.0)) >= 2 * 3 / 4 * 1048576 / 450e9


@pytest.mark.parametrize("weights", ["bf16", "fp8", "fp4", "int4"])
def test_measured_kernels_give_finite_plans_for_every_catalog_model_on_every_chip_with_tables(weights):
    import math

    from gpt4plan.serving import Targets, plan_inference
    from gpt4plan.specs.catalog import model_names

    for mn in model_names():
        m = resolve_model(mn)
        for hn in CHIP_SYSTEMS:
            wl = Workload(512, 128, weights=weights, kv_cache="fp8" if weights == "fp8" else "bf16",
                          performance_model="measured")
            res = plan_inference(m, resolve_hardware(hn), wl, Targets(tpot_max_s=0.2))
            for p in res.plans + res.frontier + ([res.nearest] if res.nearest else []):
                for k, v in p.as_dict().items():
                    if isinstance(v, float) and k != "free_per_chip_bytes":
                        assert math.isfinite(v) and v >= 0, (mn, hn, weights, k, v)


def test_a_measured_plan_carries_the_bands_of_the_measured_model(capsys):
    import math

    import yaml

    table = yaml.safe_load((TABLE_DIR.parent / "error_bands.measured.yaml").read_text(encoding="utf-8"))["bands"]
    q10, q90 = table["h100-sxm"]["decode"]["q10"], table["h100-sxm"]["decode"]["q90"]
    rc, out, _ = run_cli(capsys, "infer", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--tpot", "30ms",
                         "--performance-model", "measured", "--format", "json")
    p = json.loads(out)["plans"][1]
    # a time's band is [x e^q10, x e^q90] (accuracy/bands.py)
    assert p["tpot_s_band"] == pytest.approx([p["tpot_s"] * math.exp(q10), p["tpot_s"] * math.exp(q90)])


def test_weight_only_int4_and_a_kv_precision_without_tables_are_not_priced_as_bf16():
    hw = resolve_hardware("b200")
    pm = performance_model(hw, Workload(weights="int4", performance_model="measured"))
    assert pm["kind"] == "roofline" and pm["reason"] == "the trtllm tables of b200 hold no int4 weight-only GEMMs"
    kt = tables_for("h100-sxm", "trtllm")
    assert kt.has_attention("generation", "fp8") and kt.has_attention("generation", "bf16")
    assert not kt.has_attention("generation", "fp4")  # NVFP4 KV: no table -> the attention's datasheet roofline
    assert not tables_for("a100-80gb", "trtllm").has_attention("generation", "fp8")  # no FP8 KV on A100


def test_a_copy_of_a_catalog_chip_with_other_numbers_is_not_priced_by_its_tables(tmp_path):
    from gpt4plan.specs.catalog import catalog_dir

    text = (catalog_dir("hardware") / "h100-sxm.yaml").read_text(encoding="utf-8")
    lines = [ln if not ln.startswith("memory_bandwidth:") else "memory_bandwidth: 1.0 TB/s" for ln in text.splitlines()]
    f = tmp_path / "h100-sxm.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pm = performance_model(resolve_hardware(str(f)), Workload(performance_model="measured"))
    assert pm["kind"] == "roofline"
    assert pm["reason"] == "this h100-sxm spec's memory bandwidth differs from the catalog chip the tables were measured on"
    same = tmp_path / "same" / "h100-sxm.yaml"
    same.parent.mkdir()
    same.write_text(text, encoding="utf-8")  # an identical copy is the same chip
    assert performance_model(resolve_hardware(str(same)), Workload(performance_model="measured"))["kind"] == \
        "measured-kernels"


def test_the_parts_of_a_measured_step_never_exceed_it():
    # the why table's compute / memory rows of a measured pass are its datasheet bounds, below its time
    model, hw = resolve_model("llama-3.1-70b"), resolve_hardware("h100-sxm")
    st_k = stage_model(model, hw, np.array([8.0, 4.0]), 1.0, 1.0, prompt_tokens=32768, output_tokens=1024,
                       kernels=tables_for("h100-sxm", "trtllm"))
    sp = st_k.forward(np.array([64.0, 8.0]), 1.0, np.array([0.0, 0.0]))
    assert (sp.t_c <= sp.t).all() and (sp.t_m <= sp.t).all() and (sp.t_x <= sp.t).all()


def test_engine_without_measured_kernels_is_bad_input(capsys):
    rc, _, err = run_cli(capsys, "infer", "--engine", "vllm")
    assert rc == 2 and "--engine vllm: picks whose measured kernel tables price the passes" in err


def test_compare_names_each_rows_model_and_says_when_they_differ(capsys):
    rc, out, err = run_cli(capsys, "compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,mi300x", "--tpot", "50ms",
                           "--performance-model", "measured", "--format", "json")
    assert rc == 0
    kinds = {r["hardware"]: r["performance_model"]["kind"] for r in json.loads(out)["rows"]}
    assert kinds == {"h100-sxm": "measured-kernels", "mi300x": "roofline"}
    assert "measured kernels for h100-sxm; the roofline for mi300x" in err


def test_csv_says_on_stderr_which_model_priced_the_rows(capsys):
    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "mi300x", "--performance-model", "measured",
                         "--format", "csv")
    assert rc == 0 and "note: performance model: roofline" in err and "no measured trtllm tables for mi300x" in err
