"""Sparse input rows for the MLP's first layer: TF-IDF texts are 99.7% zeros.

A TF-IDF row of SMS spam holds 16.5 of its 5,000 terms on average, yet a dense first layer multiplies
all 5,000 columns in every step and every validation pass. :class:`SparseRows` keeps the featurised
rows as CSR tensors on the device; indexing it gives a :class:`SparseBatch` (each row's stored
columns and values), which :class:`SparseInputLinear` (the MLP's first layer, an ``nn.Linear`` with
the same parameters, initialisation and state_dict) multiplies by its weight's stored columns only.
Dense input takes ``nn.Linear``'s own path. Which fits train on sparse rows is decided in
``benchmark/training/sparse_input.py``; docs/performance.md ('Sparse TF-IDF input') has the figures.

The product keeps the weight's ``(out, in)`` layout, which the fused optimiser needs contiguous (a
transposed layout made its CPU kernel copy the weight every step): the forward pass is
``embedding_bag`` over the weight's transposed view (each row a weighted sum of its columns, in the
row's column order), the weight's gradient ``index_add_`` of each stored value times the row's output
gradient into a zero ``(out, in)`` tensor, the bias's gradient the batch sum. The stacked trials call
the same two functions member by member (:mod:`benchmark.training.stacked_ops`), so each member sums
as its single fit does. The sums run in another order than a dense product's: scores agree with the
dense path to float rounding (tests/training/test_sparse_input.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SparseBatch(NamedTuple):
    """Rows of a :class:`SparseRows`: row ``r`` holds ``values[offsets[r]:offsets[r] + lengths[r]]`` at
    ``columns[...]`` (all else zero)."""

    columns: torch.Tensor  # (nnz,) int64
    values: torch.Tensor  # (nnz,) float32
    offsets: torch.Tensor  # (B,) int64, where each row starts in columns and values
    lengths: torch.Tensor  # (B,) int64, stored values per row
    width: int  # columns of a dense row

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.offsets.shape[0]), self.width)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def row_ids(self) -> torch.Tensor:
        """The row of each stored value, (nnz,)."""
        rows = torch.arange(self.offsets.shape[0], device=self.offsets.device)
        return torch.repeat_interleave(rows, self.lengths, output_size=self.columns.shape[0])

    def to_dense(self) -> torch.Tensor:
        dense = torch.zeros(self.shape, dtype=self.values.dtype, device=self.values.device)
        dense[self.row_ids(), self.columns] = self.values
        return dense


class SparseRows:
    """A trial's featurised rows as CSR tensors on the device (row pointers, columns, values)."""

    def __init__(self, crow: torch.Tensor, columns: torch.Tensor, values: torch.Tensor, width: int):
        self.crow, self.columns, self.values, self.width = crow, columns, values, width

    @classmethod
    def from_scipy(cls, matrix: Any, device: Any) -> SparseRows:
        """``matrix`` (any scipy sparse matrix) as float32 CSR with sorted columns, on ``device``."""
        csr = matrix.tocsr().astype(np.float32)
        csr.sum_duplicates()  # also sorts each row's columns: one canonical summation order
        return cls(torch.as_tensor(csr.indptr.astype(np.int64)).to(device),
                   torch.as_tensor(csr.indices.astype(np.int64)).to(device),
                   torch.as_tensor(csr.data).to(device), int(csr.shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.crow.shape[0]) - 1, self.width)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: torch.Tensor | slice) -> SparseBatch:
        """The rows at ``index`` (an index tensor, or a slice of step 1), in that order."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise IndexError(f"SparseRows takes slices of step 1, not {step}")
            stop = max(start, stop)
            a, b = int(self.crow[start]), int(self.crow[stop])
            starts = self.crow[start:stop]
            return SparseBatch(self.columns[a:b], self.values[a:b], starts - a, self.crow[start + 1:stop + 1] - starts,
                               self.width)
        index = torch.as_tensor(index, device=self.crow.device).long()
        starts = self.crow[index]
        lengths = self.crow[index + 1] - starts
        ends = torch.cumsum(lengths, 0)
        offsets = ends - lengths
        total = int(ends[-1]) if index.numel() else 0  # one host read per batch: the gather's length
        where = torch.arange(total, device=self.crow.device) + torch.repeat_interleave(starts - offsets, lengths,
                                                                                        output_size=total)
        return SparseBatch(self.columns[where], self.values[where], offsets, lengths, self.width)

    def to_dense(self) -> torch.Tensor:
        return self[0:len(self)].to_dense()


def sparse_product(batch: SparseBatch, weight: torch.Tensor) -> torch.Tensor:
    """``batch @ weight.T`` (B, out) for an ``(out, in)`` weight, over the stored columns only."""
    return F.embedding_bag(batch.columns, weight.t(), batch.offsets, mode="sum", per_sample_weights=batch.values)


def sparse_weight_grad(batch: SparseBatch, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Add ``grad.T @ batch`` (the weight's gradient, (out, in)) into the zero tensor ``out`` and return it."""
    scaled = grad.index_select(0, batch.row_ids()).mul_(batch.values.unsqueeze(1))  # (nnz, out)
    return out.index_add_(1, batch.columns, scaled.t())


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, columns, values, offsets, lengths, width, weight, bias):
        ctx.save_for_backward(columns, values, offsets, lengths)
        ctx.width, ctx.weight_shape = width, weight.shape
        out = sparse_product(SparseBatch(columns, values, offsets, lengths, width), weight)
        return out if bias is None else out.add_(bias)

    @staticmethod
    def backward(ctx, grad):
        batch = SparseBatch(*ctx.saved_tensors, ctx.width)
        grad_w = grad_b = None
        if ctx.needs_input_grad[5]:
            grad_w = sparse_weight_grad(batch, grad, grad.new_zeros(ctx.weight_shape))
        if ctx.needs_input_grad[6]:
            grad_b = grad.sum(0)
        return None, None, None, None, None, grad_w, grad_b


def sparse_linear(batch: SparseBatch, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` of sparse rows: (B, out), differentiable in ``weight`` and ``bias``."""
    return _SparseLinear.apply(batch.columns, batch.values, batch.offsets, batch.lengths, batch.width, weight, bias)


class SparseInputLinear(nn.Linear):
    """``nn.Linear`` that also takes a :class:`SparseBatch` (same parameters, initialisation and state_dict)."""

    def forward(self, x: torch.Tensor | SparseBatch) -> torch.Tensor:
        if isinstance(x, SparseBatch):
            return sparse_linear(x, self.weight, self.bias)
        return super().forward(x)
