"""API views: parse, find the rows through selectors, call at most one service,
serialize. No ORM and no rules here."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView as DrfAPIView

from prompts_app.api import serializers as s
from prompts_app.errors import DomainError
from prompts_app.selectors.advice import alert_get, alert_list, what_if_advice
from prompts_app.selectors.evals import (
    candidate_overview,
    eval_run_get,
    eval_run_list,
    eval_suite_get,
)
from prompts_app.selectors.ledger import project_ledger, prompt_ledger
from prompts_app.selectors.library import (
    draft_render,
    example_set_get,
    example_set_list,
    example_set_version_get,
    example_set_version_list,
    label_get,
    label_history,
    label_list,
    prompt_get,
    prompt_list,
    prompt_render,
    prompt_resolve,
    prompt_version_diff,
    prompt_version_for,
    prompt_version_get,
    prompt_version_list,
)
from prompts_app.services import advice, alerts, evals, finetune, ledger, library


class APIView(DrfAPIView):
    """Every endpoint reads a write's body, even one it ignores: a body that is not
    clean JSON (see api.parsers) is a 400 (415 for another Content-Type) wherever it
    is sent, never silently accepted."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            request.data  # noqa: B018


def _project(request):
    return request.user.project


def _actor(request) -> str:
    return request.user.actor


def _validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset that refuse what is not a whole number instead of ignoring it."""

    max_limit = 1000

    def _whole(self, request, name: str) -> None:
        raw = request.query_params.getlist(name)
        if len(raw) > 1 or (raw and not raw[0].isdigit()):
            raise DomainError(f"'{name}' must be one whole number.", field=name)

    def get_limit(self, request):
        self._whole(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request):
        self._whole(request, self.offset_query_param)
        return super().get_offset(request)


class ListApi(APIView):
    """An API view whose GET returns a limit/offset page (declared in the schema too)."""

    pagination_class = StrictLimitOffsetPagination


def _paginate(view, request, queryset, serializer_class):
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True).data
    return paginator.get_paginated_response(data)


class PromptListCreateApi(ListApi):
    @extend_schema(responses=s.PromptOutput(many=True))
    def get(self, request):
        queryset = prompt_list(project=_project(request))
        return _paginate(self, request, queryset, s.PromptOutput)

    @extend_schema(request=s.PromptCreateInput, responses={201: s.PromptOutput})
    def post(self, request):
        data = _validated(s.PromptCreateInput, request)
        prompt = library.prompt_create(project=_project(request), **data)
        return Response(s.PromptOutput(prompt).data, status=status.HTTP_201_CREATED)


class PromptDetailApi(APIView):
    @extend_schema(responses=s.PromptOutput)
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        return Response(s.PromptOutput(prompt).data)

    @extend_schema(request=s.PromptUpdateInput, responses=s.PromptOutput)
    def patch(self, request, name):
        data = _validated(s.PromptUpdateInput, request)
        prompt = prompt_get(project=_project(request), name=name)
        prompt = library.prompt_update(prompt=prompt, **data)
        return Response(s.PromptOutput(prompt).data)


class VersionListCreateApi(ListApi):
    @extend_schema(responses=s.VersionOutput(many=True))
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        queryset = prompt_version_list(prompt=prompt).prefetch_related("labels")
        return _paginate(self, request, queryset, s.VersionOutput)

    @extend_schema(request=s.VersionCreateInput, responses={201: s.VersionOutput})
    def post(self, request, name):
        data = _validated(s.VersionCreateInput, request)
        prompt = prompt_get(project=_project(request), name=name)
        ref = data.pop("example_set_version", None)
        example_set_version = None
        if ref:
            example_set = example_set_get(project=_project(request), name=ref["name"])
            example_set_version = example_set_version_get(
                example_set=example_set, number=ref["version"]
            )
        if "messages" in data:
            data["messages"] = [dict(m) for m in data["messages"]]
        if "template_options" in data:
            data["template_options"] = dict(data["template_options"])
        version = library.prompt_version_create(
            prompt=prompt, example_set_version=example_set_version, author=_actor(request), **data
        )
        return Response(s.VersionOutput(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    @extend_schema(responses=s.VersionOutput)
    def get(self, request, name, number):
        prompt = prompt_get(project=_project(request), name=name)
        version = prompt_version_get(prompt=prompt, number=number)
        return Response(s.VersionOutput(version).data)


def _if_none_match(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return etag in candidates


class ResolveApi(APIView):
    """Everything a runtime client needs, with a strong ETag (304 on If-None-Match)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("label", str, description="A label; default production, else latest."),
            OpenApiParameter("version", int, description="A version number instead of a label."),
        ],
        responses={200: s.ResolveOutput, 304: None},
    )
    def get(self, request, name):
        label = request.query_params.get("label")
        version = request.query_params.get("version")
        entry = prompt_resolve(
            project=_project(request), name=name, label=label, version=version
        )
        headers = {"ETag": entry["etag"], "Cache-Control": "private, no-cache"}
        if _if_none_match(request, entry["etag"]):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(entry["payload"], headers=headers)


class PromptRenderApi(APIView):
    required_scope = "read"

    @extend_schema(request=s.RenderInput, responses=s.RenderOutput)
    def post(self, request, name):
        data = _validated(s.RenderInput, request)
        result = prompt_render(
            project=_project(request),
            name=name,
            label=data.get("label"),
            version=data.get("version"),
            variables=data["variables"],
        )
        return Response(result)


class DraftRenderApi(APIView):
    """Render a draft that is not saved yet: the admin preview and CI linting."""

    required_scope = "read"

    @extend_schema(request=s.DraftRenderInput, responses=s.RenderOutput)
    def post(self, request):
        data = _validated(s.DraftRenderInput, request)
        messages = [dict(m) for m in data["messages"]] if "messages" in data else None
        result = draft_render(
            template=data.get("template"),
            messages=messages,
            variables=data["variables"],
            examples=data["examples"],
            template_options=dict(data.get("template_options") or {}),
        )
        return Response(result)


class LabelListApi(APIView):
    @extend_schema(responses=s.LabelOutput(many=True))
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        history: dict[str, list] = {}
        for move in label_history(prompt=prompt):
            history.setdefault(move.label, []).append(move)
        labels = label_list(prompt=prompt)
        return Response(s.LabelOutput(labels, many=True, context={"history": history}).data)


class LabelDetailApi(APIView):
    @extend_schema(responses=s.LabelOutput)
    def get(self, request, name, label):
        prompt = prompt_get(project=_project(request), name=name)
        found = label_get(prompt=prompt, name=label)
        history = {label: list(label_history(prompt=prompt, label=label))}
        return Response(s.LabelOutput(found, context={"history": history}).data)

    @extend_schema(request=s.LabelMoveInput, responses=s.LabelOutput)
    def put(self, request, name, label):
        data = _validated(s.LabelMoveInput, request)
        prompt = prompt_get(project=_project(request), name=name)
        moved = library.label_move(
            prompt=prompt,
            label=label,
            version_number=data["version"],
            reason=data["reason"],
            force=data["force"],
            actor=_actor(request),
        )
        history = {label: list(label_history(prompt=prompt, label=label))}
        return Response(s.LabelOutput(moved, context={"history": history}).data)


class DiffApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses=s.DiffOutput,
    )
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        diff = prompt_version_diff(
            prompt=prompt,
            from_number=request.query_params.get("from"),
            to_number=request.query_params.get("to"),
        )
        return Response(diff)


class ExampleSetListCreateApi(ListApi):
    @extend_schema(responses=s.ExampleSetOutput(many=True))
    def get(self, request):
        queryset = example_set_list(project=_project(request))
        return _paginate(self, request, queryset, s.ExampleSetOutput)

    @extend_schema(request=s.ExampleSetCreateInput, responses={201: s.ExampleSetOutput})
    def post(self, request):
        data = _validated(s.ExampleSetCreateInput, request)
        example_set = library.example_set_create(project=_project(request), **data)
        return Response(s.ExampleSetOutput(example_set).data, status=status.HTTP_201_CREATED)


class ExampleSetDetailApi(APIView):
    @extend_schema(responses=s.ExampleSetOutput)
    def get(self, request, set_name):
        example_set = example_set_get(project=_project(request), name=set_name)
        return Response(s.ExampleSetOutput(example_set).data)


class ExampleSetVersionListCreateApi(ListApi):
    @extend_schema(responses=s.ExampleSetVersionOutput(many=True))
    def get(self, request, set_name):
        example_set = example_set_get(project=_project(request), name=set_name)
        queryset = example_set_version_list(example_set=example_set)
        return _paginate(self, request, queryset, s.ExampleSetVersionOutput)

    @extend_schema(
        request=s.ExampleSetVersionCreateInput, responses={201: s.ExampleSetVersionOutput}
    )
    def post(self, request, set_name):
        data = _validated(s.ExampleSetVersionCreateInput, request)
        example_set = example_set_get(project=_project(request), name=set_name)
        version = library.example_set_version_create(
            example_set=example_set,
            examples=[dict(e) for e in data["examples"]],
            message=data.get("message", ""),
            author=_actor(request),
        )
        return Response(s.ExampleSetVersionOutput(version).data, status=status.HTTP_201_CREATED)


class ExampleSetVersionDetailApi(APIView):
    @extend_schema(responses=s.ExampleSetVersionOutput)
    def get(self, request, set_name, number):
        example_set = example_set_get(project=_project(request), name=set_name)
        version = example_set_version_get(example_set=example_set, number=number)
        return Response(s.ExampleSetVersionOutput(version).data)


class EvalSuiteApi(APIView):
    @extend_schema(responses=s.EvalSuiteOutput)
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        return Response(s.EvalSuiteOutput(eval_suite_get(prompt=prompt)).data)

    @extend_schema(request=s.EvalSuiteInput, responses=s.EvalSuiteOutput)
    def put(self, request, name):
        data = _validated(s.EvalSuiteInput, request)
        prompt = prompt_get(project=_project(request), name=name)
        cases = [dict(c) for c in data["cases"]] if "cases" in data else None
        suite = evals.eval_suite_update(
            prompt=prompt, cases=cases, repeats=data.get("repeats"), provider=data.get("provider")
        )
        return Response(s.EvalSuiteOutput(suite).data)


class EvalRunListCreateApi(ListApi):
    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="Only this version's runs.")],
        responses=s.EvalRunOutput(many=True),
    )
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        runs = eval_run_list(prompt=prompt, version=request.query_params.get("version"))
        return _paginate(self, request, runs, s.EvalRunOutput)

    @extend_schema(
        request=s.EvalRunCreateInput,
        responses={202: s.EvalRunOutput},
        description="Queue a run of the prompt's eval suite on a version: on its own model, or "
        "with `candidate_model` on that model instead (same provider endpoint). A candidate "
        "run's summary records its pass rate, format adherence and cost per call beside the "
        "current model's (`summary.candidate`, `candidate`); see also "
        "`GET /api/v1/prompts/{name}/evals/candidates`.",
    )
    def post(self, request, name):
        data = _validated(s.EvalRunCreateInput, request)
        prompt = prompt_get(project=_project(request), name=name)
        if "version" in data:
            version = prompt_version_get(prompt=prompt, number=data["version"])
        elif "candidate_model" in data:
            # candidates are measured on production (the latest when nothing is in production)
            version, _ = prompt_version_for(prompt=prompt, label=None)
        else:
            version, _ = prompt_version_for(prompt=prompt, label="latest")
        if "candidate_model" in data:
            run = evals.eval_run_request_candidate(
                version=version, model=data["candidate_model"], requested_by=_actor(request)
            )
        else:
            run = evals.eval_run_request(version=version, requested_by=_actor(request))
        return Response(s.EvalRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class EvalRunDetailApi(APIView):
    @extend_schema(responses=s.EvalRunDetailOutput)
    def get(self, request, run_id):
        run = eval_run_get(project=_project(request), run_id=run_id)
        return Response(s.EvalRunDetailOutput(run).data)


class EvalCandidatesApi(APIView):
    @extend_schema(
        responses=s.CandidateEvidenceListOutput,
        description="Per candidate model (the keys of `candidates`), what its latest eval run on "
        "the production version (the latest version when nothing is in production) says, beside "
        "the current model's figures. Only `ready` means the candidate passes at least as well "
        "as production; a model that is absent has never been run (untested).",
    )
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        return Response(s.CandidateEvidenceListOutput(candidate_overview(prompt=prompt)).data)


class UsageIngestApi(APIView):
    """A batch of up to 1,000 usage events; retried event ids are never counted twice."""

    required_scope = "ingest"

    @extend_schema(request=s.UsageBatchInput, responses=s.UsageBatchOutput)
    def post(self, request):
        data = _validated(s.UsageBatchInput, request)
        result = ledger.usage_ingest(project=_project(request), events=data["events"])
        return Response(result.as_dict())


class PromptLedgerApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days", int, description="Trailing days, UTC, today included (default 30)."
            ),
            OpenApiParameter("group_by", str, enum=["day", "version", "model"]),
        ],
        responses=s.LedgerOutput,
    )
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        return Response(
            prompt_ledger(
                prompt=prompt,
                days=request.query_params.get("days", 30),
                group_by=request.query_params.get("group_by", "day"),
            )
        )


class ProjectLedgerApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("days", int)], responses=s.LedgerOutput)
    def get(self, request):
        return Response(
            project_ledger(
                project=_project(request), days=request.query_params.get("days", 30)
            )
        )


class AdviceApi(APIView):
    """The fine-tuning verdict for one prompt, with every input, figure and reason."""

    @extend_schema(responses=s.AdviceOutput)
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        return Response(advice.prompt_advice(prompt=prompt))


class WhatIfApi(APIView):
    """The advisor on inputs you give it: nothing is read from the ledger or stored.
    The verdict as before, plus the strategies compared; a prompt's advice carries
    a `what_if_inputs` body that reproduces its figures here."""

    required_scope = "read"

    @extend_schema(request=s.WhatIfInput, responses=s.AdviceOutput)
    def post(self, request):
        if not isinstance(request.data, dict):
            raise DomainError("Send the inputs as a JSON object.")
        return Response(what_if_advice(inputs=request.data))


class AlertListApi(ListApi):
    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=["new", "acknowledged"])],
        responses=s.AlertOutput(many=True),
    )
    def get(self, request):
        alerts = alert_list(
            project=_project(request), state=request.query_params.get("state")
        )
        return _paginate(self, request, alerts, s.AlertOutput)


class AlertAcknowledgeApi(APIView):
    @extend_schema(request=None, responses=s.AlertOutput)
    def post(self, request, alert_id):
        alert = alert_get(project=_project(request), alert_id=alert_id)
        return Response(
            s.AlertOutput(alerts.alert_acknowledge(alert=alert, actor=_actor(request))).data
        )


class FinetuneExportApi(APIView):
    """Approved examples as OpenAI chat-format JSONL, one split at a time."""

    @extend_schema(
        parameters=[OpenApiParameter("split", str, enum=["train", "validation"])],
        responses={(200, "application/jsonl"): str},
    )
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        split = request.query_params.get("split", "train")
        if split not in ("train", "validation"):
            raise DomainError("'split' must be train or validation.", field="split")
        body = finetune.as_jsonl(finetune.finetune_dataset(prompt)[split])
        response = HttpResponse(body, content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{prompt.name}-{split}.jsonl"'
        return response


class FinetuneStatsApi(APIView):
    """Examples and tokens per split, and the estimated training cost."""

    @extend_schema(responses=s.FinetuneStatsOutput)
    def get(self, request, name):
        prompt = prompt_get(project=_project(request), name=name)
        epochs = advice.advisor_settings_for(prompt.project).epochs
        return Response(finetune.finetune_stats(prompt, epochs=epochs))
