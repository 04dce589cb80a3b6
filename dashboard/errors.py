"""The one domain error every service raises for a broken business rule."""

from __future__ import annotations

from typing import Any


class SwitchboardError(Exception):
    """A business-rule violation with a stable snake_case ``code`` and a human ``message``.

    Views show ``message`` next to the field (``field`` names it when there is one); the API
    answers 406 with ``{"code", "message", **details}``; the MCP server returns a tool error.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        data.update(self.details)
        return data

    def __repr__(self) -> str:
        return f"SwitchboardError({self.code!r}, {self.message!r})"
