"""Settings: the one definition of a valid configuration."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import LogFormat, Settings, describe_validation_error, normalize_database_url

GOOD_SECRET = "s" * 40


def settings(**values: Any) -> Settings:
    return Settings.from_mapping(values)


def production(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": GOOD_SECRET,
        "CORS_ORIGINS": "https://app.example.com",
        "DATABASE_URL": "postgresql://u:p@db/bosun",
    }
    base.update(values)
    return settings(**base)


def error_of(**values: Any) -> str:
    with pytest.raises(ValidationError) as info:
        production(**values)
    return str(info.value)


def test_development_defaults() -> None:
    s = settings()
    assert s.expose_query_count is True
    assert s.log_format is LogFormat.text
    assert s.CORS_ORIGINS == []


def test_production_without_browser_origins_is_valid() -> None:
    """No CORS origins at all is the strictest setting: no browser page may call the API cross-origin."""
    assert production(CORS_ORIGINS="").CORS_ORIGINS == []


def test_production_defaults() -> None:
    s = production()
    assert s.expose_query_count is False
    assert s.log_format is LogFormat.json


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SECRET_KEY": "changethis"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"CORS_ORIGINS": "*"}, "'*'"),
        ({"CORS_ORIGINS": "http://app.example.com"}, "https"),
        ({"DEBUG": True}, "DEBUG"),
        ({"LOG_FORMAT": "text"}, "LOG_FORMAT"),
    ],
)
def test_production_rules(values: dict[str, Any], message: str) -> None:
    assert message in error_of(**values)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (
            '["https://a.example.com", "https://b.example.com:8443"]',
            ["https://a.example.com", "https://b.example.com:8443"],
        ),
        ("https://a.example.com, https://b.example.com/", ["https://a.example.com", "https://b.example.com"]),
        ("*", ["*"]),
        ("", []),
    ],
)
def test_cors_origins_parsing(raw: str, parsed: list[str]) -> None:
    assert settings(CORS_ORIGINS=raw).CORS_ORIGINS == parsed


@pytest.mark.parametrize(
    "origin", ["https://a.example.com/path", "ftp://a.example.com", "a.example.com", "https://u:p@a.com"]
)
def test_cors_origin_shape(origin: str) -> None:
    with pytest.raises(ValidationError):
        settings(CORS_ORIGINS=origin)


def test_cors_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORS_ORIGINS", '["https://x.example.com"]')
    monkeypatch.setenv("JWT_AUTHORIZED_PARTIES", "https://a.example.com,https://b.example.com")
    s = Settings()
    assert s.CORS_ORIGINS == ["https://x.example.com"]
    assert s.JWT_AUTHORIZED_PARTIES == ["https://a.example.com", "https://b.example.com"]


def test_jwks_mode_needs_url_and_issuer() -> None:
    with pytest.raises(ValidationError, match="JWKS_URL and JWT_ISSUER"):
        settings(AUTH_MODE="jwks")
    assert (
        settings(AUTH_MODE="jwks", JWKS_URL="https://x/.well-known/jwks.json", JWT_ISSUER="https://x").AUTH_MODE
        == "jwks"
    )


def test_smtp_tls_modes_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="mutually exclusive"):
        settings(SMTP_HOST="mail", SMTP_STARTTLS=True, SMTP_SSL=True)


def test_log_level_is_checked() -> None:
    assert settings(LOG_LEVEL="debug").LOG_LEVEL == "DEBUG"
    with pytest.raises(ValidationError):
        settings(LOG_LEVEL="chatty")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@/d?host=/tmp", "postgresql+psycopg://u@/d?host=/tmp"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_database_urls_are_normalised(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected
    assert settings(DATABASE_URL=url).database_url == expected


def test_non_postgres_url_is_refused_by_the_model() -> None:
    """Refused when the settings are made (as the operator validates a release), not when first used."""
    with pytest.raises(ValidationError) as info:
        settings(DATABASE_URL="mysql://u:hunter2@h/d")
    assert describe_validation_error(info.value) == (
        "invalid configuration: DATABASE_URL: must be a PostgreSQL URL (postgresql://user:password@host:port/database)"
    )
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="not set"):
        _ = settings().database_url


def test_secrets_are_not_printed() -> None:
    s = production(SMTP_PASSWORD="mail-secret")
    assert GOOD_SECRET not in repr(s)
    assert "mail-secret" not in repr(s)
    assert "u:p@db" not in repr(s)


def test_environment_then_dotenv_then_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PROJECT_NAME=FromDotenv\nPORT=8123\n")
    monkeypatch.setenv("PORT", "8999")
    s = Settings()
    assert (s.PROJECT_NAME, s.PORT, s.LOG_LEVEL) == ("FromDotenv", 8999, "INFO")


def test_a_mapping_never_reads_the_environment_or_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the operator relies on: its own variables and files never fill gaps in a release's settings."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SECRET_KEY=from-a-dotenv-file-0123456789abcdef0123\nDEBUG=true\n")
    for name, value in {"ENVIRONMENT": "production", "LOG_LEVEL": "DEBUG", "METRICS_PORT": "8000"}.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_mapping({"PROJECT_NAME": "Mapped", "DEBUG": "false"})
    assert (s.ENVIRONMENT, s.LOG_LEVEL, s.METRICS_PORT, s.DEBUG) == ("development", "INFO", None, False)
    assert s.SECRET_KEY.get_secret_value() == "changethis"


def test_a_mapping_takes_the_strings_an_environment_would_hold() -> None:
    s = Settings.from_mapping(
        {
            "DB_POOL_SIZE": "7",
            "DEBUG": "on",
            "CORS_ORIGINS": "https://a.example.com, https://b.example.com",
            "OTEL_SERVICE_NAME": "x",
        }
    )
    assert (s.DB_POOL_SIZE, s.DEBUG, s.CORS_ORIGINS) == (7, True, ["https://a.example.com", "https://b.example.com"])


def test_a_mapping_cannot_pass_options_to_the_settings_loader(tmp_path: Path) -> None:
    (tmp_path / "x.env").write_text("PROJECT_NAME=Injected\n")
    assert Settings.from_mapping({"_env_file": str(tmp_path / "x.env")}).PROJECT_NAME == "Bosun"


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"DB_POOL_SIZE": "-1"}, "DB_POOL_SIZE"),
        ({"PORT": "99999999999999999999"}, "PORT"),
        ({"AUTH_MODE": "magic"}, "AUTH_MODE"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"CORS_ORIGINS": "https://a.example.com/app"}, "CORS_ORIGINS"),
        ({"PROJECT_NAME": "a" * 10, "SMTP_PORT": ""}, "SMTP_PORT"),
    ],
)
def test_a_bad_mapping_names_the_setting(values: dict[str, str], setting: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_mapping(values)
    assert describe_validation_error(caught.value).startswith(f"invalid configuration: {setting}: ")


def test_metrics_port_is_off_in_development_unless_set() -> None:
    """Two development servers never collide on a metrics port nobody asked for."""
    assert settings().metrics_port == 0
    assert settings(ENVIRONMENT="test").metrics_port == 0
    assert settings(ENVIRONMENT="staging").metrics_port == 9100
    assert production().metrics_port == 9100
    assert settings(METRICS_PORT="9200").metrics_port == 9200
    assert production(METRICS_PORT="0").metrics_port == 0
    with pytest.raises(ValidationError, match="METRICS_PORT must differ from PORT"):
        production(PORT="9100")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret-pw@127.0.0.1:notaport/db",
        "postgresql://u:secret-pw@127.0.0.1:99999/db",
        "postgresql://u:secret-pw@[::1/db",
    ],
)
def test_malformed_database_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="not a valid URL") as info:
        normalize_database_url(url)
    assert "secret-pw" not in str(info.value)
    with pytest.raises(ValidationError) as refused:
        settings(DATABASE_URL=url)
    assert describe_validation_error(refused.value).startswith("invalid configuration: DATABASE_URL: is not a valid")
    assert "secret-pw" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://app.example.com", "must look like"),
        ("app.example.com", "must look like"),
        ("https://app.example.com/#/invite", "fragment"),
        ("https://user:pw@app.example.com/", "credentials"),
        ("https://" + "a" * 2000 + ".com", "at most 2000"),
    ],
)
def test_web_app_url_is_checked(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(WEB_APP_URL=url)


def test_web_app_url_may_carry_a_path_and_query_and_needs_https_in_production() -> None:
    assert settings(WEB_APP_URL="http://127.0.0.1:5173/app/?api=x").WEB_APP_URL == "http://127.0.0.1:5173/app/?api=x"
    assert "WEB_APP_URL must use https" in error_of(WEB_APP_URL="http://app.example.com/")
    assert production(WEB_APP_URL="https://app.example.com/").WEB_APP_URL == "https://app.example.com/"
