"""The API's one body parser: JSON, checked as it is parsed.

Besides what DRF's JSONParser refuses (malformed JSON, NaN and Infinity), it
refuses with a 400 naming the field what no endpoint can store or use: JSON
nested deeper than `validation.MAX_JSON_DEPTH` (100,000 `[` would otherwise
overflow Python's stack), lone surrogates, NUL characters and numbers that
overflow to infinity (see `validation.json_loads`).
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from prompts_app.services import validation


class CheckedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding") or "utf-8"
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"the body is not valid {exc.encoding.upper()}: byte {exc.start} cannot be decoded"
            ) from None
        except LookupError:
            raise ParseError(f"unknown charset {str(encoding)[:40]!r}: send UTF-8") from None
        try:
            return validation.json_loads(text)
        except ValueError as exc:
            # json.JSONDecodeError and the refused constants: the handler says "not valid JSON".
            raise ParseError(str(exc)[:300]) from None
