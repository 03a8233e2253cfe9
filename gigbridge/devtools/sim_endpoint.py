"""Simulated insurer claim endpoint / office webhook receiver (aiohttp.web), for tests and demos.

Routes:

* ``POST /claims`` and ``POST /webhook`` — verify ``X-Gigbridge-Signature`` (401 if bad),
  require ``Idempotency-Key`` and a JSON object body (400), deduplicate by key (a repeat gets
  200 with the SAME ``claim_reference`` and is not a new claim), answer
  ``{"claim_reference": "CLM-<n>", "received": true, "duplicate": false}``.
* ``POST /_control`` — fault switches as JSON: ``{"mode": "ok"|"down"|"slow"|"429"|"500"|"503"|
  "400", "delay_s": 1.0, "retry_after_s": 2, "retry_after_http_date": false, "count": N,
  "reject": {"<idempotency key>": 422}, "reset": true}``. With ``count`` the fault applies to
  the next N claim requests only, then the endpoint is ``ok`` again.
  ``down`` drops the connection (the client sees a network error); ``slow`` delays the
  response by ``delay_s`` (the claim is still accepted after the delay, like a real server
  that finishes work its client gave up on); ``429``/``500``/``503`` answer with that status
  (with ``Retry-After`` when ``retry_after_s`` is set; 429 always has one); ``400`` is a
  permanent refusal.
* ``GET /_stats`` — ``{"requests", "accepted", "duplicates", "dropped", "by_status", "in_flight",
  "max_in_flight", "completed", "mode"}``; ``GET /_received`` — the accepted claims.

Control routes are unauthenticated: bind the simulator to loopback only.

CLI: ``python -m gigbridge.devtools.sim_endpoint --port 8701 --secret s3cret [--log claims.jsonl]``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from connectors.signing import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from gigbridge.logs import configure_logging, get_logger

log = get_logger("gigbridge.devtools.sim_endpoint")

MODES = ("ok", "down", "slow", "429", "500", "503", "400")
SECRET_ENV = "GIGBRIDGE_SIM_SECRET"


@dataclass
class FaultMode:
    mode: str = "ok"
    delay_s: float = 1.0
    retry_after_s: float | None = None
    retry_after_http_date: bool = False
    remaining: int | None = None  # None: until changed


class SimEndpoint:
    """An in-process HTTP server playing an insurer (or an office webhook receiver)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: bytes | str = b"sim-secret", *,
                 log_path: str | Path | None = None, clock: Callable[[], float] = time.time,
                 tolerance_s: float = DEFAULT_TOLERANCE_S, reference_prefix: str = "CLM",
                 shutdown_timeout_s: float = 2.0) -> None:
        self.host = host
        self.port = port
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._log_path = Path(log_path) if log_path else None
        self._clock = clock
        self._tolerance_s = tolerance_s
        self._prefix = reference_prefix
        self._shutdown_timeout_s = shutdown_timeout_s
        self._runner: web.AppRunner | None = None
        self._log_file: Any = None
        self.fault = FaultMode()
        self.rejected: dict[str, int] = {}
        self.received: list[dict[str, Any]] = []     # accepted claims, in order
        self.references: dict[str, str] = {}          # idempotency key -> claim reference
        self._reset_counters()

    # --- lifecycle ----------------------------------------------------------------------
    def _reset_counters(self) -> None:
        self.requests = 0
        self.accepted = 0
        self.duplicates = 0
        self.dropped = 0
        self.completed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_status: Counter[int] = Counter()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/claims", self._handle_claim)
        app.router.add_post("/webhook", self._handle_claim)
        app.router.add_post("/_control", self._handle_control)
        app.router.add_get("/_stats", self._handle_stats)
        app.router.add_get("/_received", self._handle_received)
        app.router.add_get("/healthz", self._handle_health)
        return app

    async def start(self) -> None:
        if self._runner is not None:
            return
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self._log_path.open("a", encoding="utf-8")
        runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None,
                               shutdown_timeout=self._shutdown_timeout_s)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("sim endpoint listening", url=self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def __aenter__(self) -> "SimEndpoint":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8701``."""
        return f"http://{self.host}:{self.port}"

    @property
    def claims_url(self) -> str:
        return f"{self.url}/claims"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"

    # --- control ------------------------------------------------------------------------
    def set_mode(self, mode: str, *, delay_s: float | None = None, retry_after_s: float | None = None,
                 count: int | None = None, retry_after_http_date: bool = False) -> None:
        """Switch the fault mode (for the next ``count`` claim requests, or until changed)."""
        mode = str(mode)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        self.fault = FaultMode(mode=mode, delay_s=1.0 if delay_s is None else float(delay_s),
                               retry_after_s=None if retry_after_s is None else float(retry_after_s),
                               retry_after_http_date=retry_after_http_date, remaining=count)

    def reject(self, idempotency_key: str, status: int = 422) -> None:
        """Refuse this key permanently with ``status``."""
        self.rejected[idempotency_key] = int(status)

    def reset(self) -> None:
        """Forget claims, counters, rejections; back to ``ok``."""
        self.fault = FaultMode()
        self.rejected.clear()
        self.received.clear()
        self.references.clear()
        self._reset_counters()

    def claims_for(self, idempotency_key: str) -> int:
        return sum(1 for c in self.received if c["idempotency_key"] == idempotency_key)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "accepted": self.accepted, "duplicates": self.duplicates,
            "dropped": self.dropped, "completed": self.completed, "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "mode": self.fault.mode, "mode_remaining": self.fault.remaining,
        }

    def _take_fault(self) -> FaultMode:
        fault = self.fault
        if fault.mode == "ok":
            return fault
        if fault.remaining is not None:
            if fault.remaining <= 0:
                self.fault = FaultMode()
                return self.fault
            fault.remaining -= 1
            if fault.remaining == 0:
                self.fault = FaultMode()  # later requests are fine again
        return fault

    # --- handlers -----------------------------------------------------------------------
    def _retry_after(self, fault: FaultMode, default: float | None) -> dict[str, str]:
        seconds = fault.retry_after_s if fault.retry_after_s is not None else default
        if seconds is None:
            return {}
        if fault.retry_after_http_date:
            return {"Retry-After": email.utils.formatdate(self._clock() + seconds, usegmt=True)}
        text = str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))
        return {"Retry-After": text}

    def _reply(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
        self.by_status[status] += 1
        return web.json_response(doc, status=status, headers=headers)

    async def _handle_claim(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._claim(request)
        finally:
            self.in_flight -= 1
            self.completed += 1

    async def _claim(self, request: web.Request) -> web.StreamResponse:
        fault = self._take_fault()
        body = await request.read()
        if fault.mode == "down":
            self.dropped += 1
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()  # never reaches the client: the connection is gone
        if fault.mode == "slow":
            await asyncio.sleep(fault.delay_s)
        elif fault.mode == "429":
            return self._reply(429, {"error": "too_many_requests"}, self._retry_after(fault, 1.0))
        elif fault.mode in ("500", "503"):
            status = int(fault.mode)
            return self._reply(status, {"error": "simulated_outage"}, self._retry_after(fault, None))
        elif fault.mode == "400":
            return self._reply(400, {"error": "bad_request", "detail": "simulated permanent refusal"})

        if not verify_signature(self._secret, request.headers.get(TIMESTAMP_HEADER), body,
                                request.headers.get(SIGNATURE_HEADER), self._clock(), self._tolerance_s):
            return self._reply(401, {"error": "invalid_signature"})
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return self._reply(400, {"error": "missing_idempotency_key"})
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._reply(400, {"error": "invalid_json"})
        if not isinstance(payload, dict):
            return self._reply(400, {"error": "payload_must_be_an_object"})
        if key in self.rejected:
            status = self.rejected[key]
            return self._reply(status, {"error": "rejected", "idempotency_key": key,
                                        "detail": "simulated refusal of this claim"})

        ref = self.references.get(key)
        if ref is not None:
            self.duplicates += 1
            return self._reply(200, {"claim_reference": ref, "received": True, "duplicate": True})
        self.accepted += 1
        ref = self.references[key] = f"{self._prefix}-{self.accepted}"
        claim = {
            "claim_reference": ref, "idempotency_key": key, "path": request.path,
            "received_at": self._clock(), "payload": payload,
            "headers": {k: v for k, v in request.headers.items()}, "body": body.decode("utf-8", "replace"),
        }
        self.received.append(claim)
        if self._log_file is not None:
            line = {k: claim[k] for k in ("claim_reference", "idempotency_key", "path", "received_at", "payload")}
            self._log_file.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            self._log_file.flush()
        return self._reply(200, {"claim_reference": ref, "received": True, "duplicate": False})

    async def _handle_control(self, request: web.Request) -> web.Response:
        try:
            doc = await request.json()
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            if doc.get("reset"):
                self.reset()
            rejects = doc.get("reject") or {}
            if isinstance(rejects, list):
                rejects = {k: 422 for k in rejects}
            for key, status in rejects.items():
                self.reject(str(key), int(status))
            if "mode" in doc:
                count = doc.get("count")
                self.set_mode(str(doc["mode"]), delay_s=doc.get("delay_s"),
                              retry_after_s=doc.get("retry_after_s"),
                              count=None if count is None else int(count),
                              retry_after_http_date=bool(doc.get("retry_after_http_date", False)))
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        log.info("sim endpoint control", mode=self.fault.mode, remaining=self.fault.remaining)
        return web.json_response(self.stats())

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _handle_received(self, request: web.Request) -> web.Response:
        return web.json_response([{k: c[k] for k in ("claim_reference", "idempotency_key", "path",
                                                     "received_at", "payload")} for c in self.received])

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


# --- command line -------------------------------------------------------------------------
def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m gigbridge.devtools.sim_endpoint`` (reusable as ``gigbridge sim-endpoint``)."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8701, help="port (0 = any free port)")
    parser.add_argument("--secret", default=None,
                        help=f"HMAC secret of the signatures (default: ${SECRET_ENV})")
    parser.add_argument("--log", default=None, metavar="FILE", help="append accepted claims as JSON lines")
    parser.add_argument("--mode", default="ok", choices=MODES, help="initial fault mode")
    parser.add_argument("--delay-s", type=float, default=1.0, help="delay of the 'slow' mode")
    parser.add_argument("--retry-after-s", type=float, default=None, help="Retry-After of 429/5xx modes")
    parser.add_argument("--tolerance-s", type=float, default=DEFAULT_TOLERANCE_S,
                        help="accepted signature timestamp skew (replay window)")
    parser.add_argument("--reference-prefix", default="CLM", help="claim reference prefix")


async def serve(args: argparse.Namespace, *, ready: Callable[[SimEndpoint], None] | None = None) -> None:
    """Run the endpoint until SIGINT/SIGTERM (or cancellation). Prints ``listening on <url>``."""
    secret = args.secret or os.environ.get(SECRET_ENV)
    if not secret:
        raise SystemExit(f"sim-endpoint: --secret or ${SECRET_ENV} is required")
    endpoint = SimEndpoint(args.host, args.port, secret, log_path=args.log,
                           tolerance_s=args.tolerance_s, reference_prefix=args.reference_prefix)
    if args.mode != "ok":
        endpoint.set_mode(args.mode, delay_s=args.delay_s, retry_after_s=args.retry_after_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
            pass
    await endpoint.start()
    try:
        print(f"listening on {endpoint.url}", flush=True)
        if ready is not None:
            ready(endpoint)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await endpoint.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sim-endpoint", description=__doc__.split("\n\n")[0])
    add_cli_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("GIGBRIDGE_LOG_LEVEL", "INFO"))  # logs on stderr; stdout is the URL
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
