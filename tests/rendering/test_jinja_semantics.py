"""Ordinary Jinja works as stock Jinja does: variable analysis, raise_exception,
whitespace options, reserved names, and only data ever printed.

"Stock" is ``jinja2.sandbox.SandboxedEnvironment(undefined=StrictUndefined)`` with
``keep_trailing_newline=True`` (the product keeps a prompt's trailing newline).
Plain pytest, no Django.
"""

from __future__ import annotations

import re

import pytest
from jinja2 import StrictUndefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from promptledger.rendering import (
    MissingVariables,
    RenderError,
    TemplateOptions,
    content_hash,
    infer_schema,
    infer_variables,
    render,
)

ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}|<[\w.]+ object|<built-in|<function|<generator|<global")


class _Raised(Exception):
    pass


def _raise(message):
    raise _Raised(message)


def stock(source, variables, **options):
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, **options)
    env.globals["raise_exception"] = _raise
    variables = {"examples": [], **variables}  # what the renderer provides
    return env.from_string(source).render(**variables)


# (template, variables that stock Jinja renders, required, optional)
SHAPES = [
    # the table
    (
        "{% if a %}{% set x = 1 %}{% else %}{% set x = 2 %}{% endif %}{{ x }}",
        {"a": True},
        {"a"},
        set(),
    ),
    (
        "{% if mode == 'qa' %}Q: {{ question }}{% else %}D: {{ document }}{% endif %}",
        {"mode": "qa", "question": "Why?"},
        {"mode"},
        {"question", "document"},
    ),
    ("{% macro sig() %}{{ agent }}{% endmacro %}ok", {}, set(), set()),
    # a called macro needs what it reads; its arguments are its own
    (
        "{% macro sig(name) %}{{ name }} / {{ agent }}{% endmacro %}{{ sig('x') }}",
        {"agent": "Ada"},
        {"agent"},
        set(),
    ),
    # a set in only one branch: the other path reads the caller's variable
    ("{% if a %}{% set x = 1 %}{% endif %}{{ x }}", {"a": True}, {"a"}, {"x"}),
    # if/elif/else: read on every branch is required, on some is optional
    (
        "{% if n == 1 %}{{ a }}{{ c }}{% elif n == 2 %}{{ b }}{{ c }}{% else %}{{ c }}{% endif %}",
        {"n": 3, "c": "C"},
        {"n", "c"},
        {"a", "b"},
    ),
    # guards
    ("{{ a|default('-') }}{{ b|d }}", {}, set(), {"a", "b"}),
    ("{% if a is defined %}{{ a }}{% endif %}", {}, set(), {"a"}),
    ("{{ a if a is defined else 'none' }}", {}, set(), {"a"}),
    ("{% if a is defined and a %}{{ a }}{% endif %}", {}, set(), {"a"}),
    ("{% if a is not defined %}-{% else %}{{ a }}{% endif %}", {}, set(), {"a"}),
    ("{{ x|default('') }}{{ x }}", {"x": 1}, {"x"}, set()),
    # short-circuits: the right side may never run
    ("{{ a or b }}", {"a": 1}, {"a"}, {"b"}),
    ("{{ a and b }}", {"a": 0}, {"a"}, {"b"}),
    ("{{ a if c else b }}", {"c": True, "a": 1}, {"c"}, {"a", "b"}),
    ("{{ a if c else a }}", {"c": True, "a": 1}, {"a", "c"}, set()),
    # loops: the body may not run; its names stay inside; the iterable is required
    ("{% for i in items %}{{ i }}{{ sep }}{% endfor %}", {"items": []}, {"items"}, {"sep"}),
    (
        "{% for i in items %}{% set last = i %}{% endfor %}{{ last|default('none') }}",
        {"items": [1]},
        {"items"},
        {"last"},
    ),
    (
        "{% for i in items if i > lo %}{{ loop.index }}{% else %}{{ empty }}{% endfor %}",
        {"items": [1, 2], "lo": 0},
        {"items"},
        {"lo", "empty"},
    ),
    # a variable read before it is set is the caller's
    ("{{ x }}{% set x = 2 %}{{ x }}", {"x": 1}, {"x"}, set()),
    # with, set blocks, filter blocks, namespaces, call blocks
    ("{% with y = a %}{{ y }}{% endwith %}", {"a": 1}, {"a"}, set()),
    ("{% set block %}{{ a }}{% endset %}{{ block|upper }}", {"a": "x"}, {"a"}, set()),
    ("{% filter upper %}{{ a }}{% endfilter %}", {"a": "x"}, {"a"}, set()),
    (
        "{% set ns = namespace(found=false) %}{% for m in msgs %}{% if m == k %}"
        "{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
        {"msgs": [1], "k": 1},
        {"msgs"},
        {"k"},
    ),
    (
        "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}{{ inner }}{% endcall %}",
        {"inner": "x"},
        set(),
        {"inner"},
    ),
    # the renderer's own names are not variables
    ("{{ range(2)|list }}{{ examples|length }}", {}, set(), set()),
    # the Llama-2 chat-template pattern
    (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}"
        "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}"
        "{% endif %}{% endfor %}",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
            "bos_token": "<s>",
            "eos_token": "</s>",
        },
        {"messages"},
        {"bos_token", "eos_token"},
    ),
]


@pytest.mark.parametrize("template, variables, required, optional", SHAPES)
def test_a_template_renders_as_stock_jinja_and_its_variables_are_classified(
    template, variables, required, optional
):
    assert render("text", template, variables) == stock(template, variables)
    schema = infer_schema("text", template)
    assert set(schema["required"]) == required
    assert set(schema["properties"]) == required | optional
    assert infer_variables("text", template) == sorted(required | optional)


@pytest.mark.parametrize("template, variables, required, optional", SHAPES)
def test_every_required_variable_is_one_stock_jinja_cannot_render_without(
    template, variables, required, optional
):
    for name in required:
        partial = {k: v for k, v in variables.items() if k != name}
        with pytest.raises(UndefinedError):
            stock(template, partial)
        with pytest.raises(MissingVariables) as info:
            render("text", template, partial)
        assert info.value.details["missing"] == [name]


def test_an_optional_variable_missing_on_the_path_taken_still_names_it_and_its_line():
    template = "{% if mode == 'qa' %}Q: {{ question }}\n{% else %}D: {{ document }}{% endif %}"
    with pytest.raises(MissingVariables) as info:
        render("text", template, {"mode": "doc"})
    assert info.value.details["missing"] == ["document"]
    assert info.value.details["line"] == 2
    assert "document" in info.value.message and "line 2" in info.value.message


# --------------------------------------------------------------------------- raise_exception


def test_raise_exception_stops_the_render_with_the_authors_message():
    template = "{% if messages|length == 0 %}{{ raise_exception('Conversation is empty!') }}{% endif %}ok"
    assert render("text", template, {"messages": [1]}) == "ok"
    with pytest.raises(RenderError) as info:
        render("text", template, {"messages": []})
    assert info.value.code == "template_raised"
    assert info.value.message == "Conversation is empty!"
    assert info.value.details["line"] == 1


def test_raise_exception_works_in_chat_message_templates():
    body = [{"role": "system", "content": "{{ raise_exception('No system messages, please') }}"}]
    with pytest.raises(RenderError) as info:
        render("chat", body, {})
    assert info.value.message == "No system messages, please"
    assert info.value.details["where"] == "messages[0].content"


# --------------------------------------------------------------------------- whitespace options

WHITESPACE = "<list>\n  {% for i in items %}\n  <item>{{ i }}</item>\n  {% endfor %}\n</list>\n"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"trim_blocks": True},
        {"lstrip_blocks": True},
        {"trim_blocks": True, "lstrip_blocks": True},
    ],
)
def test_whitespace_options_render_as_stock_jinja_with_the_same_settings(options):
    variables = {"items": [1, 2]}
    ours = render("text", WHITESPACE, variables, options=options)
    assert ours == stock(WHITESPACE, variables, **options)


def test_trim_and_lstrip_give_the_layout_their_authors_intended():
    ours = render(
        "text", WHITESPACE, {"items": [1, 2]}, options={"trim_blocks": True, "lstrip_blocks": True}
    )
    assert ours == "<list>\n  <item>1</item>\n  <item>2</item>\n</list>\n"


def test_options_are_part_of_the_content_hash_only_when_on():
    assert content_hash("text", "x") == content_hash("text", "x", {})
    assert content_hash("text", "x") == content_hash("text", "x", TemplateOptions())
    assert content_hash("text", "x", {"trim_blocks": True}) != content_hash("text", "x")


@pytest.mark.parametrize(
    "options, where",
    [({"trim": True}, "options.trim"), ({"trim_blocks": "yes"}, "options.trim_blocks"), ([], "options")],
)
def test_bad_options_are_refused_with_the_field(options, where):
    with pytest.raises(RenderError) as info:
        render("text", "x", {}, options=options)
    assert info.value.code == "invalid_options"
    assert info.value.details["where"] == where


# --------------------------------------------------------------------------- reserved names


def test_a_callers_examples_variable_is_refused_with_how_to_rename_it():
    with pytest.raises(RenderError) as info:
        render("text", "{{ examples|length }}", {"examples": ["mine"]}, examples=[])
    assert info.value.code == "reserved_variable"
    assert "user_examples" in info.value.message
    assert info.value.details["where"] == "variables.examples"


def test_examples_is_refused_even_without_a_pinned_set_and_in_example_inputs():
    with pytest.raises(RenderError) as info:
        render("text", "{{ examples }}", {"examples": []})
    assert info.value.code == "reserved_variable"
    body = [{"role": "system", "content": "s"}, {"role": "user", "content": "{{ q }}"}]
    with pytest.raises(RenderError) as info:
        render("chat", body, {"q": "x"}, examples=[{"input": {"q": 1, "examples": 2}, "output": "o"}])
    assert info.value.code == "reserved_variable"
    assert info.value.details["where"] == "examples[0].input.examples"


def test_a_global_helper_may_be_shadowed_by_a_variable_as_in_jinja():
    assert render("text", "{{ range }}", {"range": "1-5"}) == stock("{{ range }}", {"range": "1-5"})


# --------------------------------------------------------------------------- only data printed

UNPRINTABLE = [
    ("{{ ''.upper }}", "{{ ''.upper }}"),
    ("{{ (1, 2)|map('string') }}", "{{ (1, 2)|map('string') }}"),
    ("{{ self }}", "{{ self }}"),
    ("{% for i in [1] %}{{ loop }}{% endfor %}", "{{ loop }}"),
    ("{% for i in [1] %}{{ loop.cycle }}{% endfor %}", "{{ loop.cycle }}"),
    ("{{ cycler }}", "{{ cycler }}"),
    ("{{ cycler(1, 2) }}", "{{ cycler(1, 2) }}"),
    ("{{ range }}", "{{ range }}"),
    ("{{ range(3) }}", "{{ range(3) }}"),
    ("{{ dict }}", "{{ dict }}"),
    ("{{ namespace(a=1) }}", "{{ namespace(a=1) }}"),
    ("{{ joiner() }}", "{{ joiner() }}"),
    ("{% macro m() %}{% endmacro %}{{ m }}", "{{ m }}"),
    ("{{ {'a': 1}.items() }}", "{{ {'a': 1}.items() }}"),
    ("{{ [''.upper] }}", "{{ [''.upper] }}"),
    ("{{ {'k': ''.upper} }}", "{{ {'k': ''.upper} }}"),
    ("{{ ''.upper|string }}", None),
    ("{{ 'a' ~ ''.upper }}", None),
    ("{{ '%s' % ''.upper }}", None),
    ("{{ '{}'.format(''.upper) }}", None),
    ("{{ [1, 2]|join(''.upper) }}", None),
    ("{{ [''.upper]|join }}", None),
    ("{{ ''.upper|upper }}", None),
    ("{{ '%s'|format(''.upper) }}", None),
    ("{{ d.items() }}", "{{ d.items() }}"),
]


@pytest.mark.parametrize("template, expression", UNPRINTABLE)
def test_printing_anything_but_data_is_an_error_naming_the_expression_and_line(
    template, expression
):
    with pytest.raises(RenderError) as info:
        render("text", "first line\n" + template, {"d": {"a": 1}})
    error = info.value
    assert error.code == "unprintable_value", error.message
    assert error.details["line"] == 2
    assert "line 2" in error.message
    if expression:
        assert expression in error.message
        assert error.details["expression"] == expression
    assert not ADDRESS.search(error.message), error.message


def test_data_prints_as_stock_jinja_prints_it():
    template = "{{ items }} {{ obj }} {{ n }} {{ f }} {{ none }} {{ flag }} {{ items|map('upper')|list }}"
    variables = {"items": ["a", "b"], "obj": {"k": [1, 2]}, "n": 3, "f": 0.5, "none": None, "flag": True}
    assert render("text", template, variables) == stock(template, variables)


def test_a_missing_variable_inside_a_printed_list_is_reported_as_missing():
    with pytest.raises(MissingVariables) as info:
        render("text", "{{ [1, x] }}", {}) if False else render("text", "{% if c %}{{ [1, x] }}{% endif %}", {"c": 1})
    assert info.value.details["missing"] == ["x"]
