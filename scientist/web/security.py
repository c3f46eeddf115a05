"""Who may use the page: a token, an allow-list of Host names, and CSRF checks on every state-changing request.

Threat: any web page the operator visits can make their browser send requests to 127.0.0.1, and with DNS
rebinding (evil.example resolving to 127.0.0.1) read the answers as same-origin. So `scientist serve` always
requires a random token (loopback too; printed once in the URL, like Jupyter) and refuses a request whose Host
header is not one of the names it was started for (a rebinding page's Host is its own name).

The token arrives once as `?token=` or as a bearer header; it is then kept in a SameSite=Strict, HttpOnly cookie.
CSRF is double-submit tied to the token: the form's hidden field must be HMAC(token, CSRF cookie), so a page that
can plant a cookie still cannot forge the field; a cross-site Origin/Sec-Fetch-Site, or an Origin whose host is
not allow-listed, is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.requests import Request

TOKEN_COOKIE = "scientist_token"
CSRF_COOKIE = "scientist_csrf"
CSRF_FIELD = "csrf"
# The run pages show what a run wrote and need no script: a second wall behind escaping, should one ever fail.
NO_SCRIPT_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self'; object-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
LIVE_CSP = NO_SCRIPT_CSP.replace("script-src 'none'", "script-src 'self'; connect-src 'self'")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)


def token_ok(request: Request, token: str) -> bool:
    given = presented_token(request)
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


def csrf_token(request: Request) -> str:
    """The page's CSRF cookie value: the existing cookie, or a fresh one the response must set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def csrf_field(cookie: str, token: str | None) -> str:
    """The hidden form field for a CSRF cookie: HMAC(token, cookie) when the page has a token, else the cookie."""
    if token is None:
        return cookie
    return hmac.new(token.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


def default_hosts(bind: str) -> list[str]:
    """Host names a server bound to `bind` answers to: the address itself, plus the loopback names on loopback."""
    hosts = {bind.strip("[]").lower()}
    if is_loopback(bind) or bind in ("0.0.0.0", "::"):
        hosts |= {"localhost", "127.0.0.1", "::1"}
    return sorted(hosts)


def _hostname(netloc: str) -> str:
    return (urlsplit(f"//{netloc}").hostname or "").lower()


def host_ok(request: Request, allowed: Collection[str] | None) -> bool:
    """The Host header names this server (DNS rebinding sends the attacker's own name). None: no check."""
    return allowed is None or _hostname(request.headers.get("host", "")) in allowed


def cross_site(request: Request, allowed: Collection[str] | None = None) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin == "null"
    netloc = urlsplit(origin).netloc
    if allowed is not None and _hostname(netloc) not in allowed:
        return True
    return netloc != request.headers.get("host", "")


def csrf_ok(
    request: Request, form: dict[str, str], token: str | None = None, allowed: Collection[str] | None = None
) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    field = form.get(CSRF_FIELD)
    if cross_site(request, allowed) or not cookie or not field:
        return False
    return secrets.compare_digest(csrf_field(cookie, token).encode(), field.encode())
