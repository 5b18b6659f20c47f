"""Public routes, wrong methods, unknown paths, static files, slash merging and oversized bodies."""
from __future__ import annotations

from tests.security.cases import HARMLESS, JSON, Case, form, headers

ON_APP = ("location_on_app",)
EVIL = headers(Host="evil.example")
BIG = "x" * (1024 * 1024 + 10)  # over MAX_BODY_BYTES (1 MiB)


def public_reads() -> list[Case]:
    """Operations routes and static files: open to anyone, inert, no secret in them."""
    return [
        Case("healthz", "GET", "/healthz", HARMLESS),
        Case("healthz head", "HEAD", "/healthz", HARMLESS),
        Case("healthz with a script in the query", "GET", "/healthz?x=<script>alert(1)</script>", HARMLESS,
             checks=("not_reflected:<script>alert(1)</script>",)),
        Case("healthz forged host", "GET", "/healthz", HARMLESS, headers=EVIL),
        Case("metrics", "GET", "/metrics", HARMLESS),
        Case("metrics with a made-up label", "GET", "/metrics?endpoint=%00%ff&name[]=x", HARMLESS),
        Case("app static file", "GET", "/app-static/qb24/app.js", HARMLESS),
        Case("flask static file", "GET", "/static/qb24/app.css", HARMLESS),
    ]


def traversal() -> list[Case]:
    """Paths that climb out of the static folders (sent byte for byte) are 404."""
    paths = ["/static/../config/settings.py", "/static/qb24/../../__init__.py", "/app-static/../bitrix24.py",
             "/app-static/..%2f..%2fconfig%2fsettings.py", "/static/%2e%2e/%2e%2e/store/crypto.py",
             "/static/qb24/..%5c..%5cwebhooks%5c__init__.py", "/static/qb24/app.css%00.py"]
    # A doubled slash is first merged by a redirect (to this app, item 8), then 404s.
    return [Case(f"traversal {path}", "GET", path, raw=True) for path in paths] + [
        Case("traversal /app-static//etc/passwd", "GET", "/app-static//etc/passwd", HARMLESS, raw=True,
             headers=EVIL, item=8, checks=ON_APP)]


def wrong_methods() -> list[Case]:
    """A method the route does not take is 405 and touches nothing."""
    pairs = [("GET", "/webhooks/bitrix24"), ("PUT", "/webhooks/bitrix24"), ("GET", "/bitrix24/install"),
             ("DELETE", "/bitrix24/app"), ("PUT", "/bitrix24/app/settings"), ("GET", "/bitrix24/app/sync"), ("GET", "/bitrix24/app/sync/retry"),
             ("GET", "/bitrix24/app/sync/cancel"), ("POST", "/bitrix24/app/logout"),
             ("POST", "/bitrix24/app/status"), ("POST", "/bitrix24/app/progress"), ("GET", "/quickbooks/connect"),
             ("POST", "/quickbooks/callback"), ("GET", "/quickbooks/connect/finish"),
             ("DELETE", "/quickbooks/disconnect"), ("POST", "/healthz"), ("POST", "/metrics"),
             ("TRACE", "/bitrix24/app"), ("PATCH", "/bitrix24/app/settings")]
    return [Case(f"{method} {path}", method, path, as_="A.admin") for method, path in pairs]


def unknown_paths() -> list[Case]:
    paths = ["/admin", "/.env", "/.git/config", "/bitrix24", "/webhooks/quickbooks", "/quickbooks/callback/x",
             "/bitrix24/app/settings/../../../../etc/passwd", "/placements/create-invoice", "/%00", "/wp-login.php"]
    return [Case(f"unknown {path}", "GET", path, raw=True, headers=EVIL, checks=ON_APP) for path in paths]


def slash_merging() -> list[Case]:
    """Item 8: werkzeug's slash-merging redirect must not take its Location from the Host header."""
    cases = [("GET", "/bitrix24//app/status"), ("GET", "//healthz"), ("POST", "/webhooks//bitrix24"),
             ("GET", "/bitrix24//app"), ("POST", "/quickbooks//disconnect"), ("GET", "//evil.example//healthz"),
             ("GET", "/quickbooks//callback?code=AB1x&state=y")]
    return [Case(f"slash merge {method} {path}", method, path, HARMLESS, raw=True, headers=EVIL, item=8,
                 checks=ON_APP) for method, path in cases]


def oversized() -> list[Case]:
    """Bodies over 1 MiB are 413 on every POST route."""
    routes = ["/webhooks/bitrix24", "/bitrix24/install", "/bitrix24/app", "/bitrix24/app/settings",
              "/bitrix24/app/sync", "/bitrix24/app/sync/retry", "/bitrix24/app/sync/cancel", "/quickbooks/connect", "/quickbooks/connect/finish", "/quickbooks/disconnect"]
    return [Case(f"oversized body {route}", "POST", route, as_="A.admin", form=form(x=BIG), headers=JSON)
            for route in routes]


def edge_cases() -> list[Case]:
    return public_reads() + traversal() + wrong_methods() + unknown_paths() + slash_merging() + oversized()
