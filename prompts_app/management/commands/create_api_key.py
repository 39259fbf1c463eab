from django.core.management.base import BaseCommand, CommandError

from prompts_app.errors import DomainError
from prompts_app.services import library


class Command(BaseCommand):
    help = "Create an API key for a project (creating the project if needed) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name (a slug).")
        parser.add_argument("--scopes", default="read", help="Comma-separated: read,write,ingest.")
        parser.add_argument(
            "--name", default="", help="A label for the key, e.g. 'billing-service'."
        )

    def handle(self, *args, project, scopes, name, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            found, created = library.project_get_or_create(name=project)
            _, raw = library.api_key_create(project=found, scopes=scope_list, name=name)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if created:
            self.stderr.write(f"Created project '{found.name}'.")
        self.stderr.write(
            f"API key for project '{found.name}' (scopes: {', '.join(scope_list)}). "
            "It is shown only this once; store it now:"
        )
        self.stdout.write(raw)
