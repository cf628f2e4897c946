"""Seeded demo world with a planted cross-domain structure.

Generative model (all draws from one ``numpy.random.Generator(seed)``):

* ``n_tastes`` latent tastes with prior ``pi`` (Dirichlet). Every user has exactly one taste.
* Every source domain ``d`` and the target domain have disjoint catalogs. Each item has a home
  taste and a Zipf-like popularity. An item's emission probability given taste ``t`` is
  ``q(j|t) = (1-leak) * pop_j/sum(pop of t's items) [j in t] + leak * pop_j/sum(pop)``.
* A user draws ``1 + Poisson(lam_source)`` events per source domain and, if target-active
  (probability ``target_active``), ``1 + Poisson(lam_target)`` target events; items i.i.d. from
  ``q(.|t_u)``; timestamps uniform over ``[start, end)``. The target domain is much sparser.
* Item values (prices) are log-normal, shifted by the home taste.

Because draws are independent given the taste, the population limit of the estimator
P_hat(i|j) = #overlap users with j and i / #overlap users with j is closed-form (see
``true_translation``): this is the planted truth that tests recover.
"""
from __future__ import annotations

import argparse
import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

_START = np.datetime64("2024-01-01T00:00:00", "s")
_SPAN_S = 366 * 24 * 3600


@dataclass(frozen=True)
class WorldSpec:
    n_users: int = 6000
    n_tastes: int = 12
    source_domains: tuple[str, ...] = ("source",)
    target_domain: str = "target"
    n_source_items: int = 1500
    n_target_items: int = 600
    lam_source: float = 14.0
    lam_target: float = 2.5
    target_active: float = 0.6
    leak: float = 0.15
    zipf: float = 0.9
    seed: int = 7
    train_end: str = "2024-10-01"
    item_prefix: dict[str, str] = field(default_factory=dict)

    @property
    def train_fraction(self) -> float:
        cut = (np.datetime64(self.train_end, "s") - _START).astype(np.int64)
        return float(np.clip(cut / _SPAN_S, 0.0, 1.0))


@dataclass
class Catalog:
    domain: str
    item_id: np.ndarray  # str
    taste: np.ndarray  # int
    q: np.ndarray  # (n_tastes, n_items) emission probabilities, rows sum to 1
    value: np.ndarray  # float


@dataclass
class World:
    spec: WorldSpec
    pi: np.ndarray
    catalogs: dict[str, Catalog]
    events: pd.DataFrame
    items: pd.DataFrame


def _catalog(rng: np.random.Generator, spec: WorldSpec, domain: str, n_items: int) -> Catalog:
    taste = rng.integers(0, spec.n_tastes, n_items)
    pop = (1.0 + rng.permutation(n_items)) ** (-spec.zipf)
    home = np.zeros((spec.n_tastes, n_items))
    home[taste, np.arange(n_items)] = pop
    home_sum = home.sum(axis=1, keepdims=True)
    home = np.divide(home, home_sum, out=np.full_like(home, 0.0), where=home_sum > 0)
    q = (1.0 - spec.leak) * home + spec.leak * (pop / pop.sum())[None, :]
    q /= q.sum(axis=1, keepdims=True)
    prefix = spec.item_prefix.get(domain, domain[:1].upper())
    width = len(str(n_items))
    item_id = np.array([f"{prefix}{k:0{width}d}" for k in range(n_items)], dtype=object)
    value = np.round(np.exp(rng.normal(3.0 + 0.15 * taste, 0.8)), 2)
    return Catalog(domain, item_id, taste, q, value)


def _draw_events(rng: np.random.Generator, cat: Catalog, user_taste: np.ndarray,
                 users: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized i.i.d. item draws: one inverse-CDF searchsorted per taste (no per-event loop)."""
    ev_user = np.repeat(users, counts)
    ev_taste = user_taste[ev_user]
    u = rng.random(ev_user.size)
    ev_item = np.empty(ev_user.size, dtype=np.int64)
    cdf = np.cumsum(cat.q, axis=1)
    cdf[:, -1] = 1.0
    for t in range(cat.q.shape[0]):
        m = ev_taste == t
        ev_item[m] = np.searchsorted(cdf[t], u[m], side="right")
    return ev_user, np.minimum(ev_item, cat.q.shape[1] - 1)


def generate(spec: WorldSpec = WorldSpec()) -> World:
    rng = np.random.default_rng(spec.seed)
    pi = rng.dirichlet(np.full(spec.n_tastes, 5.0))
    user_taste = rng.choice(spec.n_tastes, size=spec.n_users, p=pi)
    width = len(str(spec.n_users))
    user_ids = np.array([f"u{k:0{width}d}" for k in range(spec.n_users)], dtype=object)
    catalogs: dict[str, Catalog] = {}
    frames = []
    all_users = np.arange(spec.n_users)
    for d in spec.source_domains:
        catalogs[d] = _catalog(rng, spec, d, spec.n_source_items)
    catalogs[spec.target_domain] = _catalog(rng, spec, spec.target_domain, spec.n_target_items)
    for d in spec.source_domains:
        counts = 1 + rng.poisson(spec.lam_source, spec.n_users)
        frames.append((d, *_draw_events(rng, catalogs[d], user_taste, all_users, counts)))
    active = all_users[rng.random(spec.n_users) < spec.target_active]
    counts = 1 + rng.poisson(spec.lam_target, active.size)
    frames.append((spec.target_domain,
                   *_draw_events(rng, catalogs[spec.target_domain], user_taste, active, counts)))
    parts = []
    for d, ev_user, ev_item in frames:
        secs = rng.integers(0, _SPAN_S, ev_user.size)
        parts.append(pd.DataFrame({
            "user_id": user_ids[ev_user],
            "item_id": catalogs[d].item_id[ev_item],
            "domain": d,
            "event_ts": (_START + secs.astype("timedelta64[s]")).astype("datetime64[s]"),
        }))
    events = pd.concat(parts, ignore_index=True)
    events = events.sort_values(["event_ts", "user_id", "item_id"], kind="stable").reset_index(drop=True)
    items = pd.concat([
        pd.DataFrame({"item_id": c.item_id, "domain": c.domain, "value": c.value, "taste": c.taste})
        for c in catalogs.values()
    ], ignore_index=True)
    return World(spec, pi, catalogs, events, items)


def _p_has(q: np.ndarray, lam: float, f: float) -> np.ndarray:
    """P(item drawn at least once in the window) with N = 1 + Poisson(lam) draws, each in the
    window with probability f: N' = Bernoulli(f) + Poisson(lam f), E[(1-q)^N'] = (1-fq) e^{-lam f q}."""
    return 1.0 - (1.0 - f * q) * np.exp(-lam * f * q)


def true_translation(world: World, source_domain: str | None = None) -> pd.DataFrame:
    """Population limit of P_hat(i|j) over overlap users in the train window (closed form).

    P(i|j) = sum_t P(t | has j) P(has i | t) / P(N_target' >= 1); overlap (>=1 target train event)
    is independent of the taste and of the source draws.
    """
    spec = world.spec
    f = spec.train_fraction
    sd = source_domain or spec.source_domains[0]
    src, tgt = world.catalogs[sd], world.catalogs[spec.target_domain]
    a = _p_has(src.q, spec.lam_source, f)  # (T, J)
    w = world.pi[:, None] * a
    w /= w.sum(axis=0, keepdims=True)  # P(t | has j)
    h = _p_has(tgt.q, spec.lam_target, f)  # (T, I)
    p_active = 1.0 - (1.0 - f) * np.exp(-spec.lam_target * f)
    p = (w.T @ h) / p_active  # (J, I)
    jj, ii = np.meshgrid(np.arange(p.shape[0]), np.arange(p.shape[1]), indexing="ij")
    return pd.DataFrame({
        "source_domain": sd,
        "source_item": src.item_id[jj.ravel()],
        "target_item": tgt.item_id[ii.ravel()],
        "p_true": p.ravel(),
    })


def write(world: World, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"events": out / "events.csv.gz", "items": out / "items.csv.gz"}
    ev = world.events.assign(event_ts=world.events["event_ts"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    # mtime=0 in the gzip header: same seed gives byte-identical files.
    for key, frame in (("events", ev), ("items", world.items.drop(columns="taste"))):
        with gzip.GzipFile(paths[key], "wb", mtime=0) as fh:
            fh.write(frame.to_csv(index=False).encode())
    return paths


def main(argv: list[str] | None = None, prog: str = "python -m scalr.demo_world") -> None:
    ap = argparse.ArgumentParser(prog=prog, description="Write the seeded scalr demo world: events.csv.gz and "
                                 "items.csv.gz (same seed, byte-identical files).")
    ap.add_argument("--out", default="demo", type=Path, help="output directory, created if missing (default: demo)")
    ap.add_argument("--users", type=int, default=WorldSpec.n_users,
                    help=f"number of users (default: {WorldSpec.n_users})")
    ap.add_argument("--seed", type=int, default=WorldSpec.seed, help=f"random seed (default: {WorldSpec.seed})")
    ap.add_argument("--source-domains", default="source",
                    help="comma-separated source domain names (default: source)")
    args = ap.parse_args(argv)
    from scalr.cli import fail
    if args.users < 1:
        fail(prog, f"--users must be at least 1, got {args.users}")
    domains = tuple(d.strip() for d in args.source_domains.split(",") if d.strip())
    if not domains or len(set(domains)) != len(domains) or WorldSpec.target_domain in domains:
        fail(prog, f"--source-domains must name distinct domains other than {WorldSpec.target_domain!r}, "
                   f"got {args.source_domains!r}")
    if args.out.exists() and not args.out.is_dir():
        fail(prog, f"--out {str(args.out)!r} exists and is not a directory")
    spec = WorldSpec(n_users=args.users, seed=args.seed, source_domains=domains)
    world = generate(spec)
    try:
        paths = write(world, args.out)
    except OSError as e:
        fail(prog, f"cannot write to {str(args.out)!r}: {e.strerror}")
    print(f"demo world: {len(world.events):,} events, {world.events.user_id.nunique():,} users, "
          f"{len(world.items):,} items -> {paths['events']}, {paths['items']}")


if __name__ == "__main__":
    main()
