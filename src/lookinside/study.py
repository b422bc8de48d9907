"""Ablation studies: a TOML file of variants × seeds, each a `lookinside train` run.

    seeds = [0, 1, 2]
    [base]              # any `lookinside train` option by its long name, '-' written as '_'
    epochs = 1
    [grid]              # optional: every combination of these values
    norm = ["batch", "group"]
    [[variants]]        # optional: named variants, each overriding base (crossed with grid)
    name = "kaiming"
    init = "kaiming"

Unknown keys and values of the wrong type are errors naming the key and its line.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import MAX_SEED, TrainConfig, fits_type
from .errors import LookinsideError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STUDY_KEYS = {"seeds", "base", "grid", "variants", "name"}
NOT_IN_STUDY = {"seed", "out"}  # the study sets these itself


QUICK_STEPS = 100  # SGD steps, at least, of a --quick run
MANY_RUNS = 500  # runs, beyond which a study asks to be confirmed (--yes)
MOST_RUNS = 100_000  # runs, beyond which a study is refused: no machine would finish it
LONGEST_NAME = 100  # characters of a study's or a variant's name


def slug(name: str, default: str) -> str:
    """`name` as a directory name: lower case letters, digits and '-', at most
    `LONGEST_NAME` characters (`default` when nothing is left)."""
    cut = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:LONGEST_NAME].strip("-")
    return cut or default


@dataclass(frozen=True)
class Run:
    """One training run of a study: its variant's name, its seed, and its options."""

    variant: str
    seed: int
    options: dict[str, Any]

    @property
    def slug(self) -> str:
        """A directory name for the variant (see `slug`)."""
        return slug(self.variant, "variant")

    def config(self, out: Path) -> TrainConfig:
        """The run's `TrainConfig`, writing into `out`."""
        return TrainConfig.from_dict({**self.options, "seed": self.seed, "out": str(out)})


@dataclass
class Study:
    """A parsed study file: its name, seeds, and the variants' options."""

    name: str
    seeds: list[int]
    variants: dict[str, dict[str, Any]]

    @property
    def directory(self) -> str:
        """The study's default directory name (under `runs/`): `study-` and its name's slug."""
        return f"study-{slug(self.name, 'study')}"

    def runs(self) -> list[Run]:
        """Every variant × seed, in file order."""
        return [Run(v, s, opts) for v, opts in self.variants.items() for s in self.seeds]

    def quick(self, subset: int = 5000, seeds: int = 2, steps: int = QUICK_STEPS) -> Study:
        """A smaller study whose numbers still mean something: one epoch on `subset`
        images, the first seeds, and at least `steps` SGD steps (at bs 512, 5,000 images
        are 10 steps, and seeds disagree by 20 points): a larger batch shrinks, its lr with
        it (the linear scaling rule), unless a recipe sets both."""
        variants = {}
        for name, opts in self.variants.items():
            n = min(opts.get("subset") or subset, subset)
            quick = {**opts, "epochs": 1, "subset": n}
            bs, lr = opts.get("bs", TrainConfig.bs), opts.get("lr", TrainConfig.lr)
            if opts.get("recipe", "none") == "none" and bs > max(1, n // steps):
                quick["bs"] = max(1, n // steps)
                if isinstance(lr, float):  # "auto" finds its own
                    quick["lr"] = lr * quick["bs"] / bs
            variants[name] = quick
        return Study(self.name, self.seeds[:seeds], variants)


def _line_of(text: str, key: str, value: Any = None) -> int | None:
    """The line assigning `key` (the one that mentions `value`, when several do)."""
    lines = [n for n, line in enumerate(text.splitlines(), 1)
             if re.match(rf"\s*{re.escape(key)}\s*=", line)]  # fmt: skip
    if value is not None:
        shown = [n for n in lines if str(value) in text.splitlines()[n - 1]]
        lines = shown or lines
    return lines[0] if lines else None


def _where(path: Path, text: str, key: str, value: Any = None) -> str:
    line = _line_of(text, key, value)
    return f"{path}, line {line}" if line else str(path)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _check_options(path: Path, text: str, options: dict[str, Any], table: str) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for key, value in options.items():
        if key not in _FIELDS or key in NOT_IN_STUDY:
            why = "is set by the study" if key in NOT_IN_STUDY else "is not a train option"
            raise LookinsideError(f"{_where(path, text, key)}: [{table}] key {key!r} {why}.")
        if not fits_type(value, hints[key]):
            raise LookinsideError(
                f"{_where(path, text, key)}: [{table}] {key} = {value!r} has the wrong type."
            )


def load_study(path: str | Path, many: bool = False) -> Study:
    """Parse and check a study file; every run's config is validated before anything runs.
    A study of more than `MANY_RUNS` runs needs `many` (the CLI's --yes)."""
    path = Path(path)
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise LookinsideError(f"study file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LookinsideError(f"study file {path} cannot be read ({e}).") from None
    except tomllib.TOMLDecodeError as e:
        raise LookinsideError(f"{path} is not valid TOML: {e}.") from None
    unknown = sorted(set(data) - STUDY_KEYS)
    if unknown:
        raise LookinsideError(f"{_where(path, text, unknown[0])}: unknown key {unknown[0]!r}.")
    seeds = data.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds
            and all(fits_type(s, int) and 0 <= s <= MAX_SEED for s in seeds)):  # fmt: skip
        raise LookinsideError(
            f"{_where(path, text, 'seeds')}: seeds must be a list of integers from 0 to "
            f"2**32 - 1, not {seeds!r}."
        )
    if len(set(seeds)) < len(seeds):
        raise LookinsideError(f"{_where(path, text, 'seeds')}: seeds repeat: {seeds!r}.")
    base = data.get("base", {})
    grid = data.get("grid", {})
    variants = data.get("variants", [{"name": "base"}])
    if not isinstance(base, dict) or not isinstance(grid, dict) or not isinstance(variants, list):
        raise LookinsideError(f"{path}: [base] and [grid] must be tables, [[variants]] a list.")
    if not variants or not all(isinstance(v, dict) for v in variants):
        raise LookinsideError(
            f"{_where(path, text, 'variants')}: variants must be a non-empty list of tables."
        )
    _check_options(path, text, base, "base")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise LookinsideError(
                f"{_where(path, text, key)}: [grid] {key} must be a list of values."
            )
        for value in values:
            _check_options(path, text, {key: value}, "grid")
    runs = len(variants) * len(seeds) * math.prod(len(v) for v in grid.values())
    if runs > MOST_RUNS:
        raise LookinsideError(
            f"{path}: the study has {runs:,} runs (variants x grid x seeds); one machine "
            f"cannot finish more than {MOST_RUNS:,}: split it, or trim the grid."
        )
    if runs > MANY_RUNS and not many:
        raise LookinsideError(
            f"{path}: the study has {runs:,} runs (variants x grid x seeds); pass --yes to "
            f"run more than {MANY_RUNS}."
        )
    named: dict[str, dict[str, Any]] = {}
    for i, variant in enumerate(variants):
        overrides = {k: v for k, v in variant.items() if k != "name"}
        _check_options(path, text, overrides, "variants")
        vname = variant.get("name", f"variant {i + 1}")
        if not isinstance(vname, str) or not 0 < len(vname) <= LONGEST_NAME:
            raise LookinsideError(
                f"{_where(path, text, 'name', vname)}: a variant's name must be text of 1 to "
                f"{LONGEST_NAME} characters, not {str(vname)[:40]!r}"
                + ("..." if len(str(vname)) > 40 else "")
                + "."
            )
        for combo in itertools.product(*grid.values()):
            label = ", ".join(f"{k}={v}" for k, v in zip(grid, combo, strict=True))
            name = f"{vname} [{label}]" if grid and len(variants) > 1 else (label or vname)
            if name in named:
                raise LookinsideError(f"{path}: two variants are named {name!r}.")
            named[name] = {**base, **overrides, **dict(zip(grid, combo, strict=True))}
    slugs: dict[str, str] = {}
    for name in named:
        slug = Run(name, 0, {}).slug
        if slug in slugs:
            raise LookinsideError(
                f"{path}: variants {slugs[slug]!r} and {name!r} would share a directory."
            )
        slugs[slug] = name
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not 0 < len(name) <= LONGEST_NAME:
        raise LookinsideError(
            f"{_where(path, text, 'name')}: the study's name must be text of 1 to "
            f"{LONGEST_NAME} characters."
        )
    study = Study(name, seeds, named)
    for run in study.runs():
        try:
            run.config(Path("."))
        except LookinsideError as e:
            key = str(e).split()[0]  # TrainConfig's messages start with the option's name
            where = _where(path, text, key, run.options.get(key)) if key in _FIELDS else str(path)
            raise LookinsideError(f"{where}: variant {run.variant!r}: {e}") from None
    return study
