"""`report.html`: one self-contained page per run or study, a pure function of its directory.

Everything comes from the files the run left (config.json, metrics.csv, diagnosis.json,
plots/*.png), so `lookinside report RUN_DIR` can re-render it at any time. Images are embedded
as base64 PNG; there are no scripts and no network requests; every piece of text from the run
(config values, layer names, messages) is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
import shlex
from html import escape
from pathlib import Path
from typing import Any

from .files import atomic_write_text, read_json
from .runs import RunDir, StudyDir, kind_of

PLOT_TITLES = {
    "accuracy": "Valid accuracy per variant",
    "loss_curves": "Training loss per variant",
    "loss": "Training loss",
    "sched": "Schedules",
    "lr_find": "Learning-rate finder",
    "means_stds_first": "Activation means and stds, first steps",
    "means_stds": "Activation means and stds",
    "hists": "Activation histograms (the colorful dimension)",
    "near_zero": "Values at their unit's floor, and dead units",
    "grads": "Output-gradient stds",
}

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222;
       padding: 0 .5rem; }
h1, .finding { overflow-wrap: anywhere; }  /* long names break rather than widen the page */
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; display: block; max-width: 100%;
        overflow-x: auto; }  /* a wide table scrolls by itself on a phone, the page never */
td, th { padding: .2rem .7rem; white-space: nowrap; }
th { text-align: left; background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
.finding { border-left: 4px solid #c90; padding: .3rem .8rem; margin: .6rem 0; }
.finding { background: #fffbea; }
.finding.error { border-color: #c22; background: #fff0f0; } .ok { color: #270; }
figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eee; }
"""


def _page(title: str, body: list[str]) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4f}</td>'
        return f"<td>{escape(str(v))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    title = PLOT_TITLES.get(path.stem, path.stem)
    return (
        f'<figure id="plot-{escape(path.stem)}"><figcaption>{escape(title)}</figcaption>'
        f'<img alt="{escape(title)}" src="data:image/png;base64,{data}"></figure>'
    )


def _plots(directory: Path) -> list[Path]:
    found = {p.stem: p for p in sorted(RunDir(directory).plots.glob("*.png"))}  # a study's too
    ordered = [found.pop(stem) for stem in PLOT_TITLES if stem in found]
    return ordered + list(found.values())


def _findings(run: RunDir, options: dict[str, Any]) -> list[str]:
    findings = run.saved_findings()
    if findings is None and kind_of(run.path) == "lr-find":
        return ["<p>An lr-find run: the learning-rate finder trains nothing to diagnose.</p>"]
    if findings is None and options.get("telemetry") is False:
        return ["<p>No telemetry was recorded for this run (--no-telemetry).</p>"]
    if findings is None:
        resume = escape(shlex.join(["lookinside", "train", "--resume", str(run.path)]))
        return [f"<p>No diagnosis yet: the run has not finished (<code>{resume}</code> goes "
                "on with it; <code>lookinside inspect</code> diagnoses its last checkpoint)."
                "</p>"]  # fmt: skip
    if not findings:
        return ['<p class="ok">Nothing looks wrong.</p>']
    out = []
    for f in findings:
        link = f'<a href="#plot-{escape(f["plot"])}">see the plot</a>' if f.get("plot") else ""
        steps = escape("-".join(str(s) for s in f["steps"]))
        severity = escape(str(f["severity"]))
        out.append(
            f'<div class="finding {severity}"><b>{severity}</b>: '
            f"{escape(str(f['message']))} (steps {steps}). {link}<br>"
            f"Try: {escape(str(f['advice']))}</div>"
        )
    return out


def _trial_link(run: RunDir) -> list[str]:
    """A link to the run's trial of remedies (`lookinside fix`), when it has one."""
    trial = run.trial()
    if trial is None:
        return []
    verdict = StudyDir(trial).trial_verdict()
    href = escape(str(StudyDir(trial).report.relative_to(run.path)))
    return [f'<p id="trial"><a href="{href}">The trial of these remedies</a>: '
            f"{escape(verdict)}</p>"]  # fmt: skip


def _trial(out: Path) -> list[str]:
    """A study that is a trial of remedies: its comparison with the original run."""
    path = StudyDir(out).trial_json
    if not path.is_file():
        return []
    trial = read_json(path)
    from .trial import Trial

    table = Trial.from_dict(trial, str(path))
    command = str(trial.get("command") or "")
    shown = f"<p><code>{escape(command)}</code></p>" if command else ""
    return ["<h2>Trial of the remedies</h2>", table._repr_html_(), shown]


def _metrics(run: RunDir) -> str:
    epochs = run.epochs()
    if not epochs:
        return "<p>No epoch finished.</p>"
    header = list(dict.fromkeys(k for e in epochs for k in e))
    cells = [[_cell(k, e.get(k)) for k in header] for e in epochs]
    return _table(header, cells)


def _cell(column: str, value: float | None) -> int | float | str:
    """A metrics cell: the epoch as an int, a number, or '-' where the row has none."""
    if value is None:
        return "-"
    return int(value) if column == "epoch" else value


def render_run_report(run_dir: str | Path) -> str:
    """The HTML of a run directory's report."""
    run = RunDir(run_dir)
    config, run_dir = run.options(), run.path
    body = [
        f"<h1>lookinside run {escape(run_dir.name)}</h1>",
        "<h2>Diagnosis</h2>",
        *_findings(run, config),
        *_trial_link(run),
        "<h2>Metrics per epoch</h2>",
        _metrics(run),
        "<h2>Plots</h2>",
        *(_figure(p) for p in _plots(run_dir)),
        "<h2>Configuration</h2>",
        _table(["option", "value"], [[k, json.dumps(v)] for k, v in config.items()]),
    ]
    return _page(f"lookinside: {run_dir.name}", body)


def render_study_report(out: str | Path) -> str:
    """The HTML of a study directory's report: the summary, the plots, a link to each run."""
    from .study_results import accuracy_cell, load_results, summarize

    out = Path(out)
    results = load_results(out)
    summary_rows = []
    for s in summarize(results):
        acc = accuracy_cell(s)
        found = ", ".join(f"{k} ({n})" for k, n in sorted(s.findings.items())) or "-"
        summary_rows.append([s.variant, acc, s.loss_mean, s.seconds, f"{s.params:,}", found])
    links = []
    for r in results:
        page = RunDir(r.run_dir).report
        target = page.relative_to(out) if page.is_relative_to(out) else page
        status = f"{r.valid_accuracy:.2%}" if r.status == "done" else f"failed: {r.error}"
        label = f"{escape(r.variant)}, seed {r.seed}"
        links.append(f'<li><a href="{escape(str(target))}">{label}</a>: {escape(status)}</li>')
    body = [
        f"<h1>lookinside study {escape(out.name)}</h1>",
        *_trial(out),
        "<h2>Summary</h2>",
        _table(
            [
                "variant",
                "valid accuracy (mean ± std)",
                "valid loss",
                "s/epoch",
                "params",
                "findings",
            ],
            summary_rows,
        ),
        "<h2>Plots</h2>",
        *(_figure(p) for p in _plots(out)),
        "<h2>Runs</h2>",
        "<ul>" + "".join(links) + "</ul>",
    ]
    return _page(f"lookinside study: {out.name}", body)


def write_report(directory: str | Path) -> Path:
    """Write `report.html` into a run or study directory (whichever it is); return its path."""
    directory = Path(directory)
    if StudyDir(directory).results.exists():
        html, path = render_study_report(directory), StudyDir(directory).report
    else:
        html, path = render_run_report(directory), RunDir(directory).report
    atomic_write_text(path, html)
    return path
