"""Selectors read: lookups that raise NotFound naming what was missing, and the
read models the API and the admin serve."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.db import connections
from django.db.models import BooleanField, Count, Prefetch, Q
from django.db.models.expressions import RawSQL

from promptledger import rendering
from prompts_app.errors import DomainError, NotFound
from prompts_app.infra import cache as resolve_cache
from prompts_app.lib.jsonutil import sha256_of
from prompts_app.lib.tokens import count_rendered_tokens
from prompts_app.models import (
    ApiKey,
    Example,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.services import validation


def prompt_get(*, project: Project, name: str) -> Prompt:
    prompt = Prompt.objects.filter(project=project, name=name).first()
    if prompt is None:
        raise NotFound(f"No prompt named '{name}' in project '{project.name}'.", field="name")
    return prompt


def prompt_list(*, project: Project):
    """The project's prompts by name, each with its labels (and their versions)."""
    return (
        Prompt.objects.filter(project=project)
        .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version")))
        .order_by("name")
    )


def prompt_list_with_labels(*, prompts):
    """`prompts` (the admin's list, already filtered and ordered) with each prompt's
    labels and their versions fetched in one more query, so a list that shows
    "production→v3" reads no label per row."""
    return prompts.prefetch_related(
        Prefetch("labels", queryset=Label.objects.select_related("version"))
    )


# --- projects and keys --------------------------------------------------------


def project_list_counted(*, projects):
    """`projects` (the admin's list) with `prompts_total` and `active_keys_total`
    counted in the list's own query, instead of two counts per row.

    Both are distinct counts: the two joins multiply each other's rows."""
    return projects.annotate(
        prompts_total=Count("prompts", distinct=True),
        active_keys_total=Count(
            "api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True
        ),
    )


def project_choices():
    """Every project by name: what a form's project dropdown offers."""
    return Project.objects.order_by("name")


def project_names_unprotected_by_default() -> list[str]:
    """Projects whose new prompts start with production unprotected, by name: the
    add-prompt page names them, since its default then differs from project to
    project."""
    return list(
        Project.objects.filter(protect_production_by_default=False)
        .order_by("name")
        .values_list("name", flat=True)
    )


def api_key_get(*, pk: Any) -> ApiKey | None:
    """The key with its project, or None: the page that shows a new key once reads
    None as "already shown or gone" rather than as an error."""
    return ApiKey.objects.select_related("project").filter(pk=pk).first()


def _parse_version_number(value: Any, *, field: str = "version") -> int:
    if isinstance(value, bool):
        raise DomainError(f"'{field}' must be a positive integer.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError(
            f"'{field}' must be a positive integer, not {value!r}.", field=field
        ) from None
    if number < 1:
        raise DomainError(f"'{field}' must be a positive integer.", field=field)
    return number


def prompt_version_get(*, prompt: Prompt, number: Any) -> PromptVersion:
    number = _parse_version_number(number)
    version = (
        PromptVersion.objects.filter(prompt=prompt, number=number)
        .select_related("example_set_version__example_set")
        .first()
    )
    if version is None:
        raise NotFound(f"Prompt '{prompt.name}' has no version {number}.", field="version")
    return version


def prompt_version_list(*, prompt: Prompt):
    return (
        PromptVersion.objects.filter(prompt=prompt)
        .select_related("example_set_version__example_set")
        .order_by("-number")
    )


def prompt_version_history(*, prompt: Prompt) -> list[PromptVersion]:
    """The prompt's versions, newest first, each with its labels: the edit page
    names every version by its labels ("v3 (production)") and starts from the one
    labelled production, so they are fetched once for all versions."""
    return list(prompt_version_list(prompt=prompt).prefetch_related("labels"))


def prompt_version_numbers(*, prompt: Prompt) -> list[int]:
    """The prompt's version numbers, newest first: all a diff form's choices need
    (no version bodies read)."""
    return list(prompt_version_list(prompt=prompt).values_list("number", flat=True))


def prompt_version_for(
    *, prompt: Prompt, label: str | None, version: Any = None
) -> tuple[PromptVersion, str | None]:
    """The version a runtime client gets: by number, by label, or production
    falling back to the latest version. Returns (version, label name or None)."""
    if version is not None and label is not None:
        raise DomainError("Give either 'label' or 'version', not both.", field="label")
    if version is not None:
        return prompt_version_get(prompt=prompt, number=version), None
    if label in (None, ""):
        found = (
            Label.objects.filter(prompt=prompt, name=Label.PRODUCTION)
            .select_related("version")
            .first()
        )
        if found is not None:
            return found.version, Label.PRODUCTION
        label = Label.LATEST
    if label == Label.LATEST:
        latest = prompt_version_list(prompt=prompt).first()
        if latest is None:
            raise NotFound(f"Prompt '{prompt.name}' has no versions yet.", field="version")
        return latest, Label.LATEST
    found = Label.objects.filter(prompt=prompt, name=label).select_related("version").first()
    if found is None:
        raise NotFound(f"Prompt '{prompt.name}' has no label '{label}'.", field="label")
    return found.version, label


def version_examples(version: PromptVersion) -> list[dict]:
    if version.example_set_version_id is None:
        return []
    return version.example_set_version.as_render_examples()


def resolve_payload(*, prompt: Prompt, version: PromptVersion, label: str | None) -> dict:
    esv = version.example_set_version
    return {
        "prompt": prompt.name,
        "kind": prompt.kind,
        "version": version.number,
        "label": label,
        "template": version.template if prompt.kind == Prompt.KIND_TEXT else None,
        "messages": version.messages if prompt.kind == Prompt.KIND_CHAT else None,
        "examples": version_examples(version),
        "example_set": {"name": esv.example_set.name, "version": esv.number} if esv else None,
        "model_config": version.model_config,
        "template_options": version.template_options,
        "variables": version.variables,
        "content_hash": version.content_hash,
        "created_at": version.created_at.isoformat().replace("+00:00", "Z"),
    }


def _etag(payload: dict) -> str:
    return '"' + sha256_of(payload)[:32] + '"'


def prompt_resolve(
    *, project: Project, name: str, label: str | None = None, version: Any = None
) -> dict:
    """{"payload", "etag"} for a runtime client; served from the cache when it can be."""
    if version is not None:
        selector = f"v{_parse_version_number(version)}"
    else:
        selector = f"l:{label or ''}"
    entry, generation = resolve_cache.get(project.pk, name, selector)
    if entry is not None:
        return entry
    prompt = prompt_get(project=project, name=name)
    found, label_name = prompt_version_for(prompt=prompt, label=label, version=version)
    payload = resolve_payload(prompt=prompt, version=found, label=label_name)
    entry = {"payload": payload, "etag": _etag(payload)}
    resolve_cache.put(project.pk, name, selector, generation, entry)
    return entry


def prompt_render(
    *, project: Project, name: str, label: str | None, version: Any, variables: Any
) -> dict:
    resolved = prompt_resolve(project=project, name=name, label=label, version=version)["payload"]
    return render_payload(resolved, variables)


def render_payload(resolved: dict, variables: Any) -> dict:
    body = resolved["messages"] if resolved["kind"] == Prompt.KIND_CHAT else resolved["template"]
    output = rendering.render(
        resolved["kind"],
        body,
        variables,
        examples=resolved["examples"],
        schema=resolved["variables"],
        options=resolved.get("template_options"),
    )
    result = {
        "prompt": resolved["prompt"],
        "version": resolved["version"],
        "label": resolved["label"],
        "kind": resolved["kind"],
        "content_hash": resolved["content_hash"],
        "text": output if isinstance(output, str) else None,
        "messages": output if isinstance(output, list) else None,
        "token_count": count_rendered_tokens(output),
    }
    return result


def draft_render(
    *, template: Any, messages: Any, variables: Any, examples: Any, template_options: Any = None
) -> dict:
    """Render a draft that is not saved (admin preview, CI linting). Stores nothing."""
    if (template is None) == (messages is None):
        raise DomainError(
            "Give exactly one of 'template' (text) or 'messages' (chat).", field="template"
        )
    kind = Prompt.KIND_TEXT if template is not None else Prompt.KIND_CHAT
    body = validation.prompt_body_clean(kind, template, messages)
    cleaned = validation.examples_clean(examples if examples is not None else [])
    render_examples = [{"input": e["input"], "output": e["output"]} for e in cleaned]
    output = rendering.render(
        kind,
        body,
        variables if variables is not None else {},
        examples=render_examples,
        options=template_options,
    )
    return {
        "kind": kind,
        "text": output if isinstance(output, str) else None,
        "messages": output if isinstance(output, list) else None,
        "token_count": count_rendered_tokens(output),
        "variables": rendering.infer_variables(kind, body, template_options),
    }


def label_list(*, prompt: Prompt):
    return Label.objects.filter(prompt=prompt).select_related("version").order_by("name")


def label_get(*, prompt: Prompt, name: str) -> Label:
    found = label_list(prompt=prompt).filter(name=name).first()
    if found is None:
        raise NotFound(f"Prompt '{prompt.name}' has no label '{name}'.", field="label")
    return found


def label_history(*, prompt: Prompt, label: str | None = None):
    moves = LabelMove.objects.filter(prompt=prompt).select_related("from_version", "to_version")
    if label:
        moves = moves.filter(label=label)
    return moves.order_by("-moved_at", "-id")


# --- diffs ------------------------------------------------------------------


def _lines_of(version: PromptVersion, section: str) -> list[str]:
    if section == "template":
        return (version.template or "").splitlines(keepends=False)
    if section == "messages":
        lines: list[str] = []
        for message in version.messages or []:
            lines.append(f"[{message['role']}]")
            lines.extend(message["content"].splitlines())
        return lines
    if section == "examples":
        lines = []
        for index, example in enumerate(version_examples(version), start=1):
            lines.append(f"# example {index}")
            lines.append(
                "input: " + json.dumps(example["input"], sort_keys=True, ensure_ascii=False)
            )
            lines.extend(("output: " + example["output"]).splitlines())
        return lines
    if section == "model_config":
        return json.dumps(version.model_config, indent=2, sort_keys=True).splitlines()
    if section == "variables":
        return json.dumps(version.variables, indent=2, sort_keys=True).splitlines()
    if section == "template_options":
        return [f"{key}: {str(value).lower()}" for key, value in version.template_options.items()]
    raise ValueError(section)


DIFF_SECTIONS = (
    "template",
    "messages",
    "template_options",
    "examples",
    "model_config",
    "variables",
)


def prompt_version_diff(*, prompt: Prompt, from_number: Any, to_number: Any) -> dict:
    """A unified diff, section by section, between two versions of a prompt."""
    if from_number in (None, "") or to_number in (None, ""):
        raise DomainError("Give both 'from' and 'to' version numbers.", field="from")
    old = prompt_version_get(prompt=prompt, number=from_number)
    new = prompt_version_get(prompt=prompt, number=to_number)
    sections = {}
    for section in DIFF_SECTIONS:
        diff = list(
            difflib.unified_diff(
                _lines_of(old, section),
                _lines_of(new, section),
                fromfile=f"v{old.number}/{section}",
                tofile=f"v{new.number}/{section}",
                lineterm="",
            )
        )
        sections[section] = "\n".join(diff)
    return {
        "prompt": prompt.name,
        "from": old.number,
        "to": new.number,
        "changed": [name for name, text in sections.items() if text],
        "sections": sections,
        "diff": "\n".join(text for text in sections.values() if text),
    }


# --- example sets -----------------------------------------------------------


def example_set_get(*, project: Project, name: str) -> ExampleSet:
    found = ExampleSet.objects.filter(project=project, name=name).first()
    if found is None:
        raise NotFound(f"No example set named '{name}' in project '{project.name}'.", field="name")
    return found


def example_set_list(*, project: Project):
    return ExampleSet.objects.filter(project=project).order_by("name")


def example_set_version_list(*, example_set: ExampleSet):
    return example_set.versions.prefetch_related("examples").order_by("-number")


def example_set_version_get(*, example_set: ExampleSet, number: Any) -> ExampleSetVersion:
    number = _parse_version_number(number)
    found = ExampleSetVersion.objects.filter(example_set=example_set, number=number).first()
    if found is None:
        raise NotFound(
            f"Example set '{example_set.name}' has no version {number}.", field="version"
        )
    return found


def example_set_version_list_counted(*, example_set: ExampleSet):
    """The set's versions, newest first, each with `example_count` and
    `approved_count` counted in the same query: the set's page lists every
    version with both, and a version can hold thousands of examples."""
    return example_set.versions.annotate(
        example_count=Count("examples"),
        approved_count=Count("examples", filter=Q(examples__approved=True)),
    ).order_by("-number")


def example_set_version_choices(*, project: Project | None = None):
    """Example-set versions a prompt version can pin, by project, set and newest
    number (only `project`'s when given), with their set and project joined: the
    dropdown names each as "project/set vN"."""
    versions = ExampleSetVersion.objects.select_related("example_set__project").order_by(
        "example_set__project__name", "example_set__name", "-number"
    )
    if project is not None:
        versions = versions.filter(example_set__project=project)
    return versions


def _json_values_contain(*, table: str, column: str, text: str, using: str) -> RawSQL:
    """SQL that is true when a string or number anywhere inside the JSON `column`
    contains `text`, any case (ASCII letters only on SQLite, as with its LIKE).

    Keys, quotes and brackets never match, unlike a LIKE on the JSON's text, where
    a key name such as "name" or a quote matches nearly every row. PostgreSQL walks
    the value with a JSON path, SQLite with json_tree (both in the database, so a
    search still pages). The column is named with its table: RawSQL does not
    resolve names, and the examples query never aliases its own table."""
    connection = connections[using]
    target = f"{connection.ops.quote_name(table)}.{connection.ops.quote_name(column)}"
    pattern = f"%{connection.ops.prep_for_like_query(text)}%"
    if connection.vendor == "postgresql":
        sql = (
            f"EXISTS (SELECT 1 FROM jsonb_path_query({target}, 'strict $.**') AS node(value) "
            "WHERE jsonb_typeof(node.value) IN ('string', 'number') "
            "AND UPPER(node.value #>> '{}') LIKE UPPER(%s))"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"EXISTS (SELECT 1 FROM json_tree({target}) "
            "WHERE type IN ('text', 'integer', 'real') AND atom LIKE %s ESCAPE '\\')"
        )
    else:
        raise NotImplementedError(f"No JSON value search for {connection.vendor}.")
    return RawSQL(sql, [pattern], output_field=BooleanField())


def example_list(*, version: ExampleSetVersion, search: str = ""):
    """The examples of one version in order; `search` keeps those with an input
    value (a string or number, at any depth; a string input itself) or an output
    that contains it, any case. Key names and JSON punctuation do not match."""
    examples = version.examples.order_by("position")
    search = (search or "").strip()
    if search:
        in_input = _json_values_contain(
            table=Example._meta.db_table, column="input", text=search, using=examples.db
        )
        examples = examples.filter(Q(in_input) | Q(output__icontains=search))
    return examples
