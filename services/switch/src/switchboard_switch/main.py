"""Composition root of the switch service: settings -> ESL link, notifier -> service ->
gRPC CallControl and HTTP."""

from fastapi import APIRouter
from prometheus_client import Gauge

from switchboard.callcontrol.v1 import callcontrol_pb2_grpc
from switchboard_common.bus import EventPublisher, ProducerSettings
from switchboard_common.errors import ConfigurationError
from switchboard_common.esl import EslClient
from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_switch.esl_adapter import EslFreeSwitch, EslLink
from switchboard_switch.grpc_server import SERVICE_NAME, CallControlServicer
from switchboard_switch.notifier import CallEventNotifier
from switchboard_switch.services import SwitchService
from switchboard_switch.settings import SwitchSettings

CALLS_IN_PROGRESS = Gauge(
    "switchboard_calls_in_progress", "Tenant calls live on this node", ["service"]
)


def status_router(service: SwitchService, link: EslLink, notifier: CallEventNotifier) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/v1/internal/stats", summary="Live figures of this node (no tenant data)")
    async def stats() -> dict[str, object]:
        return {
            "node_id": service.node_id,
            "esl_connected": await link.healthy(),
            "channels": len(service.tracker),
            "calls_in_progress": service.tracker.calls_in_progress(),
            "esl_events_in": service.events_in,
            "call_events_out": service.events_out,
            "call_events_published": notifier.published,
        }

    return router


async def build(settings: SwitchSettings) -> ServiceRuntime:
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError(
            "switch: KAFKA_BOOTSTRAP_SERVERS is required (call events go to Kafka)"
        )
    foundation = await lay_foundation(settings, "switchboard_switch")
    client = EslClient(
        settings.esl_host,
        settings.esl_port,
        settings.freeswitch_esl_password.get_secret_value(),
        events=EslLink.subscriptions(),
        event_format=settings.esl_event_format,
        command_timeout=settings.command_timeout_s,
        backoff_initial=0.2,
        backoff_max=settings.esl_reconnect_max_s,
        queue_size=settings.event_buffer,
        link_name=settings.node_id,
    )
    publisher = EventPublisher(ProducerSettings.from_service_settings(settings))
    notifier = CallEventNotifier(publisher, settings.node_id, settings.event_buffer)
    service = SwitchService(
        settings.node_id,
        EslFreeSwitch(client),
        notifier,
        command_timeout_s=settings.command_timeout_s,
    )
    link = EslLink(client, service)
    CALLS_IN_PROGRESS.labels("switch").set_function(service.tracker.calls_in_progress)
    foundation.grpc_server.add(
        callcontrol_pb2_grpc.add_CallControlServicer_to_server,
        CallControlServicer(service),
        SERVICE_NAME,
    )
    app = create_app(
        "switch",
        description="One FreeSWITCH node's ESL link and live channel cache; call events on "
        "Kafka; gRPC CallControl.",
        routers=[status_router(service, link, notifier)],
        health_checks={"database": database_check(foundation.engine), "freeswitch": link.healthy},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app, components=[notifier, link])


def main() -> int:
    return run_service(SwitchSettings, build)
