"""`report.html`: one self-contained page per run or study, a pure function of its directory.

Everything comes from the files the run left (config.json, metrics.csv, diagnosis.json,
plots/*.png), so `lookinside report RUN_DIR` can re-render it at any time. Images are embedded
as base64 PNG; there are no scripts and no network requests; every piece of text from the run
(config values, layer names, messages) is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import json
from html import escape
from pathlib import Path
from typing import Any

from .errors import LookinsideError
from .files import atomic_write_text, read_json

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
    found = {p.stem: p for p in sorted((directory / "plots").glob("*.png"))}
    ordered = [found.pop(stem) for stem in PLOT_TITLES if stem in found]
    return ordered + list(found.values())


def _findings(directory: Path) -> list[str]:
    path = directory / "diagnosis.json"
    if not path.exists():
        return ["<p>No telemetry was recorded for this run.</p>"]
    findings = read_json(path).get("findings", [])
    if not findings:
        return ['<p class="ok">Nothing looks wrong.</p>']
    fields = ("severity", "message", "advice", "steps")
    if not (isinstance(findings, list) and all(isinstance(f, dict) and all(k in f for k in fields)
                                               for f in findings)):  # fmt: skip
        raise LookinsideError(f"{path} does not hold findings ({', '.join(fields)} each).")
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


def _trial_link(run_dir: Path) -> list[str]:
    """A link to the run's trial of remedies (`lookinside fix`), when it has one."""
    from .fix import trial_dir, trial_verdict

    trial = trial_dir(run_dir)
    if trial is None:
        return []
    verdict = trial_verdict(trial)
    href = escape(f"{trial.name}/report.html")
    return [f'<p id="trial"><a href="{href}">The trial of these remedies</a>: '
            f"{escape(verdict)}</p>"]  # fmt: skip


def _trial(out: Path) -> list[str]:
    """A study that is a trial of remedies: its comparison with the original run."""
    path = out / "trial.json"
    if not path.is_file():
        return []
    trial = read_json(path)
    from .trial import Trial

    table = Trial.from_dict(trial, str(path))
    command = str(trial.get("command") or "")
    shown = f"<p><code>{escape(command)}</code></p>" if command else ""
    return ["<h2>Trial of the remedies</h2>", table._repr_html_(), shown]


def _metrics(directory: Path) -> str:
    path = directory / "metrics.csv"
    if not path.exists():
        return "<p>No epoch finished.</p>"
    with path.open() as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return "<p>No epoch finished.</p>"
    header, body = rows[0], rows[1:]
    try:
        numbers = [[int(r[0]), *(float(v) if v else "-" for v in r[1:])] for r in body]
    except (ValueError, IndexError):
        raise LookinsideError(f"{path} does not hold one row of numbers per epoch.") from None
    return _table(header, numbers)


def render_run_report(run_dir: str | Path) -> str:
    """The HTML of a run directory's report."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise LookinsideError(f"{run_dir} is not a run directory (it has no config.json).")
    config = read_json(config_path)
    body = [
        f"<h1>lookinside run {escape(run_dir.name)}</h1>",
        "<h2>Diagnosis</h2>",
        *_findings(run_dir),
        *_trial_link(run_dir),
        "<h2>Metrics per epoch</h2>",
        _metrics(run_dir),
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
        page = Path(r.run_dir) / "report.html"
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
    html = (
        render_study_report(directory)
        if (directory / "results.csv").exists()
        else render_run_report(directory)
    )
    path = directory / "report.html"
    atomic_write_text(path, html)
    return path
