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

Modules: ``errors`` (errors and limits), ``guards`` (per-render state and every
guarded operation), ``environment`` (compiler, AST checks, environment, cache),
``schema`` (variable schemas) and ``render`` (body shapes and the entry points).
This package's public names are the only contract; the modules are not.
"""

from __future__ import annotations

from .environment import (
    DEFAULT_OPTIONS,
    RESERVED_VARIABLES,
    TemplateOptions,
    compile_template,
)
from .errors import (
    DEFAULT_LIMITS,
    InvalidVariables,
    MissingVariables,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    SandboxViolation,
    TemplateRaised,
    TemplateSyntaxProblem,
    UnprintableValue,
)
from .render import (
    CHAT_ROLES,
    KIND_CHAT,
    KIND_TEXT,
    content_hash,
    infer_schema,
    infer_variables,
    render,
    validate_template,
)
from .schema import check_variables_schema, json_schema_errors, validate_variables

__all__ = [
    "CHAT_ROLES",
    "DEFAULT_LIMITS",
    "KIND_CHAT",
    "KIND_TEXT",
    "RESERVED_VARIABLES",
    "InvalidVariables",
    "MissingVariables",
    "RenderError",
    "RenderLimitExceeded",
    "RenderLimits",
    "SandboxViolation",
    "TemplateOptions",
    "TemplateRaised",
    "TemplateSyntaxProblem",
    "UnprintableValue",
    "DEFAULT_OPTIONS",
    "check_variables_schema",
    "json_schema_errors",
    "compile_template",
    "content_hash",
    "infer_schema",
    "infer_variables",
    "render",
    "validate_template",
    "validate_variables",
]
