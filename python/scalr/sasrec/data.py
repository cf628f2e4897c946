"""Histories -> padded tensors. A history set is CSR: item codes (0..n_items-1) of every sequence
concatenated in time order, with offsets. Training windows: each sequence is cut from its end into
consecutive pieces of at most max_len + 1 items (input = piece[:-1], target = piece[1:]), left-
padded with token 0 (item c is token c + 1); a piece of one item holds no target and is dropped.
Everything is vectorized (numpy), no Python loop over sequences."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Histories:
    items: np.ndarray  # (N,) int64 item codes, sequences concatenated
    ptr: np.ndarray  # (n_seq + 1,) int64 offsets

    @property
    def n_seq(self) -> int:
        return len(self.ptr) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.ptr)

    @property
    def n_tokens(self) -> int:
        """Next-item targets the sequences hold (length - 1 each)."""
        return int(np.maximum(self.lengths - 1, 0).sum())

    @classmethod
    def from_codes(cls, seq_id: np.ndarray, items: np.ndarray, order_key: np.ndarray | None = None,
                   n_seq: int | None = None) -> "Histories":
        """Sequences from (sequence id, item code) rows, ordered by order_key within a sequence
        (row order when None); items < 0 are dropped. Sequence ids must be 0..n_seq-1."""
        seq_id = np.asarray(seq_id, np.int64)
        items = np.asarray(items, np.int64)
        keep = items >= 0
        seq_id, items = seq_id[keep], items[keep]
        key = np.arange(len(items)) if order_key is None else np.asarray(order_key)[keep]
        o = np.lexsort((np.arange(len(items)), key, seq_id))
        n = int(seq_id.max()) + 1 if n_seq is None and len(seq_id) else int(n_seq or 0)
        ptr = np.r_[0, np.cumsum(np.bincount(seq_id, minlength=n))].astype(np.int64)
        return cls(items[o], ptr)

    @classmethod
    def from_matrix(cls, walks: np.ndarray) -> "Histories":
        """From an (n, L) array padded with -1 (scalr.walks.generate_walks)."""
        w = np.asarray(walks, np.int64)
        r, _ = np.nonzero(w >= 0)
        return cls.from_codes(r, w[w >= 0], n_seq=w.shape[0])

    def concat(self, other: "Histories") -> "Histories":
        return Histories(np.r_[self.items, other.items], np.r_[self.ptr, self.ptr[-1] + other.ptr[1:]])

    def take(self, idx: np.ndarray) -> "Histories":
        idx = np.asarray(idx, np.int64)
        lens = self.lengths[idx]
        ptr = np.r_[0, np.cumsum(lens)].astype(np.int64)
        src = np.repeat(self.ptr[idx] - ptr[:-1], lens) + np.arange(ptr[-1])
        return Histories(self.items[src], ptr)


def windows(h: Histories, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) token arrays (n_windows, max_len), left-padded with 0."""
    lens = h.lengths
    piece = max_len + 1
    # pieces cut from each sequence's end: piece k of a sequence covers [end - (k+1)*max_len - 1, end - k*max_len)
    n_p = np.where(lens >= 2, np.ceil(np.maximum(lens - 1, 0) / max_len), 0).astype(np.int64)
    seq = np.repeat(np.arange(h.n_seq), n_p)
    k = np.arange(n_p.sum()) - np.repeat(np.cumsum(n_p) - n_p, n_p)
    end = h.ptr[seq + 1] - k * max_len
    start = np.maximum(end - piece, h.ptr[seq])
    cols = np.arange(piece)[None, :] - piece + end[:, None]  # absolute index of each slot
    valid = cols >= start[:, None]
    tok = np.where(valid, h.items[np.where(valid, cols, 0)] + 1, 0)
    inp = tok[:, :-1].copy()
    return inp, np.where(inp > 0, tok[:, 1:], 0)  # no target after a padding slot


def last_window(h: Histories, max_len: int) -> np.ndarray:
    """The last max_len items of every sequence as tokens, left-padded (empty sequence: all 0)."""
    end = h.ptr[1:]
    cols = np.arange(max_len)[None, :] - max_len + end[:, None]
    valid = cols >= h.ptr[:-1][:, None]
    return np.where(valid, h.items[np.where(valid, cols, 0)] + 1, 0)


def split_last(h: Histories, which: np.ndarray) -> tuple[Histories, np.ndarray]:
    """Remove the last item of the sequences ``which`` (bool per sequence, length >= 2 required):
    returns the shortened histories and the removed items (-1 where not removed)."""
    which = np.asarray(which, bool) & (h.lengths >= 2)
    last = np.where(which, h.items[np.maximum(h.ptr[1:] - 1, 0)], -1)
    drop = np.zeros(len(h.items), bool)
    drop[h.ptr[1:][which] - 1] = True
    lens = h.lengths - which
    return Histories(h.items[~drop], np.r_[0, np.cumsum(lens)].astype(np.int64)), last
