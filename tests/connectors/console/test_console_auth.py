"""Console sign-in, sessions (idle and absolute expiry on an injected clock), sign-out, CSRF,
failed sign-in limit and the secure headers, through the aiohttp test client."""

from __future__ import annotations

from tests.connectors.console.fixtures import (COUNTY, TOWNSHIP, Clock, RecordingWrites, CASE_TOWNSHIP, client_for, console_app, csrf_of,
                      form_of, page, sign_in)

from connectors.console.auth import SessionLimits


async def test_sign_in_with_the_units_token_then_sign_out():
    async with client_for(console_app()) as client:
        status, _ = await page(client, "/console/")
        assert status == 303  # not signed in: to the sign-in page
        signin = await client.get("/console/signin")
        html = await signin.text()
        assert '<label for="token">单位令牌</label>' in html and 'type="password"' in html
        wrong = await client.post("/console/signin", data={"csrf": csrf_of(html), "token": "not-a-token"},
                                  allow_redirects=False)
        assert wrong.status == 401 and "令牌无效" in await wrong.text()
        ok = await sign_in(client, TOWNSHIP)
        assert ok.status == 303 and ok.headers["Location"] == "/console/"
        status, html = await page(client, "/console/")
        assert status == 200 and "北京市朝阳区建外街道办事处" in html
        out = await client.post("/console/signout", data={"csrf": csrf_of(html)}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"] == "/console/signin"
        status, _ = await page(client, "/console/")
        assert status == 303
        status, html = await page(client, "/console/signin")
        assert "已退出登录" in html


async def test_the_session_cookie_is_encrypted_http_only_and_strict():
    async with client_for(console_app()) as client:
        resp = await sign_in(client, COUNTY)
        cookie = resp.cookies["gigbridge_console"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
        assert COUNTY not in cookie.value  # encrypted, not just signed


async def test_an_idle_session_expires_and_says_so():
    clock = Clock()
    async with client_for(console_app(clock=clock, limits=SessionLimits(idle_s=600, absolute_s=3600))) as client:
        await sign_in(client, TOWNSHIP)
        clock.now_s += 599
        assert (await page(client, "/console/"))[0] == 200  # a request moves the idle limit on
        clock.now_s += 599
        assert (await page(client, "/console/cases"))[0] == 200
        clock.now_s += 601
        status, _ = await page(client, "/console/")
        assert status == 303
        status, html = await page(client, "/console/signin")
        assert "会话已过期" in html
        assert (await page(client, "/console/"))[0] == 303  # and it stays signed out


async def test_an_active_session_still_ends_at_the_absolute_limit():
    clock = Clock()
    async with client_for(console_app(clock=clock, limits=SessionLimits(idle_s=600, absolute_s=3600))) as client:
        await sign_in(client, TOWNSHIP)
        for _ in range(7):  # 7 x 500 s = 3500 s, never idle
            clock.now_s += 500
            assert (await page(client, "/console/"))[0] == 200
        clock.now_s += 200
        assert (await page(client, "/console/"))[0] == 303


async def test_every_post_without_the_sessions_csrf_token_is_refused_and_does_nothing():
    writes = RecordingWrites()
    async with client_for(console_app(writes=writes)) as client:
        signin = await client.get("/console/signin")
        refused = await client.post("/console/signin", data={"token": "token-of-110105001-gov"}, allow_redirects=False)
        assert refused.status == 403 and "<h1>表单未被接受</h1>" in await refused.text()
        assert csrf_of(await signin.text())
        await sign_in(client, TOWNSHIP)
        status, html = await page(client, f"/console/cases/{CASE_TOWNSHIP}")
        form = form_of(html, "ACCEPTED")
        for bad in ({}, {"csrf": "forged"}, {"csrf": form["csrf"][:-1]}):
            fields = {**form, **bad} if bad else {k: v for k, v in form.items() if k != "csrf"}
            resp = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data=fields, allow_redirects=False)
            assert resp.status == 403
        for path in ("/console/signout", "/console/lang", "/console/incidents/swiftmeal/inc-jianwai"):
            assert (await client.post(path, data={"csrf": "forged"}, allow_redirects=False)).status == 403
        assert writes.calls == []
        assert (await page(client, "/console/"))[0] == 200  # still signed in: the forged sign-out did nothing


async def test_the_csrf_token_changes_when_the_unit_signs_in():
    async with client_for(console_app()) as client:
        before = csrf_of(await (await client.get("/console/signin")).text())
        await sign_in(client, TOWNSHIP)
        after = csrf_of((await page(client, "/console/"))[1])
        assert before != after


async def test_failed_sign_ins_are_limited_per_client():
    clock = Clock()
    async with client_for(console_app(clock=clock, signin_failures_per_minute=1, signin_burst=3)) as client:
        csrf = csrf_of(await (await client.get("/console/signin")).text())
        for _ in range(3):
            resp = await client.post("/console/signin", data={"csrf": csrf, "token": "guess"}, allow_redirects=False)
            assert resp.status == 401
        blocked = await sign_in(client, TOWNSHIP)  # even the right token waits
        assert blocked.status == 429 and "登录失败次数过多" in await blocked.text()
        clock.now_s += 61
        assert (await sign_in(client, TOWNSHIP)).status == 303


async def test_secure_headers_on_pages_and_no_store_on_data():
    async with client_for(console_app()) as client:
        await sign_in(client, TOWNSHIP)
        for path in ("/console/signin", "/console/", "/console/cases", "/console/no-such-page",
                     "/console/static/console.css"):
            resp = await client.get(path, allow_redirects=False)
            csp = resp.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Cache-Control"] == "no-store"
        html = (await page(client, "/console/"))[1]
        assert "<script" not in html and "style=" not in html  # nothing inline for the CSP to forbid
