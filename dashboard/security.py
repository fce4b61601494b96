"""Security headers on every dashboard response: CSP, framing, referrer, sniffing, caching, HSTS.

The Content-Security-Policy allows scripts only from the dashboard itself plus the exact inline
scripts Dash writes into its index page (their SHA-256 hashes, from `Dash.csp_hashes()`), so an
injected <script> or event handler does not run. Styles need 'unsafe-inline': plotly.js and Dash's
components set style attributes and inject <style> rules at run time (tested in Chromium: without it
the charts render unstyled). No page loads anything from another origin, may be framed, or may
post a form elsewhere.
"""

from __future__ import annotations

import flask
from werkzeug.middleware.proxy_fix import ProxyFix

_STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico", "/favicon.ico")


def content_security_policy(script_hashes: list[str]) -> str:
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],  # floor plans are data: URIs; plot downloads use blobs
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def install(app, *, production: bool, proxy_hops: int = 0) -> None:
    """Add the headers to every response of the Dash app's server (pages, callbacks, API, log-in,
    static files). The policy is built on the first response, once every callback is registered.
    With `proxy_hops`, the client address and scheme come from that many proxies' X-Forwarded-*."""
    if proxy_hops:
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops)
    policy: list[str] = []

    def add_headers(response: flask.Response) -> flask.Response:
        if not policy:
            policy.append(content_security_policy(list(app.csp_hashes())))
        headers = response.headers
        headers["Content-Security-Policy"] = policy[0]
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if production:  # browsers ignore it over plain HTTP; behind the TLS proxy it pins HTTPS
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if not flask.request.path.startswith(_STATIC_PREFIXES):
            headers["Cache-Control"] = "no-store"  # store numbers must not linger in shared caches
        return response

    app.server.after_request(add_headers)
