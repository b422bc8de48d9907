"""DeviceLog: values appended across chunk boundaries come back in order."""

import numpy as np
import torch

from lookinside.tensorlog import DeviceLog


def test_values_across_chunks_come_back_in_order() -> None:
    log = DeviceLog(chunk=4)
    assert len(log) == 0 and log.numpy().shape == (0,)
    for i in range(10):
        log.append(torch.tensor(float(i), requires_grad=True) * 1)
    assert len(log) == 10
    np.testing.assert_array_equal(log.numpy(), np.arange(10, dtype=np.float32))


def test_exactly_full_chunks() -> None:
    log = DeviceLog(chunk=2)
    for i in range(4):
        log.append(torch.tensor(i, dtype=torch.bfloat16))
    assert len(log) == 4
    np.testing.assert_array_equal(log.numpy(), [0, 1, 2, 3])
