"""Sandbox guards: the per-render state and every guarded operation, filter, test
and global a template may reach at run time."""

from __future__ import annotations

import contextvars
import functools
import json
import re
import time
import types
from typing import Any

from jinja2.exceptions import (
    FilterArgumentError,
    SecurityError,
)
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace, _PassArg, pass_context
from markupsafe import EscapeFormatter, Markup

from .errors import (
    _MAX_INT_BITS,
    _WORK_FACTOR,
    RenderLimitExceeded,
    RenderLimits,
    TemplateRaised,
    UnprintableValue,
)

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


def _weight(st: _State, obj: Any, limit: int | None = None, data_only: bool = False) -> int:
    """Upper-bound-ish size of ``str(obj)``, counting shared sub-structures every time
    they appear (so ``[x, x]`` weighs twice ``x``). Raises past ``limit`` (default: the
    value cap) or past the nesting limit. Iterative; checks the deadline as it goes.

    ``data_only``: ``obj`` is about to become text, so anything in it that is not data
    (a function, generator, loop or template object, an undefined value) raises."""
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
            elif data_only:
                raise _not_data(o)
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


_FUNCTIONS = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    functools.partial,
)


def _describe(obj: Any) -> tuple[str, str]:
    """(what ``obj`` is, what to do instead), in a template author's words."""
    from jinja2.runtime import BlockReference, LoopContext, Macro, TemplateReference

    if isinstance(obj, Macro):
        return f"the macro {obj.name!r}", f"call it: {obj.name}()"
    if isinstance(obj, _SafeGlobal):
        return f"the function {obj._name!r}", f"call it: {obj._name}(...)"
    if isinstance(obj, _FUNCTIONS) or type(obj).__name__ == "_FormatMethod":
        name = getattr(obj, "__name__", "")
        return (f"the method {name!r}" if name else "a function"), "call it with ()"
    if isinstance(obj, LoopContext):
        return "the loop object", "print one of its attributes, such as loop.index"
    if isinstance(obj, (TemplateReference, BlockReference)):
        return "a template reference", "call a block instead, such as self.name()"
    if isinstance(obj, (range, types.GeneratorType)) or type(obj).__name__ in (
        "map",
        "filter",
        "zip",
        "reversed",
        "list_reverseiterator",
        "async_generator",
    ):
        return "a lazy sequence (such as the result of map, select or range)", (
            "turn it into a list with |list, or into text with |join"
        )
    if isinstance(obj, _DICT_VIEWS):
        return "a dict view", "turn it into a list with |list"
    if isinstance(obj, Namespace):
        return "a namespace", "print one of its attributes"
    if isinstance(obj, Cycler):
        return "a cycler", "print cycler.current, or call cycler.next()"
    if isinstance(obj, Joiner):
        return "a joiner", "call it: name()"
    return f"a {type(obj).__name__} object", "print text, numbers, lists or objects of data"


def _not_data(obj: Any) -> Exception:
    if isinstance(obj, Undefined):
        try:
            obj._fail_with_undefined_error()
        except Exception as exc:  # UndefinedError: the missing variable's own message
            return exc
    kind, hint = _describe(obj)
    return UnprintableValue(
        f"The template prints {kind}, which is not data; {hint}.",
        details={"kind": kind, "hint": hint},
    )


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
    _weight(st, value, data_only=True)
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
        return _weight(st, value, data_only=True)
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
            _weight(self._st, value, data_only=True)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        st = self._st
        for run in _DIGIT_RUN.findall(format_spec):
            if len(run) > 9 or int(run) > st.cap:
                raise _too_big(st, "A format() field width or precision")
        if not _is_plain(value) and not isinstance(value, (str, Undefined)):
            _weight(st, value, data_only=True)
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


def _g_raise_exception(message: Any = "") -> None:
    """``raise_exception(message)``, as chat templates call it: stops the render with the
    author's message (text, at most 1,000 characters)."""
    text = message if isinstance(message, str) else str(_stringify(_state(), message))
    raise TemplateRaised(text[:1000] or "The template raised an error.")


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
        total += (len(item) if isinstance(item, str) else _weight(st, item, data_only=True)) + sep
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
            _weight(st, value, data_only=True)
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
def _finalize(context: Any, value: Any, expression: str | None = None) -> Any:
    """Every ``{{ ... }}`` output goes through here: counted, containers measured, and
    only data printed (``expression`` is the source text, to name it in an error)."""
    st = _STATE.get()
    if st is None:
        raise SecurityError("template code may only run inside promptledger.rendering.render()")
    t = type(value)
    if t is str:
        n = len(value)
    elif t is int or t is float or t is bool or value is None:
        return value
    else:
        try:
            value = _stringify(st, value)
        except UnprintableValue as exc:
            if expression:
                exc.details["expression"] = expression
            raise
        if not isinstance(value, str):
            return value  # Undefined (str() raises) or a plain scalar
        n = len(value)
    st.work += n
    if st.work > st.budget:
        raise _over_budget(st)
    return value
