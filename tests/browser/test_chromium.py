"""The browser harness itself: Debian's Chromium starts under Playwright and renders a page."""

from __future__ import annotations

from playwright.sync_api import Page


def test_chromium_renders_a_data_page(page: Page) -> None:
    page.set_content("<main><h1 id='t'>actorscope</h1></main>")
    assert page.inner_text("#t") == "actorscope"
