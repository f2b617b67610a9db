"""The API's documentation at /docs: Swagger UI, every file served by the appliance itself.

A site runs without internet, so the viewer cannot come from a CDN (Litestar's default): its
script, style and icon come from the `swagger-ui-py` package, which carries Swagger UI 5
(Apache-2.0; version 4 cannot read OpenAPI 3.1), and are served under /docs/assets.
`/docs/swagger`, the viewer's address in earlier versions, shows the same page.
"""

from __future__ import annotations

from importlib.resources import files

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

import appliance

__all__ = ["DOCS_PATH", "docs_assets_router", "openapi_config"]

DOCS_PATH = "/docs"
_ASSETS = f"{DOCS_PATH}/assets"
_SWAGGER_UI_FILES = files("swagger_ui") / "static"


def openapi_config() -> OpenAPIConfig:
    viewer = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{_ASSETS}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="Liveness appliance API", version=appliance.__version__, path=DOCS_PATH, render_plugins=[viewer]
    )


def docs_assets_router() -> Router:
    """Swagger UI's files, as the package ships them."""
    return create_static_files_router(path=_ASSETS, directories=[str(_SWAGGER_UI_FILES)], include_in_schema=False)
