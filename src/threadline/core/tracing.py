"""OpenTelemetry traces of turns, model requests and tool calls (Codex's ``[otel]`` keys).

Optional twice over: without an ``[otel]`` trace exporter in the config, or without the
``otel`` extra installed (``opentelemetry-sdk`` and the OTLP/HTTP exporter), nothing here
imports OpenTelemetry and every helper is a no-op (startup time matters).

Config, as Codex reads it::

    [otel]
    environment = "dev"                      # the deployment.environment resource attribute
    trace_exporter = { otlp-http = { endpoint = "http://host:4318/v1/traces",
                                     protocol = "binary", headers = { "x-key" = "..." } } }
    span_attributes = { team = "tools" }     # added to every span

``trace_exporter`` falls back to ``exporter`` when unset; ``"none"`` (the default) turns
traces off. Only ``otlp-http`` with the binary (protobuf) protocol is exported; ``json`` is
sent as protobuf and ``otlp-grpc`` / ``statsig`` turn tracing off, each with a warning.

A request's W3C trace context (the JSON-RPC envelope's ``trace``) becomes the parent of the
turn it starts (:func:`under`): the turn's task inherits the context it was created in, so
the ``turn`` span and its ``model.request`` and ``tool.call`` children join the caller's
trace. The context is attached also without our exporter when the OpenTelemetry API is
already loaded (a program embedding threadline traces itself).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from dataclasses import field
from typing import Any, TypeVar

from threadline.protocol.records import record

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "TraceExport",
    "configure",
    "enabled",
    "export_from_config",
    "flush",
    "model_request",
    "shutdown",
    "span",
    "tool_call",
    "traced",
    "traced_call",
    "under",
]


@record
class TraceExport:
    """Where spans go: an OTLP/HTTP endpoint, its headers, and the resource's details."""

    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    environment: str | None = None
    span_attributes: Mapping[str, str] = field(default_factory=dict)


def export_from_config(otel: Any) -> TraceExport | None:
    """The trace export an ``[otel]`` table asks for, or ``None`` (off, or not supported)."""
    if not isinstance(otel, Mapping):
        return None
    exporter = otel.get("trace_exporter", otel.get("exporter", "none"))
    if exporter in (None, "none"):
        return None
    if not isinstance(exporter, Mapping) or "otlp-http" not in exporter:
        log.warning("otel: trace exporter %r is not supported; traces are off", exporter)
        return None
    http = exporter["otlp-http"]
    endpoint = http.get("endpoint") if isinstance(http, Mapping) else None
    if not isinstance(endpoint, str) or not endpoint:
        log.warning("otel: otlp-http needs an endpoint; traces are off")
        return None
    if http.get("protocol", "binary") != "binary":
        log.warning("otel: otlp-http protocol %r is sent as binary protobuf", http.get("protocol"))
    headers = http.get("headers")
    attributes = otel.get("span_attributes")
    environment = otel.get("environment")
    return TraceExport(
        endpoint=endpoint,
        headers={str(k): str(v) for k, v in headers.items()}
        if isinstance(headers, Mapping)
        else {},
        environment=environment if isinstance(environment, str) else None,
        span_attributes=(
            {str(k): str(v) for k, v in attributes.items()}
            if isinstance(attributes, Mapping)
            else {}
        ),
    )


class _Tracing:
    """The process's tracer once configured (OpenTelemetry imported only then)."""

    def __init__(self) -> None:
        self.tracer: Any = None
        self.provider: Any = None
        self.attributes: dict[str, str] = {}
        self.export: TraceExport | None = None


_STATE = _Tracing()


def configure(otel: Any) -> bool:
    """Set up span export from an ``[otel]`` table; ``True`` when traces are exported.

    Called once per process (a second call with the same export keeps the first setup).
    Without a trace exporter, or without OpenTelemetry installed, traces stay off."""
    export = export_from_config(otel)
    if export is None or export == _STATE.export:
        return _STATE.tracer is not None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("otel: [otel] asks for traces, but the otel extra is not installed")
        return False
    resource: dict[str, str] = {"service.name": "threadline"}
    if export.environment:
        resource["deployment.environment"] = export.environment
    provider = TracerProvider(resource=Resource.create(resource))
    exporter = OTLPSpanExporter(endpoint=export.endpoint, headers=dict(export.headers))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    shutdown()
    _STATE.provider = provider
    _STATE.tracer = provider.get_tracer("threadline")
    _STATE.attributes = dict(export.span_attributes)
    _STATE.export = export
    return True


def enabled() -> bool:
    return _STATE.tracer is not None


def flush() -> None:
    """Export the spans that ended so far (blocking: call it off the event loop)."""
    provider = _STATE.provider
    if provider is not None:
        with contextlib.suppress(Exception):
            provider.force_flush(5000)


def shutdown() -> None:
    """Export what is pending and stop (server shutdown)."""
    provider, _STATE.provider, _STATE.tracer, _STATE.export = _STATE.provider, None, None, None
    if provider is not None:
        with contextlib.suppress(Exception):
            provider.shutdown()


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A span around the block, child of the current one (a no-op when traces are off)."""
    tracer = _STATE.tracer
    if tracer is None:
        yield
        return
    attrs = {**_STATE.attributes, **{k: v for k, v in attributes.items() if v is not None}}
    with tracer.start_as_current_span(name, attributes=attrs):
        yield


def traced(events: AsyncIterator[T], name: str, **attributes: Any) -> AsyncIterator[T]:
    """``events`` inside a span that lasts until they end (``events`` itself when traces
    are off). The span's parent is the current span; it does not become current."""
    tracer = _STATE.tracer
    if tracer is None:
        return events
    attrs = {**_STATE.attributes, **{k: v for k, v in attributes.items() if v is not None}}
    return _spanned(events, tracer.start_span(name, attributes=attrs))


async def _spanned(events: AsyncIterator[T], one: Any) -> AsyncIterator[T]:
    try:
        async for event in events:
            yield event
    except BaseException as exc:
        _failed(one, exc)
        raise
    finally:
        one.end()


def traced_call(call: Awaitable[T], name: str, **attributes: Any) -> Awaitable[T]:
    """``call`` inside a span from when it is awaited to its result (``call`` itself when
    traces are off); the span's parent is the span current where it runs."""
    tracer = _STATE.tracer
    if tracer is None:
        return call
    attrs = {**_STATE.attributes, **{k: v for k, v in attributes.items() if v is not None}}

    async def run() -> T:
        one = tracer.start_span(name, attributes=attrs)
        try:
            return await call
        except BaseException as exc:
            _failed(one, exc)
            raise
        finally:
            one.end()

    return run()


def _failed(one: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    if isinstance(exc, Exception):
        one.record_exception(exc)
    one.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def model_request(events: AsyncIterator[T], model: str) -> AsyncIterator[T]:
    """A model request's stream in its ``model.request`` span."""
    return traced(events, "model.request", model=model)


def tool_call(call: Awaitable[T], tool: str) -> Awaitable[T]:
    """A tool call in its ``tool.call`` span."""
    return traced_call(call, "tool.call", tool=tool)


@contextlib.contextmanager
def under(w3c_trace_context: Mapping[str, Any] | None) -> Iterator[None]:
    """Run the block under a W3C trace context (``traceparent`` / ``tracestate``): what it
    starts, a turn's task included, continues the caller's trace."""
    carrier = {
        k: v
        for k, v in (w3c_trace_context or {}).items()
        if k in ("traceparent", "tracestate") and isinstance(v, str)
    }
    # Without our exporter the context still matters to an embedding program that set up
    # OpenTelemetry itself (then its API is loaded already); otherwise nothing is imported.
    loaded = _STATE.tracer is not None or "opentelemetry.context" in sys.modules
    if not loaded or "traceparent" not in carrier:
        yield
        return
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    token = context.attach(TraceContextTextMapPropagator().extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
