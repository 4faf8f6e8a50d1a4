"""Timer sweep and queue fan-out: the timer enqueues one message per workspace, workers audit."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from functions.runtime import service

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships no annotations here
log = logging.getLogger("amlguard.functions.sweep")

MAX_DEQUEUE = 5  # host.json extensions.queues.maxDequeueCount


@bp.function_name("sweep_timer")
@bp.timer_trigger(arg_name="timer", schedule="%AMLGUARD_SWEEP_SCHEDULE%", run_on_startup=False)
@bp.queue_output(arg_name="out", queue_name="%AMLGUARD_QUEUE_NAME%", connection="AzureWebJobsStorage")
def sweep_timer(timer: func.TimerRequest, out: func.Out[list[str]]) -> None:
    """Fan the configured scope out: one queue message per workspace."""
    from amlguard.service.fanout import sweep_messages

    messages = sweep_messages(service(), late=timer.past_due)
    out.set(messages)
    log.info("sweep enqueued %d workspace(s)", len(messages))


@bp.function_name("audit_workspace")
@bp.queue_trigger(arg_name="msg", queue_name="%AMLGUARD_QUEUE_NAME%", connection="AzureWebJobsStorage")
@bp.queue_output(arg_name="poison", queue_name="%AMLGUARD_QUEUE_NAME%-poison",
                 connection="AzureWebJobsStorage")
def audit_workspace(msg: func.QueueMessage, poison: func.Out[str]) -> None:
    """Audit one workspace; a message that can never succeed goes to the poison queue with a reason."""
    from amlguard.service.fanout import PoisonMessage, handle_message

    try:
        handle_message(service(), msg.get_body(), dequeue_count=msg.dequeue_count or 1,
                       max_dequeue=MAX_DEQUEUE)
    except PoisonMessage as exc:
        poison.set(json.dumps({"message": exc.body, "reason": exc.reason, "id": msg.id}))
        log.error("queue message %s moved to the poison queue: %s", msg.id, exc.reason)
