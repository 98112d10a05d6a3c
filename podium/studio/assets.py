"""Serving Studio's static files: path safety, content types, caching, and the index page.

Why not a generic static server: the UI is served by HTTP functions under a route prefix
(``/api`` by default, configurable in host.json), so the index page gets a ``<base href>`` and
the JSON API base injected from the actual request path; relative asset URLs then work whatever
the prefix, with or without a trailing slash.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

STATIC_DIR = Path(__file__).with_name("static")
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Everything is same-origin: no CDN, no inline script (the index only has inline <meta>).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
}


@dataclass(frozen=True)
class AssetResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream")


def _not_found(reason: str) -> AssetResponse:
    return AssetResponse(404, reason.encode(), {"Content-Type": "text/plain; charset=utf-8"})


@lru_cache(maxsize=128)
def _read(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def _safe_path(relative: str) -> Path | None:
    """The file under STATIC_DIR named by ``relative``, or None if it escapes or is absent."""
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if any(part in ("..", "") or part.startswith(".") for part in parts if part != "/"):
        return None
    candidate = (STATIC_DIR / PurePosixPath(*[p for p in parts if p != "/"])).resolve()
    root = STATIC_DIR.resolve()
    if root not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def studio_base(request_path: str, asset_path: str | None) -> str:
    """The URL path of Studio's root (ending in ``/``) from the request path.

    ``/api/studio`` -> ``/api/studio/``; ``/api/studio/js/app.js`` with asset ``js/app.js`` ->
    ``/api/studio/``.
    """
    path = request_path or "/"
    if asset_path:
        suffix = "/" + asset_path.lstrip("/")
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return path if path.endswith("/") else path + "/"


def api_base(base: str) -> str:
    """Where the JSON API lives: the parent of Studio's root (``/api/studio/`` -> ``/api/``)."""
    trimmed = base.rstrip("/")
    parent = trimmed.rsplit("/", 1)[0]
    return parent + "/"


def render_index(request_path: str, asset_path: str | None = None) -> AssetResponse:
    path = _safe_path(INDEX)
    if path is None:
        return _not_found("Studio index.html is missing")
    data, _ = _read(path, path.stat().st_mtime_ns)
    base = studio_base(request_path, asset_path)
    head = (
        f'<base href="{html.escape(base)}">\n'
        f'<meta name="podium-api-base" content="{html.escape(api_base(base))}">\n'
    )
    body = data.decode().replace("<!--PODIUM-HEAD-->", head, 1).encode()
    headers = {"Content-Type": CONTENT_TYPES[".html"], "Cache-Control": "no-cache"}
    return AssetResponse(200, body, headers | _SECURITY_HEADERS)


def serve(
    request_path: str, asset_path: str | None, if_none_match: str | None = None
) -> AssetResponse:
    """Response for ``GET <studio>/<asset_path>``; the index page for an empty path."""
    relative = (asset_path or "").strip()
    if relative in ("", "/", INDEX):
        return render_index(request_path, asset_path)
    path = _safe_path(relative)
    if path is None:
        return _not_found(f"no such Studio asset: {relative}")
    data, digest = _read(path, path.stat().st_mtime_ns)
    etag = f'"{digest}"'
    headers = {
        "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "Cache-Control": "no-cache",  # revalidate: assets change with every deploy
        "ETag": etag,
    } | _SECURITY_HEADERS
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return AssetResponse(304, b"", headers)
    return AssetResponse(200, data, headers)
