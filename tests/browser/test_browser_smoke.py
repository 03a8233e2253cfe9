"""The browser test infrastructure on a trivial aiohttp page (no console needed): Chromium
starts, renders Chinese text, submits a form, is reachable by keyboard, resizes to phone width,
and the screenshot helper writes a whole-page PNG of the viewport's width."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.connectors.gateway.helpers import ServerThread
from tests.support.browser import (
    PHONE_WIDTH, horizontal_overflow_px, png_size, reset_browser, save_screenshot, set_viewport_width, tab_through,
)
from tests.support.kafka_io import wait_for

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>工作台</title></head>
<body><nav><a href="/">我的辖区</a> <a href="/other">事件</a></nav>
<form method="post" action="/ack"><label for="note">备注</label><input id="note" name="note">
<button type="submit">确认收到</button></form>
<p style="height:1500px">{body}</p></body></html>"""
SAID = web.AppKey("said", str)


def smoke_app() -> web.Application:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.format(body=request.app[SAID]), content_type="text/html")

    async def ack(request: web.Request) -> web.Response:
        request.app[SAID] = "已确认：" + (await request.post())["note"]
        raise web.HTTPSeeOther("/")

    app = web.Application()
    app[SAID] = "尚未确认"
    app.router.add_get("/", index)
    app.router.add_post("/ack", ack)
    return app


@pytest.fixture
def smoke_server():
    with ServerThread(smoke_app) as server:
        yield server


def test_form_submits_and_text_renders(page, smoke_server) -> None:
    page.get(smoke_server.url)
    assert page.title == "工作台"
    page.find_element(By.ID, "note").send_keys("已上门", Keys.ENTER)
    # one script call: the body found before the form's navigation ends would be stale
    wait_for(lambda: "已确认：已上门" in (page.execute_script("return document.body && document.body.innerText") or ""),
             10, "the acknowledged page")


def test_reset_forgets_every_sites_cookies(page, smoke_server) -> None:
    page.get(smoke_server.url)
    page.add_cookie({"name": "session", "value": "signed-in"})
    reset_browser(page)
    page.get(smoke_server.url)
    assert page.get_cookies() == []


def test_keyboard_reaches_every_link_and_control_in_order(page, smoke_server) -> None:
    page.get(smoke_server.url)
    reached = [(f["tag"], f["text"] or f["name"]) for f in tab_through(page)]
    assert reached == [("a", "我的辖区"), ("a", "事件"), ("input", "note"), ("button", "确认收到")]


def test_phone_width_and_whole_page_screenshot(page, smoke_server, tmp_path: Path) -> None:
    page.get(smoke_server.url)
    set_viewport_width(page, PHONE_WIDTH)
    assert page.execute_script("return window.innerWidth") == PHONE_WIDTH
    assert horizontal_overflow_px(page) == 0
    shot = save_screenshot(page, "smoke-zh-phone", directory=tmp_path)
    assert shot == tmp_path / "smoke-zh-phone.png"
    width, height = png_size(shot)
    assert width == PHONE_WIDTH and height >= 1500  # the whole page, not only the first screen
