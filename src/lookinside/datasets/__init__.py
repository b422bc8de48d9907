"""Datasets: MNIST (embedded, from a directory, or downloaded) and the IDX file format."""

from .idx import read_idx, write_idx
from .mnist import download_mnist, load_mnist, mnist_dir

__all__ = ["download_mnist", "load_mnist", "mnist_dir", "read_idx", "write_idx"]
