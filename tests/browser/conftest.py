"""Fixtures of the browser tests: one headless Chromium per session (``browser``), reset for
every test (``page``: no cookies, desktop width), like a fresh browser context.

Chromium missing: the tests fail as root (``make test`` runs scripts/ensure-tools.sh first, which
installs it as root, so CI always has it) and skip otherwise, naming the apt packages."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.browser import ChromiumTools, find_chromium, missing_chromium_message, reset_browser, start_chromium


@pytest.fixture(scope="session")
def chromium_tools() -> ChromiumTools:
    tools = find_chromium()
    if tools is None:
        if os.geteuid() == 0:
            pytest.fail(missing_chromium_message())
        pytest.skip(missing_chromium_message())
    return tools


@pytest.fixture(scope="session")
def browser(chromium_tools: ChromiumTools) -> Iterator[WebDriver]:
    driver = start_chromium(chromium_tools)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> WebDriver:
    reset_browser(browser)
    return browser
