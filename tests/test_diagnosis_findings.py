"""Findings: ranked by root cause, printed, serialised, shown in notebooks."""

from __future__ import annotations

import json

import lookinside as li
from lookinside.diagnosis import Remedy, format_findings
from lookinside.diagnosis.findings import ranked


def finding(kind: str, step: int = 0, severity: str = "warning") -> li.Finding:
    return li.Finding(kind, "a", (step, step), severity, f"{kind} at {step}")  # type: ignore[arg-type]


def test_causes_come_first_whatever_their_severity() -> None:
    found = ranked([finding("dead_activations", 5, "error"), finding("chance"),
                    finding("vanishing"), finding("inputs", 3)])  # fmt: skip
    assert [f.kind for f in found] == ["inputs", "vanishing", "dead_activations", "chance"]
    same = ranked([finding("exploding", 9), finding("exploding", 0)])
    assert [f.steps[0] for f in same] == [0, 9]


def test_text_json_and_html() -> None:
    remedy = Remedy("lower_lr", "lower the learning rate", "Learner(lr=...)", "--lr 0.04")
    f = li.Finding("oscillation", "", (0, 9), "warning", "a <b> message", {"x": 1.0},
                   "lower it", remedies=(remedy,))  # fmt: skip
    assert f.plot == "loss" and f.layers == ()
    text = format_findings([f])
    assert text.splitlines() == [
        "diagnosis: 1 finding(s), causes first",
        "  [warning] a <b> message (steps 0-9)",
        "      try: lower it",
    ]
    assert format_findings([]) == "diagnosis: nothing looks wrong."
    d = json.loads(json.dumps(f.to_dict()))
    assert d["steps"] == [0, 9] and d["remedies"][0]["flag"] == "--lr 0.04"
    assert "a &lt;b&gt; message" in f._repr_html_()
    assert remedy.render(cli=True) == "lower the learning rate (--lr 0.04)"
    assert remedy.render(cli=False) == "lower the learning rate: Learner(lr=...)"


def test_a_finding_made_with_one_layer_names_it_in_layers() -> None:
    f = li.Finding("dead_activations", "0", (0, 1), "warning", "m", {}, "advice")
    assert f.layers == ("0",) and f.plot == "near_zero"


def test_findings_read_in_one_line_each_print_as_text_and_show_as_html() -> None:
    advice = "lower the learning rate, ten times for a start; " * 20  # long, as advice is
    f = li.Finding("dead_activations", "net.3", (14, 17), "error", "m " * 100, {"x": 1.0}, advice)
    assert repr(f) == "Finding(error dead_activations at net.3, steps 14-17)"
    findings = li.Findings([f, finding("chance")])
    assert repr(findings) == ("Findings([Finding(error dead_activations at net.3, steps 14-17), "
                              "Finding(warning chance at a, steps 0-0)])")  # fmt: skip
    assert (
        str(findings) == format_findings(findings) and "<p><b>error</b>" in findings._repr_html_()
    )
