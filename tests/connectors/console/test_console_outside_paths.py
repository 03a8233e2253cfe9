"""A request outside /console (every browser asks for /favicon.ico) must not touch the session:
found in the browser tests, where its 404 page started a new session whose cookie replaced the
signed-in one, and the next form failed its CSRF check."""

from __future__ import annotations

from connectors.console.app import COOKIE_NAME
from tests.connectors.console.fixtures import TOWNSHIP, client_for, console_app, csrf_of, page, sign_in


async def test_a_404_outside_the_console_sets_no_cookie_and_the_session_keeps_working():
    async with client_for(console_app()) as client:
        assert (await sign_in(client, TOWNSHIP)).status == 303
        _, html = await page(client, "/console/incidents")
        favicon = await client.get("/favicon.ico")
        assert favicon.status == 404 and COOKIE_NAME not in favicon.headers.getall("Set-Cookie", [""])[0]
        status, _ = await page(client, "/console/")
        assert status == 200  # still signed in
        switched = await client.post("/console/lang", data={"csrf": csrf_of(html), "lang": "en", "next": "/console/"},
                                     allow_redirects=False)
        assert switched.status == 303  # the CSRF token of the page before the 404 still holds
