"""What a task running elsewhere (a Ray node) may send the worker, and how the worker takes it into the store.

Messages travel as JSON of the `Mail` types, never pickles. The worker trusts none of them: each is
checked against its type and against the task whose mailbox it came from, so a message that is malformed,
or that names another task's model, is refused (and said in that task's events) instead of reaching the store.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError

from ..contracts import AnyEvent, Contract, ModelCard, Progress, StatusEvent
from ..store import Store
from .registry import model_id_for


class EventMail(Contract):
    kind: Literal["event"] = "event"
    event: AnyEvent


class ProgressMail(Contract):
    kind: Literal["progress"] = "progress"
    progress: Progress


class ModelMail(Contract):
    kind: Literal["model"] = "model"
    card: ModelCard


Mail = Annotated[EventMail | ProgressMail | ModelMail, Field(discriminator="kind")]
MAIL: TypeAdapter[Mail] = TypeAdapter(Mail)


def deliver(store: Store, task_id: int, messages: list[str]) -> int:
    """Each message from task `task_id`'s mailbox into the store, in order; returns how many were refused."""
    refused = 0
    for text in messages:
        why = _refusal(store, task_id, text)
        if why is not None:
            refused += 1
            store.add_event(task_id, StatusEvent(message=f"Refused a message from the task's Ray node: {why}"))
    return refused


def _refusal(store: Store, task_id: int, text: str) -> str | None:
    """Stores the message and returns None, or returns why it was refused."""
    try:
        mail = MAIL.validate_json(text)
    except ValidationError as exc:
        return f"not a message of this product ({exc.error_count()} errors: {exc.errors()[0]['msg']})"
    if isinstance(mail, EventMail):
        store.add_event(task_id, mail.event)
    elif isinstance(mail, ProgressMail):
        store.update_progress(task_id, mail.progress)
    else:
        expected = model_id_for(store.task(task_id).name, task_id)
        if mail.card.source_task != task_id or mail.card.id != expected:
            return f"a model card for model {mail.card.id!r} of task {mail.card.source_task}, not this task's {expected!r}"
        store.add_model(mail.card)
    return None
