"""`manage.py demo_setup`: migrate, load the demo data, make a login and an API key.

Safe to run again: the demo data is loaded only while the `demo` project has no
prompts, the admin login is created only when missing, and each run prints a
fresh API key (older ones keep working until revoked in the admin).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from prompts_app.infra import cache as resolve_cache
from prompts_app.management import demo
from prompts_app.management.commands.load_eval_cases import read_cases
from prompts_app.models import (
    Example,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.services import advice, evals, library
from prompts_app.services.pricing import price_sheet_seed

DEMO_PROJECT = "demo"
DEMO_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
BASE_URL = "http://127.0.0.1:8000"

# Parents before children, so every foreign key can be translated to a new id.
LOAD_ORDER = [
    Project,
    ExampleSet,
    ExampleSetVersion,
    Example,
    Prompt,
    PromptVersion,
    Label,
    LabelMove,
]


def load_demo_fixture(path: Path = DEMO_FIXTURE) -> list[Prompt] | None:
    """Insert the fixture's rows as new rows; None if the demo project already has prompts.

    Plain `loaddata` writes rows under the ids stored in the file, which would
    overwrite whatever already has those ids (another project, its prompts...) in
    a database that is not empty. Here every row gets a fresh id and its foreign
    keys are translated, so loading never touches existing data; a `demo`
    project that already exists (e.g. made by create_api_key) is reused.
    """
    existing = Project.objects.filter(name=DEMO_PROJECT).first()
    if existing is not None and existing.prompts.exists():
        return None
    with open(path, encoding="utf-8") as stream:
        rows = [item.object for item in serializers.deserialize("json", stream)]
    by_model: dict[type, list] = defaultdict(list)
    for row in rows:
        by_model[type(row)].append(row)
    unexpected = sorted(model.__name__ for model in set(by_model) - set(LOAD_ORDER))
    if unexpected:
        raise CommandError(f"{path} holds rows demo_setup does not load: {', '.join(unexpected)}.")
    if existing is not None:
        clashes = ExampleSet.objects.filter(
            project=existing, name__in=[row.name for row in by_model[ExampleSet]]
        ).values_list("name", flat=True)
        if clashes:
            raise CommandError(
                f"Project '{DEMO_PROJECT}' has no prompts but already has example set(s) "
                f"{', '.join(sorted(clashes))}: delete them in the admin, or load the demo into "
                "an empty database."
            )

    new_ids: dict[tuple[type, int], int] = {}
    loaded: list[Prompt] = []
    with transaction.atomic():
        for model in LOAD_ORDER:
            links = [f for f in model._meta.concrete_fields if f.many_to_one]
            for row in by_model[model]:
                old_id = row.pk
                if model is Project and existing is not None and row.name == existing.name:
                    new_ids[(Project, old_id)] = existing.pk
                    continue
                for field in links:
                    target = getattr(row, field.attname)
                    if target is not None:
                        setattr(row, field.attname, new_ids[(field.related_model, target)])
                row.pk = None
                # raw=True as loaddata does: the rows are stored as they are, bypassing
                # the immutability guard in save() (these are new rows anyway).
                row.save_base(raw=True, force_insert=True)
                new_ids[(model, old_id)] = row.pk
                if model is Prompt:
                    loaded.append(row)
        # A resolve cached for an earlier, deleted demo prompt of the same name must not survive.
        transaction.on_commit(lambda: [resolve_cache.invalidate_prompt(p) for p in loaded])
    return loaded


DEMO_EVALS = Path(settings.BASE_DIR) / "fixtures" / "evals"


def demo_evals_setup(project: Project) -> int:
    """Give each demo prompt its eval suite (once) and queue a run for every
    version that has none, so the demo shows eval results."""
    queued = 0
    for path in sorted(DEMO_EVALS.glob("*.yaml")):
        prompt = Prompt.objects.filter(project=project, name=path.stem).first()
        if prompt is None:
            continue
        suite = evals.eval_suite_get_or_create(prompt=prompt)
        if not suite.cases.exists():
            data = read_cases(path)
            evals.eval_suite_update(prompt=prompt, cases=data["cases"], repeats=data.get("repeats"))
        with transaction.atomic():
            for version in PromptVersion.objects.filter(prompt=prompt, eval_runs__isnull=True):
                evals.eval_run_request(version=version, requested_by="demo_setup")
                queued += 1
    return queued


class Command(BaseCommand):
    help = (
        "Set up a demo: migrate, load fixtures/demo.json (once), create the admin/admin login "
        "if missing, and print a fresh API key for project 'demo' with a curl example."
    )

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def handle(self, *args, **options):
        verbosity = options["verbosity"]

        self.step("migrating the database")
        call_command(
            "migrate", interactive=False, verbosity=max(verbosity - 1, 0), stdout=self.stdout
        )

        self.step("loading demo data")
        loaded = load_demo_fixture()
        project, _ = library.project_get_or_create(name=DEMO_PROJECT)
        if loaded is None:
            count = Prompt.objects.filter(project=project).count()
            self.stdout.write(
                f"    project '{DEMO_PROJECT}' already has {count} prompt(s): nothing loaded"
            )
        else:
            versions = PromptVersion.objects.filter(prompt__in=loaded).count()
            self.stdout.write(
                f"    loaded {len(loaded)} prompts ({', '.join(p.name for p in loaded)}), "
                f"{versions} versions, into project '{DEMO_PROJECT}'"
            )

        self.step("seeding the price sheet and the eval suites")
        added = price_sheet_seed(project=project)
        self.stdout.write(f"    {added} model price(s) added from fixtures/model_prices.json")
        queued = demo_evals_setup(project)
        self.stdout.write(
            f"    {queued} eval run(s) queued for versions without one "
            "(the worker started by scripts/demo runs them)"
        )

        self.step("generating demo usage and fine-tuning advice")
        if demo.triage_prompt_create(project) is not None:
            self.stdout.write(
                "    added 'ticket-triage' (600 approved labelled examples): the high-volume prompt "
                "the cost advice is about"
            )
        rows = demo.usage_generate(project)
        self.stdout.write(f"    {rows} daily usage rollup(s) written for the last 60 days")
        if demo.triage_eval_evidence(project) is not None:
            self.stdout.write(
                f"    recorded graded eval runs of 'ticket-triage' on gpt-4o-mini and on "
                f"{demo.CANDIDATE_MODEL} (the downshift candidate)"
            )
        report = advice.advice_pass_all()
        self.stdout.write(
            f"    advice evaluated for {report['prompts']} prompt(s), {report['alerts']} new alert(s)"
        )

        self.step("checking the admin login")
        User = get_user_model()
        if User.objects.filter(username=ADMIN_USERNAME).exists():
            login = f"{ADMIN_USERNAME} (existing user, password left unchanged)"
            self.stdout.write(f"    user '{ADMIN_USERNAME}' already exists: left unchanged")
        else:
            User.objects.create_superuser(
                username=ADMIN_USERNAME, email="admin@example.com", password=ADMIN_PASSWORD
            )
            login = f"{ADMIN_USERNAME} / {ADMIN_PASSWORD}   (demo login only)"
            self.stdout.write(
                f"    created superuser '{ADMIN_USERNAME}' with password '{ADMIN_PASSWORD}' "
                "(a demo login: change it before anyone else can reach this server)"
            )

        self.step(f"creating an API key for project '{DEMO_PROJECT}'")
        _, raw_key = library.api_key_create(
            project=project, scopes=["read", "write", "ingest"], name="demo-key"
        )

        url = f"{BASE_URL}/api/v1/prompts/support-reply/resolve?label=production"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("PromptLedger demo is ready."))
        self.stdout.write(f"  Admin:    {BASE_URL}/admin/")
        self.stdout.write(f"  Login:    {login}")
        self.stdout.write(f"  API key:  {raw_key}")
        self.stdout.write(
            f"            project '{DEMO_PROJECT}', scopes read, write, ingest; shown only now, "
            "revoke it in the admin when done"
        )
        self.stdout.write("  Try it once the server runs:")
        self.stdout.write(f'    curl -H "Authorization: Bearer {raw_key}" "{url}"')
