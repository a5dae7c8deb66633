"""Relative-position tables shared by the CNN attention layers (AA-conv, local, axial)."""

import numpy as np
from keras import ops


def _relative_index(length):
    """idx[i, j] = j - i + length - 1: the row of a (2 * length - 1)-entry relative table."""
    positions = np.arange(length)
    return (positions[None, :] - positions[:, None] + length - 1).astype("int32")


def _relative_table(table, length):
    """Expands a (2L-1, d) table of offsets to (L, L, d) with entry [i, j] = table[j - i]."""
    index = _relative_index(length).reshape(-1)
    expanded = ops.take(table, ops.convert_to_tensor(index), axis=0)
    return ops.reshape(expanded, (length, length, table.shape[-1]))
