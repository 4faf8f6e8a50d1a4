"""Monitor timer: evaluate latency, error and drift rules; breaches feed the alert lifecycle."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import after_alert_work, service

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships no annotations here
log = logging.getLogger("amlguard.functions.monitor")


@bp.function_name("monitor_timer")
@bp.timer_trigger(arg_name="timer", schedule="%AMLGUARD_MONITOR_SCHEDULE%", run_on_startup=False)
def monitor_timer(timer: func.TimerRequest) -> None:
    """Run every monitor rule that is due and advance alert timers."""
    from amlguard import telemetry
    from amlguard.monitor.runner import run_monitors

    with telemetry.span("monitor"):
        summary = run_monitors(service())
    log.info("monitor run: %s", summary)
    service().tick()
    after_alert_work()


@bp.function_name("alerts_timer")
@bp.timer_trigger(arg_name="timer", schedule="%AMLGUARD_ALERTS_SCHEDULE%", run_on_startup=False)
def alerts_timer(timer: func.TimerRequest) -> None:
    """Advance alert timers (`for`, group_wait, repeat) and deliver the outbox with its retries."""
    stats = service().tick()
    after_alert_work()
    log.info("alert tick: %s", stats)


@bp.function_name("alerts_wake")
@bp.queue_trigger(arg_name="msg", queue_name="%AMLGUARD_WAKE_QUEUE_NAME%", connection="AzureWebJobsStorage")
def alerts_wake(msg: func.QueueMessage) -> None:
    """A wake message became visible: alert work (group_wait, `for`, a retry) is due now."""
    stats = service().tick()
    after_alert_work(woken_by=msg.get_body())
    log.info("alert wake %s: %s", msg.id, stats)
