"""Training: next-item softmax cross-entropy (full over the catalog, or sampled: the target against
n_negatives uniform items shared by the batch), Adam, a token budget, early stopping on a real
validation slice, deterministic for a seed.

Token budget: training stops once ``token_budget`` targets (non-padding slots) have been seen,
drawing shuffled passes over the windows (a seeded permutation per pass), or earlier when the
validation loss has not improved for ``patience`` checks; the best state is restored. Schedule
``constant`` keeps the learning rate; ``cosine`` warms up linearly over 5 % and decays to 0 exactly
at the budget (the scaling study's one-pass runs). Determinism: torch.manual_seed(seed), numpy
seeded batches, ``threads`` torch threads (1 by default) and deterministic algorithms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scalr.sasrec.data import Histories, windows
from scalr.sasrec.model import ModelConfig, SASRec


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = ModelConfig()
    lr: float = 1e-3
    batch_size: int = 128
    batch_tokens: int = 0  # > 0: batches of consecutive shuffled windows holding about this many targets
    token_budget: int = 2_000_000
    loss: str = "full"  # full | sampled
    n_negatives: int = 1000
    schedule: str = "constant"  # constant | cosine
    eval_every_tokens: int = 50_000
    patience: int = 3
    weight_decay: float = 0.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        if self.loss not in ("full", "sampled"):
            raise ValueError(f"loss must be full or sampled, got {self.loss!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be constant or cosine, got {self.schedule!r}")


@dataclass
class TrainResult:
    model: SASRec
    tokens_seen: int
    steps: int
    best_val_loss: float
    history: list  # (tokens, train loss, val loss)


def trim(x: np.ndarray, *more: np.ndarray) -> tuple:
    """Drop the leading columns that are padding in every row (left-padded windows; positions
    count from the right, so the model's output is unchanged) and convert to tensors."""
    nz = (x > 0).any(0)
    a = int(np.argmax(nz)) if nz.any() else x.shape[1] - 1
    return tuple(torch.from_numpy(np.ascontiguousarray(y[:, a:])) for y in (x, *more))


def setup(seed: int, threads: int) -> None:
    torch.manual_seed(int(seed))
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True)


def token_loss(model: SASRec, inp: torch.Tensor, tgt: torch.Tensor, cfg: TrainConfig,
               gen: torch.Generator | None = None, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of every non-padding target (mean, or the sum with reduction 'sum')."""
    h = model.hidden(inp)
    m = tgt > 0
    hs, ts = h[m], tgt[m] - 1
    if cfg.loss == "full" or gen is None:
        return F.cross_entropy(model.logits(hs), ts, reduction=reduction)
    neg = torch.randint(0, model.n_items, (cfg.n_negatives,), generator=gen) + 1
    pos_logit = (hs * model.item(ts + 1)).sum(-1, keepdim=True)
    neg_logit = model.logits(hs, neg)
    neg_logit = neg_logit.masked_fill(neg[None, :] == (ts + 1)[:, None], -1e9)  # accidental hits
    z = torch.cat([pos_logit, neg_logit], 1)
    return F.cross_entropy(z, torch.zeros(len(ts), dtype=torch.long), reduction=reduction)


@torch.no_grad()
def mean_loss(model: SASRec, inp: np.ndarray, tgt: np.ndarray, batch: int = 256) -> float:
    """Full-softmax cross-entropy (nats per target) of windows, model in eval mode."""
    was = model.training
    model.eval()
    tot, n = 0.0, 0
    full = TrainConfig(loss="full")
    for a in range(0, len(inp), batch):
        x, y = trim(inp[a:a + batch], tgt[a:a + batch])
        tot += float(token_loss(model, x, y, full, reduction="sum"))
        n += int((y > 0).sum())
    model.train(was)
    return tot / max(n, 1)


def train(h: Histories, n_items: int, cfg: TrainConfig, val: tuple[np.ndarray, np.ndarray] | None = None,
          log=None) -> TrainResult:
    """Train SASRec on histories ``h`` (item codes < n_items) within cfg.token_budget targets.
    ``val``: (inputs, targets) windows of the real validation slice (early stopping)."""
    setup(cfg.seed, cfg.threads)
    inp, tgt = windows(h, cfg.model.max_len)
    if len(inp) == 0:
        raise ValueError("scalr.sasrec.train: no sequence of length >= 2 to train on")
    model = SASRec(n_items, cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 7])
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    tok_per_window = (tgt > 0).sum(1)
    per_step = cfg.batch_tokens if cfg.batch_tokens > 0 else tok_per_window.mean() * cfg.batch_size
    est_steps = max(1, math.ceil(cfg.token_budget / max(1.0, per_step)))
    warm = max(1, int(0.05 * est_steps))

    def lr_at(step: int, seen: int) -> float:
        if cfg.schedule == "constant":
            return cfg.lr
        frac = min(1.0, seen / cfg.token_budget)
        return cfg.lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * frac))

    seen, step, next_eval = 0, 0, cfg.eval_every_tokens
    best, best_state, bad, hist = float("inf"), None, 0, []
    run_loss, run_n = 0.0, 0
    model.train()
    done = False
    while not done:
        perm = rng.permutation(len(inp))
        if cfg.batch_tokens > 0:  # cut where the running target count crosses a multiple of batch_tokens
            c = np.cumsum(tok_per_window[perm])
            cuts = np.r_[0, np.flatnonzero(np.diff((c - 1) // cfg.batch_tokens)) + 1, len(perm)]
        else:
            cuts = np.r_[np.arange(0, len(perm), cfg.batch_size), len(perm)]
        for a, z in zip(cuts[:-1], cuts[1:]):
            idx = perm[a:z]
            x, y = trim(inp[idx], tgt[idx])
            for g in opt.param_groups:
                g["lr"] = lr_at(step, seen)
            loss = token_loss(model, x, y, cfg, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = int(tok_per_window[idx].sum())
            seen += n
            step += 1
            run_loss += loss.item() * n
            run_n += n
            last = seen >= cfg.token_budget
            if seen >= next_eval or last:
                next_eval += cfg.eval_every_tokens
                vl = mean_loss(model, *val) if val is not None and len(val[0]) else float("nan")
                hist.append((seen, run_loss / max(run_n, 1), vl))
                if log:
                    log(f"tokens {seen} train {run_loss / max(run_n, 1):.4f} val {vl:.4f}")
                run_loss, run_n = 0.0, 0
                if val is not None and len(val[0]):
                    if vl < best - 1e-4:
                        best, bad = vl, 0
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    else:
                        bad += 1
                        if bad >= cfg.patience:
                            done = True
            if last:
                done = True
            if done:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, seen, step, best, hist)


@torch.no_grad()
def score(model: SASRec, tokens: np.ndarray, batch: int = 512) -> np.ndarray:
    """(n, n_items) next-item scores for left-padded token windows (eval mode)."""
    model.eval()
    out = [model.score_last(trim(tokens[a:a + batch])[0]).numpy() for a in range(0, len(tokens), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.n_items), np.float32)
