"""Fuzzing the command line and study files: bad input is one sentence, never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lookinside.ablate
import lookinside.train
from lookinside.cli import main
from lookinside.errors import LookinsideError
from lookinside.study import load_study


class Reached(Exception):  # noqa: N818 (not an error: a signal)
    """The command got past parsing and validation: training would start here."""


def reached(*args: Any, **kwargs: Any) -> None:
    raise Reached


FLAGS = [
    "--data",
    "--subset",
    "--epochs",
    "--bs",
    "--lr",
    "--sched",
    "--arch",
    "--act",
    "--norm",
    "--init",
    "--device",
    "--seed",
    "--out",
    "--clip",
    "--resume",
    "--no-telemetry",
    "--quick",
    "--jobs",
    "--help",
    "--nope",
]
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
values = st.one_of(
    text,
    st.integers(-3, 10**6).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["auto", "mnist", "none", "batch", "8,16", "0", "-1", "1e-3", "general"]),
)
argv = st.tuples(
    st.sampled_from(["train", "lr-find", "ablate", "report", "inspect", "fly", "--version"]),
    st.lists(st.one_of(st.sampled_from(FLAGS), values), max_size=8),
).map(lambda t: [t[0], *t[1]])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=argv)
def test_the_command_line_never_shows_a_traceback(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module, name in [
        (lookinside.train, "train"),
        (lookinside.train, "resume"),
        (lookinside.train, "lr_find_run"),
        (lookinside.ablate, "run_study"),
    ]:
        monkeypatch.setattr(module, name, reached)
    with tempfile.TemporaryDirectory() as tmp:
        monkeypatch.chdir(tmp)
        try:
            code = main(args)
        except SystemExit as e:  # argparse: usage errors (2), --help and --version (0)
            code = e.code  # type: ignore[assignment]
        except Reached:
            return
        assert not list(Path(tmp).iterdir())  # refused or done: nothing written, anywhere
    assert code in (0, 2)


keys = st.sampled_from(
    [
        "seeds",
        "base",
        "grid",
        "variants",
        "name",
        "epochs",
        "bs",
        "lr",
        "arch",
        "norm",
        "act",
        "sched",
        "seed",
        "out",
        "subset",
        "clip",
        "telemetry",
        "x",
    ]
)
scalars = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["batch", "relu", "auto", "one-cycle", "", "mnist"]),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


def to_toml(doc: dict[str, Any]) -> str:
    """A TOML rendering good enough for fuzzing (inline tables for nested dicts)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"

    return "\n".join(f"{k} = {value(v)}" for k, v in doc.items()) + "\n"


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(keys, toml_values, max_size=5), raw=st.one_of(st.none(), text))
def test_study_files_are_accepted_or_refused_in_one_sentence(
    doc: dict[str, Any], raw: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(raw if raw is not None else to_toml(doc))
        try:
            study = load_study(path)
        except LookinsideError as e:
            assert "\n" not in str(e) and str(e).endswith((".", ")"))  # noqa: PT017
        else:
            assert study.runs()
            names = [study.directory, *(run.slug for run in study.runs())]
            assert all("/" not in n and n.strip(".") == n and n for n in names)  # plain names


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(keys, json_values, max_size=5) | json_values)
def test_a_run_directorys_config_json_is_accepted_or_refused_in_one_sentence(
    doc: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever `config.json` holds, `train --resume`, `inspect` and `report` on its run
    exit 0 or 2 (one sentence), never 1; nothing is written outside the run directory."""
    monkeypatch.setattr(lookinside.train, "build_learner", reached)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        (run / "config.json").write_text(json.dumps(doc))
        for argv in (["train", "--resume", str(run)], ["inspect", str(run)], ["report", str(run)]):
            try:
                code = main(argv)
            except Reached:  # the options passed every check: training would start
                continue
            assert code in (0, 2)
            if code == 2:
                assert capsys.readouterr().err.count("\n") == 1
        assert [p.name for p in Path(tmp).iterdir()] == ["run"]
