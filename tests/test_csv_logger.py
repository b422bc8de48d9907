"""CSVLogger: the metrics file after every epoch, complete."""

import csv
from pathlib import Path

import lookinside as li

from .conftest import tiny_dls, tiny_model


def test_writes_one_row_per_epoch(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "metrics.csv"
    rows_seen: list[int] = []

    def count_rows(learn: li.Learner) -> None:
        rows_seen.append(len(path.read_text().splitlines()) - 1)

    learn = li.Learner(
        tiny_model(),
        tiny_dls(),
        metrics=[li.accuracy],
        cbs=[li.CSVLogger(path), li.LambdaCallback(after_epoch=count_rows, order=99)],
    )
    learn.progress_bar.rows = False
    learn.fit(3)
    assert rows_seen == [1, 2, 3]
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary files left
