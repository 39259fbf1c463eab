"""The compiler and environment: a non-folding code generator, the AST checks, the
sandboxed environment and the content-addressed template cache."""

from __future__ import annotations

import re
import threading
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.compiler import operators as _CMP_OPERATORS
from jinja2.environment import Template as _JinjaTemplate
from jinja2.exceptions import (
    SecurityError,
    TemplateAssertionError,
    TemplateSyntaxError,
)
from jinja2.filters import FILTERS as _JINJA_FILTERS
from jinja2.runtime import (
    BlockReference,
    LoopContext,
    Macro,
    StrictUndefined,
    Undefined,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as _JINJA_TESTS
from jinja2.utils import Cycler, Joiner

from .errors import (
    _BIG_COMPARE,
    _MAX_AST_DEPTH,
    DEFAULT_LIMITS,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    SandboxViolation,
    TemplateSyntaxProblem,
)
from .guards import (
    _ALLOWED_FILTERS,
    _BUILTIN_METHOD,
    _CUSTOM_FILTERS,
    _DICT_ATTRS,
    _STR_METHODS,
    _add,
    _count,
    _finalize,
    _FormatMethod,
    _g_cycler,
    _g_dict,
    _g_joiner,
    _g_lipsum,
    _g_namespace,
    _g_raise_exception,
    _g_range,
    _guard_iter,
    _is_plain,
    _limit,
    _method_rule,
    _mod,
    _mono,
    _mul,
    _not_callable,
    _post,
    _pow,
    _SafeGlobal,
    _state,
    _stringify,
    _timeout,
    _too_big,
    _weight,
    _wrap_filter,
    _wrap_test,
)
from .variables import analyze_variables

# Variables the renderer provides itself: a caller's variable of the same name is
# refused (never silently replaced). The globals below are defaults a caller's variable
# may shadow, as in Jinja.
RESERVED_VARIABLES = frozenset({"examples"})


@dataclass(frozen=True)
class TemplateOptions:
    """Per-version whitespace options, as in Jinja's Environment (both off by default):
    ``trim_blocks`` drops the first newline after a block tag, ``lstrip_blocks`` strips
    spaces and tabs before a block tag on its line."""

    trim_blocks: bool = False
    lstrip_blocks: bool = False

    @classmethod
    def of(cls, value: Any) -> TemplateOptions:
        """None, a TemplateOptions or a dict of the two booleans (unknown keys refused)."""
        if value is None:
            return DEFAULT_OPTIONS
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise RenderError(
                "Template options must be an object with 'trim_blocks' and 'lstrip_blocks'.",
                code="invalid_options",
                details={"where": "options"},
            )
        unknown = sorted(set(value) - {"trim_blocks", "lstrip_blocks"}, key=str)
        if unknown:
            raise RenderError(
                f"Unknown template options: {', '.join(map(str, unknown))}; "
                "the options are 'trim_blocks' and 'lstrip_blocks'.",
                code="invalid_options",
                details={"where": f"options.{unknown[0]}"},
            )
        for key, flag in value.items():
            if not isinstance(flag, bool):
                raise RenderError(
                    f"Template option '{key}' must be true or false.",
                    code="invalid_options",
                    details={"where": f"options.{key}"},
                )
        return cls(**value)

    def as_dict(self) -> dict:
        return {"trim_blocks": self.trim_blocks, "lstrip_blocks": self.lstrip_blocks}


DEFAULT_OPTIONS = TemplateOptions()

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

    def _output_child_post(self, node, frame, finalize):
        # finalize() gets the expression's source text, to name it in an error
        if finalize.src is not None:
            self.write(f", {getattr(node, 'pl_source', None)!r}))")
        else:
            super()._output_child_post(node, frame, finalize)

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
            raise TemplateAssertionError(_unknown("filter", node.name, env.filters), node.lineno)
        if isinstance(node, nodes.Test) and node.name not in env.tests:
            raise TemplateAssertionError(_unknown("test", node.name, env.tests), node.lineno)
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
        from .render import _render_template  # render imports this module

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

    def __init__(self, options: TemplateOptions = DEFAULT_OPTIONS) -> None:
        super().__init__(
            trim_blocks=options.trim_blocks,
            lstrip_blocks=options.lstrip_blocks,
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
                "raise_exception": _SafeGlobal("raise_exception", _g_raise_exception),
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
        _name_print_expressions(self, ast, source)
        ast.pl_info = _prepare_ast(self, ast)
        ast.pl_variables = analyze_variables(ast, frozenset(self.globals) | RESERVED_VARIABLES)
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
_ENVS: dict[TemplateOptions, _PLEnvironment] = {DEFAULT_OPTIONS: _ENV}


def _environment_for(options: TemplateOptions) -> _PLEnvironment:
    env = _ENVS.get(options)
    if env is None:
        env = _ENVS.setdefault(options, _PLEnvironment(options))
    return env


def _name_print_expressions(env: _PLEnvironment, ast: nodes.Template, source: str) -> None:
    """Attach each ``{{ ... }}`` expression's source text to its node (``pl_source``), so
    an error can name the expression. The lexer's tokens, whitespace included, rebuild
    the text; ``{{ }}`` tags and Output children appear in the same document order."""
    texts: list[str] = []
    current: list[str] | None = None
    try:
        for _, token, value in env.lexer.tokeniter(source, None):
            if token == "variable_begin":
                current = []
            elif token == "variable_end":
                if current is not None:
                    texts.append("{{ " + "".join(current).strip() + " }}")
                current = None
            elif current is not None:
                current.append(value)
    except TemplateSyntaxError:
        return
    children = [
        child
        for output in ast.find_all(nodes.Output)
        for child in output.nodes
        if not isinstance(child, nodes.TemplateData)
    ]
    if len(children) != len(texts):
        return
    for child, text in zip(children, texts, strict=True):
        child.pl_source = text if len(text) <= 80 else text[:77] + "..."


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


def _compile_uncached(source: str, where: str, env: _PLEnvironment) -> _PLTemplate:
    try:
        ast = env.parse(source)
        loop_weight, _ = ast.pl_info
        variables = ast.pl_variables
        template = env.from_string(ast)
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
    template._pl_undeclared = variables.names
    template._pl_required = tuple(sorted(variables.required))
    template._pl_loop_weight = loop_weight
    return template


def _compile(
    source: str, where: str, limits: RenderLimits, options: TemplateOptions = DEFAULT_OPTIONS
) -> _PLTemplate:
    global _cache_chars
    if not isinstance(source, str):
        raise RenderError(
            f"The template{_where_text(where)} must be a string.",
            code="invalid_body",
            details={"where": where},
        )
    key: Any = source if options is DEFAULT_OPTIONS else (options, source)
    with _CACHE_LOCK:
        template = _CACHE.get(key)
        if template is not None:
            _CACHE.move_to_end(key)
            return template
    if len(source) > limits.max_template_chars:
        raise _template_too_big(len(source), limits, where)
    template = _compile_uncached(source, where, _environment_for(options))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = template
            _cache_chars += len(source)
            while len(_CACHE) > _CACHE_MAX_ENTRIES or _cache_chars > _CACHE_MAX_CHARS:
                old, _ = _CACHE.popitem(last=False)
                _cache_chars -= len(old if isinstance(old, str) else old[1])
    return template


def _template_too_big(size: int, limits: RenderLimits, where: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(
        f"The template{_where_text(where)} has {size} characters; the limit is "
        f"{limits.max_template_chars}.",
        details={"limit": "max_template_chars", "value": limits.max_template_chars, "where": where},
    )


def compile_template(
    source: str, *, limits: RenderLimits = DEFAULT_LIMITS, options: Any = None
) -> _PLTemplate:
    """Compile (or fetch from the cache) one template string.

    The cache is content-addressed: keyed by the source text itself, which is
    equivalent to keying by its sha256 but costs nothing per render for a template
    already seen. Bounded (1024 entries, 32M source characters), LRU, thread-safe.
    Raises TemplateSyntaxProblem, RenderLimitExceeded or SandboxViolation."""
    if isinstance(source, str) and len(source) > limits.max_template_chars:
        raise _template_too_big(len(source), limits, "template")
    return _compile(source, "template", limits, TemplateOptions.of(options))
