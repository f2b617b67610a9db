"""Headless Chromium for the console tests: Debian's `chromium` driven by Playwright.

Playwright's pip package brings its own driver; the browser is the system's (`/usr/bin/chromium`,
installed by .ci/run). `playwright install` is never run: it would download a browser. Without
the system browser the browser tests are skipped with that reason, except under CI=true, where
they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.live import REPO_ROOT

__all__ = ["CHROMIUM", "SCREENSHOTS", "chromium"]

CHROMIUM = Path("/usr/bin/chromium")
#: Kept by CI as artefacts (docs/console.md); not in git.
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """The browser, with `args` besides the usual ones (e.g. a fake camera fed from a file)."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} absent (apt-get install chromium chromium-driver, as .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*_ARGS, *args])
        try:
            yield browser
        finally:
            browser.close()
