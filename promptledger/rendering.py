"""The one prompt renderer, shared by the server (``prompts_app``) and the SDK.

Django-free: the standard library and Jinja2 only, so a prompt renders byte for byte
the same wherever it is rendered.

Trust model
-----------
Template authors are semi-trusted, variable values are untrusted. A template can
never reach Python internals, settings, the filesystem or the network, and no
template -- nor any variable value -- can make a render take unbounded time,
memory or output. The bounds hold while *compiling* too.

How the bounds are kept
-----------------------
* Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no attribute
  starting with ``_``, no mutation of lists/dicts), ``StrictUndefined``, no
  autoescape, no loader, no extensions. ``{% include/import/extends %}`` and
  ``{% autoescape %}`` are refused at compile time.
* Nothing is evaluated at compile time: the optimizer is off (``optimized=False``),
  the code generator never folds ``{{ ... }}`` output to constants
  (``_output_child_to_const`` is overridden, and ``finalize`` takes the context,
  which on its own disables that folding), every filter and test is a
  ``pass_context`` wrapper (Jinja never folds those), the guarded binary operators
  are "intercepted" (Jinja never folds those), and every guard refuses to run
  outside a render.
* At run time every operation that could be expensive goes through a guard:
  ``* ** + %`` (sizes of repeated sequences, integer bit length, printf widths),
  ``~`` concatenation, slicing, list/tuple/dict literals (size and nesting of the
  built value, which also stops "double the structure" tricks), comparisons (a
  deadline check before comparing big values), every call (an allow-list of
  callables; string methods with width/size arguments are bounded), every filter
  (an allow-list; size checks before and after), every test, every ``for`` loop
  (total iterations, deadline), ``range()``, macro/recursive-loop depth,
  ``namespace`` assignments, ``str.format`` (widths, total size), and every
  ``{{ ... }}`` output (containers are measured before being turned into text).
* Per render: a deadline, a total loop-iteration budget, a cap on the size of any
  single value, and a "work" budget of characters produced (which bounds memory,
  including text buffered inside macros and ``{% set %}`` blocks).

Every failure is a :class:`RenderError` subclass with a machine ``code``, a
sentence a person can act on, and JSON-serialisable ``details``.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import threading
import time
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.compiler import operators as _CMP_OPERATORS
from jinja2.environment import Template as _JinjaTemplate
from jinja2.exceptions import (
    FilterArgumentError,
    SecurityError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.filters import FILTERS as _JINJA_FILTERS
from jinja2.runtime import BlockReference, LoopContext, Macro, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.tests import TESTS as _JINJA_TESTS
from jinja2.utils import Cycler, Joiner, Namespace, _PassArg, pass_context
from markupsafe import EscapeFormatter, Markup

__all__ = [
    "DEFAULT_LIMITS",
    "InvalidVariables",
    "MissingVariables",
    "RenderError",
    "RenderLimitExceeded",
    "RenderLimits",
    "SandboxViolation",
    "TemplateSyntaxProblem",
    "compile_template",
    "content_hash",
    "infer_schema",
    "infer_variables",
    "render",
    "validate_template",
    "validate_variables",
]

KIND_TEXT = "text"
KIND_CHAT = "chat"
CHAT_ROLES = ("system", "user", "assistant")
RESERVED_VARIABLES = frozenset({"examples"})


# --------------------------------------------------------------------------- errors


class RenderError(Exception):
    """Base class of every rendering failure.

    ``code`` is a machine code, ``message`` a sentence a person can act on and
    ``details`` a JSON-serialisable dict (``where`` names the template part or
    input at fault when known, ``line`` the template line when known).
    """

    code: str = "render_failed"

    def __init__(self, message: str, code: str | None = None, details: dict | None = None):
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
    max_render_seconds: float = 2.0
    max_variables_chars: int = 1_000_000  # rough size of the JSON of variable values
    max_nesting_depth: int = 64  # nesting of lists/dicts, in variables and built by templates
    max_recursion_depth: int = 64  # nested macro / recursive-loop / block calls


DEFAULT_LIMITS = RenderLimits()

_MAX_INT_BITS = 8192  # ~2,466 decimal digits; Python refuses str() of ints above 4,300 digits
_MAX_AST_DEPTH = 160  # nesting of the parsed template; Python's compiler needs headroom
_WORK_FACTOR = 16
_BIG_COMPARE = 2048  # compare operands at least this long check the deadline first

# --------------------------------------------------------------------------- per-render state


class _State:
    __slots__ = (
        "deadline",
        "seconds",
        "iters",
        "max_iters",
        "work",
        "budget",
        "cap",
        "max_range",
        "depth",
        "max_depth",
        "max_nesting",
        "loop_weight",
    )

    def __init__(self, limits: RenderLimits):
        self.seconds = limits.max_render_seconds
        self.deadline = time.monotonic() + limits.max_render_seconds
        self.iters = 0
        self.max_iters = limits.max_loop_iterations
        self.work = 0
        self.cap = max(limits.max_output_chars, limits.max_variables_chars)
        self.budget = _WORK_FACTOR * self.cap
        self.max_range = limits.max_range
        self.depth = 0
        self.max_depth = limits.max_recursion_depth
        self.max_nesting = limits.max_nesting_depth
        self.loop_weight = 0


_STATE: contextvars.ContextVar[_State | None] = contextvars.ContextVar(
    "promptledger_render_state", default=None
)
_mono = time.monotonic


def _state() -> _State:
    st = _STATE.get()
    if st is None:
        # Also what keeps Jinja from evaluating anything at compile time.
        raise SecurityError("template code may only run inside promptledger.rendering.render()")
    return st


def _limit(message: str, limit: str, value: Any = None) -> RenderLimitExceeded:
    details = {"limit": limit}
    if value is not None:
        details["value"] = value
    return RenderLimitExceeded(message, details=details)


def _timeout(st: _State) -> RenderLimitExceeded:
    return _limit(
        f"The render took longer than the limit of {st.seconds:g} seconds; "
        "simplify the template or its loops.",
        "max_render_seconds",
        st.seconds,
    )


def _too_big(st: _State, what: str = "A value built by the template") -> RenderLimitExceeded:
    return _limit(
        f"{what} would exceed the limit of {st.cap} characters.",
        "max_value_chars",
        st.cap,
    )


def _over_budget(st: _State) -> RenderLimitExceeded:
    return _limit(
        f"The template produces too much text in total (over {st.budget} characters, "
        "counting text built inside loops, macros and set blocks).",
        "max_work_chars",
        st.budget,
    )


def _check_deadline(st: _State) -> None:
    if _mono() > st.deadline:
        raise _timeout(st)


def _count(st: _State, n: int) -> None:
    st.work += n
    if st.work > st.budget:
        raise _over_budget(st)


# --------------------------------------------------------------------------- measuring values

_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _weight(st: _State, obj: Any, limit: int | None = None) -> int:
    """Upper-bound-ish size of ``str(obj)``, counting shared sub-structures every time
    they appear (so ``[x, x]`` weighs twice ``x``). Raises past ``limit`` (default: the
    value cap) or past the nesting limit. Iterative; checks the deadline as it goes."""
    if limit is None:
        limit = st.cap
    max_nesting = st.max_nesting
    total = 0
    visits = 0
    stack: list = [(obj, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        o, depth = pop()
        t = type(o)
        if t is str:
            total += len(o) + 2
        elif t is int:
            total += o.bit_length() // 3 + 2
        elif t is float:
            total += 24
        elif t is bool or o is None:
            total += 5
        else:
            depth += 1
            if depth > max_nesting:
                raise _limit(
                    f"A value is nested more than {max_nesting} levels deep.",
                    "max_nesting_depth",
                    max_nesting,
                )
            if isinstance(o, (list, tuple)):
                total += 2 + 2 * len(o)
                for x in o:
                    tx = type(x)
                    if tx is str:
                        total += len(x) + 2
                    elif tx is int:
                        total += x.bit_length() // 3 + 2
                    elif tx is float or tx is bool or x is None:
                        total += 24
                    else:
                        push((x, depth))
                    if total > limit:
                        break
            elif isinstance(o, dict):
                total += 2 + 4 * len(o)
                for k, v in o.items():
                    push((k, depth))
                    push((v, depth))
            elif isinstance(o, str):
                total += len(o) + 10
            elif isinstance(o, Namespace):
                total += 16
                for k, v in object.__getattribute__(o, "_Namespace__attrs").items():
                    push((k, depth))
                    push((v, depth))
            elif isinstance(o, _DICT_VIEWS):
                total += 16
                for x in o:
                    push((x, depth))
            elif isinstance(o, (set, frozenset)):
                total += 2 + 2 * len(o)
                for x in o:
                    push((x, depth))
            elif isinstance(o, Cycler):
                total += 16
                push((o.items, depth))
            else:
                total += 32
        if total > limit:
            raise _too_big(st)
        visits += 1
        if not visits & 1023 and _mono() > st.deadline:
            raise _timeout(st)
    return total


def _is_plain(value: Any) -> bool:
    t = type(value)
    return t is str or t is int or t is float or t is bool or value is None


def _stringify(st: _State, value: Any) -> Any:
    """``value`` made safe to pass to ``str()``: strings and scalars as they are,
    containers measured first (and converted), undefined values untouched (so that
    ``str()`` raises the proper UndefinedError)."""
    if isinstance(value, (str, Undefined)):
        return value
    t = type(value)
    if t is int or t is float or t is bool or value is None:
        return value
    _weight(st, value)
    text = str(value)
    if len(text) > st.cap:
        raise _too_big(st)
    return text


def _post(st: _State, result: Any) -> Any:
    """Account for a freshly produced value."""
    if isinstance(result, str):
        n = len(result)
        if n > st.cap:
            raise _too_big(st)
        st.work += n
        if st.work > st.budget:
            raise _over_budget(st)
    elif isinstance(result, (list, tuple, dict)):
        st.work += len(result)
        if st.work > st.budget:
            raise _over_budget(st)
    return result


def _check_size(st: _State, size: int, what: str) -> None:
    if size > st.cap:
        raise _too_big(st, what)


def _as_int_width(st: _State, width: Any, what: str) -> None:
    if isinstance(width, int) and width > st.cap:
        raise _limit(
            f"{what} of {width} exceeds the limit of {st.cap} characters.",
            "max_value_chars",
            st.cap,
        )


# --------------------------------------------------------------------------- guarded operations


def _guard_iter(st: _State, iterable: Any, weight: int):
    """Wraps every for-loop iterable: counts iterations (and the loop body's literal
    text) against the render's budgets and checks the deadline on every step."""
    for item in iterable:
        st.iters += 1
        st.work += weight
        if st.iters > st.max_iters or st.work > st.budget or _mono() > st.deadline:
            if st.iters > st.max_iters:
                raise _limit(
                    f"The template's loops ran more than {st.max_iters} iterations in total.",
                    "max_loop_iterations",
                    st.max_iters,
                )
            if st.work > st.budget:
                raise _over_budget(st)
            raise _timeout(st)
        yield item


def _mul(st: _State, left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise _limit(
                f"A multiplication would produce a number over {_MAX_INT_BITS} bits.",
                "max_int_bits",
                _MAX_INT_BITS,
            )
        return left * right
    seq = n = None
    if isinstance(left, (str, list, tuple)) and isinstance(right, int):
        seq, n = left, right
    elif isinstance(right, (str, list, tuple)) and isinstance(left, int):
        seq, n = right, left
    if seq is not None and n > 1:
        unit = len(seq) if isinstance(seq, str) else max(_weight(st, seq), len(seq), 1)
        if unit * n > st.cap:
            raise _too_big(st, f"Repeating a value {n} times")
    return _post(st, left * right)


def _add(st: _State, left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        _check_size(st, len(left) + len(right), "Joining two strings")
    elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        _check_size(st, _weight(st, left) + _weight(st, right), "Joining two lists")
    return _post(st, left + right)


def _pow(st: _State, left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 1 and not -1 <= left <= 1:
        if left.bit_length() * right > _MAX_INT_BITS:
            raise _limit(
                f"A power would produce a number over {_MAX_INT_BITS} bits.",
                "max_int_bits",
                _MAX_INT_BITS,
            )
    return left**right


_PCT_FLAGS = frozenset("-+ #0")


def _printf_size(st: _State, value: Any, conv: str, precision: int | None) -> int:
    if conv in "sra":
        if isinstance(value, str):
            return len(value)
        if _is_plain(value):
            return 64
        return _weight(st, value)
    if conv in "eEfFgG":
        return 330 + (precision if precision is not None else 6)
    if isinstance(value, int):
        return value.bit_length() + 4 + (precision or 0)
    return 330 + (precision or 0)


def _check_percent(st: _State, fmt: str, args: Any) -> None:
    """Bound the output of ``fmt % args`` before computing it (mirrors the parsing of
    CPython's printf-style formatting closely enough to bound every conversion)."""
    if isinstance(args, tuple):
        seq, mapping = args, None
    elif hasattr(args, "__getitem__") and not isinstance(args, str):
        seq, mapping = (args,), args
    else:
        seq, mapping = (args,), None
    n = len(fmt)
    cap = st.cap
    total = 0
    argi = 0
    last = 0
    steps = 0
    pos = fmt.find("%")
    while pos != -1:
        total += pos - last
        j = pos + 1
        value: Any = None
        keyed = False
        if j < n and fmt[j] == "(":
            level, j, start = 1, j + 1, j + 1
            while j < n and level:
                if fmt[j] == "(":
                    level += 1
                elif fmt[j] == ")":
                    level -= 1
                j += 1
            keyed = True
            try:
                value = mapping[fmt[start : j - 1]] if mapping is not None else None
            except Exception:  # the real formatting raises the proper error
                value = None
        while j < n and fmt[j] in _PCT_FLAGS:
            j += 1
        width = 0
        if j < n and fmt[j] == "*":
            j += 1
            width = seq[argi] if argi < len(seq) else 0
            argi += 1
            width = abs(width) if isinstance(width, int) else 0
        else:
            start = j
            while j < n and fmt[j].isdigit():
                j += 1
            if j - start > 9:
                raise _too_big(st, "A printf-style field width")
            width = int(fmt[start:j]) if j > start else 0
        precision = None
        if j < n and fmt[j] == ".":
            j += 1
            if j < n and fmt[j] == "*":
                j += 1
                precision = seq[argi] if argi < len(seq) else 0
                argi += 1
                precision = abs(precision) if isinstance(precision, int) else 0
            else:
                start = j
                while j < n and fmt[j].isdigit():
                    j += 1
                if j - start > 9:
                    raise _too_big(st, "A printf-style precision")
                precision = int(fmt[start:j]) if j > start else 0
        while j < n and fmt[j] in "hlL":
            j += 1
        conv = fmt[j] if j < n else "s"
        j += 1
        if conv == "%":
            size = 1
        else:
            if not keyed:
                value = seq[argi] if argi < len(seq) else None
                argi += 1
            size = _printf_size(st, value, conv, precision)
        if width > cap or (precision is not None and precision > cap):
            raise _too_big(st, "A printf-style field")
        total += max(width, size)
        if total > cap:
            raise _too_big(st, "A printf-style formatted string")
        last = j
        steps += 1
        if not steps & 1023:
            _check_deadline(st)
        pos = fmt.find("%", j)
    total += n - last
    if total > cap:
        raise _too_big(st, "A printf-style formatted string")


def _mod(st: _State, left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _check_percent(st, left, right)
        return _post(st, left % right)
    return left % right


_DIGIT_RUN = re.compile(r"\d+")


class _GuardedFormatter(SandboxedFormatter):
    """``str.format`` for templates: sandboxed field lookup (Jinja's) plus bounded
    widths/precisions and a bounded total size."""

    def __init__(self, env: Any, st: _State, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._st = st
        self._total = 0
        self._fields = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None and not _is_plain(value):
            _weight(self._st, value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        st = self._st
        for run in _DIGIT_RUN.findall(format_spec):
            if len(run) > 9 or int(run) > st.cap:
                raise _too_big(st, "A format() field width or precision")
        if not _is_plain(value) and not isinstance(value, (str, Undefined)):
            _weight(st, value)
        text = super().format_field(value, format_spec)
        self._total += len(text)
        if self._total > st.cap:
            raise _too_big(st, "A format() result")
        self._fields += 1
        if not self._fields & 0xFF:
            _check_deadline(st)
        return text


class _GuardedEscapeFormatter(_GuardedFormatter, EscapeFormatter):
    pass


class _FormatMethod:
    """What ``some_string.format`` / ``.format_map`` evaluates to inside a template."""

    __slots__ = ("_env", "_owner", "_is_map")

    def __init__(self, env: Any, owner: str, is_map: bool) -> None:
        self._env = env
        self._owner = owner
        self._is_map = is_map

    def _call(self, st: _State, args: tuple, kwargs: dict) -> str:
        if self._is_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            kwargs, args = args[0], ()
        owner = self._owner
        if isinstance(owner, Markup):
            formatter: _GuardedFormatter = _GuardedEscapeFormatter(
                self._env, st, escape=owner.escape
            )
        else:
            formatter = _GuardedFormatter(self._env, st)
        return _post(st, type(owner)(formatter.vformat(owner, args, kwargs)))

    def __repr__(self) -> str:
        return "<str.format_map>" if self._is_map else "<str.format>"


class _SafeGlobal:
    """A function offered to templates as a global (range, dict, namespace, ...)."""

    __slots__ = ("_fn", "_name")

    def __init__(self, name: str, fn: Any) -> None:
        self._name = name
        self._fn = fn

    def __repr__(self) -> str:
        return f"<global {self._name}>"


class _GuardedNamespace(Namespace):
    """``namespace()``: assignments are measured, so a loop cannot grow one unboundedly."""

    def __setitem__(self, name: str, value: Any) -> None:
        st = _state()
        if not _is_plain(value):
            _weight(st, value)
        super().__setitem__(name, value)


def _g_range(*args: Any) -> range:
    st = _state()
    rng = range(*args)
    try:
        n = len(rng)
    except OverflowError:
        n = st.max_range + 1
    if n > st.max_range:
        raise _limit(
            f"range() would produce more than {st.max_range} items.", "max_range", st.max_range
        )
    return rng


def _g_dict(*args: Any, **kwargs: Any) -> dict:
    st = _state()
    value = dict(*args, **kwargs)
    _weight(st, value)
    return _post(st, value)


def _g_namespace(*args: Any, **kwargs: Any) -> Namespace:
    st = _state()
    ns = _GuardedNamespace(*args, **kwargs)
    _weight(st, ns)
    _count(st, len(object.__getattribute__(ns, "_Namespace__attrs")))
    return ns


def _g_cycler(*items: Any) -> Cycler:
    st = _state()
    _count(st, len(items))
    return Cycler(*items)


def _g_joiner(sep: str = ", ") -> Joiner:
    return Joiner(sep)


def _g_lipsum(*args: Any, **kwargs: Any) -> str:
    raise SecurityError(
        "lipsum() is not available: its output is random, prompts must be reproducible"
    )


# --- string methods callable from templates ---------------------------------------


def _m_plain(st, owner, fn, args, kwargs):
    return fn(*args, **kwargs)


def _m_text(st, owner, fn, args, kwargs):
    return _post(st, fn(*args, **kwargs))


def _m_split(st, owner, fn, args, kwargs):
    result = fn(*args, **kwargs)
    _count(st, len(owner) + len(result))
    return result


def _m_width(st, owner, fn, args, kwargs):
    width = args[0] if args else kwargs.get("width", 0)
    _as_int_width(st, width, "A string width")
    return _post(st, fn(*args, **kwargs))


def _m_expandtabs(st, owner, fn, args, kwargs):
    size = args[0] if args else kwargs.get("tabsize", 8)
    if isinstance(size, int):
        _check_size(st, len(owner) + owner.count("\t") * max(size, 0), "Expanding tabs")
    return _post(st, fn(*args, **kwargs))


def _replace_size(s: str, old: str, new: str, count: Any) -> int:
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def _m_replace(st, owner, fn, args, kwargs):
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        _check_size(st, _replace_size(owner, args[0], args[1], count), "A replace() result")
    return _post(st, fn(*args, **kwargs))


def _m_join(st, owner, fn, args, kwargs):
    if len(args) != 1 or kwargs:
        return fn(*args, **kwargs)  # let Python raise the TypeError
    parts = []
    total = 0
    sep = len(owner)
    for item in args[0]:
        # str.join refuses non-strings, Markup.join escapes (stringifies) them
        total += (len(item) if isinstance(item, str) else _weight(st, item)) + sep
        if total > st.cap:
            raise _too_big(st, "A join() result")
        parts.append(item)
        if not len(parts) & 1023:
            _check_deadline(st)
    return _post(st, fn(parts))


_STR_METHODS = {
    **dict.fromkeys(
        (
            "count endswith startswith find rfind index rindex isalnum isalpha isascii "
            "isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle "
            "isupper"
        ).split(),
        _m_plain,
    ),
    **dict.fromkeys(
        (
            "capitalize casefold lower upper swapcase title strip lstrip rstrip "
            "removeprefix removesuffix unescape striptags"
        ).split(),
        _m_text,
    ),
    **dict.fromkeys("split rsplit splitlines partition rpartition".split(), _m_split),
    **dict.fromkeys("center ljust rjust zfill".split(), _m_width),
    "expandtabs": _m_expandtabs,
    "replace": _m_replace,
    "join": _m_join,
}
_DICT_METHODS = {"get": _m_plain, "items": _m_plain, "keys": _m_plain, "values": _m_plain}
_SEQ_METHODS = {"index": _m_plain, "count": _m_plain}
_NUM_METHODS = {"is_integer": _m_plain, "bit_length": _m_plain}
_BUILTIN_METHOD = type("".upper)
_DICT_ATTRS = frozenset(dir(dict))


def _method_rule(owner: Any, name: str):
    if isinstance(owner, str):
        return _STR_METHODS.get(name)
    if isinstance(owner, dict):
        return _DICT_METHODS.get(name)
    if isinstance(owner, (list, tuple, range)):
        return _SEQ_METHODS.get(name)
    if isinstance(owner, (int, float)):
        return _NUM_METHODS.get(name)
    return None


def _not_callable(obj: Any) -> Exception:
    if not callable(obj):
        return TypeError(f"{type(obj).__name__!r} object is not callable")
    return SecurityError(f"calling {type(obj).__name__!r} objects is not allowed in templates")


# --------------------------------------------------------------------------- filters & tests


def _first_arg(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _pre_center(st, value, args, kwargs):
    _as_int_width(st, _first_arg(args, kwargs, 0, "width", 80), "A center() width")


def _pre_indent(st, value, args, kwargs):
    width = _first_arg(args, kwargs, 0, "width", 4)
    unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    text = value if isinstance(value, str) else ""
    _check_size(st, len(text) + (text.count("\n") + 2) * max(unit, 0), "An indent() result")


def _pre_wordwrap(st, value, args, kwargs):
    width = _first_arg(args, kwargs, 0, "width", 79)
    wrap = _first_arg(args, kwargs, 2, "wrapstring", None)
    text = value if isinstance(value, str) else ""
    if isinstance(width, int) and width >= 1:
        lines = len(text) // width + text.count("\n") + 1
        _check_size(
            st,
            len(text) + lines * (len(wrap) if isinstance(wrap, str) else 1),
            "A wordwrap() result",
        )
        longest = max((len(w) for w in text.split()), default=0)
        # textwrap re-slices over-long words: cost ~ len(text) * longest / width
        if len(text) * (longest // width + 1) > 20 * st.cap:
            raise _limit(
                "wordwrap() on this text with so small a width would take too long.",
                "max_value_chars",
                st.cap,
            )


def _pre_replace(st, value, args, kwargs):
    if len(args) >= 2:
        old, new = str(_stringify(st, args[0])), str(_stringify(st, args[1]))
        count = args[2] if len(args) > 2 else kwargs.get("count")
        _check_size(st, _replace_size(str(value), old, new, count), "A replace() result")


def _pre_many(st, value, args, kwargs):
    if hasattr(value, "__len__") and not isinstance(value, (str, Undefined)):
        try:
            n = len(value)
        except Exception:
            return
        if n > st.max_iters:
            raise _limit(
                f"A filter was given {n} items; the limit is {st.max_iters}.",
                "max_loop_iterations",
                st.max_iters,
            )


def _pre_batch(st, value, args, kwargs):
    count = _first_arg(args, kwargs, 0, "linecount", 1)
    if isinstance(count, int) and count > st.max_range:
        raise _limit(
            f"batch({count}) is larger than the limit of {st.max_range}.", "max_range", st.max_range
        )


def _pre_slice(st, value, args, kwargs):
    count = _first_arg(args, kwargs, 0, "slices", 1)
    if isinstance(count, int) and count > st.max_range:
        raise _limit(
            f"slice({count}) is larger than the limit of {st.max_range}.", "max_range", st.max_range
        )


def _pre_round(st, value, args, kwargs):
    precision = _first_arg(args, kwargs, 0, "precision", 0)
    if isinstance(precision, int) and abs(precision) > 400:
        raise _limit("round() precision must be between -400 and 400.", "max_round_precision", 400)


def _pre_sum(st, value, args, kwargs):
    start = _first_arg(args, kwargs, 1, "start", 0)
    if not isinstance(start, (int, float)):
        raise FilterArgumentError("sum() only adds numbers; 'start' must be a number")


def _pre_truncate(st, value, args, kwargs):
    end = _first_arg(args, kwargs, 2, "end", "...")
    if isinstance(end, str):
        _check_size(st, len(end), "A truncate() ending")


def _f_join(context: Any, value: Any, d: Any = "", attribute: Any = None) -> str:
    st = _state()
    from jinja2.filters import make_attrgetter

    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    sep = str(_stringify(st, d))
    parts = []
    total = 0
    for item in value:
        text = item if type(item) is str else str(_stringify(st, item))
        total += len(text) + len(sep)
        if total > st.cap + len(sep):
            raise _too_big(st, "A join() result")
        parts.append(text)
        if not len(parts) & 1023:
            _check_deadline(st)
    return sep.join(parts)


def _f_format(context: Any, value: Any, *args: Any, **kwargs: Any) -> str:
    st = _state()
    if args and kwargs:
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    fmt = str(_stringify(st, value))
    values = kwargs or args
    _check_percent(st, fmt, values)
    return fmt % values


def _f_tojson(context: Any, value: Any, indent: Any = None) -> str:
    """JSON for prompts: UTF-8 kept as is (no \\uXXXX), no HTML escaping, sorted keys."""
    st = _state()
    if indent is not None:
        if isinstance(indent, bool) or not isinstance(indent, (int, str)):
            raise FilterArgumentError("tojson(indent=...) must be a number or a string")
        if (indent if isinstance(indent, int) else len(indent)) > 16:
            raise _limit("tojson() indent may be at most 16.", "max_json_indent", 16)
    weight = _weight(st, value)
    encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=indent)
    if indent is None and weight * 8 <= st.cap:
        return encoder.encode(value)
    parts = []
    total = 0
    for chunk in encoder.iterencode(value):
        total += len(chunk)
        if total > st.cap:
            raise _too_big(st, "A tojson() result")
        parts.append(chunk)
        if not len(parts) & 1023:
            _check_deadline(st)
    return "".join(parts)


_CUSTOM_FILTERS = {
    "join": _f_join,
    "format": _f_format,
    "tojson": _f_tojson,
}
# filters whose first argument is turned into text: containers are measured first
_STRINGIFYING = frozenset(
    "capitalize center e escape forceescape format indent lower replace safe string "
    "striptags title trim truncate upper urlencode wordcount wordwrap".split()
)
_PRE_CHECKS = {
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "round": _pre_round,
    "sum": _pre_sum,
    "truncate": _pre_truncate,
    **dict.fromkeys("sort unique dictsort groupby min max reverse list".split(), _pre_many),
}
# removed: random (non-deterministic), pprint, urlize, xmlattr (HTML helpers, costly)
_ALLOWED_FILTERS = (
    "abs attr batch capitalize center count d default dictsort e escape filesizeformat "
    "first float forceescape format groupby indent int items join last length list lower "
    "map max min reject rejectattr replace reverse round safe select selectattr slice sort "
    "string striptags sum title tojson trim truncate unique upper urlencode wordcount "
    "wordwrap"
).split()


def _wrap_filter(name: str, func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)
    if name in _CUSTOM_FILTERS:
        pass_arg = _PassArg.context
    pre = _PRE_CHECKS.get(name)
    stringify = name in _STRINGIFYING

    @pass_context
    def guarded_filter(context, value, *args, **kwargs):
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        if stringify and not _is_plain(value) and not isinstance(value, (str, Undefined)):
            _weight(st, value)
        if pre is not None:
            pre(st, value, args, kwargs)
        if pass_arg is None:
            result = func(value, *args, **kwargs)
        elif pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        else:
            result = func(context.environment, value, *args, **kwargs)
        return _post(st, result)

    guarded_filter.__name__ = f"filter_{name}"
    return guarded_filter


def _wrap_test(name: str, func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded_test(context, value, *args, **kwargs):
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        if pass_arg is None:
            return func(value, *args, **kwargs)
        if pass_arg is _PassArg.context:
            return func(context, value, *args, **kwargs)
        if pass_arg is _PassArg.eval_context:
            return func(context.eval_ctx, value, *args, **kwargs)
        return func(context.environment, value, *args, **kwargs)

    guarded_test.__name__ = f"test_{name}"
    return guarded_test


@pass_context
def _finalize(context: Any, value: Any) -> Any:
    """Every ``{{ ... }}`` output goes through here: counted, containers measured."""
    st = _STATE.get()
    if st is None:
        raise SecurityError("template code may only run inside promptledger.rendering.render()")
    t = type(value)
    if t is str:
        n = len(value)
    elif t is int or t is float or t is bool or value is None:
        return value
    else:
        value = _stringify(st, value)
        if not isinstance(value, str):
            return value  # Undefined (str() raises) or a plain scalar
        n = len(value)
    st.work += n
    if st.work > st.budget:
        raise _over_budget(st)
    return value


# --------------------------------------------------------------------------- compiler


_UNSAFE_NAMES = frozenset(
    "mro gi_frame gi_code gi_yieldfrom cr_frame cr_code cr_await ag_frame ag_code "
    "ag_await f_globals f_locals f_builtins f_back f_code tb_frame tb_next func_globals "
    "func_code im_func im_self".split()
)
_MANGLED = re.compile(r"^_[A-Za-z0-9]+__")


def _is_unsafe_name(name: Any) -> bool:
    return isinstance(name, str) and (
        name.startswith("__") or name in _UNSAFE_NAMES or bool(_MANGLED.match(name))
    )


def _is_static(node: nodes.Node) -> bool:
    if isinstance(node, (nodes.Const, nodes.TemplateData)):
        return True
    if isinstance(node, (nodes.List, nodes.Tuple)):
        return all(_is_static(x) for x in node.items)
    if isinstance(node, nodes.Dict):
        return all(_is_static(p.key) and _is_static(p.value) for p in node.items)
    if isinstance(node, (nodes.Neg, nodes.Pos)):
        return _is_static(node.node)
    return False


class _PLCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every expensive construct routed through a guard
    and without compile-time evaluation of output expressions."""

    def _output_child_to_const(self, node, frame, finalize):
        if isinstance(node, nodes.TemplateData):
            return super()._output_child_to_const(node, frame, finalize)
        raise nodes.Impossible()

    def visit_Call(self, node, frame, forward_caller=False):
        target = node.node
        if isinstance(target, nodes.EnvironmentAttribute) and target.name.startswith("pl_"):
            self.write(f"environment.{target.name}(")
            for index, arg in enumerate(node.args):
                if index:
                    self.write(", ")
                self.visit(arg, frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node, frame):
        self.write("environment.pl_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _visit_cmp_operand(self, expr, frame):
        if _is_static(expr):
            self.visit(expr, frame)
        else:
            self.write("environment.pl_cmp(")
            self.visit(expr, frame)
            self.write(")")

    def visit_Compare(self, node, frame):
        self.write("(")
        self._visit_cmp_operand(node.expr, frame)
        for op in node.ops:
            self.visit(op, frame)
        self.write(")")

    def visit_Operand(self, node, frame):
        self.write(f" {_CMP_OPERATORS[node.op]} ")
        self._visit_cmp_operand(node.expr, frame)

    def visit_Getitem(self, node, frame):
        if isinstance(node.arg, nodes.Slice):
            self.write("environment.pl_slice(")
            self.visit(node.node, frame)
            for part in (node.arg.start, node.arg.stop, node.arg.step):
                self.write(", ")
                if part is None:
                    self.write("None")
                else:
                    self.visit(part, frame)
            self.write(")")
        else:
            super().visit_Getitem(node, frame)

    def _guard_literal(self, node, frame, visit):
        if getattr(node, "ctx", "load") == "load" and not _is_static(node):
            self.write("environment.pl_container(")
            visit(node, frame)
            self.write(")")
        else:
            visit(node, frame)

    def visit_List(self, node, frame):
        self._guard_literal(node, frame, super().visit_List)

    def visit_Tuple(self, node, frame):
        self._guard_literal(node, frame, super().visit_Tuple)

    def visit_Dict(self, node, frame):
        self._guard_literal(node, frame, super().visit_Dict)


class _Tracker(_PLCodeGenerator):
    """Finds the names a template reads from its context (like jinja2.meta), using the
    non-folding code generator."""

    def __init__(self, environment):
        CodeGenerator.__init__(
            self, environment, "<introspection>", "<introspection>", optimized=False
        )
        self.undeclared: set[str] = set()

    def write(self, x):
        pass

    def enter_frame(self, frame):
        super().enter_frame(frame)
        for _, (action, param) in frame.symbols.loads.items():
            if action == "resolve" and param not in self.environment.globals:
                self.undeclared.add(param)


_FORBIDDEN_TAGS = (
    (nodes.Extends, "{% extends %}"),
    (nodes.Include, "{% include %}"),
    (nodes.Import, "{% import %}"),
    (nodes.FromImport, "{% from ... import %}"),
    (nodes.EvalContextModifier, "{% autoescape %}"),
)


class _TooDeep(Exception):
    def __init__(self, lineno):
        super().__init__(lineno)
        self.lineno = lineno


class _StaticViolation(Exception):
    """A sandbox escape visible in the template source itself."""

    def __init__(self, attr: str, lineno: int | None):
        super().__init__(attr, lineno)
        self.attr = attr
        self.lineno = lineno


def _loop_literal_weight(loop: nodes.For) -> int:
    """Characters of literal template text a loop emits per iteration (nested loops
    count their own)."""
    total = 0
    stack = list(loop.body) + list(loop.else_)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.For):
            continue
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        stack.extend(node.iter_child_nodes())
    return total


_REMOVED_FILTERS = {
    "random": "its output is random and prompts must be reproducible",
    "pprint": "use tojson(indent=2) instead",
    "urlize": "prompts are plain text, not HTML",
    "xmlattr": "prompts are plain text, not HTML",
}


def _unknown(kind: str, name: str, known: Any) -> str:
    if kind == "filter" and name in _REMOVED_FILTERS:
        return f"The filter {name!r} is not available: {_REMOVED_FILTERS[name]}"
    return f"No {kind} named {name!r}. Available {kind}s: {', '.join(sorted(known))}"


def _prepare_ast(env, ast: nodes.Template) -> tuple[int, set[str]]:
    """Refuses unsupported tags and static sandbox escapes, bounds nesting, wraps every
    for-loop iterable in a guard. Returns (max loop literal weight, names guarded by
    ``default``/``is defined``)."""
    guarded: set[str] = set()
    max_weight = 0
    stack: list = [(ast, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_AST_DEPTH:
            raise _TooDeep(getattr(node, "lineno", None))
        for cls, label in _FORBIDDEN_TAGS:
            if isinstance(node, cls):
                raise TemplateSyntaxError(
                    f"{label} is not supported: a prompt template must be self-contained "
                    "plain text.",
                    node.lineno,
                )
        if isinstance(node, nodes.Getattr) and _is_unsafe_name(node.attr):
            raise _StaticViolation(node.attr, node.lineno)
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and _is_unsafe_name(node.arg.value)
        ):
            raise _StaticViolation(node.arg.value, node.lineno)
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            raise TemplateSyntaxError(_unknown("filter", node.name, env.filters), node.lineno)
        if isinstance(node, nodes.Test) and node.name not in env.tests:
            raise TemplateSyntaxError(_unknown("test", node.name, env.tests), node.lineno)
        if isinstance(node, nodes.Filter):
            if (
                node.name == "attr"
                and node.args
                and isinstance(node.args[0], nodes.Const)
                and _is_unsafe_name(node.args[0].value)
            ):
                raise _StaticViolation(node.args[0].value, node.lineno)
            if node.name in ("default", "d") and isinstance(node.node, nodes.Name):
                guarded.add(node.node.name)
        elif isinstance(node, nodes.Test):
            if node.name in ("defined", "undefined") and isinstance(node.node, nodes.Name):
                guarded.add(node.node.name)
        elif isinstance(node, nodes.For):
            weight = _loop_literal_weight(node)
            max_weight = max(max_weight, weight)
            call = nodes.Call(
                nodes.EnvironmentAttribute("pl_iter"),
                [node.iter, nodes.Const(weight)],
                [],
                None,
                None,
            )
            call.set_lineno(node.iter.lineno or node.lineno)
            call.set_environment(env)
            node.iter = call
        for child in node.iter_child_nodes():
            stack.append((child, depth + 1))
    return max_weight, guarded


# --------------------------------------------------------------------------- environment


class _PLTemplate(_JinjaTemplate):
    """Compiled prompt template. ``render(**variables)`` renders under the default
    limits; everything else (generate, stream, modules) is refused because the guards
    need the per-render state that only :func:`render` sets up."""

    _pl_undeclared: frozenset = frozenset()
    _pl_required: tuple = ()
    _pl_loop_weight: int = 0

    def render(self, *args: Any, **kwargs: Any) -> str:
        variables = dict(*args, **kwargs)
        return _render_template(self, variables, DEFAULT_LIMITS, "template")

    def _refuse(self, *args: Any, **kwargs: Any):
        raise RenderError(
            "Prompt templates can only be rendered whole, with promptledger.rendering.render().",
            code="render_failed",
        )

    generate = stream = make_module = render_async = generate_async = _refuse
    make_module_async = _refuse


class _PLEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _PLCodeGenerator
    template_class = _PLTemplate
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            optimized=False,
            finalize=_finalize,
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        self.globals.update(
            {
                "range": _SafeGlobal("range", _g_range),
                "dict": _SafeGlobal("dict", _g_dict),
                "namespace": _SafeGlobal("namespace", _g_namespace),
                "cycler": _SafeGlobal("cycler", _g_cycler),
                "joiner": _SafeGlobal("joiner", _g_joiner),
                "lipsum": _SafeGlobal("lipsum", _g_lipsum),
            }
        )
        self.filters = {
            name: _wrap_filter(name, _CUSTOM_FILTERS.get(name, _JINJA_FILTERS[name]))
            for name in _ALLOWED_FILTERS
        }
        self.tests = {name: _wrap_test(name, func) for name, func in _JINJA_TESTS.items()}

    def _parse(self, source: str, name: Any, filename: Any) -> nodes.Template:
        """Every template this environment compiles goes through _prepare_ast()."""
        ast = super()._parse(source, name, filename)
        ast.pl_info = _prepare_ast(self, ast)
        return ast

    # -- attribute access
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr[:1] == "_" or attr in _UNSAFE_NAMES:
            return False
        if isinstance(
            obj, (_SafeGlobal, _FormatMethod, types.FunctionType, types.ModuleType, type)
        ):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Jinja's sandboxed ``obj.attribute`` (attribute first, then item), with fast
        paths that give the same results: plain dicts (whose attributes are exactly
        dir(dict)) and loop objects (whose public attributes are all safe)."""
        t = type(obj)
        if t is dict and attribute not in _DICT_ATTRS:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if t is LoopContext and attribute[:1] != "_":
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    def wrap_str_format(self, value: Any) -> Any:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            return None
        name = value.__name__
        if name not in ("format", "format_map"):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        return _FormatMethod(self, owner, name == "format_map")

    # -- operators
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        if operator == "*":
            return _mul(st, left, right)
        if operator == "+":
            return _add(st, left, right)
        if operator == "**":
            return _pow(st, left, right)
        if operator == "%":
            return _mod(st, left, right)
        return self.binop_table[operator](left, right)

    # -- calls
    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        t = type(obj)
        if t is _BUILTIN_METHOD:
            owner = obj.__self__
            rule = _method_rule(owner, obj.__name__)
            if rule is None:
                raise SecurityError(
                    f"calling {type(owner).__name__}.{obj.__name__}() is not allowed in templates"
                )
            return rule(st, owner, obj, args, kwargs)
        if t is types.MethodType:
            owner = obj.__self__
            name = obj.__func__.__name__
            if isinstance(owner, str):
                rule = _STR_METHODS.get(name)
                if rule is not None:
                    return rule(st, owner, obj, args, kwargs)
            elif isinstance(owner, LoopContext) and name in ("cycle", "changed"):
                return obj(*args, **kwargs)
            elif isinstance(owner, Cycler) and name in ("next", "reset"):
                return obj(*args, **kwargs)
            raise SecurityError(
                f"calling {type(owner).__name__}.{name}() is not allowed in templates"
            )
        if t is _SafeGlobal:
            return obj._fn(*args, **kwargs)
        if t is _FormatMethod:
            return obj._call(st, args, kwargs)
        if t is Joiner:
            return obj()
        if isinstance(obj, Undefined):
            return context.call(obj, *args, **kwargs)  # raises the UndefinedError
        if isinstance(obj, (Macro, LoopContext, BlockReference)):
            if isinstance(obj, Macro) and (obj.catch_varargs or obj.catch_kwargs):
                if not all(_is_plain(a) for a in args):
                    _weight(st, args)
                if kwargs:
                    _weight(st, kwargs)
            if isinstance(obj, LoopContext) and args:
                args = (_guard_iter(st, args[0], st.loop_weight),) + args[1:]
            st.depth += 1
            try:
                if st.depth > st.max_depth:
                    raise _limit(
                        f"Macros, blocks or recursive loops are nested more than "
                        f"{st.max_depth} calls deep.",
                        "max_recursion_depth",
                        st.max_depth,
                    )
                result = context.call(obj, *args, **kwargs)
            finally:
                st.depth -= 1
            return _post(st, result)
        raise _not_callable(obj)

    # -- hooks used by the generated code (see _PLCodeGenerator)
    def pl_iter(self, iterable: Any, weight: int) -> Any:
        return _guard_iter(_state(), iterable, weight)

    def pl_concat(self, parts: tuple) -> str:
        st = _state()
        texts = []
        total = 0
        for part in parts:
            text = part if type(part) is str else str(_stringify(st, part))
            total += len(text)
            texts.append(text)
        if total > st.cap:
            raise _too_big(st, "A '~' concatenation")
        _count(st, total)
        return "".join(texts)

    def pl_cmp(self, value: Any) -> Any:
        t = type(value)
        if (
            (t is str and len(value) < _BIG_COMPARE)
            or t is int
            or t is bool
            or t is float
            or value is None
        ):
            return value
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        return value

    def pl_slice(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        return _post(st, obj[start:stop:step])

    def pl_container(self, value: Any) -> Any:
        st = _state()
        if _mono() > st.deadline:
            raise _timeout(st)
        _weight(st, value)
        _count(st, len(value))
        return value


_ENV = _PLEnvironment()


# --------------------------------------------------------------------------- compiling

_CACHE: OrderedDict[str, _PLTemplate] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX_ENTRIES = 1024
_CACHE_MAX_CHARS = 32_000_000
_cache_chars = 0

_QUOTED = re.compile(r"'([^']+)'")


def _where_text(where: str) -> str:
    return "" if where == "template" else f" in {where}"


def _guess_column(exc: TemplateSyntaxError, source: str, line: int) -> int | None:
    """Best effort: Jinja reports lines only. Use the lexer's absolute position when the
    message has one, else find the offending token on the reported line."""
    message = exc.message or ""
    lines = source.splitlines()
    match = re.search(r" at (\d+)$", message)
    if match:
        pos = int(match.group(1))
        if 0 <= pos <= len(source):
            return pos - (source.rfind("\n", 0, pos) + 1) + 1
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    if "end of template" in message and line == len(lines):
        return len(text) + 1
    candidates = []
    for marker in ("got '", "unexpected '", "tag '", "named '", "'"):
        index = message.find(marker)
        if index != -1:
            found = _QUOTED.match(message, index + len(marker) - 1)
            if found:
                candidates.append(found.group(1))
    for token in candidates:
        if token in ("end of print statement", "end of statement block", "end of template"):
            continue
        col = text.find(token)
        if col != -1:
            return col + 1
    return None


def _syntax_problem(exc: TemplateSyntaxError, source: str, where: str) -> TemplateSyntaxProblem:
    line = exc.lineno or 1
    if "end of template" in (exc.message or ""):
        # Jinja reports the line of the last token; the problem is at the very end
        line = max(line, source.count("\n") + (0 if source.endswith("\n") else 1))
    column = _guess_column(exc, source, line)
    position = f"line {line}" + (f", column {column}" if column else "")
    message = (exc.message or "invalid syntax").rstrip(".")
    return TemplateSyntaxProblem(
        f"Template syntax error{_where_text(where)} at {position}: {message}.",
        details={"line": line, "column": column, "where": where},
    )


def _compile_uncached(source: str, where: str) -> _PLTemplate:
    try:
        ast = _ENV.parse(source)
        loop_weight, guarded = ast.pl_info
        tracker = _Tracker(_ENV)
        tracker.visit(ast)
        template = _ENV.from_string(ast)
    except TemplateSyntaxError as exc:
        raise _syntax_problem(exc, source, where) from None
    except _StaticViolation as exc:
        details: dict = {"where": where, "attribute": exc.attr}
        if exc.lineno:
            details["line"] = exc.lineno
        at = f" at line {exc.lineno}" if exc.lineno else ""
        raise SandboxViolation(
            f"The template{_where_text(where)}{at} tries to reach a Python internal "
            f"({exc.attr!r}); templates may only use variables, filters and the documented "
            "globals.",
            details=details,
        ) from None
    except (_TooDeep, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        raise _limit(
            f"The template{_where_text(where)} is nested too deeply"
            + (f" (line {line})" if line else "")
            + "; flatten it.",
            "max_template_nesting",
        ) from None
    except SyntaxError as exc:  # Python's compiler: e.g. too many statically nested blocks
        raise _limit(
            f"The template{_where_text(where)} is too complex to compile ({exc.msg}); "
            "reduce the nesting of loops and blocks.",
            "max_template_nesting",
        ) from None
    except RenderError:
        raise
    except Exception as exc:
        raise TemplateSyntaxProblem(
            f"Template syntax error{_where_text(where)}: {exc}.",
            details={"line": None, "column": None, "where": where},
        ) from None
    names = frozenset(tracker.undeclared) - RESERVED_VARIABLES
    template._pl_undeclared = names
    template._pl_required = tuple(sorted(names - guarded))
    template._pl_loop_weight = loop_weight
    return template


def _compile(source: str, where: str, limits: RenderLimits) -> _PLTemplate:
    global _cache_chars
    if not isinstance(source, str):
        raise RenderError(
            f"The template{_where_text(where)} must be a string.",
            code="invalid_body",
            details={"where": where},
        )
    with _CACHE_LOCK:
        template = _CACHE.get(source)
        if template is not None:
            _CACHE.move_to_end(source)
            return template
    if len(source) > limits.max_template_chars:
        raise _template_too_big(len(source), limits, where)
    template = _compile_uncached(source, where)
    with _CACHE_LOCK:
        if source not in _CACHE:
            _CACHE[source] = template
            _cache_chars += len(source)
            while len(_CACHE) > _CACHE_MAX_ENTRIES or _cache_chars > _CACHE_MAX_CHARS:
                old, _ = _CACHE.popitem(last=False)
                _cache_chars -= len(old)
    return template


def _template_too_big(size: int, limits: RenderLimits, where: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(
        f"The template{_where_text(where)} has {size} characters; the limit is "
        f"{limits.max_template_chars}.",
        details={"limit": "max_template_chars", "value": limits.max_template_chars, "where": where},
    )


def compile_template(source: str, *, limits: RenderLimits = DEFAULT_LIMITS) -> _PLTemplate:
    """Compile (or fetch from the cache) one template string.

    The cache is content-addressed: keyed by the source text itself, which is
    equivalent to keying by its sha256 but costs nothing per render for a template
    already seen. Bounded (1024 entries, 32M source characters), LRU, thread-safe.
    Raises TemplateSyntaxProblem, RenderLimitExceeded or SandboxViolation."""
    if isinstance(source, str) and len(source) > limits.max_template_chars:
        raise _template_too_big(len(source), limits, "template")
    return _compile(source, "template", limits)


# --------------------------------------------------------------------------- body shapes


def _message_where(index: int) -> str:
    return f"messages[{index}].content"


def _body_templates(kind: str, body: Any, limits: RenderLimits) -> list[tuple[str, str]]:
    """[(source, where)] for a valid body, or a RenderError(invalid_kind/invalid_body)."""
    if kind == KIND_TEXT:
        if not isinstance(body, str):
            raise RenderError(
                "A text prompt's body must be a template string.",
                code="invalid_body",
                details={"where": "template"},
            )
        if len(body) > limits.max_template_chars:
            raise _template_too_big(len(body), limits, "template")
        return [(body, "template")]
    if kind == KIND_CHAT:
        if not isinstance(body, list) or not body:
            raise RenderError(
                "A chat prompt's body must be a non-empty list of {role, content} messages.",
                code="invalid_body",
                details={"where": "messages"},
            )
        out = []
        total = 0
        for index, message in enumerate(body):
            where = f"messages[{index}]"
            if not isinstance(message, dict):
                raise RenderError(
                    f"{where} must be an object with 'role' and 'content'.",
                    code="invalid_body",
                    details={"where": where},
                )
            extra = sorted(set(message) - {"role", "content"}, key=str)
            if extra:
                raise RenderError(
                    f"{where} has unsupported keys: {', '.join(map(str, extra))}; "
                    "a message has only 'role' and 'content'.",
                    code="invalid_body",
                    details={"where": where},
                )
            role = message.get("role")
            if role not in CHAT_ROLES:
                raise RenderError(
                    f"{where}.role must be one of {', '.join(CHAT_ROLES)}.",
                    code="invalid_body",
                    details={"where": f"{where}.role"},
                )
            content = message.get("content")
            if not isinstance(content, str):
                raise RenderError(
                    f"{where}.content must be a template string.",
                    code="invalid_body",
                    details={"where": f"{where}.content"},
                )
            total += len(content)
            if total > limits.max_template_chars:
                raise _template_too_big(total, limits, _message_where(index))
            out.append((content, _message_where(index)))
        return out
    raise RenderError(
        f"Unknown prompt kind {kind!r}; use 'text' or 'chat'.",
        code="invalid_kind",
        details={"where": "kind"},
    )


def content_hash(kind: str, body: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``{"kind": kind, "body": body}``."""
    try:
        payload = json.dumps(
            {"kind": kind, "body": body},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise RenderError(
            f"The prompt body cannot be hashed: {exc}.", code="invalid_body"
        ) from None
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def validate_template(kind: str, body: Any, *, limits: RenderLimits = DEFAULT_LIMITS) -> None:
    """Check the body's shape and compile the template (or every message's content).
    Raises RenderError(invalid_kind/invalid_body), TemplateSyntaxProblem,
    RenderLimitExceeded or SandboxViolation, with ``details["where"]`` naming the part."""
    for source, where in _body_templates(kind, body, limits):
        _compile(source, where, limits)


def infer_variables(kind: str, body: Any) -> list[str]:
    """Names the template reads from its variables (sorted; ``examples`` excluded, it
    is provided by the renderer). Raises like :func:`validate_template`."""
    names: set[str] = set()
    for source, where in _body_templates(kind, body, DEFAULT_LIMITS):
        names |= _compile(source, where, DEFAULT_LIMITS)._pl_undeclared
    return sorted(names)


def infer_schema(kind: str, body: Any) -> dict:
    """A JSON Schema for the variables, inferred from the template.

    Every variable gets ``{}`` (any JSON value): a template cannot tell a string from a
    number (``{{ order_total }}`` prints both), and guessing "string" would reject valid
    renders; authors tighten the schema by hand. ``required`` lists the variables the
    template cannot render without: all of them except those only ever used through
    ``|default``/``|d`` or tested with ``is defined``/``is undefined``.
    """
    names: set[str] = set()
    required: set[str] = set()
    for source, where in _body_templates(kind, body, DEFAULT_LIMITS):
        template = _compile(source, where, DEFAULT_LIMITS)
        names |= template._pl_undeclared
        required.update(template._pl_required)
    return {
        "type": "object",
        "properties": {name: {} for name in sorted(names)},
        "required": sorted(required),
    }


# --------------------------------------------------------------------------- variables


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "boolean":
        return isinstance(value, bool)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "object":
        return isinstance(value, dict)
    if name == "null":
        return value is None
    return True  # unknown type names are ignored


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return a == b
    except Exception:
        return False


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _schema_errors(schema: Any, value: Any, path: str, errors: list, depth: int) -> None:
    if len(errors) >= 50 or depth > 64:
        return
    if schema is False:
        errors.append({"path": path, "message": "is not allowed"})
        return
    if not isinstance(schema, dict):
        return
    where = path or "variables"
    expected = schema.get("type")
    if isinstance(expected, str):
        expected = [expected]
    if isinstance(expected, list) and expected:
        known = [t for t in expected if t in _TYPE_NAMES]
        if known and not any(_is_type(value, t) for t in known):
            errors.append(
                {"path": where, "message": "must be " + " or ".join(_TYPE_NAMES[t] for t in known)}
            )
            return
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(_json_equal(value, option) for option in enum):
        errors.append(
            {"path": where, "message": "must be one of " + ", ".join(_short(o) for o in enum[:20])}
        )
    if "const" in schema and not _json_equal(value, schema["const"]):
        errors.append({"path": where, "message": f"must be {_short(schema['const'])}"})
    try:
        if isinstance(value, str):
            if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
                errors.append(
                    {"path": where, "message": f"must be at least {schema['minLength']} characters"}
                )
            if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
                errors.append(
                    {"path": where, "message": f"must be at most {schema['maxLength']} characters"}
                )
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            for key, fails, text in (
                ("minimum", lambda v, m: v < m, "at least"),
                ("maximum", lambda v, m: v > m, "at most"),
                ("exclusiveMinimum", lambda v, m: v <= m, "greater than"),
                ("exclusiveMaximum", lambda v, m: v >= m, "less than"),
            ):
                bound = schema.get(key)
                if (
                    isinstance(bound, (int, float))
                    and not isinstance(bound, bool)
                    and fails(value, bound)
                ):
                    errors.append({"path": where, "message": f"must be {text} {bound}"})
        elif isinstance(value, (list, tuple)):
            if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
                errors.append(
                    {"path": where, "message": f"must have at least {schema['minItems']} items"}
                )
            if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
                errors.append(
                    {"path": where, "message": f"must have at most {schema['maxItems']} items"}
                )
            items = schema.get("items")
            if isinstance(items, (dict, bool)):
                for index, item in enumerate(value):
                    _schema_errors(items, item, _path(path, index), errors, depth + 1)
            elif isinstance(items, list):
                for index, (item, sub) in enumerate(zip(value, items, strict=False)):
                    _schema_errors(sub, item, _path(path, index), errors, depth + 1)
        elif isinstance(value, dict):
            properties = schema.get("properties")
            properties = properties if isinstance(properties, dict) else {}
            required = schema.get("required")
            if isinstance(required, list):
                for name in required:
                    if isinstance(name, str) and name not in value:
                        errors.append({"path": _path(path, name), "message": "is required"})
            for key, item in value.items():
                if key in properties:
                    _schema_errors(properties[key], item, _path(path, key), errors, depth + 1)
                else:
                    extra = schema.get("additionalProperties", True)
                    if extra is False:
                        errors.append(
                            {"path": _path(path, key), "message": "is not an allowed property"}
                        )
                    elif isinstance(extra, dict):
                        _schema_errors(extra, item, _path(path, key), errors, depth + 1)
    except Exception:  # a malformed schema keyword: ignore it, like unknown keywords
        return


def _missing(names: list[str], where: str | None = None) -> MissingVariables:
    names = sorted(names)
    listed = ", ".join(names)
    noun = "variable" if len(names) == 1 else "variables"
    context = f" for {where}" if where and where != "variables" else ""
    details: dict = {"missing": names, "where": where or "variables"}
    return MissingVariables(
        f"Missing {len(names)} required {noun}{context}: {listed}. Pass a value for each.",
        details=details,
    )


def _invalid(errors: list[dict], where: str = "variables") -> InvalidVariables:
    shown = "; ".join(f"{e['path']} {e['message']}" for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return InvalidVariables(
        f"Invalid variables: {shown}{more}.", details={"errors": errors, "where": where}
    )


def validate_variables(schema: dict, variables: Any) -> None:
    """Validate variable values against a practical JSON-Schema subset: type (string,
    number, integer, boolean, array, object, null, or a list of them; a bool is not a
    number), required, properties (recursive), items, enum, const, minLength, maxLength,
    minimum, maximum, exclusiveMinimum, exclusiveMaximum, minItems, maxItems,
    additionalProperties (false or a schema). Unknown keywords are ignored.

    Raises MissingVariables (every missing top-level required name) or
    InvalidVariables (``details["errors"]`` = [{path, message}])."""
    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    if not isinstance(schema, dict):
        return
    required = schema.get("required")
    if isinstance(required, list):
        missing = [n for n in required if isinstance(n, str) and n not in variables]
        if missing:
            raise _missing(missing)
    errors: list = []
    _schema_errors(schema, variables, "", errors, 0)
    if errors:
        raise _invalid(errors)


def _render_path(ref: Any) -> str:
    keys = []
    while isinstance(ref, tuple):
        ref, key = ref
        keys.append(key)
    path = ref
    for key in reversed(keys):
        path = _path(path, key)
        if len(path) > 80:
            return path[:77] + "..."
    return path


def _plain_size(container: Any) -> int:
    """Size of a dict (str keys) or list whose items are all strings or scalars, or -1."""
    n = 2
    if type(container) is dict:
        for k, x in container.items():
            t = type(x)
            if type(k) is not str:
                return -1
            if t is str:
                n += len(x) + len(k) + 12
            elif t is bool or t is float or x is None or (t is int and -(2**63) < x < 2**63):
                n += len(k) + 12
            else:
                return -1
        return n
    for x in container:
        t = type(x)
        if t is str:
            n += len(x) + 8
        elif t is bool or t is float or x is None or (t is int and -(2**63) < x < 2**63):
            n += 8
        else:
            return -1
    return n


def _scan_values(value: Any, root: str, budget: list, max_nesting: int) -> None:
    """Variables must be JSON values (str, int, float, bool, None, list/tuple, dict with
    str keys), no larger than the budget and no deeper than the nesting limit.
    ``budget`` is [remaining, limit]; paths are only built for error messages."""
    remaining = budget[0]
    stack: list = [(value, root, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        v, ref, depth = pop()
        t = type(v)
        if t is dict or t is list or t is tuple or isinstance(v, (dict, list, tuple)):
            if depth >= max_nesting:
                raise _limit(
                    f"{_render_path(ref) or 'variables'} is nested more than {max_nesting} levels deep.",
                    "max_nesting_depth",
                    max_nesting,
                )
            if isinstance(v, dict):
                remaining -= 2
                items = v.items()
            else:
                remaining -= 2 + len(v)
                items = enumerate(v)
            for k, item in items:
                if t is not list and t is not tuple and not isinstance(k, str):
                    if not isinstance(v, (list, tuple)):
                        raise _invalid(
                            [
                                {
                                    "path": _render_path(ref) or "variables",
                                    "message": f"has a non-string key {k!r}",
                                }
                            ]
                        )
                tt = type(item)
                if tt is str:
                    remaining -= len(item) + 8
                elif (
                    tt is bool
                    or tt is float
                    or item is None
                    or (tt is int and item.bit_length() < 64)
                ):
                    remaining -= 8
                elif (
                    (tt is dict or tt is list)
                    and depth + 1 < max_nesting
                    and (size := _plain_size(item)) >= 0
                ):
                    remaining -= size
                else:
                    push((item, (ref, k), depth + 1))
                if remaining < 0:
                    break
        elif t is str or isinstance(v, str):
            remaining -= len(v) + 2
        elif t is int or t is bool or t is float or v is None or isinstance(v, (int, float)):
            remaining -= 8
            if isinstance(v, int) and v.bit_length() > _MAX_INT_BITS:
                raise _invalid(
                    [
                        {
                            "path": _render_path(ref) or "variables",
                            "message": f"is a number larger than {_MAX_INT_BITS} bits",
                        }
                    ]
                )
        else:
            raise _invalid(
                [
                    {
                        "path": _render_path(ref) or "variables",
                        "message": "must be a JSON value (string, number, boolean, null, array "
                        f"or object), not {type(v).__name__}",
                    }
                ]
            )
        if remaining < 0:
            raise _limit(
                f"The variables (and examples) are larger than the limit of {budget[1]} characters.",
                "max_variables_chars",
                budget[1],
            )
    budget[0] = remaining


def _normalize_examples(examples: Any, budget: list, max_nesting: int) -> list[dict]:
    """Examples as [{input, output}] (extra keys dropped), checked and sized against the
    variables budget."""
    if examples is None:
        return []
    if not isinstance(examples, (list, tuple)):
        raise RenderError(
            "examples must be a list of {input, output} objects.",
            code="invalid_examples",
            details={"where": "examples"},
        )
    normalized = []
    remaining = budget[0] - 2 * len(examples)
    for index, example in enumerate(examples):
        if type(example) is not dict or "input" not in example or "output" not in example:
            raise RenderError(
                f"examples[{index}] must be an object with 'input' and 'output'.",
                code="invalid_examples",
                details={"where": f"examples[{index}]"},
            )
        given, output = example["input"], example["output"]
        if type(output) is not str:
            raise RenderError(
                f"examples[{index}].output must be a string.",
                code="invalid_examples",
                details={"where": f"examples[{index}].output"},
            )
        remaining -= len(output) + 32
        if type(given) is str:
            remaining -= len(given)
        elif isinstance(given, dict):
            size = _plain_size(given) if type(given) is dict else -1
            if size >= 0:
                remaining -= size
            else:
                budget[0] = remaining
                _scan_values(given, f"examples[{index}].input", budget, max_nesting)
                remaining = budget[0]
        else:
            raise RenderError(
                f"examples[{index}].input must be a string (a user message) or an object (variables).",
                code="invalid_examples",
                details={"where": f"examples[{index}].input"},
            )
        if remaining < 0:
            raise _limit(
                f"The variables and examples are larger than the limit of {budget[1]} characters.",
                "max_variables_chars",
                budget[1],
            )
        normalized.append(example if len(example) == 2 else {"input": given, "output": output})
    budget[0] = remaining
    return normalized


# --------------------------------------------------------------------------- rendering

_UNDEFINED_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$")


def _template_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and frame.f_code.co_filename == "<template>":
            try:
                line = template.get_corresponding_lineno(tb.tb_lineno)
            except Exception:
                pass
        tb = tb.tb_next
    return line


def _runtime_error(exc: Exception, where: str) -> RenderError:
    """Any exception raised while rendering, as a RenderError naming where and line."""
    line = _template_line(exc)
    at = f"{_where_text(where)}" + (f" at line {line}" if line else "")
    if isinstance(exc, RenderError):
        exc.details.setdefault("where", where)
        if line and "line" not in exc.details:
            exc.details["line"] = line
        return exc
    details: dict = {"where": where}
    if line:
        details["line"] = line
    if isinstance(exc, SecurityError):
        reason = str(exc.args[0] if exc.args else exc).rstrip(".")
        return SandboxViolation(
            f"The template{at} tried something unsafe: {reason}; "
            "templates may only use variables, filters and the documented globals.",
            details=details,
        )
    if isinstance(exc, UndefinedError):
        match = _UNDEFINED_NAME.match(str(exc))
        if match:
            return MissingVariables(
                f"Missing 1 required variable: {match.group(1)}{at}. Pass a value for it.",
                details={**details, "missing": [match.group(1)]},
            )
        return RenderError(f"Rendering failed{at}: {exc}.", code="render_failed", details=details)
    if isinstance(exc, RecursionError):
        return RenderLimitExceeded(
            f"The template{at} recurses too deeply (macros, recursive loops or deeply nested values).",
            details={**details, "limit": "max_recursion_depth"},
        )
    if isinstance(exc, MemoryError):
        return RenderLimitExceeded(
            f"The template{at} needs too much memory.", details={**details, "limit": "memory"}
        )
    if isinstance(exc, ValueError) and "Exceeds the limit" in str(exc):
        return RenderLimitExceeded(
            f"The template{at} produced a number too large to print.",
            details={**details, "limit": "max_int_digits"},
        )
    text = str(exc) or type(exc).__name__
    return RenderError(
        f"Rendering failed{at}: {type(exc).__name__}: {text}.",
        code="render_failed",
        details=details,
    )


def _context_vars(variables: dict, examples: Any) -> dict:
    """The render context: the globals, then the variables, then ``examples``."""
    context_vars = _ENV.globals.copy()
    context_vars.update(variables)
    context_vars["examples"] = examples
    return context_vars


def _execute(template: _PLTemplate, context_vars: dict, st: _State, where: str) -> str:
    """Run a compiled template; ``context_vars`` comes from _context_vars()."""
    st.loop_weight = template._pl_loop_weight
    try:
        return "".join(template.root_render_func(template.new_context(context_vars, shared=True)))
    except Exception as exc:
        raise _runtime_error(exc, where) from exc


def _check_output(total: int, limits: RenderLimits) -> None:
    if total > limits.max_output_chars:
        raise RenderLimitExceeded(
            f"The rendered prompt has more than {limits.max_output_chars} characters.",
            details={"limit": "max_output_chars", "value": limits.max_output_chars},
        )


def _render_template(
    template: _PLTemplate, variables: Any, limits: RenderLimits, where: str
) -> str:
    """Render one compiled template (used by _PLTemplate.render)."""
    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    _scan_values(
        variables,
        "",
        [limits.max_variables_chars, limits.max_variables_chars],
        limits.max_nesting_depth,
    )
    missing = [n for n in template._pl_required if n not in variables]
    if missing:
        raise _missing(missing)
    context_vars = _context_vars(variables, variables.get("examples", []))
    st = _State(limits)
    token = _STATE.set(st)
    try:
        out = _execute(template, context_vars, st, where)
    finally:
        _STATE.reset(token)
    _check_output(len(out), limits)
    return out


def render(
    kind: str,
    body: Any,
    variables: dict,
    *,
    examples: list[dict] | None = None,
    schema: dict | None = None,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> str | list[dict]:
    """Render a prompt.

    ``kind`` "text": ``body`` is a template string; returns the text. ``examples`` are
    visible as the ``examples`` variable (a list of {input, output}).

    ``kind`` "chat": ``body`` is a list of {role, content} with content templates;
    returns a list of {role, content}. Examples become user/assistant message pairs
    after the leading system message(s): the user message is the example's input when
    it is a string, or the chat's first user template rendered with the input's
    variables when it is an object (its JSON when the chat has no user message).

    Order of checks: body shape and template size, compilation (cached), variable
    values (JSON types, size, nesting), ``schema`` (when given), then every variable
    the templates need (all missing ones are listed at once), then the render itself
    under ``limits``. Every failure is a RenderError subclass; nothing else escapes.
    """
    try:
        return _render(kind, body, variables, examples, schema, limits)
    except RenderError:
        raise
    except RecursionError:
        raise _limit("The prompt is nested too deeply to render.", "max_recursion_depth") from None
    except MemoryError:
        raise _limit("The prompt needs too much memory to render.", "memory") from None
    except Exception as exc:  # never a 500: anything unforeseen is still a RenderError
        raise RenderError(
            f"Rendering failed: {type(exc).__name__}: {exc}.", code="render_failed"
        ) from exc


def _render(kind, body, variables, examples, schema, limits):
    if not isinstance(limits, RenderLimits):
        raise RenderError("limits must be a RenderLimits instance.", code="render_failed")
    sources = _body_templates(kind, body, limits)
    templates = [_compile(source, where, limits) for source, where in sources]

    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    budget = [limits.max_variables_chars, limits.max_variables_chars]
    _scan_values(variables, "", budget, limits.max_nesting_depth)
    normalized = _normalize_examples(examples, budget, limits.max_nesting_depth)
    if schema is not None:
        validate_variables(schema, variables)

    missing = set()
    for template in templates:
        for name in template._pl_required:
            if name not in variables:
                missing.add(name)
    if missing:
        raise _missing(sorted(missing))

    given_examples = normalized if examples is not None else variables.get("examples", normalized)
    context_vars = _context_vars(variables, given_examples)

    st = _State(limits)
    token = _STATE.set(st)
    try:
        if kind == KIND_TEXT:
            out = _execute(templates[0], context_vars, st, "template")
            _check_output(len(out), limits)
            return out
        return _render_chat(body, templates, context_vars, normalized, st, limits)
    finally:
        _STATE.reset(token)


def _render_chat(body, templates, context_vars, examples, st, limits):
    lead = 0
    while lead < len(body) and body[lead]["role"] == "system":
        lead += 1
    first_user = next((i for i, m in enumerate(body) if m["role"] == "user"), None)

    # every example's variables must satisfy the user template: check all up front
    if first_user is not None:
        needed = templates[first_user]._pl_required
        for index, example in enumerate(examples):
            given = example["input"]
            if isinstance(given, dict):
                absent = [n for n in needed if n not in given]
                if absent:
                    raise _missing(absent, f"examples[{index}].input")

    messages: list[dict] = []
    total = 0

    def add(role: str, content: str) -> None:
        nonlocal total
        total += len(content)
        _check_output(total, limits)
        messages.append({"role": role, "content": content})

    for index in range(lead):
        add(
            body[index]["role"], _execute(templates[index], context_vars, st, _message_where(index))
        )
    for index, example in enumerate(examples):
        given = example["input"]
        if isinstance(given, str):
            user = given
        elif first_user is not None:
            example_vars = _context_vars(given, context_vars["examples"])
            user = _execute(templates[first_user], example_vars, st, f"examples[{index}].input")
        else:
            user = json.dumps(given, ensure_ascii=False, sort_keys=True)
        add("user", user)
        add("assistant", example["output"])
    for index in range(lead, len(body)):
        add(
            body[index]["role"], _execute(templates[index], context_vars, st, _message_where(index))
        )
    return messages
