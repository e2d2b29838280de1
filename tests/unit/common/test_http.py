from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from switchboard_common.errors import NotFound
from switchboard_common.http import create_app


class Thing(BaseModel):
    name: str = Field(min_length=2)


def make_client() -> TestClient:
    router = APIRouter()

    @router.post("/v1/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @router.get("/v1/things/{thing_id}")
    async def get(thing_id: str) -> Thing:
        raise NotFound(f"no thing {thing_id}", error_id="no-such-thing", details={"id": thing_id})

    @router.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    async def failing() -> bool:
        return False

    app = create_app(
        "test", routers=[router], max_body_bytes=2048, health_checks={"database": failing}
    )
    return TestClient(app, raise_server_exceptions=False)


def test_app_error_becomes_error_body() -> None:
    response = make_client().get("/v1/things/42")
    assert response.status_code == 404
    assert response.json() == {
        "error": "no-such-thing",
        "message": "no thing 42",
        "details": {"id": "42"},
    }


def test_validation_error_names_the_field() -> None:
    response = make_client().post("/v1/things", json={"name": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid-input"
    assert body["details"]["field"] == "name"


def test_unexpected_error_is_500_with_id_not_a_traceback() -> None:
    response = make_client().get("/v1/boom")
    assert response.status_code == 500
    assert response.json()["error"] == "internal-error"
    assert "kaput" not in response.text


def test_oversized_body_is_413() -> None:
    response = make_client().post(
        "/v1/things",
        content=b"{" + b" " * 5000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload-too-large"


def test_unknown_route_is_json_404_and_metrics_are_prometheus_text() -> None:
    client = make_client()
    assert client.get("/nope").json()["error"] == "not-found"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


def test_health_reports_failing_checks_as_503() -> None:
    response = make_client().get("/health")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False}
