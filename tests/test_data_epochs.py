"""`train --unique-tokens T --epochs E` and `--data name=T:E,...` (issue 15, item 4): the token total a data
mix implies, and the warning past 4 epochs (Muennighoff et al. 2023, "Scaling Data-Constrained Language
Models")."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import one_line, run_cli
from gpt4plan.training.data import DataMix, DataSource, effective_tokens, repeat_issue

SEED = ("-m", "gpt-4", "-H", "a100-40gb", "--chips", "25000", "--price-per-hour", "1", "--format", "json")


def test_seed_text_two_epochs_and_code_four_make_13t():
    # seed S8: ~13T tokens = text 2 epochs + code 4 epochs (no split given): 5.5T x 2 + 0.5T x 4 = 11T + 2T = 13T
    mix = DataMix((DataSource("text", 5.5e12, 2), DataSource("code", 0.5e12, 4)))
    assert mix.tokens == pytest.approx(13e12)
    assert mix.max_epochs == 4
    assert repeat_issue(mix) is None  # 4 epochs is within "up to 4 epochs ... negligible"


@given(code=st.floats(0.0, 3.25e12))
@settings(max_examples=200, deadline=None)
def test_every_split_of_the_seed_gives_13t(code):
    """Any unique code U_c with U_t = (13T - 4 U_c) / 2 unique text tokens reproduces the seed's 13T."""
    text = (13e12 - 4 * code) / 2
    mix = DataMix((DataSource("text", text, 2), DataSource("code", code, 4)))
    assert mix.tokens == pytest.approx(13e12, rel=1e-12)


def test_effective_tokens_follow_the_papers_fit():
    # eq. 5, R*_D = 15.4: 4 epochs (3 repetitions): 1 + 15.4 (1 - e^(-3/15.4)) = 1 + 15.4 x 0.17700 = 3.7258
    assert effective_tokens(1.0, 4) == pytest.approx(3.7258, abs=1e-3)
    assert effective_tokens(1.0, 1) == 1.0 and effective_tokens(2.0, 0.5) == 1.0
    # no number of epochs is worth more than 1 + 15.4 = 16.4 epochs of unique data
    assert effective_tokens(1.0, 1e4) == pytest.approx(16.4, rel=1e-6)


def test_repeat_warning_names_the_most_repeated_source():
    mix = DataMix((DataSource("text", 1e12, 4.5), DataSource("code", 1e11, 8)))
    issue = repeat_issue(mix)
    assert issue is not None and issue.code == "repeated_data"
    assert issue.values["name"] == "code" and issue.values["epochs"] == 8
    # 8 epochs: (1 + 15.4 (1 - e^(-7/15.4))) / 8 = (1 + 15.4 x 0.36525) / 8 = 6.6249 / 8 = 0.828
    assert issue.values["worth"] == pytest.approx(0.828, abs=1e-3)


def test_cli_data_mix_plans_as_the_same_total(capsys):
    """--data text=5.5T:2,code=0.5T:4 is --tokens 13T: the same plan, with the data and no warning."""
    rc, out, err = run_cli(capsys, "train", *SEED, "--data", "text=5.5T:2,code=0.5T:4")
    assert rc == 0, err
    mixed = json.loads(out)
    rc, out, _ = run_cli(capsys, "train", *SEED, "--tokens", "13T")
    plain = json.loads(out)
    assert mixed["workload"]["tokens"] == 13e12
    assert mixed["plan"]["days"] == plain["plan"]["days"] and mixed["plan"]["usd"] == plain["plan"]["usd"]
    d = mixed["data"]
    assert d["tokens"] == 13e12 and d["max_epochs"] == 4 and d["unique_tokens"] == 6e12
    assert [(s["name"], s["unique_tokens"], s["epochs"], s["tokens"]) for s in d["sources"]] == [
        ("text", 5.5e12, 2, 11e12), ("code", 0.5e12, 4, 2e12)]
    assert not any("Muennighoff" in w for w in mixed["warnings"])
    assert plain["data"] is None


def test_cli_unique_tokens_and_epochs_warn_past_four(capsys):
    # 1.3T unique x 10 epochs = 13T
    rc, out, err = run_cli(capsys, "train", *SEED, "--unique-tokens", "1.3T", "--epochs", "10")
    assert rc == 0, err
    res = json.loads(out)
    assert res["workload"]["tokens"] == pytest.approx(13e12)
    warning = next(w for w in res["warnings"] if "Muennighoff" in w)
    assert "10 epochs" in warning and "Scaling Data-Constrained Language Models" in warning
    rc, out, _ = run_cli(capsys, "train", *SEED[:-2], "--unique-tokens", "1.3T", "--epochs", "10")
    assert rc == 0 and "13 T tokens" in out and "Muennighoff" in out.replace("\n", " ")


@pytest.mark.parametrize(("args", "expected"), [
    (("--tokens", "13T", "--data", "text=1T:2"), "--tokens and --unique-tokens/--epochs/--data"),
    (("--data", "text=1T:2", "--epochs", "3"), "--data and --unique-tokens/--epochs"),
    (("--epochs", "3"), "--epochs needs --unique-tokens"),
    (("--data", "text=1T:x"), "--data text: cannot read 'x'"),
    (("--data", "text=1T:0"), "--data text: epochs must be above 0"),
    (("--data", "text=-1T:2"), "--data text: must be between 1 and 1e18"),
    (("--data", "text"), "--data: 'text': give name=TOKENS:EPOCHS"),
    (("--data", "text=1T,text=2T"), "'text' is given twice"),
    (("--unique-tokens", "1T", "--epochs", "nan"), "--epochs: epochs must be above 0"),
    (("--unique-tokens", "1k"), "--unique-tokens x --epochs: 1,000 tokens: less than one optimizer step"),
])
def test_cli_bad_data_is_one_line_exit_2(capsys, args, expected):
    rc, _, err = run_cli(capsys, "train", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--chips", "64", *args)
    assert rc == 2
    assert expected in one_line(err)


