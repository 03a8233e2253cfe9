"""Headless Chromium for the console's browser tests: Selenium driving Debian's ``chromium``
through Debian's ``chromedriver`` (both built from the same source package, so their versions
always match; ``scripts/ensure-tools.sh`` installs them), a screenshot writer for the office
guide, and page checks shared by the tests (no horizontal scroll, keyboard reach).

Nothing here starts a process on import; :func:`start_chromium` does, and the caller quits it.
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every run of the browser tests writes the screenshots; by default under .local/ (ignored), so a
# test run leaves the tree clean. `make screenshots` runs them with GIGBRIDGE_SCREENSHOT_DIR=docs/console,
# the committed copies that docs/office-guide.md shows.
SCREENSHOT_DIR = Path(os.environ.get("GIGBRIDGE_SCREENSHOT_DIR") or REPO_ROOT / ".local" / "screenshots")
DESKTOP_WIDTH = 1280
PHONE_WIDTH = 375
WINDOW_HEIGHT = 900
APT_PACKAGES = ("chromium", "chromium-driver", "fonts-wqy-microhei")


@dataclass(frozen=True)
class ChromiumTools:
    browser: str
    driver: str


def find_chromium() -> ChromiumTools | None:
    """The system Chromium and its chromedriver, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return ChromiumTools(browser, driver) if browser and driver else None


def missing_chromium_message() -> str:
    return ("Chromium and chromedriver are not installed; `make test` installs them as root "
            f"(scripts/ensure-tools.sh), or: sudo apt-get install -y --no-install-recommends {' '.join(APT_PACKAGES)}")


def start_chromium(tools: ChromiumTools, *, lang: str = "zh-CN") -> WebDriver:
    """A headless Chromium at desktop width. ``lang`` is the Accept-Language it sends (the
    console's users are Chinese offices, so zh by default)."""
    options = webdriver.ChromeOptions()
    options.binary_location = tools.browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--lang={lang}",
                f"--window-size={DESKTOP_WIDTH},{WINDOW_HEIGHT}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # An explicit driver path: Selenium Manager never looks for (or downloads) another driver.
    service = Service(executable_path=tools.driver, log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    return driver


def reset_browser(driver: WebDriver) -> None:
    """What a fresh browser context gives a test: no cookies (of any site), desktop width."""
    driver.get("about:blank")
    # WebDriver's delete_all_cookies() reaches only the current page's site (none on about:blank)
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.set_window_size(DESKTOP_WIDTH, WINDOW_HEIGHT)


def set_viewport_width(driver: WebDriver, width: int) -> None:
    """Resize the window so the page's viewport (not the outer window) is ``width`` px wide."""
    driver.set_window_size(width, WINDOW_HEIGHT)
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:
        driver.set_window_size(width + (width - inner), WINDOW_HEIGHT)


def horizontal_overflow_px(driver: WebDriver) -> int:
    """How many px the page is wider than its viewport (0: no horizontal scroll bar)."""
    return int(driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"))


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; raises if the file is not a PNG."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def save_screenshot(driver: WebDriver, name: str, directory: Path = SCREENSHOT_DIR) -> Path:
    """Write the whole page (not just the viewport) to ``<directory>/<name>.png`` and return the
    path. Names are chosen by the tests (``<page>-<lang>[-phone]``), so every run overwrites the
    same files."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    outer = driver.get_window_size()
    driver.set_window_size(outer["width"], max(int(height) + outer["height"] - driver.execute_script(
        "return window.innerHeight"), WINDOW_HEIGHT))
    try:
        if not driver.save_screenshot(str(path)):
            raise AssertionError(f"screenshot {path} was not written")
    finally:
        driver.set_window_size(outer["width"], outer["height"])
    shot_width, _ = png_size(path)
    assert shot_width == width, f"{path}: {shot_width} px wide, the viewport is {width} px"
    return path


def tab_through(driver: WebDriver, max_steps: int = 200) -> list[dict[str, str]]:
    """Press Tab from the top of the page until focus comes back round (or ``max_steps``) and
    return what got focus, in order: tag, text, name, value, href, id."""
    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    body = driver.find_element(By.TAG_NAME, "body")
    reached: list[dict[str, str]] = []
    seen: set[str] = set()
    body.send_keys(Keys.TAB)
    for _ in range(max_steps):
        focused = driver.execute_script(
            "const e = document.activeElement; if (!e || e === document.body) return null;"
            "return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || '').trim(),"
            " name: e.getAttribute('name') || '', value: e.getAttribute('value') || '',"
            " href: e.getAttribute('href') || '', id: e.id || '',"
            " key: e.outerHTML.slice(0, 300) + '|' + Array.prototype.indexOf.call(document.querySelectorAll('*'), e)}")
        if focused is None or focused["key"] in seen:
            break
        seen.add(focused["key"])
        reached.append({k: v for k, v in focused.items() if k != "key"})
        driver.switch_to.active_element.send_keys(Keys.TAB)
    return reached
