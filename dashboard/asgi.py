"""ASGI entry point: ``/mcp`` goes to the MCP server, everything else to Django.

``make run`` serves it with uvicorn on MCP_PORT beside the WSGI dashboard (whose /mcp only
says where the MCP server is); production may serve everything from it
(``gunicorn dashboard.asgi:application -k uvicorn.workers.UvicornWorker``).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_app = get_asgi_application()

from dashboard.mcp.http import build_mcp_app  # noqa: E402  (needs Django set up first)


def build_application() -> Any:
    mcp_app = build_mcp_app()

    async def application(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # Django has no lifespan; the MCP app's starts its session manager.
            await mcp_app(scope, receive, send)
        elif scope["path"] == "/mcp" or scope["path"].startswith("/mcp/"):
            await mcp_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return application


application = build_application()
