"""The API docs page and its assets come from our own origin, with the request's CSP nonce."""

from __future__ import annotations

import re


async def test_docs_page_uses_only_our_own_assets_and_the_nonce(client):
    resp = await client.get("/api/v1/schema/swagger")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    nonce = re.search(r"'nonce-([^']+)'", resp.headers["content-security-policy"]).group(1)
    assert f'<script nonce="{nonce}">' in resp.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert sources and all(s.startswith("/api/v1/schema/") for s in sources), sources
    assert "cdn" not in resp.text.lower()
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["x-content-type-options"] == "nosniff"
    script = await client.get("/api/v1/schema/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text and script.headers["content-type"].startswith("text/javascript")


async def test_docs_assets_stay_inside_the_bundle(client):
    resp = await client.get("/api/v1/schema/assets/../../../../etc/passwd")
    assert resp.status_code == 404
