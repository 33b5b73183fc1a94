"""Static files as the image and ``up`` serve them: collected (compressed, content-hashed) into
STATIC_ROOT, then answered by the ASGI app before Django, without the finders."""

from __future__ import annotations

import asyncio
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.templatetags.static import static
from django.test import override_settings

from hub.static_asgi import StaticFiles

MANIFEST = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def get(
    app: StaticFiles, path: str, method: str = "GET", **headers: str
) -> tuple[bool, int, dict[str, str], bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()],
    }
    answered = asyncio.run(app(scope, receive, send))
    if not answered:
        return False, 0, {}, b""
    start = sent[0]
    got = {k.decode(): v.decode() for k, v in start["headers"]}
    return True, start["status"], got, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def collected(tmp_path: Path) -> Any:
    root = tmp_path / "staticfiles"
    with override_settings(STORAGES=MANIFEST, STATIC_ROOT=root, WHITENOISE_USE_FINDERS=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


def test_the_collected_css_is_served_hashed_compressed_and_cached_for_good(collected: Path) -> None:
    url = static("css/hub.css")
    assert re.fullmatch(r"/static/css/hub\.[0-9a-f]{12}\.css", url)
    app = StaticFiles()
    answered, status, headers, body = get(app, url, accept_encoding="gzip")
    assert (answered, status) == (True, 200)
    assert headers["content-encoding"] == "gzip"
    assert "immutable" in headers["cache-control"]
    assert headers["x-content-type-options"] == "nosniff"
    assert len(body) == int(headers["content-length"])
    plain = get(app, url)[3]
    assert plain == (Path(__file__).resolve().parents[1] / "static/css/hub.css").read_bytes()
    assert get(app, url, if_none_match=headers["etag"])[1] == 304
    assert get(app, url, method="HEAD")[3] == b""


def test_htmx_is_served_and_other_paths_are_left_to_django(collected: Path) -> None:
    app = StaticFiles()
    assert get(app, static("vendor/htmx.min.js"))[1] == 200
    assert get(app, "/static/no-such-file.css")[0] is False  # Django answers 404
    assert get(app, "/login/")[0] is False


@pytest.mark.django_db
def test_every_static_file_a_page_links_is_served_with_its_type(collected: Path, client: Any) -> None:
    page = client.get("/login/").content.decode()
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {Path(link).suffix for link in links} >= {".css", ".js", ".svg"}  # the icon too
    app = StaticFiles()
    for link in links:
        answered, status, headers, _ = get(app, link)
        assert (answered, status) == (True, 200), link
        assert headers["content-type"].split(";")[0] in {"text/css", "text/javascript", "image/svg+xml"}, link
