"""What every answer of the app gets at the WSGI edge, whatever produced it.

- `X-Content-Type-Options: nosniff` on every response (pages, JSON, error pages, static files,
  redirects): a browser must never run an answer as another type than the one it declares.
- Werkzeug's routing redirects (slash merging: `//bitrix24//app` → `/bitrix24/app`; strict
  slashes) are made relative: werkzeug builds their `Location` from the request's `Host` header,
  so `Host: evil.example` would have sent the browser to evil.example.
- Behind a reverse proxy the client address is the one the proxy appends to `X-Forwarded-For`
  (see `client_address`), believed only from a peer on this host or a private network
  (`PeerProxyFix`); `Host` and the scheme are never taken from forwarded headers.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from config.settings import Settings

NOSNIFF = ("X-Content-Type-Options", "nosniff")
StartResponse = Callable[..., Any]


class SecurityHeaders:
    """WSGI middleware adding `nosniff` to every response the wrapped app starts."""

    def __init__(self, app: Callable[[dict, StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != NOSNIFF[0].lower()] + [NOSNIFF]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, start)


def relative_routing_redirect() -> Response | None:
    """Answer a routing redirect with a path-only `Location` instead of werkzeug's Host-based URL."""
    exc = request.routing_exception
    if not isinstance(exc, RequestRedirect):
        return None
    parts = urlsplit(exc.new_url)
    # A path starting "//" would be scheme-relative (another host); werkzeug merged the slashes
    # and quotes "\\", but the path is made single-slashed here regardless.
    path = "/" + parts.path.lstrip("/")
    return redirect(urlunsplit(("", "", path, parts.query, "")), code=exc.code)


def proxy_hops(settings: Settings) -> int:
    """How many reverse proxies' `X-Forwarded-For` entries to trust: PROXY_HOPS when set, else one
    when APP_BASE_URL is https.

    The app itself serves plain http (gunicorn in docker-compose, `qb24 web`), so an https
    APP_BASE_URL means TLS ends at a proxy in front of it, which appends the client's address.
    With an http APP_BASE_URL (demo, laptop, tests) clients reach the app directly and the header,
    set by anyone, is ignored. A deployment with more proxies (a load balancer before nginx) sets
    PROXY_HOPS, or every client would share its nearest proxy's address, and so one bound.
    """
    if settings.proxy_hops is not None:
        return settings.proxy_hops
    return 1 if settings.app_base_url.startswith("https:") else 0


def client_address() -> str:
    """The address whose work is bounded: IPv4 as is, IPv6 by its /64 (one subscriber's network)."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


class PeerProxyFix:
    """ProxyFix for `X-Forwarded-For`, believed only when the direct peer is on this host or a private
    network, where a reverse proxy stands: a client reaching the app's port from the internet
    cannot name an address of its choice (to escape its bound, or to drain someone else's)."""

    def __init__(self, app: Callable[[dict, StartResponse], Iterable[bytes]], hops: int) -> None:
        self.plain = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        return (self.fixed if private_peer(environ.get("REMOTE_ADDR")) else self.plain)(environ, start_response)


def private_peer(raw: str | None) -> bool:
    """Whether a socket peer is loopback or on a private network (RFC 1918, RFC 4193, link-local)."""
    try:
        address = ipaddress.ip_address(raw or "")
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback or address.is_private or address.is_link_local


def init_app(app: Flask, settings: Settings) -> None:
    """Wrap the WSGI app (proxy, headers) and register the redirect rewrite first of all hooks."""
    hops = proxy_hops(settings)
    if hops:
        app.wsgi_app = PeerProxyFix(app.wsgi_app, hops)
    app.wsgi_app = SecurityHeaders(app.wsgi_app)
    app.before_request(relative_routing_redirect)
