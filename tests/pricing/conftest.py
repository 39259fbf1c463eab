"""Projects for the catalogue tests: an empty one and one seeded with the bundled sheet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from prompts_app.models import Project
from prompts_app.services import library

LITELLM_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "litellm" / "model_prices_and_context_window.json"


@pytest.fixture
def empty_project(db) -> Project:
    """A project with no price rows (created directly, so nothing is seeded)."""
    return Project.objects.create(name="empty")


@pytest.fixture
def seeded_project(db) -> Project:
    """A project as the product creates it: a copy of the bundled catalogue."""
    project, _ = library.project_get_or_create(name="seeded")
    return project


@pytest.fixture(scope="session")
def litellm_data() -> dict:
    return json.loads(LITELLM_FIXTURE.read_text())
