"""Body shapes, value scanning and the render entry points."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from jinja2.exceptions import (
    SecurityError,
    UndefinedError,
)

from .environment import (
    _ENV,
    DEFAULT_OPTIONS,
    RESERVED_VARIABLES,
    TemplateOptions,
    _compile,
    _PLTemplate,
    _template_too_big,
    _where_text,
)
from .errors import (
    _MAX_INT_BITS,
    DEFAULT_LIMITS,
    MissingVariables,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    SandboxViolation,
    TemplateRaised,
    UnprintableValue,
)
from .guards import _STATE, _limit, _State
from .schema import _invalid, _missing, _path, validate_variables

KIND_TEXT = "text"
KIND_CHAT = "chat"
CHAT_ROLES = ("system", "user", "assistant")

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


def content_hash(kind: str, body: Any, options: Any = None) -> str:
    """sha256 (hex) of the canonical JSON of ``{"kind": kind, "body": body}``, plus
    ``"options"`` when any template option is on (so default hashes never change)."""
    opts = TemplateOptions.of(options)
    content: dict = {"kind": kind, "body": body}
    if opts != DEFAULT_OPTIONS:
        content["options"] = opts.as_dict()
    try:
        payload = json.dumps(
            content,
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


def validate_template(
    kind: str, body: Any, *, limits: RenderLimits = DEFAULT_LIMITS, options: Any = None
) -> None:
    """Check the body's shape and compile the template (or every message's content).
    Raises RenderError(invalid_kind/invalid_body/invalid_options), TemplateSyntaxProblem,
    RenderLimitExceeded or SandboxViolation, with ``details["where"]`` naming the part."""
    opts = TemplateOptions.of(options)
    for source, where in _body_templates(kind, body, limits):
        _compile(source, where, limits, opts)


def infer_variables(kind: str, body: Any, options: Any = None) -> list[str]:
    """Names the template may read from its variables, required or optional (sorted;
    the renderer's own names excluded). Raises like :func:`validate_template`."""
    opts = TemplateOptions.of(options)
    names: set[str] = set()
    for source, where in _body_templates(kind, body, DEFAULT_LIMITS):
        names |= _compile(source, where, DEFAULT_LIMITS, opts)._pl_undeclared
    return sorted(names)


def infer_schema(kind: str, body: Any, options: Any = None) -> dict:
    """A JSON Schema for the variables, inferred from the template.

    Every variable gets ``{}`` (any JSON value): a template cannot tell a string from a
    number (``{{ order_total }}`` prints both), and guessing "string" would reject valid
    renders; authors tighten the schema by hand. ``required`` lists the variables that
    every path through the template reads with no ``default`` and no ``is defined``
    guard before assigning them (see ``variables.py``); the rest are optional.
    """
    opts = TemplateOptions.of(options)
    names: set[str] = set()
    required: set[str] = set()
    for source, where in _body_templates(kind, body, DEFAULT_LIMITS):
        template = _compile(source, where, DEFAULT_LIMITS, opts)
        names |= template._pl_undeclared
        required.update(template._pl_required)
    return {
        "type": "object",
        "properties": {name: {} for name in sorted(names)},
        "required": sorted(required),
    }


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
    if isinstance(exc, UnprintableValue):
        details = {**exc.details, "where": where}
        if line:
            details["line"] = line
        expression = details.get("expression")
        what = f"{expression}" if expression else "a value"
        return UnprintableValue(
            f"The template{at} prints {what}, which is {details['kind']}, not data; "
            f"{details['hint']}.",
            details=details,
        )
    if isinstance(exc, RenderError):
        exc.details.setdefault("where", where)
        if line and "line" not in exc.details:
            exc.details["line"] = line
        if isinstance(exc, TemplateRaised) and line:
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


def _refuse_reserved(variables: dict, where: str = "variables") -> None:
    """A caller's variable never silently loses to a name the renderer provides."""
    clash = sorted(name for name in RESERVED_VARIABLES if name in variables)
    if clash:
        name = clash[0]
        raise RenderError(
            f"'{name}' is a name the renderer provides (the pinned few-shot examples); "
            f"rename your variable, for example to 'user_{name}', and use that name in the "
            "template.",
            code="reserved_variable",
            details={"where": f"{where}.{name}", "reserved": sorted(RESERVED_VARIABLES)},
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
    _refuse_reserved(variables)
    missing = [n for n in template._pl_required if n not in variables]
    if missing:
        raise _missing(missing)
    context_vars = _context_vars(variables, [])
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
    options: Any = None,
) -> str | list[dict]:
    """Render a prompt.

    ``kind`` "text": ``body`` is a template string; returns the text. ``examples`` are
    visible as the ``examples`` variable (a list of {input, output}).

    ``kind`` "chat": ``body`` is a list of {role, content} with content templates;
    returns a list of {role, content}. Examples become user/assistant message pairs
    after the leading system message(s): the user message is the example's input when
    it is a string, or the chat's first user template rendered with the input's
    variables when it is an object (its JSON when the chat has no user message).

    ``options``: the version's whitespace options (:class:`TemplateOptions` or a dict
    of ``trim_blocks``/``lstrip_blocks``). A variable named like one the renderer
    provides (``examples``) is refused, never silently replaced.

    Order of checks: body shape and template size, compilation (cached), variable
    values (JSON types, size, nesting), ``schema`` (when given), then every variable
    the templates need (all missing ones are listed at once), then the render itself
    under ``limits``. Every failure is a RenderError subclass; nothing else escapes.
    """
    try:
        return _render(kind, body, variables, examples, schema, limits, options)
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


def _render(kind, body, variables, examples, schema, limits, options):
    if not isinstance(limits, RenderLimits):
        raise RenderError("limits must be a RenderLimits instance.", code="render_failed")
    opts = TemplateOptions.of(options)
    sources = _body_templates(kind, body, limits)
    templates = [_compile(source, where, limits, opts) for source, where in sources]

    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    _refuse_reserved(variables)
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

    context_vars = _context_vars(variables, normalized)

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
                _refuse_reserved(given, f"examples[{index}].input")
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
