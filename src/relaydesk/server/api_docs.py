"""The API's Swagger UI, served from our own origin under the app's nonce CSP.

Litestar's Swagger plugin loads the UI from a public CDN, which the CSP (`script-src 'self'`) rightly
blocks, and a self-hosted, privacy-first product must not make its visitors' browsers call a third party.
The UI's files come from the `openapi-ui-bundles` package (Swagger UI 5, which renders OpenAPI 3.1 as
Litestar generates it) and are served below the schema path; the page's one inline script carries the
request's CSP nonce and loads the document from `openapi.json`, so nothing leaves the server's origin.
"""

from __future__ import annotations

import html
import json
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from openapi_ui_bundles import swagger_ui

from relaydesk.server.headers import csp_nonce

DOCS_PAGE = "/swagger"
ASSETS = "/assets"


class SelfHostedSwagger(OpenAPIRenderPlugin):
    """Renders `<schema path>/swagger`; the assets are served by `swagger_assets(<schema path>)`."""

    def __init__(self, schema_path: str) -> None:
        super().__init__(
            path=DOCS_PAGE, favicon=f'<link rel="icon" href="{schema_path}{ASSETS}/favicon-32x32.png">'
        )
        self.schema_path = schema_path

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        nonce = csp_nonce(request.scope)
        assets = self.schema_path + ASSETS
        settings = json.dumps({"url": self.schema_path + "/openapi.json", "dom_id": "#swagger-ui"})
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{self.favicon}
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script nonce="{nonce}">
window.ui = SwaggerUIBundle(Object.assign({settings}, {{
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
}}));
</script>
</body>
</html>
""".encode()


def swagger_assets(schema_path: str) -> Router:
    """Swagger UI's own files (script, styles, icons) from the installed package, read-only."""
    return create_static_files_router(
        path=schema_path + ASSETS,
        directories=[swagger_ui.static_path],
        include_in_schema=False,
        cache_control=None,
    )
