"""The one domain error every service raises for a broken business rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class SwitchboardError(Exception):
    """A business-rule violation with a stable snake_case ``code`` and a human ``message``.

    Views show ``message`` next to the field (``field`` names it when there is one); the API
    answers 406 with ``{"code", "message", **details}``; the MCP server returns a tool error.
    One error can stand for several independent problems (``Problems``): ``problems`` lists
    them, so a form or a command can show each on its own.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details
        self._problems: list[SwitchboardError] = []

    @property
    def problems(self) -> list[SwitchboardError]:
        """The separate problems this error reports: itself, or each of several."""
        return self._problems or [self]

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        data.update(self.details)
        return data

    def as_problem(self) -> dict[str, Any]:
        """``{field, code, message}``, one item of an error's ``errors`` list."""
        return {"field": self.field, "code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"SwitchboardError({self.code!r}, {self.message!r})"


class Problems:
    """Runs independent checks and reports every one that fails in one error, instead of
    stopping at the first: someone fixing a request then sees all that is wrong with it."""

    def __init__(self) -> None:
        self.errors: list[SwitchboardError] = []

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``check(*args, **kwargs)``, or None with its error kept for ``raise_any``."""
        try:
            return check(*args, **kwargs)
        except SwitchboardError as exc:
            self.errors.extend(exc.problems)
            return None

    def add(self, error: SwitchboardError) -> None:
        self.errors.extend(error.problems)

    def raise_any(self, *, code: str, summary: str) -> None:
        """Raise the problems found, if any, as one error (see ``several``)."""
        if self.errors:
            raise several(self.errors, code=code, summary=summary)


def several(errors: Sequence[SwitchboardError], *, code: str, summary: str) -> SwitchboardError:
    """One error reporting ``errors``, each listed in its ``errors`` detail as
    ``{field, code, message}``. A single problem keeps its own code, message, field and details
    (callers that know it see no difference); several share ``code`` and a message that starts
    with ``summary`` (``{count}`` in it is their number) and goes on with each one's message."""
    listed = [error.as_problem() for error in errors]
    if len(errors) == 1:
        only = errors[0]
        combined = SwitchboardError(
            only.code, only.message, field=only.field, **{**only.details, "errors": listed}
        )
    else:
        messages = " ".join(error.message for error in errors)
        heading = summary.format(count=len(errors))
        combined = SwitchboardError(code, f"{heading}: {messages}", errors=listed)
    combined._problems = list(errors)
    return combined
