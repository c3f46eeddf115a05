"""One bounded answer to "can any of these hosts be reached?", before a batch of requests is sent to them.

Why: a check that asks a source once per reference pays a connection timeout per reference when there is no route
(a machine that drops packets waits the full timeout each time). A TCP connection to each distinct host (or to the
proxy the environment routes it through) is opened at once, in parallel, and everything is decided within one
short timeout: a host that has not accepted a connection by then counts as unreachable. No HTTP request is sent.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 3.0


def endpoint(url: str) -> tuple[str, int] | None:
    """The (host, port) a request to `url` first connects to: its proxy's when the environment sets one
    (HTTPS_PROXY, NO_PROXY, ...: what requests would use), else its own; None for a URL without a host."""
    from requests.utils import get_environ_proxies, select_proxy

    proxy = select_proxy(url, get_environ_proxies(url))
    parts = urlsplit(proxy or url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def probe(urls: Mapping[str, str], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, str | None]:
    """For each name, None when a connection to its URL's endpoint opened within `timeout_s` (the whole probe,
    name resolution included, takes at most that long), else why not. Each distinct endpoint is tried once."""
    endpoints = {name: endpoint(url) for name, url in urls.items()}
    results: dict[tuple[str, int], str | None] = {}
    lock = threading.Lock()

    def connect(where: tuple[str, int]) -> None:
        try:
            with socket.create_connection(where, timeout=timeout_s):
                outcome = None
        except OSError as err:
            outcome = f"{where[0]}:{where[1]}: {err.strerror or err.__class__.__name__}"
        with lock:
            results[where] = outcome

    distinct = {where for where in endpoints.values() if where is not None}
    threads = [threading.Thread(target=connect, args=(where,), daemon=True) for where in sorted(distinct)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:  # a resolver that hangs is left behind (daemon thread): the answer is still bounded
        thread.join(max(0.0, deadline - time.monotonic()))
    answers: dict[str, str | None] = {}
    with lock:
        for name, where in endpoints.items():
            if where is None:
                answers[name] = f"{urls[name]!r} names no host"
            elif where in results:
                answers[name] = results[where]
            else:
                answers[name] = f"{where[0]}:{where[1]}: no connection within {timeout_s:g} s"
    return answers
