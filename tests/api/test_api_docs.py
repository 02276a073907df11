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


async def test_the_document_describes_the_real_error_shape(client, make_workspace):
    document = (await client.get("/api/v1/schema/openapi.json")).json()
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    operations = [
        (method, path, op)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 50
    for method, path, op in operations:
        errors = {status: r for status, r in op["responses"].items() if status[0] in "45"}
        assert {"401", "403"} <= set(errors), (method, path)
        for status, response in errors.items():
            assert response == {"$ref": f"#/components/responses/Error{status}"}, (method, path, status)
        if method in {"post", "put", "patch"}:
            assert {"400", "409", "413", "415"} <= set(errors), (method, path)
    assert "status_code" not in str(document["components"]["responses"])
    retry = document["components"]["responses"]["Error429"]["headers"]["Retry-After"]
    assert retry["schema"]["type"] == "integer"

    # And a real 400 answer has that shape.
    ws = await make_workspace()
    bad = await client.post("/api/v1/labels", json={"name": 5}, headers=ws.admin.headers)
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    assert {"code", "message"} <= set(bad.json()["error"])
