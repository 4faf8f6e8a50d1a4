"""Slack receiver: Block Kit message through an incoming webhook (URL from an environment variable)."""

from __future__ import annotations

import json
from typing import Any

from amlguard.alerts.notifiers.base import (
    HttpNotifier,
    alert_summary,
    env_var,
    headline,
    register,
)
from amlguard.alerts.types import AlertStatus, Notification

__all__ = ["SlackNotifier", "slack_blocks"]

# Slack limits: 50 blocks per message, 150 chars in a header, 3000 in a section text.
MAX_ALERTS = 10
_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
          "low": ":large_blue_circle:", "info": ":white_circle:"}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (`&`, `<`, `>`) must be HTML-escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_blocks(notification: Notification) -> list[dict[str, Any]]:
    """Block Kit blocks: a header, then a section (+ context) per alert, dividers between."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline(notification), 150),
                                    "emoji": True}},
    ]
    for alert in notification.alerts[:MAX_ALERTS]:
        facts = alert_summary(alert)
        resolved = alert.status == AlertStatus.RESOLVED.value
        icon = ":white_check_mark:" if resolved else _EMOJI.get(facts["severity"], ":bell:")
        name = _escape(facts["resource_name"])
        resource = f"<{facts['portal_url']}|{name}>" if facts["portal_url"] else f"`{name}`"
        text = f"{icon} *{_escape(facts['rule'])}* {_escape(facts['title'])}\n{resource}"
        if facts["message"]:
            text += f"\n{_escape(facts['message'])}"
        fields = [
            {"type": "mrkdwn", "text": f"*Severity*\n{facts['severity']} ({facts['azure_severity']})"},
            {"type": "mrkdwn", "text": f"*Status*\n{alert.status}"},
        ]
        if facts["workspace"]:
            fields.append({"type": "mrkdwn", "text": f"*Workspace*\n{_escape(facts['workspace'])}"})
        if facts["changed_by"]:
            fields.append({"type": "mrkdwn", "text": f"*Changed by*\n{_escape(facts['changed_by'])}"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)},
                       "fields": fields})
        context = []
        if facts["remediation"]:
            context.append({"type": "mrkdwn",
                            "text": _cut(f"*Remediation:* {_escape(facts['remediation'])}", 3000)})
        if facts["runbook_url"]:
            context.append({"type": "mrkdwn", "text": f"<{facts['runbook_url']}|Runbook>"})
        if context:
            blocks.append({"type": "context", "elements": context})
        blocks.append({"type": "divider"})
    hidden = len(notification.alerts) - MAX_ALERTS
    if hidden > 0:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"…and {hidden} more alert(s) in this group."}]})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"amlguard · reason: {notification.reason}"}]})
    return blocks


@register("slack")
class SlackNotifier(HttpNotifier):
    """Posts Block Kit messages to a Slack incoming webhook."""

    settings_schema = {
        "url_from_env": env_var("Environment variable / app setting holding the incoming webhook URL"),
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    }
    required_settings = ("url_from_env",)
    env_settings = ("url_from_env",)

    def payload(self, notification: Notification) -> dict[str, Any]:
        """`text` is the notification fallback (shown in push notifications); `blocks` the body."""
        return {"text": headline(notification), "blocks": slack_blocks(notification)}

    def _deliver(self, notification: Notification) -> None:
        body = json.dumps(self.payload(notification), ensure_ascii=False).encode()
        self.post(body, {})
