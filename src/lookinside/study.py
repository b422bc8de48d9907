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
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import LookinsideError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STUDY_KEYS = {"seeds", "base", "grid", "variants", "name"}
NOT_IN_STUDY = {"seed", "out"}  # the study sets these itself


QUICK_STEPS = 100  # SGD steps, at least, of a --quick run


@dataclass(frozen=True)
class Run:
    """One training run of a study: its variant's name, its seed, and its options."""

    variant: str
    seed: int
    options: dict[str, Any]

    @property
    def slug(self) -> str:
        """A directory name for the variant: lower case, words joined by '-'."""
        return re.sub(r"[^a-z0-9]+", "-", self.variant.lower()).strip("-") or "variant"

    def config(self, out: Path) -> TrainConfig:
        """The run's `TrainConfig`, writing into `out`."""
        return TrainConfig.from_dict({**self.options, "seed": self.seed, "out": str(out)})


@dataclass
class Study:
    """A parsed study file: its name, seeds, and the variants' options."""

    name: str
    seeds: list[int]
    variants: dict[str, dict[str, Any]]

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


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a TrainConfig field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check_options(path: Path, text: str, options: dict[str, Any], table: str) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for key, value in options.items():
        if key not in _FIELDS or key in NOT_IN_STUDY:
            why = "is set by the study" if key in NOT_IN_STUDY else "is not a train option"
            raise LookinsideError(f"{_where(path, text, key)}: [{table}] key {key!r} {why}.")
        if not _type_ok(value, hints[key]):
            raise LookinsideError(
                f"{_where(path, text, key)}: [{table}] {key} = {value!r} has the wrong type."
            )


def load_study(path: str | Path) -> Study:
    """Parse and check a study file; every run's config is validated before anything runs."""
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
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise LookinsideError(f"{_where(path, text, 'seeds')}: seeds must be a list of integers.")
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
    named: dict[str, dict[str, Any]] = {}
    for i, variant in enumerate(variants):
        overrides = {k: v for k, v in variant.items() if k != "name"}
        _check_options(path, text, overrides, "variants")
        vname = str(variant.get("name", f"variant {i + 1}"))
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
    study = Study(str(data.get("name", path.stem)), seeds, named)
    for run in study.runs():
        try:
            run.config(Path("."))
        except LookinsideError as e:
            key = str(e).split()[0]  # TrainConfig's messages start with the option's name
            where = _where(path, text, key, run.options.get(key)) if key in _FIELDS else str(path)
            raise LookinsideError(f"{where}: variant {run.variant!r}: {e}") from None
    return study
