"""The web app's files as served: the page preloads every module it has, each answer carries the CSP,
nothing outside the web package can be asked for, and an unchanged file costs a 304."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from tests.helpers.servers import ROOT
from tests.helpers.web import WebServer

WEB = ROOT / "web"


def test_the_page_preloads_every_module_so_none_waits_for_its_importer(server: WebServer) -> None:
    with urllib.request.urlopen(server.base_url + "/") as response:
        page = response.read().decode()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/app/([^"]+)">', page))
    modules = {str(path.relative_to(WEB)) for path in WEB.rglob("*.js")} - {"js/main.js"}
    assert preloaded == modules


@pytest.mark.parametrize("path", ["/", "/app/js/main.js", "/app/app.css", "/app/favicon.svg",
                                  "/app/js/views/market.js"])
def test_every_file_carries_the_content_security_policy(server: WebServer, path: str) -> None:
    headers = server.api_headers(path)
    assert headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    assert headers["x-content-type-options"] == "nosniff"
    etag = headers["etag"]
    request = urllib.request.Request(server.base_url + path, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(request)
    assert not_modified.value.code == 304


@pytest.mark.parametrize("path", ["/app/../app.py", "/app/%2e%2e/app.py", "/app/__init__.py", "/app/js/nothing.js",
                                  "/app/index.html", "/app/js/../../finance/keys.py", "/app/.hidden.js"])
def test_nothing_but_the_web_packages_assets_is_served(server: WebServer, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.base_url + path)
    assert refused.value.code == 404
