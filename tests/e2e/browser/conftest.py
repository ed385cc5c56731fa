"""Browser tests: pytest-playwright driving Debian's chromium (never a downloaded browser)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PARLEY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is needed at {CHROMIUM}: `make test` installs it "
                    "(apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


class Widget:
    """The widget on a page, through its documented DOM contract (data-part attributes)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def part(self, name: str) -> Any:
        # Playwright's CSS engine pierces open shadow roots.
        return self.page.locator(f'#parley-root [data-part="{name}"]')

    def messages(self) -> Any:
        return self.part("message")

    def seqs(self) -> list[int]:
        values = self.page.evaluate("""() => [...document.querySelector('#parley-root').shadowRoot
            .querySelectorAll('[data-part="message"][data-seq]')].map(m => Number(m.dataset.seq))""")
        return [v for v in values if v > 0]

    def state(self) -> dict[str, Any]:
        return self.page.evaluate("() => window.Parley.state()")

    def wait_state(self, predicate: str, timeout_ms: int) -> None:
        """Waits until ``predicate`` (JS over ``s = Parley.state()``) holds."""
        self.page.wait_for_function(
            f"() => {{ const s = window.Parley && window.Parley.state && window.Parley.state(); "
            f"return !!s && ({predicate}); }}", timeout=timeout_ms)

    def session(self) -> dict[str, str]:
        """The conversation id and token the widget keeps in localStorage."""
        stored = self.page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
        for value in stored.values():
            try:
                data = json.loads(value)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("token") and data.get("conversation_id"):
                return data
        raise AssertionError(f"no conversation in localStorage: {stored}")

    def open(self) -> None:
        self.part("bubble").click()
        self.part("panel").wait_for(state="visible")

    def say(self, text: str) -> None:
        self.part("input").fill(text)
        self.part("input").press("Enter")
