"""promptledger.rendering: the one renderer shared by server and SDK.

Plain pytest, no Django. Hostile cases run in a thread joined with a generous
timeout, only so that a regression fails instead of hanging the suite; speed itself
is never asserted.
"""

from __future__ import annotations

import json
import pickle
import threading

import pytest

from promptledger import rendering
from promptledger.rendering import (
    DEFAULT_LIMITS,
    InvalidVariables,
    MissingVariables,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    SandboxViolation,
    TemplateSyntaxProblem,
    compile_template,
    content_hash,
    infer_schema,
    infer_variables,
    render,
    validate_template,
    validate_variables,
)

HANG_TIMEOUT = 10.0
FAST = RenderLimits(max_render_seconds=0.3)


def guarded(fn, *args, **kwargs):
    """Run fn in a thread; fail (instead of hanging) if it does not finish."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not finish within {HANG_TIMEOUT}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def render_text(template, variables=None, **kwargs):
    return guarded(render, "text", template, {} if variables is None else variables, **kwargs)


def assert_healthy():
    assert render("text", "Hi {{ n }}", {"n": "Ada"}) == "Hi Ada"


# --------------------------------------------------------------------------- text


def test_text_render_with_variables_and_examples():
    template = (
        "Help {{ customer }} with order {{ order.id }} ({{ order.total }}).\n"
        "{% for e in examples %}Q: {{ e.input.question }}\nA: {{ e.output }}\n{% endfor %}"
    )
    examples = [
        {"input": {"question": "Where is it?"}, "output": "On its way."},
        {"input": {"question": "Refund?"}, "output": "Within 14 days.", "tags": ["x"]},
    ]
    out = render(
        "text",
        template,
        {"customer": "Ada", "order": {"id": "A-1", "total": 12.5}},
        examples=examples,
    )
    assert out == (
        "Help Ada with order A-1 (12.5).\n"
        "Q: Where is it?\nA: On its way.\n"
        "Q: Refund?\nA: Within 14 days.\n"
    )


def test_examples_are_exactly_input_and_output_for_text_prompts():
    out = render(
        "text",
        "{% for e in examples %}{{ e|dictsort }}{% endfor %}|{{ examples|length }}",
        {},
        examples=[{"input": "hi", "output": "yo", "approved": True}],
    )
    assert out == "[('input', 'hi'), ('output', 'yo')]|1"
    assert render("text", "{{ examples|length }}", {}) == "0"


def test_trailing_newline_kept_and_no_autoescape():
    assert render("text", "<b>{{ x }}</b>\n", {"x": "a & <b>"}) == "<b>a & <b></b>\n"


def test_tojson_is_prompt_friendly():
    out = render("text", "{{ data|tojson }}", {"data": {"b": "é<&", "a": [1, 2.5, None, True]}})
    assert out == '{"a": [1, 2.5, null, true], "b": "é<&"}'
    assert json.loads(out) == {"a": [1, 2.5, None, True], "b": "é<&"}
    pretty = render("text", "{{ data|tojson(indent=2) }}", {"data": {"a": [1]}})
    assert pretty == '{\n  "a": [\n    1\n  ]\n}'


def test_common_jinja_features_work():
    template = (
        "{% macro item(i) %}{{ i.name|title }}: {{ '%.2f'|format(i.price) }}{% endmacro %}"
        "{% set ns = namespace(total=0) %}"
        "{% for i in items|sort(attribute='price') %}{{ item(i) }}"
        "{% set ns.total = ns.total + i.price %}{{ loop.cycle(';', '|') }}{% endfor %}"
        " total={{ ns.total }} names={{ items|map(attribute='name')|join(', ') }}"
        " {{ '{} has {:>3}'.format(who, 7) }} {{ who ~ '!' }} {{ range(3)|list }}"
        " {% if who is defined and nobody is undefined %}ok{% endif %} {{ nobody|default('-') }}"
        " {{ text[:5] }} {{ text|wordwrap(6) }}"
    )
    out = render(
        "text",
        template,
        {
            "items": [{"name": "pear", "price": 2}, {"name": "apple", "price": 1.5}],
            "who": "Ada",
            "text": "hello wide world",
        },
    )
    assert out == (
        "Apple: 1.50;Pear: 2.00| total=3.5 names=pear, apple Ada has   7 Ada! [0, 1, 2]"
        " ok - hello hello\nwide\nworld"
    )


def test_render_is_byte_identical_across_calls_and_cache_states():
    template = "{% for k, v in d|dictsort %}{{ k }}={{ v|tojson }};{% endfor %}{{ f }}"
    variables = {"d": {"b": [1, {"z": "é"}], "a": 1.0}, "f": 0.1 + 0.2}
    first = render("text", template, variables)
    second = render("text", template, dict(variables))
    rendering.environment._CACHE.clear()
    third = render("text", template, variables)
    assert first == second == third == 'a=1.0;b=[1, {"z": "é"}];0.30000000000000004'
    assert first.encode("utf-8") == third.encode("utf-8")


# --------------------------------------------------------------------------- chat


CHAT = [
    {"role": "system", "content": "You help {{ company }} customers."},
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Q: {{ question }}"},
]


def test_chat_render_with_examples_as_message_pairs():
    examples = [
        {"input": {"question": "Where is my order?"}, "output": "Let me check."},
        {"input": "Plain user line", "output": "Plain answer"},
    ]
    out = render(
        "chat", CHAT, {"company": "Acme", "question": "Can I return shoes?"}, examples=examples
    )
    assert out == [
        {"role": "system", "content": "You help Acme customers."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: Where is my order?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "user", "content": "Plain user line"},
        {"role": "assistant", "content": "Plain answer"},
        {"role": "user", "content": "Q: Can I return shoes?"},
    ]


def test_chat_without_user_template_uses_json_for_dict_examples():
    body = [{"role": "system", "content": "Sys"}, {"role": "assistant", "content": "Hello {{ n }}"}]
    out = render("chat", body, {"n": 1}, examples=[{"input": {"b": "é", "a": 1}, "output": "ok"}])
    assert out == [
        {"role": "system", "content": "Sys"},
        {"role": "user", "content": '{"a": 1, "b": "é"}'},
        {"role": "assistant", "content": "ok"},
        {"role": "assistant", "content": "Hello 1"},
    ]


def test_chat_example_missing_a_variable_is_named():
    with pytest.raises(MissingVariables) as info:
        render(
            "chat",
            CHAT,
            {"company": "Acme", "question": "q"},
            examples=[
                {"input": {"question": "ok"}, "output": "a"},
                {"input": {"q": 1}, "output": "b"},
            ],
        )
    assert info.value.details["missing"] == ["question"]
    assert info.value.details["where"] == "examples[1].input"


def test_chat_errors_name_the_message():
    body = [{"role": "system", "content": "ok"}, {"role": "user", "content": "{{ x }"}]
    with pytest.raises(TemplateSyntaxProblem) as info:
        validate_template("chat", body)
    assert info.value.details["where"] == "messages[1].content"
    assert "messages[1].content" in info.value.message
    body = [{"role": "system", "content": "{{ ''.__class__ }}"}]
    with pytest.raises(SandboxViolation) as info:
        render("chat", body, {})
    assert info.value.details["where"] == "messages[0].content"


@pytest.mark.parametrize(
    "kind, body, code",
    [
        ("text", ["not", "a", "string"], "invalid_body"),
        ("chat", "not a list", "invalid_body"),
        ("chat", [], "invalid_body"),
        ("chat", [{"role": "robot", "content": "x"}], "invalid_body"),
        ("chat", [{"role": "user", "content": 3}], "invalid_body"),
        ("chat", [{"role": "user", "content": "x", "name": "bob"}], "invalid_body"),
        ("chat", ["hello"], "invalid_body"),
        ("poem", "x", "invalid_kind"),
    ],
)
def test_invalid_body_shapes(kind, body, code):
    with pytest.raises(RenderError) as info:
        validate_template(kind, body)
    assert info.value.code == code
    with pytest.raises(RenderError) as info:
        render(kind, body, {})
    assert info.value.code == code


@pytest.mark.parametrize(
    "examples",
    [
        "nope",
        [{"input": "x"}],
        [{"input": 3, "output": "x"}],
        [{"input": "x", "output": 3}],
        ["x"],
    ],
)
def test_invalid_examples(examples):
    with pytest.raises(RenderError) as info:
        render("text", "x", {}, examples=examples)
    assert info.value.code == "invalid_examples"


# --------------------------------------------------------------------------- missing variables & schema


def test_missing_variables_are_all_listed_by_name():
    template = (
        "{{ greeting }} {{ customer_name }}{% if vip %}{{ perk }}{% endif %}, order {{ order_id }}"
    )
    with pytest.raises(MissingVariables) as info:
        render("text", template, {"greeting": "Hi"})
    error = info.value
    assert error.code == "missing_variables"
    # perk is read only when vip is true: optional, so not listed before the render
    assert error.details["missing"] == ["customer_name", "order_id", "vip"]
    for name in error.details["missing"]:
        assert name in error.message


def test_variables_guarded_by_default_or_defined_are_optional():
    template = "{{ a }}{{ b|default('-') }}{% if c is defined %}{{ c }}{% endif %}{{ d|d }}"
    assert render("text", template, {"a": 1}) == "1-"
    assert infer_schema("text", template)["required"] == ["a"]


def test_a_variable_undefined_at_runtime_is_reported_as_missing():
    # used unguarded in one place and guarded in another: caught when rendering
    with pytest.raises(MissingVariables) as info:
        render("text", "{{ x|default('') }}{{ x }}", {})
    assert info.value.details["missing"] == ["x"]


def test_loop_and_set_variables_are_not_required():
    template = (
        "{% set greeting = 'hi' %}{% for item in items %}{{ greeting }} {{ item }}{% endfor %}"
    )
    assert infer_variables("text", template) == ["items"]
    assert render("text", template, {"items": ["a"]}) == "hi a"


@pytest.mark.parametrize(
    "template, line, column",
    [
        ("Hello\n{{ name ", 2, 9),
        ("line one\n{% if x %}\nno end", 3, 7),
        ("ok\n{{ x|nosuchfilter }}", 2, 6),
        ("{% for %}", 1, None),
        ("a\nb {{ 'x' }} {% endfor %}", 2, None),
        ("{{ x ! y }}", 1, 6),
    ],
)
def test_syntax_errors_give_line_and_column(template, line, column):
    with pytest.raises(TemplateSyntaxProblem) as info:
        validate_template("text", template)
    details = info.value.details
    assert details["where"] == "template"
    assert details["line"] == line
    assert f"line {line}" in info.value.message
    if column is not None:
        assert details["column"] == column
        assert f"column {column}" in info.value.message
    with pytest.raises(TemplateSyntaxProblem):
        render("text", template, {})


SCHEMA = {
    "type": "object",
    "properties": {
        "order_total": {"type": "number", "minimum": 0},
        "tone": {"enum": ["friendly", "formal"]},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer"}},
            "required": ["name"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"price": {"type": "number"}}},
        },
        "note": {"type": ["string", "null"], "maxLength": 5},
    },
    "required": ["order_total", "customer"],
}


def _errors(variables):
    with pytest.raises(InvalidVariables) as info:
        validate_variables(SCHEMA, variables)
    return {e["path"]: e["message"] for e in info.value.details["errors"]}


def test_schema_wrong_type():
    errors = _errors({"order_total": "twelve", "customer": {"name": "Ada"}})
    assert errors == {"order_total": "must be a number"}


def test_schema_bool_is_not_a_number_and_integer_accepts_whole_floats():
    assert _errors({"order_total": True, "customer": {"name": "A"}}) == {
        "order_total": "must be a number"
    }
    validate_variables(SCHEMA, {"order_total": 1, "customer": {"name": "A", "age": 3.0}})
    errors = _errors({"order_total": 1, "customer": {"name": "A", "age": 3.5}})
    assert errors == {"customer.age": "must be an integer"}


def test_schema_enum_nested_paths_and_ranges():
    errors = _errors(
        {
            "order_total": -1,
            "tone": "rude",
            "customer": {"name": "", "extra": 1},
            "items": [{"price": 1}, {"price": "x"}],
            "note": "too long",
        }
    )
    assert errors == {
        "order_total": "must be at least 0",
        "tone": 'must be one of "friendly", "formal"',
        "customer.name": "must be at least 1 character",
        "customer.extra": "is not an allowed property",
        "items[1].price": "must be a number",
        "note": "must be at most 5 characters",
    }
    errors = _errors({"order_total": 1, "customer": {}})
    assert errors == {"customer.name": "is required"}
    validate_variables(SCHEMA, {"order_total": 0, "customer": {"name": "A"}, "note": None})


def test_schema_missing_required_lists_all_names():
    with pytest.raises(MissingVariables) as info:
        validate_variables(SCHEMA, {})
    assert info.value.details["missing"] == ["customer", "order_total"]


def test_schema_extension_keywords_are_ignored_formats_enforced_and_variables_must_be_a_dict():
    schema = {"type": "object", "x-custom": 1, "properties": {"a": {"format": "email"}}}
    validate_variables(schema, {"a": "ada@example.com"})
    with pytest.raises(InvalidVariables) as info:
        validate_variables(schema, {"a": "x"})
    assert info.value.details["errors"] == [{"path": "a", "message": "must be a valid email address"}]
    with pytest.raises(InvalidVariables) as info:
        validate_variables({}, [1, 2])
    assert info.value.details["errors"][0]["path"] == "variables"
    with pytest.raises(InvalidVariables):
        render("text", "x", [1, 2])


def test_render_validates_against_the_schema_first():
    schema = {
        "type": "object",
        "properties": {"order_total": {"type": "number"}},
        "required": ["order_total"],
    }
    with pytest.raises(InvalidVariables) as info:
        render("text", "Total {{ order_total }}", {"order_total": "twelve"}, schema=schema)
    assert "order_total" in info.value.message
    assert (
        render("text", "Total {{ order_total }}", {"order_total": 12}, schema=schema) == "Total 12"
    )


def test_infer_variables_and_schema():
    template = (
        "{% set x = 1 %}{% for e in examples %}{{ e }}{% endfor %}{{ b }}{{ a.c }}"
        "{{ range(2)|list }}{{ cycler }}{{ opt|default(1) }}{% macro m(p) %}{{ p }}{{ q }}{% endmacro %}"
    )
    # q is read only inside a macro that is never called
    assert infer_variables("text", template) == ["a", "b", "opt"]
    assert infer_schema("text", template) == {
        "type": "object",
        "properties": {"a": {}, "b": {}, "opt": {}},
        "required": ["a", "b"],
    }
    body = [{"role": "system", "content": "{{ s }}"}, {"role": "user", "content": "{{ u }}{{ s }}"}]
    assert infer_variables("chat", body) == ["s", "u"]
    assert infer_schema("chat", body)["required"] == ["s", "u"]


def test_content_hash_is_stable_and_sensitive():
    body = [{"role": "system", "content": "Hi {{ n }}"}, {"role": "user", "content": "é"}]
    reordered = [{"content": "Hi {{ n }}", "role": "system"}, {"content": "é", "role": "user"}]
    digest = content_hash("chat", body)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert content_hash("chat", reordered) == digest
    canonical = json.dumps(
        {"kind": "chat", "body": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    import hashlib

    assert digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert content_hash("text", "Hi {{ n }}") != content_hash("text", "Hi {{ n}}")
    assert content_hash("text", "x") != content_hash("chat", "x")
    assert content_hash("chat", body[::-1]) != digest


def test_errors_are_json_serialisable_and_picklable():
    try:
        render("text", "{{ a }}{{ b }}", {})
    except RenderError as exc:
        error = exc
    json.dumps(error.as_dict())
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is MissingVariables
    assert (clone.code, clone.message, clone.details) == (error.code, error.message, error.details)


def test_compiled_templates_are_cached_and_render_directly():
    template = compile_template("Hi {{ name }}")
    assert compile_template("Hi {{ name }}") is template
    assert template.render(name="Ada") == "Hi Ada"
    with pytest.raises(MissingVariables):
        template.render()
    with pytest.raises(RenderError):
        list(template.generate(name="x"))


# --------------------------------------------------------------------------- sandbox escapes

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum() }}",
    "{{ range.__class__ }}",
    "{{ range.__self__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ x|attr(name) }}",
    "{{ x[name] }}",
    "{{ x['__class__'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}",
    "{{ fmt.format(x) }}",
    "{{ fmt2.format_map({'a': x}) }}",
    "{{ (items|map('upper')).gi_frame }}",
    "{{ (items|map('upper')).gi_frame.f_globals }}",
    "{{ (items|map('upper')).send(None) }}",
    "{{ x.encode('utf-8') }}",
    "{{ x.__len__() }}",
    "{{ (1).to_bytes(8, 'big') }}",
    "{{ {}.fromkeys([1], 2) }}",
    "{{ items.append(1) }}",
    "{{ d.update({'a': 1}) }}",
    "{{ d.pop('a') }}",
    "{% for l in [loop] %}{% endfor %}{{ namespace().__class__ }}",
    "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
    "{% for i in items %}{{ loop._iterator }}{% endfor %}",
    "{{ x|map('attr', '__class__')|list }}",
    "{{ items|sort(attribute='__class__') }}",
    "{{ dict.__call__ }}",
    "{{ x.mro }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_are_refused(template):
    variables = {
        "x": "str",
        "name": "__class__",
        "fmt": "{0.__class__}",
        "fmt2": "{a.__class__}",
        "items": ["a"],
        "d": {"a": 1},
    }
    with pytest.raises(SandboxViolation) as info:
        render_text(template, variables)
    assert info.value.code == "sandbox_violation"
    assert "<class" not in info.value.message and "function" not in info.value.message
    assert_healthy()


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ x|attr('__globals__') }}",
        "{{ self._TemplateReference__context }}",
    ],
)
def test_visible_escapes_are_refused_when_the_template_is_saved(template):
    with pytest.raises(SandboxViolation) as info:
        validate_template("text", template)
    assert info.value.details["line"] == 1
    with pytest.raises(SandboxViolation):
        compile_template(template)


@pytest.mark.parametrize(
    "name", ["request", "config", "settings", "os", "__builtins__", "sys", "self_"]
)
def test_server_objects_are_not_available(name):
    with pytest.raises(MissingVariables) as info:
        render("text", "{{ %s }}" % name, {})
    assert info.value.details["missing"] == [name]


@pytest.mark.parametrize(
    "template",
    [
        "{% include 'x.txt' %}",
        "{% import 'x' as y %}",
        "{% from 'x' import y %}",
        "{% extends 'base' %}",
        "{% autoescape true %}{{ x }}{% endautoescape %}",
    ],
)
def test_io_and_autoescape_tags_are_refused(template):
    with pytest.raises(TemplateSyntaxProblem) as info:
        validate_template("text", template)
    assert "not supported" in info.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ x|random }}",
        "{% if x %}{{ x|pprint }}{% endif %}",
        "{{ x|nosuch }}",
        "{% if x is nosuch %}{% endif %}",
    ],
)
def test_unknown_and_removed_filters_are_refused_when_saved(template):
    with pytest.raises(TemplateSyntaxProblem) as info:
        validate_template("text", template)
    assert info.value.details["line"] == 1


@pytest.mark.parametrize("name", ["range", "cycler", "namespace", "dict", "raise_exception"])
def test_printing_a_global_function_is_an_error_naming_it(name):
    with pytest.raises(RenderError) as info:
        render("text", "ok\n{{ %s }}" % name, {})
    assert info.value.code == "unprintable_value"
    assert "{{ %s }}" % name in info.value.message
    assert "line 2" in info.value.message
    assert "<" not in info.value.message


# --------------------------------------------------------------------------- compile time


CONSTANT_RUNAWAYS = [
    "{{ 'a' * 999999999 }}",
    "{{ [1] * 999999999 }}",
    "{{ 2 ** 999999999 }}",
    "{{ (10 ** 100) ** 100000 }}",
    "{{ 'x'|center(999999999) }}",
    "{{ '%999999999s'|format(1) }}",
    "{{ '%999999999s' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'x'.ljust(999999999) }}",
    "{{ 'a\nb'|indent(999999999) }}",
    "{{ 'a b'|wordwrap(1, wrapstring='x' * 999999999) }}",
    "{{ [1]|batch(999999999, 'x')|list }}",
    "{{ 1.5|round(999999999, 'floor') }}",
    "{% if 'x'|center(999999999) %}{% endif %}",
    "{% set y = 'x' * 999999999 %}",
    "{% macro m(a='x' * 999999999) %}{% endmacro %}{{ m() }}",
    "{{ ('a' ~ 'b')|center(999999999) }}",
    "{{ ['x'|center(999999999)] }}",
]


@pytest.mark.parametrize("template", CONSTANT_RUNAWAYS)
def test_compiling_never_evaluates_the_template(template):
    guarded(validate_template, "text", template)  # valid syntax: compiles, quickly
    guarded(compile_template, template)
    with pytest.raises(RenderLimitExceeded):
        render_text(template)


def test_generated_code_has_no_folded_constants():
    code = rendering.environment._ENV.compile("{{ 'ab'|upper }}{{ 'cd' ~ 'ef' }}{{ 3 * 4 }}", raw=True)
    for folded in ("'AB'", "'cdef'", "12"):
        assert folded not in code


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "{{ x" + "|upper" * 5000 + " }}",
        "{{ " + " + ".join(["x"] * 3000) + " }}",
        "{% if x %}" * 2000 + "{% endif %}" * 2000,
        "".join("{%% for i%d in x %%}" % i for i in range(30)) + "{% endfor %}" * 30,
    ],
)
def test_deeply_nested_templates_are_refused_at_compile_time(template):
    with pytest.raises(RenderLimitExceeded):
        guarded(validate_template, "text", template)


def test_template_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(RenderLimitExceeded) as info:
        validate_template("text", "{{" * 60_000)
    assert info.value.details["limit"] == "max_template_chars"
    with pytest.raises(RenderLimitExceeded):
        compile_template("x" * (DEFAULT_LIMITS.max_template_chars + 1))
    with pytest.raises(RenderLimitExceeded):
        render("chat", [{"role": "user", "content": "x" * 60_000}] * 2, {})
    small = RenderLimits(max_template_chars=10)
    with pytest.raises(RenderLimitExceeded):
        render("text", "Hello {{ name }}", {"name": "x"}, limits=small)


# --------------------------------------------------------------------------- runaways while rendering

RUNAWAYS = [
    # repetition and arithmetic
    ("{{ 'a' * 999999999 }}", {}),
    ("{{ n * 'a' }}", {"n": 10**9}),
    ("{{ [[1] * 1000] * 100000 }}", {}),
    ("{{ 10 ** 999999 }}", {}),
    ("{{ n ** n }}", {"n": 99999}),
    (
        "{% set ns = namespace(v=3) %}{% for i in range(64) %}{% set ns.v = ns.v * ns.v %}{% endfor %}",
        {},
    ),
    # loops
    ("{% for i in range(100000000) %}{% endfor %}", {}),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", {}),
    ("{% for c in s %}{% endfor %}", {"s": "x" * 200_000}),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{{ i }}{% endfor %}{% endfor %}", {}),
    # doubling through a namespace
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        {},
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        {},
    ),
    (
        "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        {},
    ),
    (
        (
            "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = [ns.s, ns.s] %}{% endfor %}"
            "{{ ns.s == ns.s }}"
        ),
        {},
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = (ns.s, ns.s)|join %}{% endfor %}",
        {},
    ),
    (
        (
            "{% set ns = namespace(v=()) %}{% for i in range(5000) %}{% set ns.v = (ns.v,) %}{% endfor %}"
            "{{ {ns.v: 1} }}"
        ),
        {},
    ),
    (
        (
            "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s='ab') %}"
            "{% for i in range(64) %}{% set ns.s = d(ns.s) %}{% endfor %}"
        ),
        {},
    ),
    # widths and sizes of string operations
    ("{{ 'x'|center(999999999) }}", {}),
    ("{{ 'x'.center(999999999) }}", {}),
    ("{{ 'x'.ljust(999999999) }}", {}),
    ("{{ 'x'.rjust(999999999, '-') }}", {}),
    ("{{ 'x'.zfill(999999999) }}", {}),
    ("{{ '\t'.expandtabs(999999999) }}", {}),
    ("{{ '{:>999999999}'.format(1) }}", {}),
    ("{{ '{0:{1}}'.format(1, '>999999999') }}", {}),
    ("{{ '{:.999999999f}'.format(1.5) }}", {}),
    ("{{ ('{0}' * 200000).format(s) }}", {"s": "x" * 1000}),
    ("{{ '%999999999s' % 1 }}", {}),
    ("{{ '%*d' % (999999999, 1) }}", {}),
    ("{{ '%.999999999f' % 1.5 }}", {}),
    ("{{ '%(a)s%(a)s%(a)s' % {'a': s} }}", {"s": "x" * 400_000}),
    ("{{ '%999999999s'|format(1) }}", {}),
    ("{{ 'a\nb'|indent(999999999) }}", {}),
    ("{{ s|indent(s) }}", {"s": "a\n" * 2000}),
    ("{{ s|wordwrap(1) }}", {"s": "x" * 300_000}),
    ("{{ 'a b c'|wordwrap(1, wrapstring=s) }}", {"s": "x" * 400_000}),
    ("{{ s|replace('a', s) }}", {"s": "a" * 2000}),
    ("{{ s.replace('', s) }}", {"s": "a" * 2000}),
    ("{{ s.join(items) }}", {"s": "x" * 100_000, "items": list("abcdefghijklmnopqrstuvwxyz")}),
    ("{{ range(10000)|join(s) }}", {"s": "x" * 1000}),
    ("{{ 'x'|truncate(5, end=s) }}", {"s": "y" * 2_000_000}),
    ("{{ [1]|batch(999999999, 'x')|list }}", {}),
    ("{{ [1]|slice(999999999)|list }}", {}),
    ("{{ 1|round(-999999999) }}", {}),
    ("{{ items|tojson(indent=999999999) }}", {"items": [1]}),
    ("{{ range(10000)|map('center', 10000)|list|length }}", {}),
    # recursion
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        {},
    ),
    ("{% macro f(n) %}{{ f(n, varargs, varargs) }}{% endmacro %}{{ f(1) }}", {}),
    ("{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}", {}),
    ("{% block a %}{{ self.a() }}{% endblock %}", {}),
    (
        (
            "{% macro m() %}{{ caller() }}{% endmacro %}{% macro n() %}{% call m() %}{{ n() }}{% endcall %}"
            "{% endmacro %}{{ n() }}"
        ),
        {},
    ),
    # output and buffered text
    ("{% for i in range(10000) %}{{ 'y' * 100 }}{% endfor %}", {}),
    ("{{ 'y' * 300000 }}", {}),
    (
        "{% macro m() %}{% for i in range(10000) %}"
        + "L" * 5000
        + "{% endfor %}{% endmacro %}{{ m()|length }}",
        {},
    ),
    (
        "{% set b %}{% for i in range(10000) %}{% for j in range(9) %}"
        + "Z" * 1000
        + "{% endfor %}{% endfor %}{% endset %}{{ b|length }}",
        {},
    ),
    ("{% for i in range(10000) %}{% set y = s[::-1] %}{% endfor %}", {"s": "x" * 900_000}),
    # work that only the deadline can stop
    (
        "{% for i in range(300) %}{% for j in range(300) %}{% if s == t %}{% endif %}{% endfor %}{% endfor %}",
        {"s": "x" * 400_000, "t": "x" * 399_999 + "y"},
    ),
    (
        "{% for i in range(300) %}{% for j in range(300) %}{% if 'xy' in s %}{% endif %}{% endfor %}{% endfor %}",
        {"s": "x" * 900_000},
    ),
    (
        "{% for i in range(300) %}{% for j in range(300) %}{% if s is eq t %}{% endif %}{% endfor %}{% endfor %}",
        {"s": "x" * 400_000, "t": "x" * 399_999 + "y"},
    ),
    (
        "{% for i in range(1000) %}{% for j in range(99) %}{{ items|sort|length }}{% endfor %}{% endfor %}",
        {"items": list(range(5000))},
    ),
]


@pytest.mark.parametrize(
    "template, variables", RUNAWAYS, ids=[f"runaway{i}" for i in range(len(RUNAWAYS))]
)
def test_runaway_templates_hit_a_limit(template, variables):
    with pytest.raises(RenderLimitExceeded) as info:
        render_text(template, variables, limits=FAST)
    assert info.value.code == "limit_exceeded"
    assert info.value.details.get("limit")
    assert_healthy()


def test_output_over_the_cap_and_custom_limits():
    with pytest.raises(RenderLimitExceeded) as info:
        render("text", "{{ 'y' * 300000 }}", {})
    assert info.value.details["limit"] == "max_output_chars"
    small = RenderLimits(max_output_chars=10)
    assert render("text", "{{ 'y' * 10 }}", {}, limits=small) == "y" * 10
    with pytest.raises(RenderLimitExceeded):
        render("text", "{{ 'y' * 11 }}", {}, limits=small)
    with pytest.raises(RenderLimitExceeded):
        render("chat", [{"role": "user", "content": "{{ 'y' * 6 }}"}] * 2, {}, limits=small)
    with pytest.raises(RenderLimitExceeded):
        render("text", "{{ range(11)|list }}", {}, limits=RenderLimits(max_range=10))
    with pytest.raises(RenderLimitExceeded):
        render(
            "text",
            "{% for i in items %}{% endfor %}",
            {"items": [1] * 11},
            limits=RenderLimits(max_loop_iterations=10),
        )


# --------------------------------------------------------------------------- hostile variable values

BIG = "x" * 999_000


@pytest.mark.parametrize(
    "template",
    [
        "{{ s * 2 }}",
        "{{ s ~ s }}",
        "{{ s + s }}",
        "{{ [s, s] }}",
        "{{ [s, s]|join }}",
        "{{ (s, s)|join('-') }}",
        "{% for i in range(50) %}{{ s }}{% endfor %}",
        "{% for i in range(50) %}{% set t = s|upper %}{% endfor %}",
        "{{ '%s%s' % (s, s) }}",
        "{{ '{0}{0}'.format(s) }}",
        "{{ s|center(2000000) }}",
        "{{ s|replace('x', 'yy') }}",
        "{{ s|indent(4, blank=True) }}",
        "{{ dict(a=s, b=s) }}",
        "{{ namespace(a=[s, s]) }}",
        "{{ s }}",
    ],
)
def test_huge_variable_values_hit_a_limit(template):
    with pytest.raises(RenderLimitExceeded):
        render_text(template, {"s": BIG}, limits=FAST)
    assert_healthy()


def _nested(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_hostile_variable_structures():
    with pytest.raises(RenderLimitExceeded) as info:
        render_text("{{ v }}", {"v": _nested(100_000)})
    assert info.value.details["limit"] == "max_nesting_depth"
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(RenderLimitExceeded):
        render_text("{{ v }}", {"v": cyclic})
    with pytest.raises(RenderLimitExceeded) as info:
        render_text("{{ v|length }}", {"v": ["y" * 1000] * 100_000})  # aliased, 100 MB as JSON
    assert info.value.details["limit"] == "max_variables_chars"
    with pytest.raises(RenderLimitExceeded):
        render_text("x", {"v": "y" * (DEFAULT_LIMITS.max_variables_chars + 1)})
    with pytest.raises(RenderLimitExceeded):
        render_text("x", {}, examples=[{"input": "y" * 600_000, "output": "z" * 600_000}])
    assert render_text("{{ v|length }}", {"v": _nested(30)}) == "1"
    assert_healthy()


@pytest.mark.parametrize(
    "value, path",
    [
        (object(), "v"),
        ({1, 2}, "v"),
        (b"bytes", "v"),
        ({"a": [1, {"b": object()}]}, "v.a[1].b"),
        ({1: "x"}, "v"),
        (10**3000, "v"),
        (len, "v"),
    ],
)
def test_variables_must_be_json_values(value, path):
    with pytest.raises(InvalidVariables) as info:
        render("text", "{{ v }}", {"v": value})
    assert info.value.details["errors"][0]["path"] == path


def test_hostile_format_strings_in_variables():
    with pytest.raises(RenderLimitExceeded):
        render_text("{{ fmt.format(1) }}", {"fmt": "{:>999999999}"})
    with pytest.raises(RenderLimitExceeded):
        render_text("{{ fmt % 1 }}", {"fmt": "%999999999d"})
    with pytest.raises(RenderLimitExceeded):
        render_text("{{ fmt|format(1) }}", {"fmt": "%.999999999f"})
    with pytest.raises(SandboxViolation):
        render_text("{{ fmt.format(x) }}", {"fmt": "{0.__class__.__mro__}", "x": 1})
    assert render_text("{{ fmt.format(1) }}", {"fmt": "[{:>4}]"}) == "[   1]"


# --------------------------------------------------------------------------- every failure is a RenderError


@pytest.mark.parametrize(
    "template",
    [
        "{{ 1 / 0 }}",
        "{{ 1 // 0 }}",
        "{{ x.y.z }}",
        "{{ none.x }}",
        "{{ [1, 2]|sum(start='a') }}",
        "{{ 'abcdef'|truncate(1) }}",
        "{{ (1, 2)[5] }}",
        "{{ {}['k'] }}",
        "{{ cycler() }}",
        "{{ range(1, 2, 0) }}",
        "{{ 10.0 ** 400 }}",
        "{{ '%d' % 'x' }}",
        "{{ '%s %s' % (1,) }}",
        "{{ 'x'|format(1, a=2) }}",
        "{{ '{'.format(1) }}",
        "{{ '{0}'.format() }}",
        "{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}",
        "{{ x + 1 }}",
        "{{ [1, 'a']|sort }}",
        "{{ x|tojson|tojson|float|round(2, 'sideways') }}",
        "{{ namespace(a=1).b }}",
        "{% set x.y = 1 %}",
        "{{ 'a'.split(None, 'x') }}",
        "{{ x[::0] }}",
        "{{ [1]|slice(0)|list }}",
        "{{ x|wordwrap(0) }}",
        "{{ {'a': 1}|tojson(indent=true) }}",
        "{{ cycler|tojson }}",
    ],
)
def test_every_failure_is_a_render_error(template):
    with pytest.raises(RenderError) as info:
        render_text(template, {"x": "text", "none": None})
    error = info.value
    assert error.code in {
        "render_failed",
        "missing_variables",
        "invalid_variables",
        "limit_exceeded",
        "sandbox_violation",
        "template_syntax",
    }
    assert error.message and isinstance(error.details, dict)
    json.dumps(error.as_dict())


def test_runtime_errors_name_the_line():
    with pytest.raises(RenderError) as info:
        render("text", "ok\nok\n{{ 1 / 0 }}", {})
    assert info.value.code == "render_failed"
    assert info.value.details["line"] == 3
    assert "line 3" in info.value.message
    assert "ZeroDivisionError" in info.value.message


# --------------------------------------------------------------------------- concurrency


def test_concurrent_renders_keep_their_own_limits():
    results: list = []

    def worker(i):
        try:
            if i % 2:
                render(
                    "text",
                    "{% for j in items %}{% endfor %}",
                    {"items": list(range(50))},
                    limits=RenderLimits(max_loop_iterations=10),
                )
                results.append("no error")
            else:
                out = render(
                    "text", "{% for j in items %}{{ j }}{% endfor %}", {"items": list(range(50))}
                )
                results.append("ok" if out == "".join(map(str, range(50))) else out)
        except RenderLimitExceeded:
            results.append("limited")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_TIMEOUT)
    assert sorted(results) == ["limited"] * 8 + ["ok"] * 8
