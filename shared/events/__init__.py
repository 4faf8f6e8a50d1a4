"""Event Grid and CloudEvents deliveries: parsing, handshakes, and what each event asks for."""

from amlguard.events.parse import (
    EventParseError,
    ParsedEvent,
    WebhookDelivery,
    from_function_event,
    parse_event_dict,
    parse_webhook,
    watched_id,
)

__all__ = [
    "EventParseError",
    "ParsedEvent",
    "WebhookDelivery",
    "from_function_event",
    "parse_event_dict",
    "parse_webhook",
    "watched_id",
]
