"""Console form bodies (URL-encoded, UTF-8), read without python-multipart.

Forms here are small and never upload files, so one bounded read and
``parse_qsl`` do; Starlette caches the body, so the CSRF check and the endpoint
can both read it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from lakehose.server.console.guard import ConsoleRefusal

MAX_FORM_BYTES = 64 * 1024


class Form:
    """The fields of a submitted form; a field may repeat (checkbox groups)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.pairs)


async def read_form(request: Request) -> Form:
    """The request's URL-encoded form; 413 when it is larger than a console form can be."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise ConsoleRefusal(PlainTextResponse("form too large", 413))
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise ConsoleRefusal(PlainTextResponse("form too large", 413))
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.startswith("application/x-www-form-urlencoded"):
        return Form([])
    text = raw.decode("utf-8", "replace")
    return Form(parse_qsl(text, keep_blank_values=True, max_num_fields=1000))
