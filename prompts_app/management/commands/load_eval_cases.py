import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from prompts_app.errors import DomainError
from prompts_app.models import Project
from prompts_app.selectors.library import prompt_get
from prompts_app.services import evals


def read_cases(path: Path) -> dict:
    """Cases from JSONL (one case per line) or YAML (a list of cases, or a
    mapping with `cases` and optional `provider` and `repeats`)."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        cases = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    cases.append(json.loads(line))
                except ValueError as exc:
                    raise CommandError(f"{path}:{number}: not JSON: {exc}") from None
        return {"cases": cases}
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{path}: not YAML: {exc}") from None
        return {"cases": data} if isinstance(data, list) else dict(data or {})
    raise CommandError(f"{path}: use a .jsonl, .yaml or .yml file.")


class Command(BaseCommand):
    help = "Replace a prompt's eval cases with those in a JSONL or YAML file."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", required=True)
        parser.add_argument("--prompt", required=True)
        parser.add_argument(
            "--provider", help="Provider name to run the cases against ('' for none)."
        )
        parser.add_argument("--repeats", type=int)

    def handle(self, *args, file, project, prompt, provider, repeats, **options):
        if not file.exists():
            raise CommandError(f"{file} does not exist.")
        data = read_cases(file)
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"No project named '{project}'.")
        try:
            target = prompt_get(project=found, name=prompt)
            suite = evals.eval_suite_update(
                prompt=target,
                cases=data.get("cases", []),
                repeats=repeats if repeats is not None else data.get("repeats"),
                provider=provider if provider is not None else data.get("provider"),
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} (field: {exc.field})") from None
        self.stdout.write(
            f"Loaded {suite.cases.count()} cases into the eval suite of '{prompt}' "
            f"(provider: {suite.provider.name if suite.provider else 'none, static checks only'}, "
            f"repeats: {suite.repeats})."
        )
