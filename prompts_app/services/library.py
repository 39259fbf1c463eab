"""The library's writes: projects, keys, prompts, versions, labels, example sets.

Keyword-only, typed, `<entity>_<action>`. Each validates its input and raises
`DomainError` (or a `RenderError` from the renderer) before touching a row, so
a rejected request changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from promptledger import rendering
from prompts_app.errors import Conflict, DomainError, NotFound
from prompts_app.infra import cache as resolve_cache
from prompts_app.infra import keycache
from prompts_app.lib.jsonutil import sha256_of
from prompts_app.models import (
    ApiKey,
    EvalRun,
    Example,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.services import evals, validation
from prompts_app.services.pricing import price_sheet_seed

# --- projects and keys -----------------------------------------------------


@transaction.atomic
def project_get_or_create(*, name: str) -> tuple[Project, bool]:
    """A project by name; a new one starts with a copy of the default price sheet."""
    validation.check_slug(name, field="project")
    project, created = Project.objects.get_or_create(name=name)
    if created:
        price_sheet_seed(project=project)
    return project, created


@transaction.atomic
def api_key_create(*, project: Project, scopes: list[str], name: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns it with the raw secret, which is never stored or shown again."""
    unknown = sorted(set(scopes) - set(ApiKey.SCOPES))
    if unknown or not scopes:
        raise DomainError(
            f"Scopes must be a non-empty subset of {', '.join(ApiKey.SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            field="scopes",
        )
    raw = ApiKey.new_raw_key()
    key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=raw[:10],
        hashed_key=ApiKey.hash_raw(raw),
        scopes=sorted(set(scopes), key=ApiKey.SCOPES.index),
    )
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    keycache.forget(api_key.hashed_key)
    return api_key


# --- prompts ----------------------------------------------------------------


@transaction.atomic
def prompt_create(
    *,
    project: Project,
    name: str,
    kind: str = Prompt.KIND_TEXT,
    description: str = "",
    tags: list[str] | None = None,
    protect_production: bool | None = None,
) -> Prompt:
    """A new prompt, without versions. `protect_production` left as None takes the
    project's `protect_production_by_default` (on unless the project turned it off)."""
    validation.check_slug(name, field="name")
    if protect_production is None:
        protect_production = project.protect_production_by_default
    if kind not in (Prompt.KIND_TEXT, Prompt.KIND_CHAT):
        raise DomainError("'kind' must be 'text' or 'chat'.", field="kind")
    description = validation.check_text(
        description, field="description", limit=validation.MAX_DESCRIPTION_CHARS
    )
    if Prompt.objects.filter(project=project, name=name).exists():
        raise Conflict(f"A prompt named '{name}' already exists in this project.", field="name")
    try:
        with transaction.atomic():
            return Prompt.objects.create(
                project=project,
                name=name,
                kind=kind,
                description=description,
                tags=validation.check_tags(tags),
                protect_production=bool(protect_production),
            )
    except IntegrityError:
        raise Conflict(
            f"A prompt named '{name}' already exists in this project.", field="name"
        ) from None


def prompt_update(
    *,
    prompt: Prompt,
    description: str | None = None,
    tags: list[str] | None = None,
    protect_production: bool | None = None,
) -> Prompt:
    """Change a prompt's metadata (never its content: that is a new version)."""
    fields = []
    if description is not None:
        prompt.description = validation.check_text(
            description, field="description", limit=validation.MAX_DESCRIPTION_CHARS
        )
        fields.append("description")
    if tags is not None:
        prompt.tags = validation.check_tags(tags)
        fields.append("tags")
    if protect_production is not None:
        prompt.protect_production = bool(protect_production)
        fields.append("protect_production")
    if fields:
        prompt.save(update_fields=fields)
    return prompt


def version_content_hash(
    *,
    kind: str,
    body: Any,
    variables: dict,
    model_config: dict,
    examples_hash: str | None,
    template_options: Any = None,
) -> str:
    """Hash of everything that makes a version render and run the way it does."""
    return sha256_of(
        {
            "body": rendering.content_hash(kind, body, template_options),
            "variables": variables,
            "model_config": model_config,
            "examples": examples_hash,
        }
    )


@transaction.atomic
def prompt_version_create(
    *,
    prompt: Prompt,
    template: str | None = None,
    messages: list[dict] | None = None,
    variables: dict | None = None,
    model_config: dict | None = None,
    example_set_version: ExampleSetVersion | None = None,
    message: str = "",
    author: str = "",
    template_options: dict | None = None,
    based_on_version: int | None = None,
) -> PromptVersion:
    """Create version n+1. Numbers stay gap-free and unique under concurrent writers
    because the prompt row is locked while the number is taken.

    `based_on_version` is the version the edit started from (0: the prompt had
    none). When given and no longer the latest (someone saved a newer version
    in between), nothing is stored and a `Conflict` with code `stale_base` says
    so; checked under the same lock, so of two writers with the same base exactly
    one wins.
    """
    if based_on_version is not None and (
        isinstance(based_on_version, bool)
        or not isinstance(based_on_version, int)
        or based_on_version < 0
    ):
        raise DomainError(
            "'based_on_version' must be a version number (0 for a prompt with no versions).",
            field="based_on_version",
        )
    body = validation.prompt_body_clean(prompt.kind, template, messages)
    options = rendering.TemplateOptions.of(template_options)
    rendering.validate_template(prompt.kind, body, options=options)
    schema = (
        validation.schema_clean(variables)
        if variables is not None
        else rendering.infer_schema(prompt.kind, body, options)
    )
    if variables is not None:
        rendering.check_variables_schema(schema)  # JSON Schema 2020-12, every keyword enforceable
    config = validation.model_config_clean(model_config)
    message = validation.check_text(message, field="message", limit=validation.MAX_MESSAGE_CHARS)
    if (
        example_set_version is not None
        and example_set_version.example_set.project_id != prompt.project_id
    ):
        raise DomainError(
            "The example set belongs to another project.", field="example_set_version"
        )

    locked = Prompt.objects.select_for_update().get(pk=prompt.pk)
    latest = locked.latest_version_number
    if based_on_version is not None and based_on_version != latest:
        raise Conflict(
            f"This edit is based on version {based_on_version}, but '{prompt.name}' is at "
            f"version {latest} now: someone saved a newer version in between. Fetch version "
            f"{latest}, diff it against version {based_on_version}, re-apply your change to "
            f"it and send it with based_on_version {latest}.",
            field="based_on_version",
            code="stale_base",
            details={"based_on_version": based_on_version, "latest_version": latest},
        )
    number = latest + 1
    Prompt.objects.filter(pk=prompt.pk).update(latest_version_number=number)
    prompt.latest_version_number = number
    version = PromptVersion.objects.create(
        prompt=prompt,
        number=number,
        template=body if prompt.kind == Prompt.KIND_TEXT else "",
        messages=body if prompt.kind == Prompt.KIND_CHAT else None,
        variables=schema,
        model_config=config,
        trim_blocks=options.trim_blocks,
        lstrip_blocks=options.lstrip_blocks,
        example_set_version=example_set_version,
        message=message,
        author=author[:150],
        content_hash=version_content_hash(
            kind=prompt.kind,
            body=body,
            variables=schema,
            model_config=config,
            examples_hash=example_set_version.content_hash if example_set_version else None,
            template_options=options,
        ),
    )
    transaction.on_commit(lambda: resolve_cache.invalidate_prompt(prompt))
    evals.eval_run_create(version=version, trigger=EvalRun.TRIGGER_AUTO, requested_by=author)
    return version


@transaction.atomic
def prompt_create_with_version(
    *,
    project: Project,
    name: str,
    kind: str = Prompt.KIND_TEXT,
    description: str = "",
    tags: list[str] | None = None,
    protect_production: bool | None = None,
    template: str | None = None,
    messages: list[dict] | None = None,
    variables: dict | None = None,
    model_config: dict | None = None,
    example_set_version: ExampleSetVersion | None = None,
    message: str = "",
    author: str = "",
    template_options: dict | None = None,
) -> tuple[Prompt, PromptVersion]:
    """A new prompt with its first version, or (a rejected template, a taken
    name) nothing at all."""
    prompt = prompt_create(
        project=project, name=name, kind=kind, description=description, tags=tags,
        protect_production=protect_production,
    )
    version = prompt_version_create(
        prompt=prompt, template=template, messages=messages, variables=variables,
        model_config=model_config, example_set_version=example_set_version, message=message,
        author=author, template_options=template_options, based_on_version=0,
    )
    return prompt, version


@transaction.atomic
def prompt_edit(
    *,
    prompt: Prompt,
    content: dict[str, Any] | None = None,
    based_on_version: int | None = None,
    author: str = "",
    description: str | None = None,
    tags: list[str] | None = None,
    protect_production: bool | None = None,
) -> PromptVersion | None:
    """One edit of a prompt: the next version when `content` is given (the
    keyword arguments of `prompt_version_create`, checked against
    `based_on_version`), then its metadata. All or nothing: a rejected template
    or a stale base leaves the metadata unchanged too. Returns the new version,
    or None when only metadata changed."""
    version = None
    if content is not None:
        version = prompt_version_create(
            prompt=prompt, author=author, based_on_version=based_on_version, **content
        )
    prompt_update(prompt=prompt, description=description, tags=tags, protect_production=protect_production)
    return version


# --- labels -----------------------------------------------------------------


class GateRefused(Conflict):
    code = "promotion_refused"


@transaction.atomic
def label_move(
    *,
    prompt: Prompt,
    label: str,
    version_number: Any,
    reason: str = "",
    actor: str = "",
    force: bool = False,
) -> Label:
    """Point a label at a version and record the move.

    A protected `production` only moves to a version whose latest eval run
    passed, unless forced with a written reason (kept in the history).
    """
    validation.check_slug(label, field="label")
    if label == Label.LATEST:
        raise DomainError(
            "'latest' is implicit (the newest version) and cannot be moved.", field="label"
        )
    if (
        isinstance(version_number, bool)
        or not isinstance(version_number, int)
        or version_number < 1
    ):
        raise DomainError("'version' must be a positive integer.", field="version")
    reason = validation.check_text(reason, field="reason", limit=validation.MAX_MESSAGE_CHARS)
    version = PromptVersion.objects.filter(prompt=prompt, number=version_number).first()
    if version is None:
        raise NotFound(f"Prompt '{prompt.name}' has no version {version_number}.", field="version")

    Prompt.objects.select_for_update().get(pk=prompt.pk)  # one label move per prompt at a time
    current = Label.objects.filter(prompt=prompt, name=label).select_related("version").first()
    if current is not None and current.version_id == version.pk:
        return current

    forced = False
    if label == Label.PRODUCTION and prompt.protect_production:
        refusal = evals.production_gate_refusal(version)
        if refusal:
            if not force:
                raise GateRefused(
                    f"Production is protected: {refusal} Fix the version, or force the move "
                    "with a written reason.",
                    field="version",
                )
            if not reason.strip():
                raise DomainError("A forced promotion needs a written reason.", field="reason")
            forced = True

    now = timezone.now()
    if current is None:
        current = Label.objects.create(
            prompt=prompt, name=label, version=version, updated_at=now, updated_by=actor[:150]
        )
        from_version = None
    else:
        from_version = current.version
        current.version = version
        current.updated_at = now
        current.updated_by = actor[:150]
        current.save(update_fields=["version", "updated_at", "updated_by"])
    LabelMove.objects.create(
        prompt=prompt,
        label=label,
        from_version=from_version,
        to_version=version,
        moved_by=actor[:150],
        moved_at=now,
        reason=reason,
        forced=forced,
    )
    transaction.on_commit(lambda: resolve_cache.invalidate_prompt(prompt))
    return current


# --- example sets -----------------------------------------------------------


@transaction.atomic
def example_set_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    examples: list[dict] | None = None,
    message: str = "",
    author: str = "",
) -> ExampleSet:
    """A new example set; with `examples`, its version 1 too (all or nothing)."""
    validation.check_slug(name, field="name")
    description = validation.check_text(
        description, field="description", limit=validation.MAX_DESCRIPTION_CHARS
    )
    if examples is not None:
        validation.examples_clean(examples)
        validation.check_text(message, field="message", limit=validation.MAX_MESSAGE_CHARS)
    if ExampleSet.objects.filter(project=project, name=name).exists():
        raise Conflict(
            f"An example set named '{name}' already exists in this project.", field="name"
        )
    example_set = ExampleSet.objects.create(project=project, name=name, description=description)
    if examples is not None:
        example_set_version_create(
            example_set=example_set, examples=examples, message=message, author=author
        )
    return example_set


@transaction.atomic
def example_set_version_create(
    *, example_set: ExampleSet, examples: list[dict], message: str = "", author: str = ""
) -> ExampleSetVersion:
    cleaned = validation.examples_clean(examples)
    message = validation.check_text(message, field="message", limit=validation.MAX_MESSAGE_CHARS)
    locked = ExampleSet.objects.select_for_update().get(pk=example_set.pk)
    number = locked.latest_version_number + 1
    ExampleSet.objects.filter(pk=example_set.pk).update(latest_version_number=number)
    example_set.latest_version_number = number
    version = ExampleSetVersion.objects.create(
        example_set=example_set,
        number=number,
        message=message,
        author=author[:150],
        content_hash=sha256_of(cleaned),
    )
    Example.objects.bulk_create(
        Example(example_set_version=version, position=i, **item) for i, item in enumerate(cleaned)
    )
    return version


@transaction.atomic
def example_set_examples_approve(
    *,
    example_set: ExampleSet,
    base_version: int,
    approvals: dict[int, bool],
    message: str = "",
    author: str = "",
) -> ExampleSetVersion | None:
    """Approve or unapprove examples of the latest version by position (0-based):
    a new version with only those flags changed. `base_version` is the version
    the person saw; a newer one raises Conflict. None when nothing changes."""
    locked = ExampleSet.objects.select_for_update().get(pk=example_set.pk)
    if locked.latest_version_number != base_version:
        raise Conflict(
            f"Example set '{example_set.name}' is at version {locked.latest_version_number}, "
            f"not {base_version}: someone saved a newer version. Reload and try again.",
            field="version",
        )
    base = ExampleSetVersion.objects.get(example_set=example_set, number=base_version)
    examples = [
        {"input": ex.input, "output": ex.output, "tags": list(ex.tags or []), "approved": ex.approved}
        for ex in base.examples.order_by("position")
    ]
    changed = []
    for position, approved in approvals.items():
        if not isinstance(position, int) or not 0 <= position < len(examples):
            raise DomainError(f"Version {base_version} has no example at position {position!r}.",
                              field="examples")
        if not isinstance(approved, bool):
            raise DomainError("An approval must be true or false.", field="approved")
        if examples[position]["approved"] != approved:
            examples[position]["approved"] = approved
            changed.append((position, approved))
    if not changed:
        return None
    if not message:
        text = "; ".join(f"{'approved' if ok else 'unapproved'} #{position + 1}" for position, ok in sorted(changed))
        message = text[:1].upper() + text[1:]
    return example_set_version_create(
        example_set=example_set, examples=examples, message=message, author=author
    )
