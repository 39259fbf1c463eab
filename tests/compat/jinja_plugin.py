"""pytest plugin that runs Jinja's own test suite against PromptLedger's template
environment (loaded with ``-p jinja_plugin`` by ``tests/compat/runner.py``; never by our
own suite).

Modes (``PL_JINJA_COMPAT_MODE``):

``product``
    Every environment the Jinja tests construct is PromptLedger's: ``jinja2.Environment``,
    ``jinja2.environment.Environment``, ``jinja2.Template``, ``jinja2.sandbox.
    SandboxedEnvironment`` / ``ImmutableSandboxedEnvironment`` and ``jinja2.nativetypes.
    NativeEnvironment`` / ``NativeTemplate`` are replaced (before Jinja's conftest and
    test modules are imported, so their ``from jinja2 import Environment`` and the
    ``env`` fixture get the replacement) by :class:`PromptLedgerEnvironment`, a subclass
    of the product's ``_PLEnvironment``:

    * constructor options (``Environment(...)``, ``Template(source, ...)``,
      ``env.overlay(...)``, or setting the attribute later) are forwarded when the
      product offers them (``trim_blocks`` / ``lstrip_blocks`` when ``_PLEnvironment``
      accepts them), accepted when their value is what the product uses anyway
      (``undefined=StrictUndefined``, ``autoescape=False``, ``keep_trailing_newline=True``
      ...), and otherwise refused with :class:`NotOffered` ("PromptLedger does not offer
      Environment(loader=...): ..."). A refused *construction* returns a placeholder that raises
      on first use, so a module-level ``Environment(extensions=[...])`` fails the tests
      that use it, not the whole module's collection;
    * ``env.from_string(source)`` compiles through the product's own compile routine
      (``_compile_uncached``: AST checks, variable analysis, loop weights), uncached;
    * ``template.render(...)`` is the product's ``_PLTemplate.render`` (JSON-only
      variables, required-variable check, limits, deadline, output checks). When the
      product answers with a ``RenderError`` that wraps a Jinja/Python exception (it
      always chains it), the original exception is re-raised, so a test expecting e.g.
      ``UndefinedError`` or ``SecurityError`` still checks the language, not our error
      taxonomy. ``MissingVariables`` from the product's check before rendering (a
      variable every path reads is not given) is StrictUndefined's error raised early:
      it becomes ``UndefinedError`` with the product's message. Any other ``RenderError``
      of the product's own (caps, JSON-only variables...) propagates unchanged;
    * ``generate``/``stream``/``module``/async stay refused by the product, and
      ``compile_expression`` is refused (the product evaluates nothing outside render());
    * adding globals (``env.globals[...]``, ``template.globals``, ``from_string(globals=)``)
      is refused: the product renders with its fixed globals and would silently ignore
      them. Filters and tests a test registers on its own environment are kept: the
      product compiles and runs with the environment's filters, so such a test still
      exercises the product.

Each test's record says whether it lexed, parsed, compiled or rendered anything with
the product environment (``used``), so the report can tell how many of the tests that
pass really exercised it.

``reference``
    Same swap, but for Jinja's own ``SandboxedEnvironment`` forced to
    ``undefined=StrictUndefined`` (the "stock" the product is compared with).

``stock``
    No swap: Jinja's suite as Jinja runs it (the baseline on this machine).

In every mode the outcome of each test (and each collection error) is written as JSON
to ``PL_JINJA_COMPAT_RESULTS``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import sys
from collections import ChainMap

import jinja2
import jinja2.environment
import jinja2.nativetypes
import jinja2.sandbox
import pytest
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.runtime import StrictUndefined

# Every jinja2 module is imported before the swap, so Jinja's own internals (e.g.
# jinja2.ext's ``from .environment import Environment``) keep the real classes: only
# what the *tests* construct is replaced.
for _module in pkgutil.iter_modules(jinja2.__path__):
    importlib.import_module(f"jinja2.{_module.name}")

MODE = os.environ.get("PL_JINJA_COMPAT_MODE", "product")
RESULTS = os.environ.get("PL_JINJA_COMPAT_RESULTS")

_REAL_ENV = jinja2.environment.Environment
_REAL_TEMPLATE = jinja2.environment.Template
_REAL_SANDBOX = jinja2.sandbox.SandboxedEnvironment
_REAL_IMMUTABLE = jinja2.sandbox.ImmutableSandboxedEnvironment

_ENV_SIG = inspect.signature(_REAL_ENV.__init__)
_TEMPLATE_SIG = inspect.signature(_REAL_TEMPLATE.__new__)
_ENV_OPTIONS = tuple(name for name in _ENV_SIG.parameters if name != "self")


class NotOffered(Exception):
    """The test asked the environment for something PromptLedger deliberately does not
    offer. (Not a BaseException: pytest's fixture teardown mishandles those. Jinja's
    suite has one ``pytest.raises(Exception)``, in test_debug, which then checks the
    traceback's content.)"""


def _refused(what: str, why: str) -> NotOffered:
    return NotOffered(f"PromptLedger does not offer {what}: {why}")


def _bind(sig: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    bound = sig.bind(None, *args, **kwargs)
    options = dict(bound.arguments)
    options.pop(next(iter(sig.parameters)))  # self / cls
    options.update(options.pop("kwargs", None) or {})
    return options


_COLLECTING = [True]  # set to False when collection ends
_USES = [0]  # lexing, parsing, compiling or rendering with the product environment


class _RefusedObject:
    """Stands for an environment or template that could not be built as the test asked.
    At test time any use raises the NotOffered that explains why. While test modules are
    being imported, uses chain silently (``env = Environment(extensions=[...])`` followed
    by ``env.globals.update(...)`` at module level), so the refusal fails the tests that
    use the object rather than the collection of the whole module."""

    def __init__(self, error: NotOffered) -> None:
        object.__setattr__(self, "_plc_error", error)

    def _plc_use(self):
        error = object.__getattribute__(self, "_plc_error")
        if _COLLECTING[0]:
            return _RefusedObject(error)
        raise error

    def __getattribute__(self, name):
        if name in ("_plc_error", "_plc_use", "__class__", "__repr__", "__dict__"):
            return object.__getattribute__(self, name)
        return object.__getattribute__(self, "_plc_use")()

    def __setattr__(self, name, value):
        self._plc_use()

    def __call__(self, *args, **kwargs):
        return self._plc_use()

    def __getitem__(self, key):
        return self._plc_use()

    def __setitem__(self, key, value):
        self._plc_use()

    def __repr__(self) -> str:
        return f"<refused: {object.__getattribute__(self, '_plc_error')}>"


# --------------------------------------------------------------------------- product mode


def _install_product() -> None:
    from jinja2.exceptions import UndefinedError

    from promptledger.rendering import MissingVariables, RenderError
    from promptledger.rendering import environment as plenv
    from promptledger.rendering.errors import DEFAULT_LIMITS

    _PLEnvironment = plenv._PLEnvironment
    _PLTemplate = plenv._PLTemplate
    init_params = inspect.signature(_PLEnvironment.__init__).parameters
    compile_params = inspect.signature(plenv._compile_uncached).parameters

    # How the product takes the whitespace options, if it does: keywords, or an
    # ``options`` object (TemplateOptions).
    if "trim_blocks" in init_params and "lstrip_blocks" in init_params:
        whitespace = ("trim_blocks", "lstrip_blocks")

        def product_init_kwargs(ws: dict) -> dict:
            return dict(ws)

    elif "options" in init_params and hasattr(plenv, "TemplateOptions"):
        whitespace = ("trim_blocks", "lstrip_blocks")

        def product_init_kwargs(ws: dict) -> dict:
            return {"options": plenv.TemplateOptions(**ws)} if ws else {}

    else:
        whitespace = ()

        def product_init_kwargs(ws: dict) -> dict:
            return {}

    reference = _PLEnvironment()

    same_checks = {
        "undefined": lambda v: v is reference.undefined,
        "autoescape": lambda v: v is False or v == reference.autoescape,
        "finalize": lambda v: v is None,
        "extensions": lambda v: not v,
        "loader": lambda v: v is None,
        "enable_async": lambda v: not v,
        "bytecode_cache": lambda v: v is None,
        "optimized": lambda v: v == reference.optimized,
        # loader caching only: no effect on a template compiled from a string
        "cache_size": lambda v: True,
        "auto_reload": lambda v: True,
    }
    why = {
        "undefined": "undefined values are always StrictUndefined",
        "autoescape": "no autoescaping (prompts are plain text, not HTML)",
        "finalize": "{{ }} output goes through the product's own finalize (output checks)",
        "extensions": "no extensions",
        "loader": "no loader (templates are self-contained: no include/import/extends)",
        "enable_async": "rendering happens only through render() (no async)",
        "bytecode_cache": "internal API (compiler/bytecode cache)",
        "optimized": "internal API (the optimizer is always off)",
        "keep_trailing_newline": "the trailing newline is always kept",
        "newline_sequence": "newlines are never rewritten",
        "trim_blocks": "whitespace options are not offered",
        "lstrip_blocks": "whitespace options are not offered",
    }
    for name in (
        "block_start_string",
        "block_end_string",
        "variable_start_string",
        "variable_end_string",
        "comment_start_string",
        "comment_end_string",
        "line_statement_prefix",
        "line_comment_prefix",
    ):
        why[name] = "custom delimiters and line statements are not offered"

    def is_same(name: str, value) -> bool:
        check = same_checks.get(name)
        if check is not None:
            return bool(check(value))
        attr = "is_async" if name == "enable_async" else name
        return value == getattr(reference, attr)

    def check_options(what: str, options: dict) -> dict:
        """Whitespace options to forward; raises NotOffered (naming every refused
        option) for anything else the product does not do."""
        forward = {}
        refused = []
        for name, value in options.items():
            if name in whitespace:
                forward[name] = value
            elif not is_same(name, value):
                refused.append((name, value))
        if refused:
            args = ", ".join(f"{n}={v!r}" for n, v in refused)
            reasons = "; ".join(
                dict.fromkeys(why.get(n, "not a product option") for n, _ in refused)
            )
            raise _refused(f"{what}({args})", reasons)
        return forward

    # class attributes a subclass (``class MyEnv(Environment)``) may override
    class_attrs = (
        "context_class",
        "code_generator_class",
        "concat",
        "sandboxed",
        "intercepted_binops",
        "intercepted_unops",
        "shared",
    )

    def check_class(cls: type) -> None:
        changed = [
            a for a in class_attrs if getattr(cls, a, None) is not getattr(_PLEnvironment, a, None)
        ]
        if changed:
            raise _refused(
                f"a subclass overriding {', '.join(changed)}",
                "internal API (the product's compiler, context and guards are fixed)",
            )

    class FixedDict(dict):
        """env.globals / template.globals: the product renders with its own fixed
        globals, so a test's additions would silently do nothing; refuse them."""

        def _refuse(self, *args, **kwargs):
            raise _refused(
                "adding globals (env.globals / template.globals / from_string(globals=))",
                "the globals are fixed: range, dict, namespace, cycler, joiner, lipsum and "
                "the product's helpers",
            )

        __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _refuse

    # attributes that configure the environment: setting one later is an option too
    config_attrs = frozenset(_ENV_OPTIONS) - {"enable_async", "extensions", "cache_size"} | {
        "is_async",
        "intercepted_binops",
        "intercepted_unops",
        "binop_table",
        "unop_table",
        "code_generator_class",
        "context_class",
        "template_class",
        "concat",
        "sandboxed",
        "globals",
    }

    def unwrap(err: BaseException) -> BaseException | None:
        """The Jinja/Python exception a product RenderError wraps, if any."""
        cause = err.__cause__
        if cause is not None and cause is not err and not isinstance(cause, RenderError):
            return cause
        context = err.__context__
        if cause is None and isinstance(context, TemplateSyntaxError):
            return context
        return None

    class PromptLedgerTemplate(_PLTemplate):
        """The product's template class; ``Template(source, **options)`` builds it with
        a PromptLedgerEnvironment."""

        def __new__(cls, source, *args, **kwargs):
            given = _bind(_TEMPLATE_SIG, (source, *args), kwargs)
            given.pop("source")
            defaults = {
                n: p.default
                for n, p in _TEMPLATE_SIG.parameters.items()
                if p.default is not p.empty
            }
            options = {n: v for n, v in given.items() if not (n in defaults and v is defaults[n])}
            env = PromptLedgerEnvironment(**options)
            return env.from_string(source)

        def render(self, *args, **kwargs):
            _USES[0] += 1
            try:
                return super().render(*args, **kwargs)
            except MissingVariables as err:
                original = unwrap(err)
                if original is not None:
                    raise original from err
                # the product's up-front check: StrictUndefined's error, raised early
                raise UndefinedError(str(err)) from err
            except RenderError as err:
                original = unwrap(err)
                if original is None:
                    raise
                raise original from err

    class PromptLedgerEnvironment(_PLEnvironment):
        """The product environment, built from Jinja Environment() arguments."""

        template_class = PromptLedgerTemplate

        def __new__(cls, *args, **kwargs):
            try:
                check_class(cls)
                options = _bind(_ENV_SIG, args, kwargs)
                check_options("Environment", options)
            except NotOffered as error:
                return _RefusedObject(error)
            return super().__new__(cls)

        def __init__(self, *args, **kwargs):
            forward = check_options("Environment", _bind(_ENV_SIG, args, kwargs))
            object.__setattr__(self, "_plc_ready", False)
            super().__init__(**product_init_kwargs(forward))
            object.__setattr__(self, "globals", FixedDict(self.globals))
            object.__setattr__(self, "_plc_ready", True)

        def make_globals(self, d):
            if d:
                FixedDict()._refuse()
            return ChainMap(FixedDict(), self.globals)

        def __setattr__(self, name, value):
            if (
                self.__dict__.get("_plc_ready")
                and name in config_attrs
                and name not in whitespace
                and value != getattr(self, name, None)
            ):
                raise _refused(
                    f"setting env.{name} = {value!r}",
                    why.get(name, "internal API (the product's guards are fixed)"),
                )
            super().__setattr__(name, value)

        def overlay(self, **kwargs):
            forward = check_options("overlay", kwargs)
            rv = super().overlay()
            object.__setattr__(rv, "_plc_ready", False)
            for name, value in forward.items():
                setattr(rv, name, value)
            object.__setattr__(rv, "_plc_ready", True)
            return rv

        def add_extension(self, extension):
            raise _refused("add_extension()", why["extensions"])

        def compile_expression(self, source, undefined_to_none=True):
            raise _refused("compile_expression()", "template code runs only inside render()")

        def _parse(self, source, name, filename):
            _USES[0] += 1
            return super()._parse(source, name, filename)

        def _tokenize(self, source, name, filename=None, state=None):
            _USES[0] += 1
            return super()._tokenize(source, name, filename, state)

        def lex(self, source, name=None, filename=None):
            _USES[0] += 1
            return super().lex(source, name, filename)

        def from_string(self, source, globals=None, template_class=None):
            _USES[0] += 1
            if isinstance(source, nodes.Template):  # an AST (the product compiles one)
                return super().from_string(source, globals, template_class)
            if globals:
                FixedDict()._refuse()
            if template_class is not None:
                raise _refused("from_string(template_class=...)", "internal API")
            if len(source) > DEFAULT_LIMITS.max_template_chars:
                raise plenv._template_too_big(len(source), DEFAULT_LIMITS, "template")
            try:
                if "env" in compile_params:
                    return plenv._compile_uncached(source, "template", self)
                saved, plenv._ENV = plenv._ENV, self
                try:
                    return plenv._compile_uncached(source, "template")
                finally:
                    plenv._ENV = saved
            except RenderError as err:
                original = unwrap(err)
                if original is None:
                    raise
                raise original from err

    class NotOfferedNative:
        def __new__(cls, *args, **kwargs):
            return _RefusedObject(
                _refused(
                    "NativeEnvironment / NativeTemplate",
                    "a different renderer (native Python values); prompts render to text",
                )
            )

    _publish(PromptLedgerEnvironment, PromptLedgerTemplate)
    _patch(
        env=PromptLedgerEnvironment,
        template=PromptLedgerTemplate,
        sandboxed=PromptLedgerEnvironment,
        immutable=PromptLedgerEnvironment,
        native=NotOfferedNative,
        native_template=NotOfferedNative,
    )

    # smoke: the swap is in place and renders through the product
    assert jinja2.Environment().from_string("{{ 1 + x }}").render(x=1) == "2"


# --------------------------------------------------------------------------- reference mode


def _install_reference() -> None:
    def strict(cls_name: str, base: type) -> type:
        def __init__(self, *args, **kwargs):
            options = _bind(_ENV_SIG, args, kwargs)
            options["undefined"] = StrictUndefined
            base.__init__(self, **options)

        return type(cls_name, (base,), {"__init__": __init__})

    sandboxed = strict("ReferenceSandboxedEnvironment", _REAL_SANDBOX)
    immutable = strict("ReferenceImmutableSandboxedEnvironment", _REAL_IMMUTABLE)
    template = type("ReferenceTemplate", (_REAL_TEMPLATE,), {"environment_class": sandboxed})
    sandboxed.template_class = template
    immutable.template_class = template
    _publish(sandboxed, immutable, template)
    _patch(env=sandboxed, template=template, sandboxed=sandboxed, immutable=immutable)


def _publish(*classes: type) -> None:
    """Module-level names for the replacement classes, so pickle finds them."""
    for cls in classes:
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls


def _patch(**new) -> None:
    if "env" in new:
        jinja2.Environment = new["env"]
        jinja2.environment.Environment = new["env"]
    if "template" in new:
        jinja2.Template = new["template"]
    if "sandboxed" in new:
        jinja2.sandbox.SandboxedEnvironment = new["sandboxed"]
    if "immutable" in new:
        jinja2.sandbox.ImmutableSandboxedEnvironment = new["immutable"]
    if "native" in new:
        jinja2.nativetypes.NativeEnvironment = new["native"]
        jinja2.nativetypes.NativeTemplate = new["native_template"]


if MODE == "product":
    _install_product()
elif MODE == "reference":
    _install_reference()
elif MODE != "stock":
    raise SystemExit(f"PL_JINJA_COMPAT_MODE must be product, reference or stock, not {MODE!r}")


# --------------------------------------------------------------------------- results

_outcomes: dict[str, dict] = {}
_collect_errors: dict[str, str] = {}


def _message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    else:
        text = str(report.longrepr)
    return text[:1500]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = _USES[0]
    yield
    entry = _outcomes.get(item.nodeid)
    if entry is not None:
        entry["used"] = _USES[0] > before


def pytest_runtest_logreport(report) -> None:
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.failed:
        if entry["outcome"] != "failed":
            entry["outcome"] = "failed"
            entry["message"] = f"[{report.when}] {_message(report)}"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"


def pytest_collectreport(report) -> None:
    if report.failed:
        _collect_errors[report.nodeid] = _message(report)


def pytest_collection_finish(session) -> None:
    """Check the swap reached every test module (the ``Environment`` they imported)."""
    _COLLECTING[0] = False
    if MODE == "stock":
        return
    for item in session.items:
        module = getattr(item, "module", None)
        bound = getattr(module, "Environment", None)
        if bound is not None and bound is not jinja2.Environment:
            pytest.exit(
                f"{module.__name__}.Environment is {bound!r}, not the replacement: the "
                "plugin was loaded too late",
                returncode=3,
            )


def pytest_sessionfinish(session, exitstatus) -> None:
    if not RESULTS:
        return
    with open(RESULTS, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "mode": MODE,
                "jinja2": jinja2.__version__,
                "tests": _outcomes,
                "collect_errors": _collect_errors,
                # must stay False: Jinja's suite runs without our Django test setup
                "django_loaded": "django" in sys.modules,
            },
            fh,
            indent=1,
            sort_keys=True,
        )
