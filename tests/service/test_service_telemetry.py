"""Every event, audit and sweep leaves a span; findings are counted by rule and status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from amlguard import telemetry
from amlguard.events import parse_event_dict
from tests.service.conftest import GREEN
from tests.service.test_service import write_event


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry.use_providers(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield spans, reader
    telemetry.use_providers()


def test_event_audit_and_sweep_spans(service, exported) -> None:
    spans, reader = exported
    service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    service.sweep()
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert {"event", "audit", "sweep"} <= set(finished)
    event = finished["event"]
    assert event.attributes["amlguard.event_id"] == "e1"
    assert event.attributes["amlguard.outcome"] == "audited"
    audit = finished["audit"]
    assert audit.parent is not None and audit.parent.span_id == event.context.span_id
    assert audit.attributes["amlguard.failed"] >= 1
    assert finished["sweep"].attributes["amlguard.resources"] == 10
    points = [p for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name.endswith("findings") for p in m.data.data_points]
    assert any(p.attributes.get("rule") == "AMLG-NET-002" and p.attributes.get("status") == "fail" for p in points)
