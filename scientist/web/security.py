"""Who may use the page: a token when bound beyond loopback, and CSRF checks on every state-changing request.

The token arrives once as `?token=` (the URL `scientist serve` prints) or as a bearer header; it is then kept in a
SameSite=Strict, HttpOnly cookie. CSRF is double-submit: a random cookie must equal the form's hidden field, and a
cross-site Origin or Sec-Fetch-Site header is refused outright.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

TOKEN_COOKIE = "scientist_token"
CSRF_COOKIE = "scientist_csrf"
CSRF_FIELD = "csrf"


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
    """The page's CSRF value: the existing cookie, or a fresh one the response must set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def cross_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host", "")


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    field = form.get(CSRF_FIELD)
    if cross_site(request) or not cookie or not field:
        return False
    return secrets.compare_digest(cookie.encode(), field.encode())
