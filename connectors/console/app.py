"""The console's aiohttp application: sessions, sign-in, CSRF, secure headers, rendering.

Every page but sign-in needs a live unit session; every POST needs the session's CSRF token (403
otherwise, nothing done); an unknown page and a page the unit may not see are the same 404. The
pages themselves are in :mod:`connectors.console.views`; the app reads through
:class:`~connectors.console.data.ConsoleData` and writes through
:class:`~connectors.console.actions.UnitWrites`, both injected, as is the clock.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session, setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from connectors.console import auth, i18n
from connectors.console.actions import UnitWrites
from connectors.console.area import AreaPolicy, area_policy
from connectors.console.data import ConsoleData
from connectors.gateway.config import TokenStore
from connectors.gateway.problems import secure
from streams.core.cases.units import Unit, UnitBook
from streams.core.policy import PolicyBook

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
CONSOLE = web.AppKey("console", "Console")
UNIT = web.RequestKey("unit", Unit)  # the signed-in unit, set by the guard
COOKIE_NAME = "gigbridge_console"
#: no inline script or style, nothing from elsewhere, never framed, forms only to this site
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
PUBLIC = {f"{PREFIX}/signin", f"{PREFIX}/lang"}


@dataclass
class Console:
    """Everything a request needs; built once by :func:`create_console_app`."""

    data: ConsoleData
    writes: UnitWrites
    tokens: TokenStore  # connectors.gateway.config.unit_token_store
    units: UnitBook
    policies: PolicyBook
    division_name: Callable[[str], str | None]
    clock: Callable[[], float]  # seconds since the epoch
    limits: auth.SessionLimits
    signins: auth.SignInLimiter

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def area_policy(self, unit: Unit) -> AreaPolicy:
        return area_policy(self.policies, unit)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def unit_of(request: web.Request) -> Unit:
    return request[UNIT]


def freshness_of(data: ConsoleData) -> Any:
    """How current the read model is, if it can say (the Kafka read model's ``freshness()``)."""
    freshness = getattr(data, "freshness", None)
    return freshness() if callable(freshness) else None


async def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """A page with the shared context: translator, unit, CSRF token, one-time message."""
    session = await get_session(request)
    lang = i18n.language(session.get(auth.LANG))
    base = {"t": i18n.Translator(lang), "lang": lang, "unit": request.get(UNIT), "csrf": auth.csrf_token(session),
            "path": request.path, "flash": session.pop("flash", None), "local_time": i18n.local_time, "iso_time": i18n.iso_time,
            "division_name": console_of(request).division_name, "prefix": PREFIX,
            "freshness": freshness_of(console_of(request).data)}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


async def flash(request: web.Request, key: str, **values: Any) -> None:
    """A message for the next page (after a redirect)."""
    (await get_session(request))["flash"] = {"key": key, "values": values}


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


@web.middleware
async def guard(request: web.Request, handler):
    """Sign-in, expiry and CSRF in front of every handler; 404 page for every not-found."""
    console = console_of(request)
    path = request.path
    try:
        if not path.startswith(f"{PREFIX}/static/") and path.startswith(PREFIX):
            session = await get_session(request)
            unit_id, expired = auth.current_unit(session, console.clock(), console.limits)
            unit = console.units.get(unit_id) if unit_id else None
            if unit is not None:
                request[UNIT] = unit
            if request.method == "POST":
                form = await request.post()
                if not auth.csrf_ok(session, form.get("csrf")):
                    return await render(request, "message.html", {"title_key": "csrf.title",
                                                                  "message_key": "csrf.refused"}, status=403)
            if unit is None and path not in PUBLIC:
                if expired:
                    await flash(request, "signin.expired")
                raise see_other(f"{PREFIX}/signin")
        return await handler(request)
    except web.HTTPNotFound:
        if not path.startswith(f"{PREFIX}/"):
            # Outside the console (a browser's /favicon.ico) the request carries no session cookie:
            # rendering would start a new session and its Set-Cookie (Path=/console) would replace
            # the signed-in one, so the next form fails its CSRF check.
            return web.Response(status=404, text="404: Not Found")
        return await render(request, "message.html", {"title_key": "notfound.title",
                                                      "message_key": "notfound.text"}, status=404)


async def signin_page(request: web.Request) -> web.Response:
    if UNIT in request:
        raise see_other(f"{PREFIX}/")
    return await render(request, "signin.html", {})


async def signin(request: web.Request) -> web.Response:
    console = console_of(request)
    client = request.remote or "unknown"
    if console.signins.blocked(client):
        return await render(request, "signin.html", {"error_key": "signin.limited"}, status=429)
    unit_id = auth.unit_for(console.tokens, (await request.post()).get("token"))
    if unit_id is None or console.units.get(unit_id) is None:
        console.signins.failed(client)
        return await render(request, "signin.html", {"error_key": "signin.failed"}, status=401)
    auth.sign_in(await get_session(request), unit_id, console.clock())
    raise see_other(f"{PREFIX}/")


async def signout(request: web.Request) -> web.Response:
    auth.sign_out(await get_session(request))
    await flash(request, "signin.out")
    raise see_other(f"{PREFIX}/signin")


async def switch_language(request: web.Request) -> web.Response:
    form = await request.post()
    session = await get_session(request)
    session[auth.LANG] = i18n.language(form.get("lang"))
    back = form.get("next")
    # only a path of this console: never an open redirect
    raise see_other(back if isinstance(back, str) and back.startswith(f"{PREFIX}/") and "//" not in back
                    else f"{PREFIX}/")


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    secure(response.headers)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"


async def home(request: web.Request) -> web.Response:
    raise see_other(f"{PREFIX}/")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def session_key(secret: str | bytes | None) -> bytes:
    """The 32-byte Fernet key: from ``secret`` (32 raw bytes, or urlsafe base64 of them)."""
    if isinstance(secret, str):
        secret = base64.urlsafe_b64decode(secret.encode() + b"=" * (-len(secret) % 4))
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise ValueError("the console session key must be 32 bytes (urlsafe base64 in GIGBRIDGE_CONSOLE_SESSION_KEY)")
    return secret


def create_console_app(*, data: ConsoleData, writes: UnitWrites, tokens: TokenStore, units: UnitBook,
                       policies: PolicyBook, key: bytes, clock: Callable[[], float],
                       division_name: Callable[[str], str | None] = lambda code: None,
                       limits: auth.SessionLimits = auth.SessionLimits(), cookie_secure: bool = True,
                       signin_failures_per_minute: float = 5.0, signin_burst: int = 5) -> web.Application:
    """The console app; no I/O happens here (templates are read on first render)."""
    from connectors.console import views  # the pages need the helpers above

    app = web.Application(client_max_size=64 * 1024)
    app[CONSOLE] = Console(data, writes, tokens, units, policies, division_name, clock, limits,
                           auth.SignInLimiter(signin_failures_per_minute, signin_burst, clock))
    # the cookie lives at most as long as the absolute limit; the limits themselves are checked on the clock
    setup_sessions(app, EncryptedCookieStorage(session_key(key), cookie_name=COOKIE_NAME, httponly=True,
                                               secure=cookie_secure, samesite="Strict", path=PREFIX,
                                               max_age=int(limits.absolute_s)))
    app.middlewares.append(guard)  # inside the session middleware, which it needs
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
    app.on_response_prepare.append(_secure_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", home)
    app.router.add_get(f"{PREFIX}/signin", signin_page)
    app.router.add_post(f"{PREFIX}/signin", signin)
    app.router.add_post(f"{PREFIX}/signout", signout)
    app.router.add_post(f"{PREFIX}/lang", switch_language)
    app.router.add_static(f"{PREFIX}/static/", HERE / "static", append_version=False)
    views.add_routes(app.router)
    return app
