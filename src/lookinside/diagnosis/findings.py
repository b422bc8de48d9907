"""`Finding` and `Remedy`: what the diagnosis says, in an order that puts causes first.

A finding names what is wrong, where (the layer to look at first, and every layer it
concerns), when (steps), how sure and how bad (severity: `info` is worth knowing, `warning`
hurts training, `error` breaks it), the numbers that show it, and remedies. Findings are
ranked by root cause: a problem of the data or of the initialisation, present before the
first step, comes before what it causes later (dead units, a loss that does not fall).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any, Literal

from ..flags import flags

Severity = Literal["info", "warning", "error"]
SERIOUS: tuple[Severity, ...] = ("warning", "error")  # what hurts or breaks training

# Root causes first: the data and the loss, the optimizer's parameters, the initialisation
# (the forward's activations, then the backward's gradients), then what training does with
# them, then what a stalled run looks like from outside.
ORDER = (
    "inputs", "probabilities", "not_updated", "small_batch", "vanishing", "exploding",
    "vanishing_gradients", "exploding_gradients", "non_finite", "rise_and_crash", "oscillation",
    "saturation", "dead_activations", "no_gradient", "chance", "no_learning", "overfitting",
    "frozen", "not_recorded",
)  # fmt: skip
PLOTS = {
    "inputs": "means_stds_first",
    "vanishing": "means_stds_first",
    "exploding": "means_stds",
    "vanishing_gradients": "grads",
    "exploding_gradients": "grads",
    "non_finite": "means_stds",
    "rise_and_crash": "means_stds",
    "dead_activations": "near_zero",
    "saturation": "hists",
    "no_gradient": "grads",
    "oscillation": "loss",
    "no_learning": "loss",
    "chance": "loss",
    "overfitting": "loss",
}


@dataclass(frozen=True)
class Remedy:
    """One thing to try: `text` says what, `code` how in Python, `options` the changes to a
    `lookinside train` run's options that apply it (empty when no option can: `lookinside
    fix` tries those that have some), `flag` the same as typed on the command line.

    `name` is the key of its Python change in `lookinside.remedies.CHANGES`, where one
    exists (`try_remedies` tries those)."""

    name: str
    text: str
    code: str = ""
    flag: str = ""
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.options and not self.flag:
            object.__setattr__(self, "flag", flags(self.options))

    def render(self, cli: bool) -> str:
        """The remedy for a reader of the command line (`cli`) or of Python code."""
        if cli and self.flag:
            return f"{self.text} ({self.flag})"
        return f"{self.text}: {self.code}" if self.code else self.text


@dataclass
class Finding:
    """One thing wrong: what, where (`layer` first, every layer in `layers`), when (steps),
    the numbers that show it, and what to try (`advice`, rendered from `remedies`)."""

    kind: str
    layer: str
    steps: tuple[int, int]
    severity: Severity
    message: str
    evidence: dict[str, float] = field(default_factory=dict)
    advice: str = ""
    plot: str = ""
    layers: tuple[str, ...] = ()
    remedies: tuple[Remedy, ...] = ()

    def __post_init__(self) -> None:
        if not self.layers and self.layer:
            self.layers = (self.layer,)
        if not self.plot:
            self.plot = PLOTS.get(self.kind, "")

    def __repr__(self) -> str:
        where = f" at {self.layer}" if self.layer else ""
        return f"Finding({self.severity} {self.kind}{where}, steps {self.steps[0]}-{self.steps[1]})"

    def _repr_html_(self) -> str:
        try_ = f"<br>try: {escape(self.advice)}" if self.advice else ""
        return f"<p><b>{escape(self.severity)}</b>: {escape(self.message)}{try_}</p>"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        d = asdict(self)
        d["steps"] = list(self.steps)
        d["layers"] = list(self.layers)
        return d


class Findings(list[Finding]):
    """The findings of a diagnosis: a list, printed as the terminal's text (`str`), shown as
    HTML in a notebook, with a one-line-a-finding `repr`."""

    def __str__(self) -> str:
        return format_findings(self)

    def __repr__(self) -> str:
        return f"Findings([{', '.join(map(repr, self))}])"

    def _repr_html_(self) -> str:
        return findings_html(self)


def kinds(findings: Sequence[Finding], serious: bool = True) -> list[str]:
    """The kinds of the warnings and errors (or, `serious=False`, of the notes), sorted."""
    return sorted({f.kind for f in findings if (f.severity in SERIOUS) == serious})


def ranked(findings: Sequence[Finding]) -> list[Finding]:
    """Root causes first (see `ORDER`); the same kind earlier in training first."""
    return sorted(findings, key=lambda f: (ORDER.index(f.kind), f.steps[0]))


def format_findings(findings: Sequence[Finding]) -> str:
    """The findings as text for a terminal, one paragraph each."""
    if not findings:
        return "diagnosis: nothing looks wrong."
    lines = [f"diagnosis: {len(findings)} finding(s), causes first"]
    for f in findings:
        lines.append(f"  [{f.severity}] {f.message} (steps {f.steps[0]}-{f.steps[1]})")
        if f.advice:
            lines.append(f"      try: {f.advice}")
    return "\n".join(lines)


def findings_html(findings: Sequence[Finding]) -> str:
    """The findings as an HTML list, for notebooks."""
    if not findings:
        return "<p>diagnosis: nothing looks wrong.</p>"
    return "".join(f._repr_html_() for f in findings)
