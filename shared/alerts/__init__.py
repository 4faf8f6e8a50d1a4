"""Alerts: fingerprints, the pending/firing/resolved lifecycle, state stores, silences, inhibition,
acknowledgement, grouping and the notification outbox (Alertmanager semantics, persisted)."""

from amlguard.alerts.inhibit import InhibitRule, inhibited_by, parse_inhibit_rules
from amlguard.alerts.lifecycle import NotifyLogEntry, State, Transition, evaluate, needs_update
from amlguard.alerts.manager import AlertManager, alert_fingerprint, alert_labels
from amlguard.alerts.outbox import DeliveryStats, RetryPolicy
from amlguard.alerts.protocols import AlertFacade, StateStoreProtocol
from amlguard.alerts.records import Conflict
from amlguard.alerts.silences import Silence, SilenceError
from amlguard.alerts.store import StateStore, open_store
from amlguard.alerts.stored import StoredAlert
from amlguard.alerts.types import Alert, AlertStatus, Notification, Notifier, NotifyReason, fingerprint

__all__ = ["Alert", "AlertFacade", "AlertManager", "AlertStatus", "Conflict", "DeliveryStats", "InhibitRule",
           "Notification", "Notifier", "NotifyLogEntry", "NotifyReason", "RetryPolicy", "Silence", "SilenceError",
           "State", "StateStore", "StateStoreProtocol", "StoredAlert", "Transition", "alert_fingerprint",
           "alert_labels", "evaluate", "fingerprint", "inhibited_by", "needs_update", "open_store",
           "parse_inhibit_rules"]
