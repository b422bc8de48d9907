"""Trials of remedies: the candidates a diagnosis gives, the comparison with the original run
seed by seed, the pair, the recommendation, and `try_remedies` end to end on a tiny model."""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics

import pytest
import torch
from torch import nn

import lookinside as li
from lookinside.diagnosis.findings import Remedy
from lookinside.study_results import RunResult
from lookinside.trial import ORIGINAL, Candidate, Trial, best_pair, candidates, try_remedies

KAIMING = Remedy("kaiming_init", "kaiming", options={"init": "kaiming"})
NORM = Remedy("add_norm", "norm", options={"norm": "batch"})
NOT_INSTANCE = Remedy("not_instance_norm", "not instance", options={"norm": "batch"})
LEAKY = Remedy("general_relu", "leaky", options={"act": "general"})
LABELS = Remedy("check_labels", "look at the labels")


def finding(kind: str, *remedies: Remedy, severity: str = "warning") -> li.Finding:
    return li.Finding(kind, "", (0, 0), severity, kind, remedies=remedies)  # type: ignore[arg-type]


def by_options(r: Remedy) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in r.options.items()))


def test_candidates_merge_remedies_that_make_the_same_change_notes_included() -> None:
    findings = [
        finding("vanishing_gradients", NOT_INSTANCE, KAIMING),
        finding("dead_activations", NORM, LEAKY, LABELS),
        finding("vanishing", KAIMING, severity="info"),
    ]
    found = candidates(findings, lambda r: bool(r.options), by_options)
    assert [c.name for c in found] == ["not_instance_norm", "kaiming_init", "general_relu"]
    assert found[0].targets == ("vanishing_gradients", "dead_activations")  # norm=batch twice
    assert found[1].targets == ("vanishing_gradients", "vanishing")  # a note's remedy too
    by_name = candidates(findings, lambda r: True, lambda r: r.name)
    assert [c.name for c in by_name] == [
        "not_instance_norm", "kaiming_init", "add_norm", "general_relu", "check_labels"
    ]  # fmt: skip


def result(variant: str, seed: int, acc: float, *kinds: str, failed: bool = False) -> RunResult:
    if failed:
        return RunResult(variant, seed, "", "failed", error="diverged")
    return RunResult(variant, seed, "", "done", acc, 1 - acc, findings=list(kinds))


def trial_of(results: list[RunResult], *cands: Candidate) -> Trial:
    variants: dict[str, Candidate | None] = {ORIGINAL: None, **{c.name: c for c in cands}}
    return Trial.of(results, variants, lambda c: ",".join(sorted(c.options)))


def test_gains_are_paired_by_seed_with_their_standard_error() -> None:
    fix = Candidate((KAIMING,), ("vanishing",))
    results = [result(ORIGINAL, s, a, "vanishing") for s, a in enumerate([0.5, 0.6, 0.7])]
    results += [result("kaiming_init", s, a) for s, a in enumerate([0.8, 0.85, 0.9])]
    original, row = trial_of(results, fix).rows
    diffs = [0.3, 0.25, 0.2]
    assert row.gain == pytest.approx(statistics.fmean(diffs))
    assert row.gain_err == pytest.approx(statistics.stdev(diffs) / math.sqrt(3))
    assert row.accuracy == pytest.approx(0.85) and row.accuracy_std == pytest.approx(0.05)
    assert row.cleared == 3 and row.fixed and row.new == ()
    assert original.variant == ORIGINAL and math.isnan(original.gain) and not original.fixed


def test_the_recommendation_prefers_a_remedy_that_removes_its_finding() -> None:
    fixes, more = Candidate((KAIMING,), ("vanishing",)), Candidate((LEAKY,), ("vanishing",))
    results = [result(ORIGINAL, s, 0.5, "vanishing") for s in (0, 1)]
    results += [result("kaiming_init", s, 0.7) for s in (0, 1)]
    results += [result("general_relu", 0, 0.9), result("general_relu", 1, 0.9, "vanishing")]
    trial = trial_of(results, fixes, more)
    assert [r.cleared for r in trial.rows[1:]] == [2, 1]
    assert trial.best is not None and trial.best.variant == "kaiming_init"
    assert "Recommended: kaiming_init" in trial.verdict()
    assert "none of the original's findings is left" in trial.verdict()
    table = trial.markdown()
    assert "| kaiming_init | init | 0.7000 ± 0.0000 | +20.00 ± 0.00 pts |" in table
    assert "| vanishing 2/2 |" in table and "| vanishing 1/2 |" in table


def test_the_recommendation_prefers_a_remedy_that_removes_the_root_cause() -> None:
    inputs = Candidate((Remedy("normalise_inputs", ""),), ("inputs",))
    leaky = Candidate((LEAKY,), ("dead_activations",))
    results = [result(ORIGINAL, s, 0.15, "inputs", "dead_activations") for s in (0, 1)]
    results += [result("normalise_inputs", s, 0.6) for s in (0, 1)]
    results += [result("general_relu", s, 0.87, "inputs") for s in (0, 1)]
    variants: dict[str, Candidate | None] = {ORIGINAL: None, inputs.name: inputs, leaky.name: leaky}
    rooted = Trial.of(results, variants, lambda c: "", root="inputs")
    assert [r.remaining for r in rooted.rows] == [("dead_activations", "inputs"), (), ("inputs",)]
    assert rooted.best is not None and rooted.best.variant == "normalise_inputs"
    unrooted = Trial.of(results, variants, lambda c: "")  # both fixed what they target
    assert unrooted.best is not None and unrooted.best.variant == "general_relu"
    assert "still found: inputs" in unrooted.verdict()


def test_a_variant_that_diverged_is_shown_so_and_recommended_last() -> None:
    steady, wild = Candidate((KAIMING,), ("exploding",)), Candidate((LEAKY,), ("exploding",))
    results = [result(ORIGINAL, s, 0.5) for s in (0, 1)]
    results += [result("kaiming_init", s, 0.6) for s in (0, 1)]
    results += [result("general_relu", 0, 0.95), result("general_relu", 1, math.nan)]
    trial = trial_of(results, steady, wild)
    assert [r.diverged for r in trial.rows] == [0, 0, 1]
    assert trial.rows[2].gain == pytest.approx(0.45)  # over the seed where both finished
    assert trial.best is not None and trial.best.variant == "kaiming_init"
    assert "0.9500 (1 of 2 diverged)" in trial.markdown()


def test_no_recommendation_when_nothing_beats_the_original() -> None:
    worse = Candidate((LEAKY,), ("dead_activations",))
    results = [
        result(ORIGINAL, 0, 0.9, "dead_activations"),
        result("general_relu", 0, 0.8, "chance"),
    ]
    results.append(result("general_relu", 1, 0.0, failed=True))
    trial = trial_of(results, worse)
    row = trial.rows[1]
    assert trial.best is None and trial.verdict().startswith("No remedy beat")
    assert (
        row.failed == 1 and row.done == 1 and row.new == ("chance",) and row.errors == ("diverged",)
    )
    assert math.isnan(row.gain_err)  # one seed: no error bar
    assert "dead_activations 1/1 (1 failed)" in trial.markdown()
    assert "<td>chance</td>" in trial._repr_html_()


def test_the_pair_joins_the_best_remedy_of_each_of_the_first_two_findings() -> None:
    findings = [finding("rise_and_crash", KAIMING, NORM), finding("dead_activations", LEAKY, NORM)]
    singles = candidates(findings, lambda r: True, lambda r: r.name)
    accs = {"kaiming_init": 0.9, "add_norm": 0.8, "general_relu": 0.85}
    results = [result(ORIGINAL, 0, 0.5)] + [result(n, 0, a) for n, a in accs.items()]
    trial = trial_of(results, *singles)
    pair = best_pair(findings, singles, trial, lambda a, b: True)
    assert pair is not None and pair.name == "kaiming_init + general_relu"
    assert pair.targets == ("rise_and_crash", "dead_activations")
    assert pair.options == {"init": "kaiming", "act": "general"}
    assert best_pair(findings, singles, trial, lambda a, b: False) is None
    accs["add_norm"] = 0.95  # best for both findings: the second's next best joins it
    results = [result(ORIGINAL, 0, 0.5)] + [result(n, 0, a) for n, a in accs.items()]
    pair = best_pair(findings, singles, trial_of(results, *singles), lambda a, b: True)
    assert pair is not None and pair.name == "add_norm + general_relu"
    assert best_pair(findings[:1], singles, trial, lambda a, b: True) is None


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten Gaussian classes in 20 dimensions, their centres 3 units from the origin."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    return (torch.eye(10, 20) * 3)[y] + torch.randn(n, 20, generator=g), y


def softmax_learner() -> li.Learner:
    """An MLP that hands probabilities to cross_entropy: the zoo's `probabilities` fault
    (about 26 % valid accuracy after 2 epochs, against 83 % on logits)."""
    (x, y), (xv, yv) = blobs(1024, 0), blobs(256, 1)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1))
    dls = li.DataLoaders.from_tensors(x, y, xv, yv, bs=32)
    return li.Learner(model, dls, lr=0.1, metrics=[li.accuracy], cbs=[li.ActivationStats()])


def test_try_remedies_finds_that_dropping_the_softmax_repairs_the_run() -> None:
    learn = softmax_learner()
    with contextlib.redirect_stdout(io.StringIO()):
        learn.fit(2)
    stats = learn.find_cb(li.ActivationStats)
    assert stats is not None
    findings = stats.diagnose()
    assert "probabilities" in {f.kind for f in findings}
    lines: list[str] = []
    trial = try_remedies(softmax_learner, findings, epochs=2, seeds=(0, 1), log=lines.append)
    rows = {r.variant: r for r in trial.rows}
    assert "return_logits" in rows and len(lines) == 2 * len(trial.rows)
    fixed = rows["return_logits"]
    assert fixed.changes == "drop_final_softmax" and fixed.cleared == 2 and fixed.gain > 0.3
    assert trial.best is not None and trial.best.fixed
    assert {r.seed for r in trial.results} == {0, 1}


def test_try_remedies_needs_a_remedy_it_can_apply() -> None:
    with pytest.raises(li.LookinsideError, match="none of the findings"):
        try_remedies(softmax_learner, [finding("chance", LABELS)], seeds=(0,))


def test_a_trial_reads_back_from_its_json_and_refuses_what_is_not_one() -> None:
    fix = Candidate((KAIMING,), ("vanishing", "dead_activations"))
    results = [result(ORIGINAL, s, 0.5, "vanishing", "dead_activations") for s in (0, 1)]
    results += [result("kaiming_init", 0, 0.8), result("kaiming_init", 1, 0.7, "dead_activations")]
    trial = trial_of(results, fix)
    assert trial.rows[1].gone == (("vanishing", 2), ("dead_activations", 1))
    again = Trial.from_dict(json.loads(json.dumps(trial.to_dict())), "trial.json")
    assert again.markdown() == trial.markdown() and again.rows[1].gone == trial.rows[1].gone
    bads: list[object] = [[], {"rows": [{"variant": "x"}]}, {"rows": "x"}]
    for bad in bads:
        with pytest.raises(
            li.LookinsideError, match=r"^trial.json does not hold a trial's rows\.$"
        ):
            Trial.from_dict(bad, "trial.json")


def test_an_original_that_diverged_on_every_seed_is_beaten_by_a_remedy_that_trains() -> None:
    lower = Candidate((Remedy("lower_lr", "", options={"lr": 0.1}),), ("non_finite",))
    results = [result(ORIGINAL, s, math.nan, "non_finite") for s in (0, 1)]
    results += [result("lower_lr", s, 0.9) for s in (0, 1)]
    trial = trial_of(results, lower)
    assert trial.best is not None and trial.best.variant == "lower_lr"
    assert math.isnan(trial.best.gain) and trial.best.paired == 0
    assert "where the original diverged on every seed" in trial.verdict()
    failed = trial_of([result(ORIGINAL, 0, 0.0, failed=True), result("lower_lr", 0, 0.9)], lower)
    assert failed.best is None and failed.verdict().startswith("The original run failed")


def test_a_root_cause_the_original_runs_did_not_show_decides_nothing() -> None:
    """`--quick` runs may not reproduce the diagnosed finding: a remedy cannot be said to
    remove it, and the recommendation does not rest on it."""
    norm = Candidate((NORM,), ("rise_and_crash",))
    leaky = Candidate((LEAKY,), ("dead_activations",))
    results = [result(ORIGINAL, s, 0.5, "dead_activations") for s in (0, 1)]
    results += [result("add_norm", s, 0.9, "dead_activations") for s in (0, 1)]
    results += [result("general_relu", s, 0.8) for s in (0, 1)]
    variants: dict[str, Candidate | None] = {
        ORIGINAL: None,
        "add_norm": norm,
        "general_relu": leaky,
    }
    trial = Trial.of(results, variants, lambda c: "", root="rise_and_crash")
    norm_row = trial.rows[1]
    assert norm_row.unseen == ("rise_and_crash",) and norm_row.gone == () and not norm_row.fixed
    assert "rise_and_crash not seen in the original" in trial.markdown()
    assert trial.best is not None and trial.best.variant == "general_relu"  # it fixed its own


def test_a_trial_writes_no_nan_into_its_json() -> None:
    fix = Candidate((KAIMING,), ("vanishing",))
    trial = trial_of([result(ORIGINAL, 0, 0.5), result("kaiming_init", 0, 0.6)], fix)
    text = json.dumps(trial.to_dict(), allow_nan=False)  # raises on NaN
    original = json.loads(text)["rows"][0]
    assert original["gain"] is None and original["gain_err"] is None
    assert math.isnan(Trial.from_dict(json.loads(text), "t").rows[0].gain)


def test_python_remedies_that_make_one_change_are_tried_once_and_pairs_do_not_clash() -> None:
    from lookinside.remedies import TOUCHES
    from lookinside.trial import _combine

    raise_lr, find = Remedy("raise_lr", "raise"), Remedy("find_lr", "find")
    found = candidates([finding("no_learning", raise_lr), finding("plateau", find)],
                       lambda r: True, key=lambda r: li.remedies.CHANGES[r.name])  # fmt: skip
    assert [c.name for c in found] == ["raise_lr"] and found[0].targets == (
        "no_learning",
        "plateau",
    )
    lower = Candidate((Remedy("lower_lr", ""),), ())
    assert not _combine(lower, Candidate((find,), ()))  # both set the lr
    assert _combine(lower, Candidate((Remedy("general_relu", ""),), ()))
    assert not _combine(Candidate((Remedy("non_saturating", ""),), ()),
                        Candidate((Remedy("general_relu", ""),), ()))  # fmt: skip
    assert set(TOUCHES) == set(li.remedies.CHANGES)


def test_a_trial_run_is_seeded_alike_whatever_its_changes_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change that draws random numbers (re-initialising, reading shuffled batches) leaves
    the training's random stream as the original's: the same seed is the same run."""
    from lookinside import remedies
    from lookinside.trial import trial_run

    def draws(learn: li.Learner) -> li.Learner:
        torch.rand(1000)
        return learn

    def breaks(learn: li.Learner) -> li.Learner:
        raise AssertionError("a remedy with a bug")

    monkeypatch.setitem(remedies.CHANGES, "draws", draws)
    monkeypatch.setitem(remedies.CHANGES, "breaks", breaks)
    plain = trial_run(softmax_learner, ORIGINAL, None, 3, 1)
    drawn = trial_run(softmax_learner, "draws", Candidate((Remedy("draws", ""),), ()), 3, 1)
    assert drawn.valid_accuracy == plain.valid_accuracy and drawn.valid_loss == plain.valid_loss
    broken = trial_run(softmax_learner, "breaks", Candidate((Remedy("breaks", ""),), ()), 3, 1)
    assert broken.status == "failed" and broken.error == "AssertionError: a remedy with a bug"
