"""BatchNorm over too few items (`diagnosis.batches`), on synthetic telemetry."""

from __future__ import annotations

from typing import Any

import pytest

import lookinside as li

from .synthetic import spec, telemetry


def found(meta: dict[str, Any]) -> list[li.Finding]:
    t = telemetry([(spec("a"), {})], meta=meta)
    return [f for f in li.diagnose(t) if f.kind == "small_batch"]


@pytest.mark.parametrize(("items", "said"), [(7, True), (8, False)])
def test_batch_norm_over_fewer_than_eight_items(items: int, said: bool) -> None:
    findings = found({"norm_batch": {"items": items, "layer": "BatchNorm2d"}})
    assert bool(findings) is said
    if said:
        (f,) = findings
        assert f.severity == "warning" and "BatchNorm2d normalises over batches of 7" in f.message
        assert [r.name for r in f.remedies] == ["steady_norm", "larger_batch"]


def test_no_batch_norm_no_finding() -> None:
    assert found({}) == []


def test_a_stalled_loss_next_to_a_small_batch_is_its_symptom() -> None:
    losses = [1.5] * 40  # flat, far from a guess's ln(10)
    t = telemetry([(spec("a"), {})], losses=losses, meta={"norm_batch": {"items": 2}})
    kinds = {f.kind: f for f in li.diagnose(t) if f.kind != "not_recorded"}
    assert kinds["small_batch"].severity == "warning"
    assert kinds["no_learning"].severity == "info" and kinds["no_learning"].remedies == ()
