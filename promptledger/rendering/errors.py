"""Rendering errors and per-render limits: what every failure looks like."""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- errors


_OBJECT_REPR = re.compile(r"<[^<>]{0,200}? at 0x[0-9A-Fa-f]+>|\b0x[0-9A-Fa-f]{6,}\b")


def scrub_reprs(text: str) -> str:
    """Python reprs with heap addresses never reach a person: ``<... at 0x7f...>``
    becomes ``<object>``. A last line of defence; the guards name values instead."""
    if "0x" not in text:
        return text
    return _OBJECT_REPR.sub("<object>", text)


class RenderError(Exception):
    """Base class of every rendering failure.

    ``code`` is a machine code, ``message`` a sentence a person can act on and
    ``details`` a JSON-serialisable dict (``where`` names the template part or
    input at fault when known, ``line`` the template line when known).
    """

    code: str = "render_failed"

    def __init__(self, message: str, code: str | None = None, details: dict | None = None):
        message = scrub_reprs(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict = dict(details) if details else {}

    def __reduce__(self):  # survive pickling (Celery results, multiprocessing)
        return (self.__class__, (self.message, self.code, self.details))

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details}


class TemplateSyntaxProblem(RenderError):
    """The template does not parse. details: ``line``, ``column`` (or None), ``where``."""

    code = "template_syntax"


class MissingVariables(RenderError):
    """Variables the template needs were not given. details: ``missing`` (sorted)."""

    code = "missing_variables"


class InvalidVariables(RenderError):
    """Variable values do not match the schema. details: ``errors`` [{path, message}]."""

    code = "invalid_variables"


class RenderLimitExceeded(RenderError):
    """A size, time, loop or recursion limit was hit. details: ``limit``, ``value``."""

    code = "limit_exceeded"


class TemplateRaised(RenderError):
    """The template called ``raise_exception(message)``: ``message`` is the author's own.
    details: ``where``, ``line``."""

    code = "template_raised"


class UnprintableValue(RenderError):
    """The template printed something that is not data (a function, generator, loop or
    template object). details: ``expression`` (when known), ``kind``, ``where``, ``line``."""

    code = "unprintable_value"


class SandboxViolation(RenderError):
    """The template tried to reach something it may not (Python internals, unsafe calls)."""

    code = "sandbox_violation"


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class RenderLimits:
    """Per-render bounds. All sizes are in characters.

    Derived bounds (not separately configurable): no single intermediate string or
    structure may exceed ``max(max_output_chars, max_variables_chars)``, and a render
    may produce at most 16x that many characters in total (this bounds memory,
    including text buffered inside macros and ``{% set %}`` blocks).
    """

    max_template_chars: int = 100_000
    max_output_chars: int = 200_000
    max_range: int = 10_000  # length cap of range()
    max_loop_iterations: int = 100_000  # total for-loop iterations per render
    # a hostile template is answered in about 1.05 s (the guards check the deadline
    # between operations; one builtin operation can run on for a few tens of ms)
    max_render_seconds: float = 1.0
    max_variables_chars: int = 1_000_000  # rough size of the JSON of variable values
    max_nesting_depth: int = 64  # nesting of lists/dicts, in variables and built by templates
    max_recursion_depth: int = 64  # nested macro / recursive-loop / block calls


DEFAULT_LIMITS = RenderLimits()

_MAX_INT_BITS = 8192  # ~2,466 decimal digits; Python refuses str() of ints above 4,300 digits
_MAX_AST_DEPTH = 160  # nesting of the parsed template; Python's compiler needs headroom
_WORK_FACTOR = 16
_BIG_COMPARE = 2048  # compare operands at least this long check the deadline first
