"""The Django admin for prompt engineers, one module per domain:

- `library`: projects, API keys, prompts, versions, labels; the prompt pages
  (edit, diff, preview, promote).
- `example_sets`: example sets and their versions; the example-set editor.
- `evals`: providers, eval suites, runs and case results; the run page.
- `ledger`: model prices, the ledger and fine-tuning advice page, the what-if
  calculator, alerts, advisor settings, webhooks; `charts` draws its SVGs.

Each module holds its ModelAdmins and its custom views; its forms are in
`forms/<domain>.py`. They share `base` (base ModelAdmin classes, page and
form helpers) and `display` (numbers, verdicts and badges as people read them).
Importing the modules here registers their ModelAdmins with the site.
"""

from django.contrib import admin

from prompts_app.admin import evals, example_sets, ledger, library  # noqa: F401 (they register)

admin.site.site_header = "PromptLedger"
admin.site.site_title = "PromptLedger admin"
admin.site.index_title = "Prompts, versions and keys"
# There is no public site behind the admin: no "View site" link to a 404.
admin.site.site_url = None
# The index adds a "Ledger and fine-tuning advice" box (what-if calculator,
# alerts, advisor settings) above the app list.
admin.site.index_template = "admin/prompts_app/index.html"
