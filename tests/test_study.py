"""Study files: the grid and variants, and errors that name the key and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

import lookinside as li
from lookinside.study import load_study

LESSON = Path(__file__).parent.parent / "studies" / "lesson10.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_grid_crossed_with_variants(tmp_path: Path) -> None:
    study = load_study(
        write(
            tmp_path,
            """
seeds = [1, 2]
[base]
epochs = 2
[grid]
norm = ["batch", "group"]
[[variants]]
name = "a"
lr = 0.1
[[variants]]
name = "b"
arch = [4, 8]
""",
        )
    )
    assert list(study.variants) == [
        "a [norm=batch]",
        "a [norm=group]",
        "b [norm=batch]",
        "b [norm=group]",
    ]
    assert study.variants["b [norm=group]"] == {"epochs": 2, "arch": [4, 8], "norm": "group"}
    runs = study.runs()
    assert len(runs) == 8 and runs[1].seed == 2 and runs[0].slug == "a-norm-batch"
    config = runs[0].config(tmp_path / "r")
    assert config.seed == 1 and config.lr == 0.1 and config.epochs == 2


def test_quick_shrinks_epochs_data_and_seeds_but_keeps_a_hundred_steps() -> None:
    full, study = load_study(LESSON), load_study(LESSON).quick()
    assert study.seeds == [0, 1]
    assert all(v["epochs"] == 1 and v["subset"] <= 5000 for v in study.variants.values())
    for name, v in study.variants.items():
        assert v["subset"] // v["bs"] >= 100, name  # SGD steps in the one epoch
        before = full.variants[name]
        if v["bs"] != before["bs"] and isinstance(before["lr"], float):  # the lr follows the
            assert v["lr"] == pytest.approx(before["lr"] * v["bs"] / before["bs"])  # batch
    assert study.variants["RunningBatchNorm, batch size 2"]["bs"] == 2  # small: kept


def test_the_lesson_study_parses_into_its_ten_variants() -> None:
    study = load_study(LESSON)
    assert len(study.variants) == 10 and study.seeds == [0, 1, 2]
    assert study.variants["RunningBatchNorm, batch size 2"]["norm"] == "running"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "seeds = [0]\n[base]\nepochs = 1\nlearning_rate = 0.1\n",
            "line 4: [base] key 'learning_rate' is not a train option",
        ),
        ("seeds = [0]\n[base]\nepochs = '1'\n", "line 3: [base] epochs = '1' has the wrong type"),
        ("seeds = [0]\n[base]\nseed = 3\n", "line 3: [base] key 'seed' is set by the study"),
        ("seeds = 0\n", "line 1: seeds must be a list of integers from 0 to 2**32 - 1"),
        ("seeds = [true]\n", "line 1: seeds must be a list of integers from 0 to 2**32 - 1"),
        ("seeds = [-1]\n", "line 1: seeds must be a list of integers"),
        ("seeds = [1, 1]\n", "line 1: seeds repeat: [1, 1]"),
        (
            "[[variants]]\nname = '" + "x" * 300 + "'\n",
            "line 2: a variant's name must be text of 1 to 100 characters, not 'xxxx",
        ),
        ("[[variants]]\nname = 3\n", "a variant's name must be text"),
        ("name = ''\n", "line 1: the study's name must be text of 1 to 100 characters"),
        ("[base]\nlr = 1e308\n", "line 2: variant 'base': lr must be a number above 0"),
        ("seeds = [0]\nrepeat = 2\n", "line 2: unknown key 'repeat'"),
        ("[grid]\nnorm = 'batch'\n", "line 2: [grid] norm must be a list of values"),
        (
            "[grid]\nnorm = ['batch', 'weight']\n",
            "line 2: variant 'norm=weight': norm must be one of",
        ),
        ("[base]\nnorm = 'weight'\n", "line 2: variant 'base': norm must be one of"),
        (
            "[[variants]]\nname = 'x'\narch = [8, 'a']\n",
            "line 3: [variants] arch = [8, 'a'] has the wrong type",
        ),
        ("seeds = [0\n", "is not valid TOML"),
    ],
)
def test_bad_study_files_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(li.LookinsideError) as info:
        load_study(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_study_file(tmp_path: Path) -> None:
    with pytest.raises(li.LookinsideError, match="does not exist"):
        load_study(tmp_path / "none.toml")


def test_a_grid_too_large_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """216,000 combinations are refused at once (not a MemoryError after building them);
    over 500 runs need --yes; the count says where it comes from."""
    values = ", ".join(str(i) for i in range(1, 61))
    huge = write(tmp_path, f"[grid]\nbs = [{values}]\nepochs = [{values}]\nsubset = [{values}]\n")
    with pytest.raises(li.LookinsideError, match=r"216,000 runs .* cannot finish more than"):
        load_study(huge)
    many = write(tmp_path, f"seeds = [0, 1]\n[grid]\nbs = [{values}]\nepochs = [1, 2, 3, 4, 5]\n")
    with pytest.raises(li.LookinsideError, match=r"600 runs .* pass --yes to run more than 500"):
        load_study(many)
    assert len(load_study(many, many=True).runs()) == 600


def test_names_from_the_file_never_become_paths_unsanitised(tmp_path: Path) -> None:
    """A study or variant name with slashes, dots or a leading '/' gives a plain directory
    name: the study's default directory and each run's stay where they belong."""
    path = write(tmp_path, 'name = "/../../../../tmp/x"\n[[variants]]\nname = "../../up"\n')
    study = load_study(path)
    assert study.directory == "study-tmp-x"
    assert [run.slug for run in study.runs()] == ["up"]
