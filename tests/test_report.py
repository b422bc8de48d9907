"""report.html: self-contained, escaped, and checked in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lookinside.cli import main
from lookinside.report import render_run_report, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, small_mnist: Path) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    assert (
        main(
            ["train", "--data", str(small_mnist), "--bs", "16", "--epochs", "2", "--out", str(out)]
        )
        == 0
    )
    return out


def open_in_chromium(page_path: Path, screenshot: Path, width: int = 1280) -> dict[str, object]:
    """Load a page headless in a window `width` px wide; return image widths, texts, console
    errors and dialogs, and how wide the page is drawn."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on(
            "request",
            lambda r: (
                errors.append(f"network: {r.url}")
                if not r.url.startswith(("file:", "data:"))
                else None
            ),
        )
        page.goto(page_path.as_uri())
        result = {
            "widths": page.evaluate("Array.from(document.images).map(i => i.naturalWidth)"),
            "headings": page.evaluate(
                "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
            ),
            "tables": page.evaluate("document.querySelectorAll('table').length"),
            "text": page.evaluate("document.body.innerText"),
            "errors": errors,
            "dialogs": dialogs,
            "drawn": page.evaluate("document.documentElement.scrollWidth"),
        }
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return result


def test_run_report_loads_every_image_without_errors(run_dir: Path, tmp_path: Path) -> None:
    page = run_dir / "report.html"
    assert page.exists()  # written by `lookinside train`
    seen = open_in_chromium(page, tmp_path / "report.png")
    assert seen["errors"] == [] and seen["dialogs"] == []
    widths = seen["widths"]
    assert isinstance(widths, list) and len(widths) >= 6 and all(w > 0 for w in widths)
    assert seen["headings"] == ["Diagnosis", "Metrics per epoch", "Plots", "Configuration"]
    assert "valid_accuracy" in str(seen["text"])
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert seen["drawn"] == 1280


def test_the_report_fits_a_phone(run_dir: Path, tmp_path: Path) -> None:
    """At 480 px nothing runs off the page: a wide table scrolls within itself."""
    seen = open_in_chromium(run_dir / "report.html", tmp_path / "report-480.png", width=480)
    assert seen["errors"] == [] and seen["drawn"] == 480


def test_report_is_a_pure_function_of_the_run_directory(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").read_text() == before
    assert "http" not in before.replace("http-equiv", "") and "<script" not in before


def test_text_from_the_run_is_escaped(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    evil = "<script>alert(1)</script>"
    (run / "config.json").write_text(json.dumps({"name": evil, "lr": 0.1}))
    (run / "metrics.csv").write_text("epoch,train_loss\n0,0.5\n")
    finding = {
        "kind": "x",
        "layer": evil,
        "steps": [0, 1],
        "severity": "warning",
        "message": evil,
        "evidence": {},
        "advice": evil,
        "plot": evil,
    }
    (run / "diagnosis.json").write_text(json.dumps({"findings": [finding]}))
    html = render_run_report(run)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = write_report(run)
    seen = open_in_chromium(page, tmp_path / "evil.png")
    assert seen["dialogs"] == [] and evil in str(seen["text"])


def test_study_report_links_each_run(tmp_path: Path, small_mnist: Path) -> None:
    study = tmp_path / "s.toml"
    grid = '[grid]\nact = ["relu", "general"]\n'
    study.write_text(f'seeds = [0]\n[base]\ndata = "{small_mnist}"\narch = [4]\n{grid}')
    out = tmp_path / "study"
    assert main(["ablate", str(study), "--out", str(out)]) == 0
    seen = open_in_chromium(out / "report.html", tmp_path / "study.png")
    assert seen["errors"] == [] and all(w > 0 for w in seen["widths"])  # type: ignore[attr-defined]
    html = (out / "report.html").read_text()
    assert 'href="runs/act-relu/seed-0/report.html"' in html
    assert (out / "runs" / "act-relu" / "seed-0" / "report.html").exists()


def test_report_of_something_else_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_a_partial_epoch_row_renders(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.csv").write_text(
        "epoch,train_loss,valid_loss,seconds\n0,0.5,0.4,1.0\n1,0.3,,0.5\n"
    )
    assert "<td>-</td>" in render_run_report(run)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("config.json", "{ not json", "config.json cannot be read: it is not valid JSON."),
        ("config.json", "[1, 2]", "config.json does not hold an object of JSON, as it should."),
        ("metrics.csv", "epoch,loss\nfirst,low\n", "does not hold one row of numbers per epoch ("),
        ("diagnosis.json", "[]", "diagnosis.json does not hold an object of JSON"),
        ("diagnosis.json", '{"findings": [1]}', "does not hold findings (severity, message"),
        ("diagnosis.json", b"\xff\xfe", "diagnosis.json cannot be read: it is not valid JSON."),
    ],
)
def test_garbage_in_a_run_directory_is_one_sentence(
    tmp_path: Path, name: str, text: str | bytes, message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`report` re-renders from the files alone: a file edited by hand or cut short is named
    in one sentence, exit 2, never a traceback."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    path = run / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (run / "report.html").exists()
