"""SASRec: causal self-attention over item ids (Kang and McAuley 2018).

Item codes are shifted by one: 0 is padding, item c of the catalog is token c + 1. Sequences are
left-padded to max_len; positions are learned (one embedding per slot of the padded window). Each
of n_blocks pre-LayerNorm blocks is multi-head causal self-attention + a position-wise two-layer
feed-forward net, both with dropout and residuals. A query attends to itself and to earlier
non-padding keys (a padding query attends to itself only, so no row of the attention is empty).
The output at slot t scores the next item by a dot product with the (tied) item embeddings.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    d: int = 64
    n_blocks: int = 2
    n_heads: int = 1
    max_len: int = 50
    dropout: float = 0.2


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d)
        self.attn = nn.MultiheadAttention(cfg.d, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(cfg.d)
        self.ff = nn.Sequential(nn.Linear(cfg.d, cfg.d), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d, cfg.d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.ln1(h)
        a, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        h = h + self.drop(a)
        return h + self.drop(self.ff(self.ln2(h)))


class SASRec(nn.Module):
    def __init__(self, n_items: int, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        self.n_items = int(n_items)
        self.item = nn.Embedding(self.n_items + 1, cfg.d, padding_idx=0)
        self.pos = nn.Embedding(cfg.max_len, cfg.d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_blocks)])
        self.ln = nn.LayerNorm(cfg.d)
        nn.init.normal_(self.item.weight, std=cfg.d ** -0.5)
        with torch.no_grad():
            self.item.weight[0].zero_()

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) tokens (0 = pad, left-padded) -> (B, L, d) states; state t predicts token t + 1."""
        b, L = seq.shape
        pad = seq == 0
        h = self.item(seq) * (self.cfg.d ** 0.5) + self.pos.weight[-L:][None]
        h = self.drop(h) * (~pad)[..., None]
        causal = torch.ones(L, L, dtype=torch.bool, device=seq.device).triu(1)
        blocked = causal[None] | pad[:, None, :]  # (B, L, L): True = may not attend
        blocked = blocked & ~torch.eye(L, dtype=torch.bool, device=seq.device)[None]
        mask = blocked.repeat_interleave(self.cfg.n_heads, 0)
        for blk in self.blocks:
            h = blk(h, mask) * (~pad)[..., None]
        return self.ln(h)

    def logits(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every catalog item (or of ``items``, token ids) for states h (..., d)."""
        w = self.item.weight[1:] if items is None else self.item(items)
        return h @ w.T

    def score_last(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, n_items) next-item scores after the last slot of each (left-padded) sequence."""
        return self.logits(self.hidden(seq)[:, -1])
