"""Property-based fuzzing of the tickets OpenAPI with schemathesis: valid and invalid
requests on every operation, against unknown and real records, never answer 5xx.

Schemathesis generates the cases (Hypothesis strategies per operation); they are sent
in-process through the test's own HTTP client, so the service keeps its event loop."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from switchboard_tickets.main import TicketsApp

EXAMPLES_PER_OPERATION = 12


def _cases(operation: Any, mode: GenerationMode, path_parameters: dict[str, str]) -> list[Any]:
    """Generate cases for one operation (bounded, no example database, no shrinking); none
    when the mode cannot apply (nothing in the operation can be made invalid)."""
    cases: list[Any] = []
    strategy = operation.as_strategy(mode, path_parameters=path_parameters or None)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def collect(case: Any) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:
        return []
    return cases


async def _send(client: httpx.AsyncClient, case: Any) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = {
        name: value
        for name, value in (kwargs.get("headers") or {}).items()
        if name.lower() not in ("authorization", "x-api-key", "content-length", "host")
    }
    content = kwargs.get("data")
    return await client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        content=content if isinstance(content, bytes | str) else None,
    )


async def test_no_request_makes_the_service_fail(
    service: TicketsApp, make_client: Any, tenant: str, add_agent: Any
) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "agent-1")
    customer = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    ticket = (await client.post("/v1/tickets", json={"subject": "real"})).json()
    department = (await client.post("/v1/departments", json={"name": "Real"})).json()
    await client.post("/v1/ticket-categories", json={"key": "real", "name": "Real"})
    await client.put("/v1/customer-fields/real", json={"type": "string"})
    real_ids = {
        "customer_id": customer["id"],
        "ticket_id": ticket["id"],
        "department_id": department["id"],
        "key": "real",
        "call_id": "call-1",
    }

    schema = schemathesis.openapi.from_dict(service.app.openapi())
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        names = {parameter.name for parameter in operation.path_parameters}
        real = {name: value for name, value in real_ids.items() if name in names}
        passes: list[tuple[GenerationMode, dict[str, str]]] = [
            (GenerationMode.POSITIVE, {}),
            (GenerationMode.NEGATIVE, {}),
        ]
        if real and len(real) == len(names):
            passes.append((GenerationMode.POSITIVE, real))
            passes.append((GenerationMode.NEGATIVE, real))
        for mode, path_parameters in passes:
            for case in _cases(operation, mode, path_parameters):
                response = await _send(client, case)
                sent += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{operation.label} -> {response.status_code}: "
                        f"{case.as_curl_command()}\n{response.text[:300]}"
                    )
    assert sent > 500
    assert not failures, "\n\n".join(failures[:10])
