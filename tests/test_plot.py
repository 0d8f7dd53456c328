"""Frontier plots (`infer --plot`, `compare --plot`): a valid PNG, and the plotted points are the
non-dominated plans ($/1k output tokens vs tokens/s per user), read back from what was drawn."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gpt4plan.cli import main
from gpt4plan.serving import Pins, Targets, Workload, candidate_grid, evaluate, plan_inference
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _dominated(points: list[tuple[float, float]]) -> list[tuple]:
    """Pairs (p, q) where q is at least as fast and at least as cheap as p, and better in one."""
    out = []
    for i, (x1, y1) in enumerate(points):
        for j, (x2, y2) in enumerate(points):
            if i != j and x2 >= x1 and y2 <= y1 and (x2 > x1 or y2 < y1):
                out.append(((x1, y1), (x2, y2)))
    return out


def test_plotted_frontier_is_non_dominated(tmp_path):
    pytest.importorskip("matplotlib")
    from gpt4plan.report import frontier_series, plot_frontiers

    m, h = resolve_model("llama-3.1-70b"), resolve_hardware("h100-sxm")
    wl, tg = Workload(2048, 512), Targets(tpot_max_s=0.05)
    res = plan_inference(m, h, wl, tg, plot_points=200)
    series = frontier_series(res, "frontier")
    path = tmp_path / "frontier.png"
    drawn = plot_frontiers([series], str(path), "test")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert len(drawn) == 1
    pts = drawn[0]["points"]
    # what was drawn is what was computed (numpy: pytest.approx rejects nested tuples from pytest 9.2 on)
    np.testing.assert_allclose(np.array(pts, dtype=float), np.array(series["points"], dtype=float), rtol=1e-12)
    assert len(pts) >= 5
    assert _dominated(pts) == []
    # cheapest first: both speed and cost rise along the frontier
    xs, ys = zip(*pts, strict=True)
    assert all(np.diff(xs) > 0) and all(np.diff(ys) > 0)
    # and no evaluated candidate (fitting memory) is both faster and cheaper than a plotted point
    T, PP, EP, B = candidate_grid(m, h, tg, Pins())
    r = evaluate(m, h, wl, T, PP, EP, B)
    ok = r.mem <= h.memory * h.usable_memory
    speed, cost = 1 / r.tpot[ok], r.usd_out[ok]
    for x, y in pts:
        assert not np.any((speed >= x * (1 + 1e-9)) & (cost <= y * (1 - 1e-9)))
    # the TPOT target is drawn; points left of it miss it
    assert series["tpot_target_tokens_per_s"] == pytest.approx(20.0)
    assert series["meets_tpot"] == [x >= 20.0 * (1 - 1e-9) for x in xs]
    assert set(series["chosen"]) == {"min_chips", "min_cost"}


def test_infer_plot_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "seed.png"
    rc = main(["infer", "--plot", str(path)])
    capsys.readouterr()
    assert rc == 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_compare_plot_one_frontier_per_chip(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    import gpt4plan.report as report

    seen = {}
    real = report.plot_frontiers

    def spy(series, path, title):
        seen["drawn"] = real(series, path, title)
        return seen["drawn"]

    monkeypatch.setattr(report, "plot_frontiers", spy)
    path = tmp_path / "compare.png"
    rc = main(["compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,a100-80gb,tpu-v5e", "--plot", str(path)])
    capsys.readouterr()
    assert rc == 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(d["label"] for d in seen["drawn"]) == ["a100-80gb", "h100-sxm", "tpu-v5e"]
    for d in seen["drawn"]:
        assert _dominated(d["points"]) == []


def test_plot_without_matplotlib_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    for name in [k for k in sys.modules if k == "matplotlib" or k.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    path = tmp_path / "x.png"
    for argv in (["infer", "--plot", str(path)], ["compare", "-H", "h100-sxm", "--plot", str(path)]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err
        assert "matplotlib" in lines[0] and "gpt4plan[plot]" in lines[0]
    assert not path.exists()


def test_plot_unwritable_path_exit_2(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rc = main(["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--plot", str(tmp_path / "no" / "dir" / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "--plot: cannot write" in err


def test_plot_without_extension_writes_png_and_says_so(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rc = main(["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--plot", str(tmp_path / "frontier")])
    err = capsys.readouterr().err
    assert rc == 0
    written = tmp_path / "frontier.png"
    assert written.read_bytes()[:8] == PNG_SIGNATURE
    assert not (tmp_path / "frontier").exists()
    assert f"wrote {written}" in err  # the path really written, not the one typed


@pytest.mark.parametrize("command", [["infer"], ["compare", "-H", "h100-sxm"], ["validate"]])
def test_plot_into_a_directory_or_missing_folder_is_bad_input_before_planning(tmp_path, capsys, monkeypatch,
                                                                               command):
    pytest.importorskip("matplotlib")
    import gpt4plan.accuracy.replay
    import gpt4plan.serving

    def no_planning(*a, **k):
        raise AssertionError("planned before checking --plot")

    monkeypatch.setattr(gpt4plan.serving, "plan_inference", no_planning)
    monkeypatch.setattr(gpt4plan.accuracy.replay, "replay_file", no_planning)
    adir = tmp_path / "adir"
    adir.mkdir()
    for target, says in ((adir, "is a directory"), (tmp_path / "nodir" / "x.png", "does not exist")):
        rc = main([*command, "--plot", str(target)])
        err = capsys.readouterr().err
        assert rc == 2, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("gpt4plan: error: --plot: ") and says in lines[0]
    assert list(tmp_path.iterdir()) == [adir] and not list(adir.iterdir())
