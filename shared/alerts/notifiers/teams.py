"""Microsoft Teams receiver: an Adaptive Card posted to a Teams Workflows ("Post to a channel
when a webhook request is received") webhook. Workflows accept Adaptive Cards only (no
MessageCard), wrapped in a `message` activity with one attachment."""

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

__all__ = ["TeamsNotifier", "adaptive_card"]

CARD_VERSION = "1.4"  # supported by Teams desktop, web and mobile
MAX_ALERTS = 10  # Teams caps a message at ~28 KB; the rest is summarised in one line
_COLOR = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Accent",
          "info": "Default"}


def _alert_container(alert_facts: dict[str, Any], status: str) -> dict[str, Any]:
    facts = [
        {"title": "Severity", "value": f"{alert_facts['severity']} ({alert_facts['azure_severity']})"},
        {"title": "Status", "value": status},
        {"title": "Resource", "value": alert_facts["resource_name"]},
    ]
    if alert_facts["workspace"]:
        facts.append({"title": "Workspace", "value": alert_facts["workspace"]})
    if alert_facts["changed_by"]:
        facts.append({"title": "Changed by", "value": alert_facts["changed_by"]})
    if alert_facts["since"]:
        facts.append({"title": "Since", "value": alert_facts["since"]})
    if alert_facts["source"]:
        where = alert_facts["source"] + (f":{alert_facts['line']}" if alert_facts["line"] else "")
        facts.append({"title": "Source", "value": where})
    items: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"**{alert_facts['rule']}** {alert_facts['title']}", "wrap": True,
         "weight": "Bolder",
         "color": "Good" if status == AlertStatus.RESOLVED.value else
         _COLOR.get(alert_facts["severity"], "Default")},
        {"type": "FactSet", "facts": facts},
    ]
    if alert_facts["message"]:
        items.append({"type": "TextBlock", "text": alert_facts["message"], "wrap": True})
    if alert_facts["remediation"]:
        items.append({"type": "TextBlock", "text": f"**Remediation:** {alert_facts['remediation']}",
                      "wrap": True, "isSubtle": True})
    actions = []
    if alert_facts["portal_url"]:
        actions.append({"type": "Action.OpenUrl", "title": "Open in Azure portal",
                        "url": alert_facts["portal_url"]})
    if alert_facts["runbook_url"]:
        actions.append({"type": "Action.OpenUrl", "title": "Runbook", "url": alert_facts["runbook_url"]})
    if actions:
        items.append({"type": "ActionSet", "actions": actions})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def adaptive_card(notification: Notification) -> dict[str, Any]:
    """The Adaptive Card (1.4) describing a notification: headline, then one block per alert."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": headline(notification), "size": "Medium", "weight": "Bolder",
         "wrap": True},
    ]
    if notification.group_labels:
        body.append({"type": "TextBlock", "isSubtle": True, "wrap": True, "spacing": "None",
                     "text": ", ".join(f"{k}={v}" for k, v in sorted(notification.group_labels.items()))})
    for alert in notification.alerts[:MAX_ALERTS]:
        body.append(_alert_container(alert_summary(alert), alert.status))
    hidden = len(notification.alerts) - MAX_ALERTS
    if hidden > 0:
        body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                     "text": f"…and {hidden} more alert(s) in this group."})
    body.append({"type": "TextBlock", "isSubtle": True, "size": "Small", "wrap": True,
                 "text": f"amlguard · reason: {notification.reason} · key {notification.idempotency_key}"})
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }


@register("teams")
class TeamsNotifier(HttpNotifier):
    """Posts an Adaptive Card to a Teams Workflows webhook (URL from an environment variable)."""

    settings_schema = {
        "url_from_env": env_var("Environment variable / app setting holding the Workflows webhook URL"),
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    }
    required_settings = ("url_from_env",)
    env_settings = ("url_from_env",)

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The Workflows webhook body: a message activity with one Adaptive Card attachment."""
        return {
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": adaptive_card(notification),
            }],
        }

    def _deliver(self, notification: Notification) -> None:
        body = json.dumps(self.payload(notification), ensure_ascii=False).encode()
        self.post(body, {})
