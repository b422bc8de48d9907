"""BatchTransform and view_tfm, as the lesson used them on flat MNIST rows."""

import torch

import lookinside as li


def test_view_tfm_reshapes_flat_rows_for_a_cnn() -> None:
    x, y = torch.randn(16, 784), torch.randint(0, 10, (16,))
    dls = li.DataLoaders.from_tensors(x, y, x, y, bs=8)
    learn = li.Learner(li.cnn(), dls, cbs=[li.BatchTransform(li.view_tfm(1, 28, 28))])
    learn.progress_bar.rows = False
    learn.fit(1)
    assert learn.xb.shape == (16, 1, 28, 28)  # the last (validation) batch, transformed
    assert "view_tfm" in repr(learn.batch_transform)
