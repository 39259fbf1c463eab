"""Approved examples as a fine-tuning dataset (OpenAI chat JSONL), with a
deterministic train/validation split and token and cost statistics.

Each approved example of the production version's pinned example set becomes
one training conversation: the residual instruction (the prompt's description,
when it has one) as the system message, the example's input as the user
message, the ideal output as the assistant message. The long static prompt
is left out: that is what the tuned model learns, and what stops being paid
for on every call.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from promptledger import rendering
from prompts_app.errors import NotFound
from prompts_app.lib.tokens import count_message_tokens
from prompts_app.models import Example, ModelPrice, Prompt, PromptVersion
from prompts_app.selectors.library import prompt_version_for

VALIDATION_PERCENT = 10


def production_version(prompt: Prompt) -> PromptVersion | None:
    """What runtime clients get by default: production, else the latest version."""
    try:
        return prompt_version_for(prompt=prompt, label=None)[0]
    except NotFound:
        return None


def approved_examples(version: PromptVersion | None) -> list[Example]:
    if version is None or version.example_set_version_id is None:
        return []
    return list(version.example_set_version.examples.filter(approved=True).order_by("position"))


def example_user_message(prompt: Prompt, version: PromptVersion, example_input) -> str:
    """The user turn of an example, as the renderer builds it for chat prompts:
    a string input as-is, an object through the first user template."""
    if isinstance(example_input, str):
        return example_input
    if prompt.kind == Prompt.KIND_CHAT:
        user_template = next(
            (m["content"] for m in version.messages or [] if m["role"] == "user"), None
        )
        if user_template is not None:
            try:
                return rendering.render(
                    "text", user_template, example_input, options=version.template_options
                )
            except rendering.RenderError:
                pass
    return json.dumps(example_input, ensure_ascii=False, sort_keys=True)


def training_conversation(prompt: Prompt, version: PromptVersion, example: Example) -> dict:
    messages = []
    if prompt.description.strip():
        messages.append({"role": "system", "content": prompt.description.strip()})
    messages.append(
        {"role": "user", "content": example_user_message(prompt, version, example.input)}
    )
    messages.append({"role": "assistant", "content": example.output})
    return {"messages": messages}


def split_of(conversation: dict) -> str:
    """'validation' for about one in ten examples, chosen by content hash so
    the split never changes when examples are added or reordered."""
    digest = hashlib.sha256(json.dumps(conversation, sort_keys=True).encode()).hexdigest()
    return "validation" if int(digest[:8], 16) % 100 < VALIDATION_PERCENT else "train"


def finetune_dataset(
    prompt: Prompt, *, version: PromptVersion | None = None
) -> dict[str, list[dict]]:
    version = version or production_version(prompt)
    dataset: dict[str, list[dict]] = {"train": [], "validation": []}
    for example in approved_examples(version):
        conversation = training_conversation(prompt, version, example)
        dataset[split_of(conversation)].append(conversation)
    return dataset


def as_jsonl(conversations: list[dict]) -> str:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations)


def training_tokens(conversations: list[dict]) -> int:
    return sum(count_message_tokens(c["messages"]) for c in conversations)


def finetune_stats(prompt: Prompt, *, epochs: int) -> dict:
    """Examples and tokens per split, and the training cost at the model's price."""
    version = production_version(prompt)
    dataset = finetune_dataset(prompt, version=version)
    model = (version.model_config.get("model") if version else None) or None
    price = ModelPrice.objects.in_force(project=prompt.project, model=model) if model else None
    train_tokens = training_tokens(dataset["train"])
    validation_tokens = training_tokens(dataset["validation"])
    trained = train_tokens * epochs  # providers bill the training split, once per epoch
    cost = None
    if price is not None and price.training_per_1m is not None:
        cost = (Decimal(trained) * price.training_per_1m / Decimal(1_000_000)).quantize(
            Decimal("0.01")
        )
    return {
        "prompt": prompt.name,
        "version": version.number if version else None,
        "model": model,
        "format": "openai-chat-jsonl",
        "train": {"examples": len(dataset["train"]), "tokens": train_tokens},
        "validation": {"examples": len(dataset["validation"]), "tokens": validation_tokens},
        "epochs": epochs,
        "training_tokens": trained,
        "training_price_per_1m": str(price.training_per_1m)
        if price and price.training_per_1m is not None
        else None,
        "estimated_training_cost": str(cost) if cost is not None else None,
        "currency": "USD",
    }
