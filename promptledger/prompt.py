"""A resolved prompt version, rendered locally with the renderer the server uses."""

from __future__ import annotations

import copy
from typing import Any

from promptledger import rendering

__all__ = ["Prompt"]

KINDS = (rendering.KIND_TEXT, rendering.KIND_CHAT)


class Prompt:
    """One prompt version as the server resolved it (``GET .../resolve``).

    Instances are shared by every caller that gets them from the cache: treat the
    attributes as read-only (``to_dict()`` returns a copy you may change).

    Attributes: ``name``, ``kind`` ("text" or "chat"), ``version`` (int; None for a
    fallback), ``label`` (the label it was resolved through, None when fetched by
    version), ``template`` (text) or ``messages`` (chat), ``examples`` (pinned
    few-shot examples), ``example_set``, ``model_config``, ``template_options``
    (Jinja's ``trim_blocks``/``lstrip_blocks`` as the version set them), ``variables_schema``,
    ``content_hash``, ``created_at``, ``is_fallback``.
    """

    __slots__ = (
        "name",
        "kind",
        "version",
        "label",
        "template",
        "messages",
        "examples",
        "example_set",
        "model_config",
        "template_options",
        "variables_schema",
        "content_hash",
        "created_at",
        "is_fallback",
        "_payload",
        "_body",
        "_schema",
        "_examples",
        "_requested_version",
    )

    name: str
    kind: str
    version: int | None
    label: str | None
    template: str | None
    messages: list[dict[str, str]] | None
    examples: list[dict[str, Any]]
    example_set: dict[str, Any] | None
    model_config: dict[str, Any]
    template_options: dict[str, bool]
    variables_schema: dict[str, Any] | None
    content_hash: str
    created_at: str | None
    is_fallback: bool
    _body: Any
    _schema: Any
    _examples: list[dict[str, Any]]

    def __init__(self, payload: dict[str, Any], *, is_fallback: bool = False) -> None:
        kind = payload.get("kind")
        if kind not in KINDS:
            raise ValueError(f"Unknown prompt kind {kind!r}: expected 'text' or 'chat'.")
        self._payload = payload
        self.name = payload["prompt"]
        self.kind = kind
        self.version = payload.get("version")
        self.label = payload.get("label")
        self.template = payload.get("template")
        self.messages = payload.get("messages")
        self.examples = list(payload.get("examples") or [])
        self.example_set = payload.get("example_set")
        self.model_config = dict(payload.get("model_config") or {})
        # Jinja whitespace options the version was written for (trim_blocks, lstrip_blocks)
        self.template_options = dict(payload.get("template_options") or {})
        self.variables_schema = payload.get("variables")
        self.content_hash = payload.get("content_hash") or ""
        self.created_at = payload.get("created_at")
        self.is_fallback = is_fallback
        self._requested_version: int | None = None
        # Private deep copies: a caller editing prompt.messages cannot change what renders.
        body = self.messages if kind == rendering.KIND_CHAT else self.template
        self._body = copy.deepcopy(body)
        self._schema = copy.deepcopy(self.variables_schema)
        self._examples = copy.deepcopy(self.examples)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Prompt:
        """A Prompt from the JSON body of ``GET /api/v1/prompts/{name}/resolve``."""
        if not isinstance(payload, dict) or "prompt" not in payload:
            raise ValueError("Not a resolve payload: expected an object with 'prompt' and 'kind'.")
        return cls(payload)

    @classmethod
    def fallback(
        cls,
        name: str,
        body: str | list[dict[str, str]],
        *,
        label: str | None = None,
        version: int | None = None,
        model_config: dict[str, Any] | None = None,
        template_options: dict[str, bool] | None = None,
    ) -> Prompt:
        """A prompt built locally from a fallback template (str: text; list of
        {role, content}: chat), for a cold start with no server. ``version`` is None;
        ``is_fallback`` is True."""
        if isinstance(body, str):
            kind = rendering.KIND_TEXT
        elif isinstance(body, (list, tuple)):
            kind = rendering.KIND_CHAT
            body = [dict(message) for message in body]
        else:
            raise TypeError(
                "fallback must be a template string (text) or a list of messages (chat)."
            )
        payload: dict[str, Any] = {
            "prompt": name,
            "kind": kind,
            "version": None,
            "label": label,
            "template": body if kind == rendering.KIND_TEXT else None,
            "messages": body if kind == rendering.KIND_CHAT else None,
            "examples": [],
            "example_set": None,
            "model_config": dict(model_config or {}),
            "template_options": dict(template_options or {}),
            "variables": None,
            "content_hash": rendering.content_hash(kind, body, template_options),
            "created_at": None,
        }
        prompt = cls(payload, is_fallback=True)
        prompt._requested_version = version
        return prompt

    # ------------------------------------------------------------------ use

    def render(
        self, variables: dict[str, Any] | None = None, /, **kwargs: Any
    ) -> str | list[dict[str, str]]:
        """Render with the given variables (a dict, keyword arguments, or both).

        Returns the text (text prompts) or a list of ``{"role", "content"}`` messages
        (chat prompts, pinned examples included), byte for byte what
        ``POST /api/v1/prompts/{name}/render`` returns for the same version. Raises
        :class:`promptledger.RenderError` (missing or invalid variables, limits...).
        """
        if variables is None:
            values = kwargs
        else:
            if not isinstance(variables, dict):
                raise TypeError("render() takes a dict of variables and/or keyword arguments.")
            values = {**variables, **kwargs} if kwargs else variables
        return rendering.render(
            self.kind,
            self._body,
            values,
            examples=self._examples,
            schema=self._schema,
            options=self.template_options or None,
        )

    @property
    def variable_names(self) -> list[str]:
        """The declared variables (from the schema), or those the template uses."""
        schema = self._schema
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
            return list(schema["properties"])
        return rendering.infer_variables(self.kind, self._body, self.template_options or None)

    @property
    def body(self) -> str | list[dict[str, str]]:
        """The template (text) or the message list (chat)."""
        body: str | list[dict[str, str]] = copy.deepcopy(self._body)
        return body

    def to_dict(self) -> dict[str, Any]:
        """The resolve payload (a copy)."""
        return copy.deepcopy(self._payload)

    def __repr__(self) -> str:
        where = "fallback" if self.is_fallback else f"v{self.version}"
        label = f" label={self.label!r}" if self.label else ""
        return f"<Prompt {self.name!r} {self.kind} {where}{label}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prompt):
            return NotImplemented
        return self._payload == other._payload and self.is_fallback == other.is_fallback

    __hash__ = None  # type: ignore[assignment]
