"""Encoding helpers for SCALR's vectorized learning code: codes of ids in an index, int64 (user, item)
keys, sorted-key membership, sparse indicator matrices and cell lookups, timestamps as int64 microseconds.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp


def codes(values: Any, index: pd.Index) -> np.ndarray:
    """Integer position of each value in ``index`` (-1 where absent)."""
    return index.get_indexer(pd.Index(np.asarray(values, dtype=object))).astype(np.int64)


def keys(u: np.ndarray, i: np.ndarray, n_items: int) -> np.ndarray:
    return u.astype(np.int64) * np.int64(n_items) + i.astype(np.int64)


def in_sorted(query: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Vectorized membership of ``query`` in a sorted unique int64 array."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), bool)
    pos = np.searchsorted(sorted_keys, query)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return sorted_keys[pos] == query


def sparse_indicator(u: np.ndarray, i: np.ndarray, shape: tuple[int, int],
                     values: np.ndarray | None = None, agg: str = "max") -> sp.csr_matrix:
    """CSR matrix with one cell per distinct (u, i); duplicates aggregated by max or sum."""
    ok = (u >= 0) & (i >= 0)
    u, i = u[ok], i[ok]
    v = np.ones(len(u)) if values is None else np.asarray(values, float)[ok]
    if agg == "sum":
        m = sp.csr_matrix((v, (u, i)), shape=shape)
        m.sum_duplicates()
        return m
    if len(u) == 0:
        return sp.csr_matrix(shape)
    k = keys(u, i, shape[1])
    order = np.lexsort((-v, k))
    k, v = k[order], v[order]
    first = np.r_[True, k[1:] != k[:-1]]
    k, v = k[first], v[first]
    return sp.csr_matrix((v, (k // shape[1], k % shape[1])), shape=shape)


def pair_values(m: sp.csr_matrix, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """m[u, i] for many pairs at once (0 where the cell is empty)."""
    m = m.tocsr()
    m.sum_duplicates()
    m.sort_indices()
    row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    k = row_of * np.int64(m.shape[1]) + m.indices.astype(np.int64)
    q = keys(u, i, m.shape[1])
    pos = np.minimum(np.searchsorted(k, q), max(len(k) - 1, 0))
    if len(k) == 0:
        return np.zeros(len(q))
    return np.where(k[pos] == q, m.data[pos], 0.0)


def sorted_keys(u: np.ndarray, i: np.ndarray, n_items: int) -> np.ndarray:
    ok = (u >= 0) & (i >= 0)
    return np.unique(keys(u[ok], i[ok], n_items))


US_PER_DAY = 86_400_000_000


def to_us(ts: Any) -> np.ndarray:
    """Datetime-like array -> int64 microseconds since the epoch."""
    return np.asarray(pd.to_datetime(np.asarray(ts)).astype("datetime64[us]")).astype(np.int64)
