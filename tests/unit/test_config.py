"""Settings come only from the environment and fail at start, naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.config import ConfigError, load_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_POOL_MAX", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url is None
    assert settings.db_pool_max == 2
    assert settings.price_markup == Decimal("1.5")


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/studio")
    monkeypatch.setenv("DB_POOL_MAX", "4")
    settings = load_settings(_env_file=None)
    assert settings.db_pool_max == 4
    assert settings.database_url is not None
    assert "s3cret" not in repr(settings)  # secrets never reach logs through repr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DB_POOL_MAX", "0"), ("DB_POOL_MAX", "many"), ("HOLD_TTL_S", "5"), ("PRICE_MARKUP", "-1")],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert variable in str(error.value)


def test_dotenv_file_is_read(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    env_file = Path(str(tmp_path)) / ".env"
    env_file.write_text("LOCAL_PG_PORT=55555\n")
    monkeypatch.delenv("LOCAL_PG_PORT", raising=False)
    assert load_settings(_env_file=env_file).local_pg_port == 55555


def test_production_refuses_the_development_callback_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("CALLBACK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="CALLBACK_SECRET must be set in production"):
        load_settings(_env_file=None)
    monkeypatch.setenv("CALLBACK_SECRET", "a-real-secret-from-secret-manager")
    assert load_settings(_env_file=None).environment == "production"


def test_lists_are_json_and_top_up_packs_must_fit_the_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPUP_PACKS_RUB", "[200, 700]")
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", "[42, 43]")
    settings = load_settings(_env_file=None)
    assert settings.topup_packs_rub == (200, 700)
    assert settings.admin_telegram_ids == (42, 43)
    monkeypatch.setenv("TOPUP_MAX_RUB", "500")
    with pytest.raises(ConfigError, match=r"TOPUP_PACKS_RUB \[700\] lie outside"):
        load_settings(_env_file=None)
    monkeypatch.setenv("TOPUP_MIN_RUB", "600")
    with pytest.raises(ConfigError, match="TOPUP_MIN_RUB must not exceed TOPUP_MAX_RUB"):
        load_settings(_env_file=None)


def test_a_dotenv_in_the_working_directory_is_read_and_its_absence_is_fine(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    monkeypatch.chdir(str(tmp_path))
    monkeypatch.delenv("LOCAL_PG_PORT", raising=False)
    assert load_settings().local_pg_port == 54329  # no .env: the default
    (Path(str(tmp_path)) / ".env").write_text("LOCAL_PG_PORT=55556\n")
    assert load_settings().local_pg_port == 55556


def test_a_statement_times_out_on_the_server_before_the_socket_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(_env_file=None).db_statement_timeout_s == 8.0
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "8")
    with pytest.raises(ConfigError, match="DB_STATEMENT_TIMEOUT_S must be at least 1 s below"):
        load_settings(_env_file=None)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_S", "7.5")  # under a second of margin
    with pytest.raises(ConfigError, match="DB_STATEMENT_TIMEOUT_S must be at least 1 s below"):
        load_settings(_env_file=None)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_S", "7")
    assert load_settings(_env_file=None).db_statement_timeout_s == 7.0
