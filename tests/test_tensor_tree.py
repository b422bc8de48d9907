"""tree_map and tensors: batches of nested tuples, lists and dicts."""

from __future__ import annotations

import torch

from lookinside.tensor_tree import tensors, tree_map


def test_tree_map_keeps_the_structure_and_the_other_leaves() -> None:
    a, b, c = torch.zeros(2), torch.ones(3), torch.full((1,), 2.0)
    batch = (a, [b, "label", {"c": c, "n": 4}])
    doubled = tree_map(lambda t: t * 2, batch)
    assert isinstance(doubled, tuple) and isinstance(doubled[1], list)
    assert doubled[1][1] == "label" and doubled[1][2]["n"] == 4
    torch.testing.assert_close(doubled[1][2]["c"], c * 2)
    assert [t.shape for t in tensors(batch)] == [a.shape, b.shape, c.shape]
    assert [id(t) for t in tensors(batch)] == [id(a), id(b), id(c)]  # the tensors themselves
    assert tensors("no tensors") == [] and tree_map(lambda t: t, 3) == 3
