"""The Django admin for prompt engineers.

ModelAdmins here only list, display and route: every write goes through a
service (see `admin_views.py` for the pages that call them). Versions, labels
and their history are read-only here — a prompt changes by saving its page,
which creates the next version; a label moves through the promote page.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from prompts_app import admin_views, services
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

admin.site.site_header = "PromptLedger"
admin.site.site_title = "PromptLedger admin"
admin.site.index_title = "Prompts, versions and keys"


def _link(url: str, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _json_block(value) -> str:
    return format_html('<pre class="pl-code-block">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdminMixin:
    """History and immutable records: shown, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoDeleteMixin:
    # Versions and label history point at these rows (PROTECT): deleting them
    # would rewrite history, so the admin does not offer it.
    def has_delete_permission(self, request, obj=None):
        return False


class StylesMixin:
    class Media:
        css = {"all": ["prompts_app/admin.css"]}


# --- projects and keys ----------------------------------------------------------


@admin.register(Project)
class ProjectAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "description", "prompt_count", "active_keys", "created_at"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "created_at"]

    # The name is how people and keys know the project: fixed once created. The
    # description is plain text with no rule behind it, so the generic form edits it.
    readonly_fields = ["name", "created_at"]

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.project_add(self, request)

    @admin.display(description="prompts")
    def prompt_count(self, obj):
        return obj.prompts.count()

    @admin.display(description="active keys")
    def active_keys(self, obj):
        return obj.api_keys.filter(revoked_at__isnull=True).count()


@admin.register(ApiKey)
class ApiKeyAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["prefix_display", "name", "project", "scopes_display", "created_at", "revoked_at"]
    list_filter = ["project", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "project__name"]
    list_select_related = ["project"]
    actions = ["revoke_keys"]
    # The hashed key is never shown or editable; the raw key exists only in the
    # response that created it.
    fields = ["project", "name", "prefix_display", "scopes_display", "created_at", "revoked_at"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False  # keys are created and revoked, never edited

    def has_revoke_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_apikey")

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.api_key_add(self, request)

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, obj):
        return format_html("<code>{}…</code>", obj.prefix)

    @admin.display(description="scopes")
    def scopes_display(self, obj):
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        newly = 0
        for key in queryset:
            was_active = key.is_active
            services.api_key_revoke(api_key=key)
            if was_active:
                self.log_change(request, key, "Revoked.")
                newly += 1
        already = queryset.count() - newly
        text = f"Revoked {newly} key{'s' if newly != 1 else ''}."
        if already:
            text += f" {already} {'was' if already == 1 else 'were'} already revoked."
        self.message_user(request, text, messages.SUCCESS)


# --- prompts --------------------------------------------------------------------


@admin.register(Prompt)
class PromptAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "project", "kind", "latest_display", "labels_display", "tags_display",
                    "protect_production", "created_at"]
    list_display_links = ["name"]
    list_filter = ["project", "kind", "protect_production"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels__version")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/diff/", wrap(self.diff_view), name="%s_%s_diff" % info),
            path("<path:object_id>/preview/", wrap(self.preview_view), name="%s_%s_preview" % info),
            path("<path:object_id>/promote/", wrap(self.promote_view), name="%s_%s_promote" % info),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.prompt_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.prompt_change(self, request, object_id)

    def diff_view(self, request, object_id):
        return admin_views.prompt_diff(self, request, object_id)

    def preview_view(self, request, object_id):
        return admin_views.prompt_preview(self, request, object_id)

    def promote_view(self, request, object_id):
        return admin_views.prompt_promote(self, request, object_id)

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"

    @admin.display(description="labels")
    def labels_display(self, obj):
        return ", ".join(f"{label.name}→v{label.version.number}" for label in obj.labels.all()) or "—"

    @admin.display(description="tags")
    def tags_display(self, obj):
        return ", ".join(obj.tags or []) or "—"


@admin.register(PromptVersion)
class PromptVersionAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "project_display", "number", "author", "created_at", "message", "labels_display"]
    list_filter = ["prompt__project", "prompt__kind"]
    search_fields = ["prompt__name", "message", "author"]
    list_select_related = ["prompt__project"]
    fields = ["prompt_link", "number", "author", "created_at", "message", "tools", "body_display",
              "variables_display", "model_config_display", "example_set_link", "labels_display",
              "content_hash"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    @admin.display(description="project", ordering="prompt__project__name")
    def project_display(self, obj):
        return obj.prompt.project

    @admin.display(description="prompt")
    def prompt_link(self, obj):
        return _link(_change_url(obj.prompt), obj.prompt)

    @admin.display(description="labels")
    def labels_display(self, obj):
        return ", ".join(sorted(label.name for label in obj.labels.all())) or "—"

    @admin.display(description="template / messages")
    def body_display(self, obj):
        if obj.prompt.kind == Prompt.KIND_CHAT:
            return format_html_join(
                "",
                '<div class="pl-message pl-role-{}"><div class="pl-role">{}</div><pre>{}</pre></div>',
                ((m["role"], m["role"], m["content"]) for m in obj.messages or []),
            )
        return format_html('<pre class="pl-code-block">{}</pre>', obj.template)

    @admin.display(description="variables schema")
    def variables_display(self, obj):
        return _json_block(obj.variables)

    @admin.display(description="model config")
    def model_config_display(self, obj):
        return _json_block(obj.model_config) if obj.model_config else "—"

    @admin.display(description="example set version")
    def example_set_link(self, obj):
        esv = obj.example_set_version
        return _link(_change_url(esv), esv) if esv else "—"

    @admin.display(description="actions")
    def tools(self, obj):
        def url(name):
            return reverse(f"admin:prompts_app_prompt_{name}", args=[obj.prompt_id])

        links = [(url("change"), "Edit prompt"),
                 (url("preview") + f"?version={obj.number}", "Preview"),
                 (url("promote") + f"?version={obj.number}", "Promote")]
        if obj.number > 1:
            links.insert(1, (url("diff") + f"?from={obj.number - 1}&to={obj.number}",
                             "Diff with previous"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)


@admin.register(Label)
class LabelAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prompt", "version_link", "updated_at", "updated_by"]
    list_filter = ["name", "prompt__project"]
    search_fields = ["name", "prompt__name"]
    list_select_related = ["prompt__project", "version"]

    @admin.display(description="version")
    def version_link(self, obj):
        return _link(_change_url(obj.version), f"v{obj.version.number}")


@admin.register(LabelMove)
class LabelMoveAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["moved_at", "prompt", "label", "move_display", "moved_by", "forced", "reason"]
    list_filter = ["label", "forced", "prompt__project"]
    search_fields = ["prompt__name", "label", "reason", "moved_by"]
    list_select_related = ["prompt__project", "from_version", "to_version"]
    date_hierarchy = "moved_at"

    @admin.display(description="move")
    def move_display(self, obj):
        start = f"v{obj.from_version.number}" if obj.from_version else "(new)"
        return f"{start} → v{obj.to_version.number}"


# --- example sets ----------------------------------------------------------------


@admin.register(ExampleSet)
class ExampleSetAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "project", "latest_display", "description", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.example_set_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.example_set_change(self, request, object_id)

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"


class ExampleInline(admin.TabularInline):
    model = Example
    fields = ["number_display", "input_display", "output_display", "tags_display", "approved"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="#")
    def number_display(self, obj):
        return obj.position + 1

    @admin.display(description="tags")
    def tags_display(self, obj):
        return ", ".join(obj.tags or []) or "—"

    @admin.display(description="input")
    def input_display(self, obj):
        if isinstance(obj.input, str):
            return format_html('<pre class="pl-code-block">{}</pre>', obj.input)
        return _json_block(obj.input)

    @admin.display(description="output")
    def output_display(self, obj):
        return format_html('<pre class="pl-code-block">{}</pre>', obj.output)


@admin.register(ExampleSetVersion)
class ExampleSetVersionAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "project_display", "number", "author", "created_at", "message"]
    list_filter = ["example_set__project"]
    search_fields = ["example_set__name", "message", "author"]
    list_select_related = ["example_set__project"]
    fields = ["example_set_link", "number", "author", "created_at", "message", "content_hash"]
    readonly_fields = fields
    inlines = [ExampleInline]

    @admin.display(description="project", ordering="example_set__project__name")
    def project_display(self, obj):
        return obj.example_set.project

    @admin.display(description="example set")
    def example_set_link(self, obj):
        return _link(_change_url(obj.example_set), obj.example_set)
