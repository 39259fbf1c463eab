"""Real chat templates of open models render as Hugging Face renders them.

The corpus is ``fixtures/chat_templates/`` (sources and dates in its SOURCES.md); each
case's ``expected`` text was rendered by stock Jinja 3.1.6 configured as
transformers configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
StrictUndefined, a ``raise_exception`` global).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptledger.rendering import RenderError, infer_schema, render

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


def _id(case):
    return case["file"] + (" raises" if "raises" in case else "")


def _options(case):
    return {"trim_blocks": case["trim_blocks"], "lstrip_blocks": case["lstrip_blocks"]}


def test_the_corpus_has_the_common_open_models():
    assert len({case["file"] for case in CASES}) >= 20


@pytest.mark.parametrize("case", [c for c in CASES if "raises" not in c], ids=_id)
def test_a_chat_template_renders_byte_for_byte_as_stock_jinja(case):
    template = (CORPUS / case["file"]).read_text(encoding="utf-8")
    assert render("text", template, case["variables"], options=_options(case)) == case["expected"]
    # everything it requires is something the case gives (it renders without the rest)
    required = infer_schema("text", template, _options(case))["required"]
    assert set(required) <= set(case["variables"])


@pytest.mark.parametrize("case", [c for c in CASES if "raises" in c], ids=_id)
def test_a_chat_templates_error_branch_answers_with_its_own_message(case):
    template = (CORPUS / case["file"]).read_text(encoding="utf-8")
    with pytest.raises(RenderError) as info:
        render("text", template, case["variables"], options=_options(case))
    assert info.value.code == "template_raised"
    assert info.value.message == case["raises"]
