"""Headless Chromium for tests that must see a page rendered (Debian package `chromium`).

Convention: a browser test skips when /usr/bin/chromium is missing, unless env
SCALR_REQUIRE_BROWSER=1 (set by .ci/run, which installs chromium), in which case it fails."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SCALR_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


def require_chromium() -> Path:
    """The Chromium binary; skips the test when it is missing (fails under SCALR_REQUIRE_BROWSER=1)."""
    if CHROMIUM.exists():
        return CHROMIUM
    msg = f"{CHROMIUM} not found (apt-get install -y chromium)"
    if os.environ.get("SCALR_REQUIRE_BROWSER") == "1":
        pytest.fail(msg + "; SCALR_REQUIRE_BROWSER=1 requires it")
    pytest.skip(msg)


@dataclass
class Rendered:
    dom: str              # the DOM after scripts ran (--dump-dom)
    screenshot: Path      # PNG of the same page


def render(url: str, out_dir: Path, name: str = "page", size: tuple[int, int] = (1400, 1000),
           budget_ms: int = 8000, timeout_s: int = 120) -> Rendered:
    """Load url in a fresh headless Chromium profile, let its scripts run for budget_ms of virtual
    time, and return the rendered DOM and a screenshot (out_dir/<name>.png)."""
    exe = require_chromium()
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"{name}.png"
    common = FLAGS + [f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={budget_ms}"]
    runs = {}
    for mode in ("dom", "shot"):
        profile = Path(tempfile.mkdtemp(prefix="scalr-chromium-", dir=out_dir))
        args = [str(exe), *common, f"--user-data-dir={profile}"]
        args += ["--dump-dom"] if mode == "dom" else [f"--screenshot={shot}"]
        runs[mode] = subprocess.run(args + [url], capture_output=True, text=True, timeout=timeout_s)
        shutil.rmtree(profile, ignore_errors=True)
    assert runs["dom"].returncode == 0, runs["dom"].stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000, runs["shot"].stderr[-2000:]
    return Rendered(runs["dom"].stdout, shot)
