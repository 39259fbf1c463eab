import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from prompts_app.errors import DomainError
from prompts_app.models import Project
from prompts_app.services import pricing


class Command(BaseCommand):
    help = (
        "Refresh a project's price and lifecycle catalogue from LiteLLM's price map "
        "(model_prices_and_context_window.json) or from the bundled default "
        "(fixtures/model_prices.json). Price changes become new rows dated --as-of; "
        "older rows, and the usage priced with them, are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--litellm", type=Path, metavar="PATH",
            help="A copy of LiteLLM's model_prices_and_context_window.json.",
        )
        source.add_argument(
            "--bundled", action="store_true",
            help="The bundled, sourced default catalogue (fixtures/model_prices.json).",
        )
        parser.add_argument(
            "--as-of", dest="as_of", metavar="YYYY-MM-DD",
            help="The date the LiteLLM file describes (required with --litellm): new rows take "
            "effect on it.",
        )
        parser.add_argument(
            "--source", default="",
            help="Where the file comes from (release, commit, URL), stored on every row.",
        )
        parser.add_argument(
            "--provider", action="append", dest="providers", metavar="NAME",
            help="Only import entries of this LiteLLM provider (repeatable), e.g. openai.",
        )

    def handle(self, *args, project, litellm, bundled, as_of, source, providers, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(
                f"No project named '{project}'. Check the name, or create the project first "
                f"(python manage.py create_api_key --project {project})."
            )
        try:
            if bundled:
                if as_of or providers:
                    raise CommandError(
                        "--as-of and --provider apply to --litellm only: the bundled catalogue "
                        "carries its own dates."
                    )
                self.stderr.write(f"Importing the bundled catalogue {pricing.PRICE_SHEET} …")
                report = pricing.catalogue_import_bundled(project=found)
            else:
                report = self._import_litellm(found, litellm, as_of, source, providers)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self._print(found, report, verbose=options.get("verbosity", 1) > 1)

    def _import_litellm(self, project, path, as_of, source, providers):
        if not as_of:
            raise CommandError(
                "--as-of YYYY-MM-DD is required with --litellm: give the date of the release "
                "the file was copied from (new prices take effect on it)."
            )
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise CommandError(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD.") from None
        self.stderr.write(f"Reading {path} …")
        data = pricing.litellm_file_load(path)
        self.stderr.write(
            f"Importing {len(data)} entries into '{project.name}' as of {day}"
            + (f" (providers: {', '.join(providers)})" if providers else "")
            + " …"
        )
        label = source or f"LiteLLM model_prices_and_context_window.json ({path.name}, as of {day})"
        return pricing.catalogue_import_litellm(
            project=project, data=data, as_of=day, source=label, providers=providers
        )

    def _print(self, project, report, *, verbose):
        counts = report.counts
        rows = [
            ("added", counts["added"], "new rows (a price or lifecycle change, or a new model)"),
            ("updated", counts["updated"], "rows of the same date rewritten"),
            ("unchanged", counts["unchanged"], "models whose row in force already says this"),
            ("skipped", counts["skipped"], "entries not imported (reasons below)"),
        ]
        self.stdout.write(f"Catalogue of '{project.name}' from {report.source}")
        self.stdout.write(f"{'result':<10} {'count':>6}  meaning")
        for name, count, meaning in rows:
            self.stdout.write(f"{name:<10} {count:>6}  {meaning}")
        if report.skipped:
            self.stdout.write("skipped, by reason:")
            for reason, count in report.skipped_by_reason().items():
                self.stdout.write(f"  {count:>6}  {reason}")
        if report.carried:
            self.stdout.write(
                f"{len(report.carried)} model(s) kept fields the file does not carry "
                "(training prices, hosting, training cut-off, …) from their previous row."
            )
        listing = {"added": report.added, "updated": report.updated}
        for name, models in listing.items():
            if models:
                shown = models if verbose else models[:10]
                more = "" if len(shown) == len(models) else f" … and {len(models) - len(shown)} more"
                self.stdout.write(f"{name}: {', '.join(shown)}{more}")
        if verbose:
            for entry, reason in report.skipped:
                self.stdout.write(f"  skipped {entry}: {reason}")
