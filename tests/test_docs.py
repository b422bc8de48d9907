"""The docs: the tutorial notebook runs top to bottom in a fresh kernel and shows what it
says; the API reference is written from the docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
from nbclient import NotebookClient

DOCS = Path(__file__).parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or showed, as text."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_the_tutorial_runs_top_to_bottom(tmp_path: Path) -> None:
    """Every cell runs without an error (nbclient raises at the first one), in a kernel whose
    working directory holds nothing; the broken model's diagnosis names what is wrong."""
    nb = nbformat.read(TUTORIAL, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # what was saved with the file proves nothing
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    shown = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert any("valid_accuracy" in s for s in shown)  # the fits' epoch rows
    assert any("LRFindResult(suggestion" in s for s in shown)
    assert any("warning vanishing_gradients" in s for s in shown)  # the deep sigmoid MLP
    assert any("| kaiming_init |" in s and "Recommended: " in s for s in shown)  # its trial
    assert any("'valid_accuracy'" in s for s in shown)  # validate() after load()
    assert not list(tmp_path.iterdir())  # the model was saved into a temporary directory


def test_the_api_reference_has_a_page_per_public_module(tmp_path: Path) -> None:
    """`make docs`'s script, run into a temporary directory: the index links every public
    module, and the Learner's page shows its methods' docstrings."""
    spec = importlib.util.spec_from_file_location("api_reference", DOCS / "api_reference.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    modules = script.public_modules()
    assert {"lookinside.learner", "lookinside.watcher", "lookinside.diagnosis"} <= set(modules)
    assert not any(m.rpartition(".")[2].startswith("_") for m in modules)  # no __main__
    index = script.build(tmp_path)
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    assert {m.replace(".", "/") + ".html" for m in modules} <= pages
    assert "lookinside/remedies.html" in pages  # named by the package's __all__
    learner = (tmp_path / "lookinside" / "learner.html").read_text()
    assert index.exists() and "fit_one_cycle" in learner and "Predictions and targets" in learner
    package = (tmp_path / "lookinside.html").read_text()  # its names, though they load lazily
    assert "A model, its data, a loss and an optimizer, trained by" in package
