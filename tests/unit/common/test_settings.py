from pathlib import Path

import pytest

from switchboard_admin.settings import AdminSettings
from switchboard_common.errors import ConfigurationError
from switchboard_common.settings import load_settings
from switchboard_routing.settings import RoutingSettings


def test_defaults_give_service_ports_and_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    settings = load_settings(RoutingSettings)
    assert settings.http_port == 8103
    assert settings.grpc_port == 9103
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/routing.db"


def test_prefixed_variable_wins_over_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://shared/db")
    monkeypatch.setenv("ROUTING_DATABASE_URL", "postgresql+asyncpg://own/db")
    assert load_settings(RoutingSettings).database_url == "postgresql+asyncpg://own/db"
    assert load_settings(AdminSettings).database_url == "postgresql+asyncpg://shared/db"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_HTTP_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="invalid setting ROUTING_HTTP_PORT"):
        load_settings(RoutingSettings)


def test_shared_variable_error_names_unprefixed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "0")
    with pytest.raises(ConfigurationError, match="invalid setting KAFKA_TOPIC_PARTITIONS"):
        load_settings(RoutingSettings)


def test_default_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://db/x")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_INTERNAL_SECRET"):
        load_settings(RoutingSettings)
    monkeypatch.setenv("SWITCHBOARD_INTERNAL_SECRET", "a-real-secret-of-length")
    monkeypatch.setenv("SWITCHBOARD_JWT_SECRET", "another-real-secret-value")
    assert load_settings(RoutingSettings).environment == "production"


def test_production_requires_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    monkeypatch.setenv("SWITCHBOARD_INTERNAL_SECRET", "a-real-secret-of-length")
    monkeypatch.setenv("SWITCHBOARD_JWT_SECRET", "another-real-secret-value")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="DATABASE_URL is required"):
        load_settings(AdminSettings)
