from django.urls import path

from prompts_app.api import views

# Prompt and example-set names are slugs: no slashes, so `[^/]+` is exact.
urlpatterns = [
    path("prompts/", views.PromptListCreateApi.as_view(), name="prompt-list"),
    path("prompts/<str:name>/", views.PromptDetailApi.as_view(), name="prompt-detail"),
    path("prompts/<str:name>/versions/", views.VersionListCreateApi.as_view(), name="version-list"),
    path(
        "prompts/<str:name>/versions/<str:number>/",
        views.VersionDetailApi.as_view(),
        name="version-detail",
    ),
    path("prompts/<str:name>/resolve", views.ResolveApi.as_view(), name="prompt-resolve"),
    path("prompts/<str:name>/render", views.PromptRenderApi.as_view(), name="prompt-render"),
    path("prompts/<str:name>/labels/", views.LabelListApi.as_view(), name="label-list"),
    path(
        "prompts/<str:name>/labels/<str:label>", views.LabelDetailApi.as_view(), name="label-detail"
    ),
    path("prompts/<str:name>/diff", views.DiffApi.as_view(), name="prompt-diff"),
    path("prompts/<str:name>/eval-suite", views.EvalSuiteApi.as_view(), name="eval-suite"),
    path("prompts/<str:name>/evals/", views.EvalRunListCreateApi.as_view(), name="eval-run-list"),
    path("prompts/<str:name>/evals/candidates", views.EvalCandidatesApi.as_view(), name="eval-candidates"),
    path("evals/<str:run_id>/", views.EvalRunDetailApi.as_view(), name="eval-run-detail"),
    path("prompts/<str:name>/ledger", views.PromptLedgerApi.as_view(), name="prompt-ledger"),
    path("prompts/<str:name>/advice", views.AdviceApi.as_view(), name="prompt-advice"),
    path(
        "prompts/<str:name>/finetune-export",
        views.FinetuneExportApi.as_view(),
        name="finetune-export",
    ),
    path(
        "prompts/<str:name>/finetune-export/stats",
        views.FinetuneStatsApi.as_view(),
        name="finetune-stats",
    ),
    path("advice/what-if", views.WhatIfApi.as_view(), name="advice-what-if"),
    path("alerts/", views.AlertListApi.as_view(), name="alert-list"),
    path(
        "alerts/<str:alert_id>/acknowledge",
        views.AlertAcknowledgeApi.as_view(),
        name="alert-acknowledge",
    ),
    path("usage", views.UsageIngestApi.as_view(), name="usage-ingest"),
    path("ledger", views.ProjectLedgerApi.as_view(), name="project-ledger"),
    path("render", views.DraftRenderApi.as_view(), name="draft-render"),
    path("example-sets/", views.ExampleSetListCreateApi.as_view(), name="example-set-list"),
    path(
        "example-sets/<str:set_name>/",
        views.ExampleSetDetailApi.as_view(),
        name="example-set-detail",
    ),
    path(
        "example-sets/<str:set_name>/versions/",
        views.ExampleSetVersionListCreateApi.as_view(),
        name="example-set-version-list",
    ),
    path(
        "example-sets/<str:set_name>/versions/<str:number>/",
        views.ExampleSetVersionDetailApi.as_view(),
        name="example-set-version-detail",
    ),
]
