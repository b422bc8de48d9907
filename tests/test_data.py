"""TensorLoader and DataLoaders: device-resident batches, shuffled per epoch."""

import pytest
import torch

import lookinside as li


def test_batches_cover_the_data_once_per_epoch_and_shuffle_differs() -> None:
    x = torch.arange(10).float()[:, None]
    loader = li.TensorLoader(x, x.long().squeeze(1), bs=4, shuffle=True)
    assert len(loader) == 3
    epochs = [torch.cat([yb for _, yb in loader]) for _ in range(2)]
    for seen in epochs:
        assert sorted(seen.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    assert [len(xb) for xb, _ in loader] == [4, 4, 2]


def test_unshuffled_batches_are_views_in_order() -> None:
    x = torch.arange(10).float()
    loader = li.TensorLoader(x, x, bs=3, drop_last=True)
    batches = [xb for xb, _ in loader]
    assert len(loader) == 3 and [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert batches[1].data_ptr() == x[3:].data_ptr()  # a slice, not a copy


def test_generator_makes_the_order_reproducible() -> None:
    x = torch.arange(20)
    orders = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        orders.append(
            [xb.tolist() for (xb,) in li.TensorLoader(x, bs=5, shuffle=True, generator=g)]
        )
    assert orders[0] == orders[1]


def test_bad_loaders_are_refused_in_one_sentence() -> None:
    with pytest.raises(li.LookinsideError, match="differ in length"):
        li.TensorLoader(torch.zeros(3), torch.zeros(4))
    with pytest.raises(li.LookinsideError, match="empty"):
        li.TensorLoader(torch.zeros(0))
    with pytest.raises(li.LookinsideError, match="at least 1"):
        li.TensorLoader(torch.zeros(3), bs=0)


def test_from_tensors_puts_data_on_the_device_and_validates_in_order() -> None:
    x, y = torch.randn(10, 2), torch.arange(10)
    dls = li.DataLoaders.from_tensors(x, y, x, y, bs=2, device="cpu")
    assert dls.device == torch.device("cpu")
    assert dls.valid is not None and dls.valid.bs == 4 and not dls.valid.shuffle
    assert torch.cat([yb for _, yb in dls.valid]).tolist() == list(range(10))
    assert "TensorLoader" in repr(dls)


def test_any_iterable_of_batches_works_including_torch_dataloader() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    torch_dl = DataLoader(TensorDataset(x, y), batch_size=4)
    listed = [(x[:6], y[:6]), (x[6:], y[6:])]
    learn = li.Learner(
        torch.nn.Linear(5, 3), li.DataLoaders(torch_dl, listed), metrics=[li.accuracy]
    )
    learn.progress_bar.rows = False
    learn.fit(1)
    assert learn.dls.device is None
    assert learn.avg_stats.last.values["valid_accuracy"] >= 0  # type: ignore[union-attr]
    assert learn.train_iter == 3


def test_loaders_without_a_length_train_and_find_an_lr() -> None:
    from torch.utils.data import DataLoader, IterableDataset

    class Stream(IterableDataset):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            g = torch.Generator().manual_seed(0)
            for _ in range(40):
                yield torch.randn(5, generator=g), torch.randint(0, 3, (), generator=g)

    dl = DataLoader(Stream(), batch_size=4)
    assert li.data.len_or_none(dl) is None
    learn = li.Learner(torch.nn.Linear(5, 3), li.DataLoaders(dl, dl))
    learn.progress_bar.rows = False
    learn.fit(2)
    assert learn.train_iter == 20
    assert len(learn.lr_find(num_it=15).lrs) > 2
