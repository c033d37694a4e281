"""The one definition of a valid Bosun configuration, read from the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SECRET_KEY = "changethis"
DEFAULT_METRICS_PORT = 9100


class Environment(StrEnum):
    development = "development"
    test = "test"
    staging = "staging"
    production = "production"


class AuthMode(StrEnum):
    local = "local"
    jwks = "jwks"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def _split_list(value: object) -> object:
    """Accept a JSON list or a comma-separated string for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


def _check_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CORS origin {origin!r} must look like https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"CORS origin {origin!r} must not have a path, query or credentials")
    return origin.rstrip("/")


class Settings(BaseSettings):
    """Settings from environment variables (and `.env` in development)."""

    # hide_input_in_errors: a validation error (and a traceback that carries it) never repeats a value, which may be
    # a secret or a URL with a password.
    # use_attribute_docstrings: the docstring under each setting is its description (the generated reference shows it).
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True, use_attribute_docstrings=True
    )

    ENVIRONMENT: Environment = Environment.development
    """Where the service runs; production enforces the rules listed below."""
    DEBUG: bool = False
    """FastAPI debug mode (tracebacks in error responses); must be off in production."""
    PROJECT_NAME: str = "Bosun"
    """Title of the API and signature of the emails."""

    DATABASE_URL: SecretStr | None = None
    """The PostgreSQL server: `postgresql://`, `postgres://` or `postgresql+psycopg://` (also `+psycopg2` and
    `+asyncpg`, mapped to psycopg 3). Unset: `bosun serve` starts an embedded PostgreSQL; every other command refuses to
    start.
    """
    DB_POOL_SIZE: int = Field(default=10, ge=1, le=100)
    """Database connections each worker keeps open (see Connections on the Configuration page)."""
    DB_MAX_OVERFLOW: int = Field(default=0, ge=0, le=100)
    """Connections a worker may open beyond DB_POOL_SIZE in a burst, closed again after use."""
    DB_POOL_TIMEOUT: float = Field(default=10.0, gt=0, le=120)
    """Seconds a request waits for a pooled connection before it is answered 503."""
    DB_CONNECT_TIMEOUT: int = Field(default=5, ge=1, le=60)
    """Seconds to wait for a new database connection."""
    # Migrations run while the previous version serves traffic: a statement waiting for a lock queues every request
    # behind it, so it gives up quickly; one that runs too long is cancelled. Seconds; at least 1 ms (0 would mean
    # "no timeout" to PostgreSQL).
    MIGRATION_LOCK_TIMEOUT: float = Field(default=5.0, ge=0.001, le=600)
    """Seconds a migration statement may wait for a lock before it gives up (PostgreSQL `lock_timeout`), so it never
    queues every request behind it.
    """
    MIGRATION_STATEMENT_TIMEOUT: float = Field(default=300.0, ge=0.001, le=24 * 3600)
    """Seconds one migration statement may run before it is cancelled (PostgreSQL `statement_timeout`); raise it for a
    release with a long backfill or index build.
    """

    SECRET_KEY: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    """Signs local access tokens. Production needs a random value of at least 32 characters; `bosun serve` replaces the
    default with a generated key kept in `.bosun/secret_key` (mode 0600).
    """
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=60, ge=1, le=60 * 24 * 30)
    """Lifetime of local access tokens, in minutes."""

    # Failed logins allowed within the window before a lock-out (429; local auth): per account from one client
    # address (low: the owner's own typos), per account from anywhere (high: only a distributed attack reaches it,
    # so a stranger cannot lock the owner out), and per client address (one address trying many accounts).
    LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT: int = Field(default=5, ge=1, le=1000)
    """Failed logins allowed per email from one client address within the window before that address is locked out of
    that account.
    """
    LOGIN_FAILURES_PER_ACCOUNT: int = Field(default=100, ge=1, le=100_000)
    """Failed logins allowed per email from every address within the window (at least
    LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT; only an attack from many addresses reaches it). Counted in the database:
    shared by every worker and replica.
    """
    LOGIN_FAILURES_PER_CLIENT: int = Field(default=100, ge=1, le=100_000)
    """Failed logins allowed per client address over every email within the window. Behind a proxy, let the server see
    the client's address.
    """
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=900, ge=1, le=86_400)
    """The window failed logins are counted in, and the length of the first lock-out."""
    # A lock-out lasts the window, doubled for each earlier one of the same counter still remembered (until this
    # long after it ended), and never longer than this.
    LOGIN_LOCKOUT_MAX_SECONDS: int = Field(default=86_400, ge=1, le=7 * 86_400)
    """The longest lock-out (each doubles the last while they follow each other), and how long an ended one is
    remembered; at least the window.
    """

    # How long an emailed team invitation can be accepted.
    INVITATION_EXPIRE_DAYS: int = Field(default=7, ge=1, le=90)
    """How long an emailed team invitation can be accepted, in days."""
    # The web page invitation emails link to, with the token in the URL's fragment (which browsers never send to a
    # server, so no access log records it). Unset: the email carries the token alone.
    WEB_APP_URL: str | None = Field(default=None, max_length=2000)
    """The web page invitation emails link to, as `<WEB_APP_URL>#invitation=<token>` (a fragment: browsers never send it
    to a server). A path and query are kept, a fragment or credentials are refused. Unset: the email carries the token
    alone.
    """

    AUTH_MODE: AuthMode = AuthMode.local
    """`local`: sign-up, passwords and HS256 tokens; `jwks`: managed auth (Clerk, PropelAuth, any OIDC issuer), which
    needs JWKS_URL and JWT_ISSUER.
    """
    JWKS_URL: str | None = None
    """`jwks` mode: the provider's key set (RS256/ES256 keys)."""
    JWT_ISSUER: str | None = None
    """`jwks` mode: the required `iss` claim."""
    JWT_AUDIENCE: str | None = None
    """`jwks` mode: the required `aud` claim, when set."""
    JWT_AUTHORIZED_PARTIES: Annotated[list[str], NoDecode] = []
    """`jwks` mode: the allowed `azp` values (Clerk), as a JSON list or comma-separated; empty: any."""
    JWKS_CACHE_SECONDS: int = Field(default=300, ge=1)
    """How long fetched keys are trusted before they are fetched again."""
    USER_CACHE_SECONDS: float = Field(default=5.0, ge=0, le=300)
    """Read-only requests (GET) may reuse the user a local token names, as read up to this long ago (`0`: never). Bounds
    how stale a read can be about its caller (see the Configuration page).
    """
    JWKS_REFRESH_COOLDOWN_SECONDS: float = Field(default=30, ge=0)
    """Least time between refetches of the key set triggered by an unknown `kid`."""

    MAX_REQUEST_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    """Larger request bodies get 413 (by `Content-Length`, or while reading)."""

    CORS_ORIGINS: Annotated[list[str], NoDecode] = []
    """Browser origins allowed to call the API, as a JSON list or comma-separated; empty allows none. Each is
    `scheme://host[:port]`, without a path, query or credentials.
    """
    EXPOSE_QUERY_COUNT: bool | None = None
    """Add the `X-Query-Count` header (SQL statements of the request) to responses. Unset: on in development and test,
    off elsewhere.
    """

    SMTP_HOST: str | None = None
    """The mail server. Unset: emails are logged, not sent."""
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    """The mail server's port."""
    SMTP_USER: str | None = None
    """SMTP login name, used when SMTP_PASSWORD is set too."""
    SMTP_PASSWORD: SecretStr | None = None
    """SMTP password, used when SMTP_USER is set too."""
    SMTP_STARTTLS: bool = True
    """Upgrade a plain connection with STARTTLS (not together with SMTP_SSL)."""
    SMTP_SSL: bool = False
    """TLS from the start of the connection (not together with SMTP_STARTTLS)."""
    SMTP_TIMEOUT: float = Field(default=10.0, gt=0, le=120)
    """Seconds before giving up on the mail server (a request never waits for it)."""
    EMAIL_FROM: str = "Bosun <noreply@localhost>"
    """Sender of the notifications."""

    HOST: str = "127.0.0.1"
    """Where the API listens, for `bosun serve` too (`--host` wins); the image sets `0.0.0.0`."""
    PORT: int = Field(default=8000, ge=1, le=65535)
    """The API's port, for `bosun serve` too (`--port` wins); a port in use stops start-up with one line naming the
    setting.
    """
    # Unset: 9100 in staging and production; off in development and test, so two dev servers never collide.
    METRICS_PORT: int | None = Field(default=None, ge=0, le=65535)
    """Prometheus `/metrics` on its own port (`0`: off); must differ from PORT. Unset: 9100 in staging and production,
    off in development and test (so two dev servers never collide).
    """
    WEB_CONCURRENCY: int | None = Field(default=None, ge=1, le=64)
    """gunicorn worker processes. Unset: one per usable CPU, at most 8."""
    WORKER_TIMEOUT: int = Field(default=60, ge=5, le=3600)
    """Seconds a silent worker may take before gunicorn replaces it."""
    GRACEFUL_TIMEOUT: int = Field(default=30, ge=1, le=3600)
    """Seconds in-flight requests get to finish after SIGTERM."""
    KEEPALIVE: int = Field(default=5, ge=1, le=300)
    """Seconds an idle keep-alive connection stays open."""
    MAX_REQUESTS: int = Field(default=10000, ge=0)
    """Requests after which a worker is recycled (`0`: never)."""
    MAX_REQUESTS_JITTER: int = Field(default=1000, ge=0)
    """Random extra requests added to MAX_REQUESTS per worker, so workers are not recycled together."""

    LOG_LEVEL: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    """Level of the service's logs (any case)."""
    LOG_FORMAT: LogFormat | None = None
    """`json`: one JSON object per line; `text`: short readable lines. Unset: json in staging and production, text
    elsewhere.
    """

    @field_validator("CORS_ORIGINS", "JWT_AUTHORIZED_PARTIES", mode="before")
    @classmethod
    def _parse_list(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("CORS_ORIGINS")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        return [_check_origin(origin) for origin in origins]

    @field_validator("WEB_APP_URL")
    @classmethod
    def _check_web_app_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must look like https://host[:port][/path]")
        if parts.fragment or parts.username or parts.password or "#" in url:
            raise ValueError(f"{url!r} must not have a fragment (the token goes there) or credentials")
        return url

    @field_validator("DATABASE_URL")
    @classmethod
    def _check_database_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            normalize_database_url(url.get_secret_value())
        return url

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.AUTH_MODE is AuthMode.jwks and not (self.JWKS_URL and self.JWT_ISSUER):
            raise ValueError("JWKS_URL and JWT_ISSUER are required when AUTH_MODE is jwks")
        if self.SMTP_STARTTLS and self.SMTP_SSL and self.SMTP_HOST:
            raise ValueError("SMTP_STARTTLS and SMTP_SSL are mutually exclusive")
        if self.metrics_port and self.metrics_port == self.PORT:
            raise ValueError("METRICS_PORT must differ from PORT (metrics are not served on the API port)")
        if self.LOGIN_FAILURES_PER_ACCOUNT < self.LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT:
            raise ValueError(
                "LOGIN_FAILURES_PER_ACCOUNT must be at least LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT (the account's "
                "limit over every address is the higher one)"
            )
        if self.LOGIN_LOCKOUT_MAX_SECONDS < self.LOGIN_FAILURE_WINDOW_SECONDS:
            raise ValueError("LOGIN_LOCKOUT_MAX_SECONDS must be at least LOGIN_FAILURE_WINDOW_SECONDS")
        if self.is_production:
            self._check_production()
        return self

    def _check_production(self) -> None:
        secret = self.SECRET_KEY.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            raise ValueError("SECRET_KEY must be set to a random value of at least 32 characters")
        for origin in self.CORS_ORIGINS:
            if origin == "*":
                raise ValueError("CORS_ORIGINS must not contain '*' in production")
            if not origin.startswith("https://"):
                raise ValueError(f"CORS_ORIGINS: {origin!r} must use https in production")
        if self.WEB_APP_URL and not self.WEB_APP_URL.startswith("https://"):
            raise ValueError("WEB_APP_URL must use https in production (its links carry invitation tokens)")
        if self.DEBUG:
            raise ValueError("DEBUG must be off in production")
        if self.LOG_FORMAT is LogFormat.text:
            raise ValueError("LOG_FORMAT must be json in production")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Settings:
        """Validate a plain mapping (e.g. an AppRelease's `spec.settings`); the environment and `.env` are never read.

        Keys are setting names; unknown keys are ignored, as unknown environment variables are (and keys that start
        with `_`, which would otherwise reach pydantic-settings as options, never get through).
        """
        data: dict[str, Any] = {str(key): value for key, value in values.items() if not str(key).startswith("_")}
        return _MappingSettings(**data)

    @property
    def is_production(self) -> bool:
        return self.ENVIRONMENT is Environment.production

    @cached_property
    def workers(self) -> int:
        """WEB_CONCURRENCY, or one worker per usable CPU (async workers), at most 8."""
        if self.WEB_CONCURRENCY is not None:
            return self.WEB_CONCURRENCY
        return max(1, min(len(os.sched_getaffinity(0)), 8))

    @cached_property
    def metrics_port(self) -> int:
        """The port of /metrics, 0 for none: METRICS_PORT, else 9100 in staging and production only."""
        if self.METRICS_PORT is not None:
            return self.METRICS_PORT
        return DEFAULT_METRICS_PORT if self.ENVIRONMENT in (Environment.staging, Environment.production) else 0

    @cached_property
    def expose_query_count(self) -> bool:
        if self.EXPOSE_QUERY_COUNT is not None:
            return self.EXPOSE_QUERY_COUNT
        return self.ENVIRONMENT in (Environment.development, Environment.test)

    @cached_property
    def log_format(self) -> LogFormat:
        if self.LOG_FORMAT is not None:
            return self.LOG_FORMAT
        return LogFormat.json if self.ENVIRONMENT in (Environment.staging, Environment.production) else LogFormat.text

    @cached_property
    def database_url(self) -> str:
        """The async SQLAlchemy URL (checked when the settings were made); raises when DATABASE_URL is not set."""
        if self.DATABASE_URL is None:
            raise ValueError("DATABASE_URL is not set")
        return normalize_database_url(self.DATABASE_URL.get_secret_value())


class _MappingSettings(Settings):
    """The same model and rules with one source: the values given to the constructor."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


_URL_SCHEMES = (
    "postgres://",
    "postgresql://",
    "postgresql+psycopg://",
    "postgresql+psycopg2://",
    "postgresql+asyncpg://",
)


def normalize_database_url(url: str) -> str:
    """Map the accepted PostgreSQL URL schemes to the psycopg 3 async driver; ValueError for anything else.

    The messages never repeat the URL: it carries the password. Parsed with the standard library, so the settings
    model (which the operator imports too) needs no database library.
    """
    scheme = next((prefix for prefix in _URL_SCHEMES if url.startswith(prefix)), None)
    if scheme is None:
        raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
    normalized = "postgresql+psycopg://" + url[len(scheme) :]
    try:
        parts = urlsplit(normalized)
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("is not a valid URL: expected postgresql://user:password@host:port/database (port 1-65535)")
    return normalized


class ConfigurationError(ValueError):
    """A configuration the service cannot run with, said in one line naming the setting."""


def load_settings(*, require_database: bool = False) -> Settings:
    """The settings of this process, from its environment (and `.env`): the one way the commands load them.

    Raises ConfigurationError with one line when a setting is invalid, or (require_database) DATABASE_URL is unset
    or not a PostgreSQL URL.
    """
    try:
        settings = Settings()  # environment variables, then `.env`, then defaults
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from exc
    if require_database:
        try:
            settings.database_url  # noqa: B018  (raises when unset or not PostgreSQL)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
    return settings


def validation_problems(exc: ValidationError) -> str:
    """Each problem of a validation error as `where: what` (or `what` alone for a single value), in one line."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad setting, for start-up errors."""
    return "invalid configuration: " + validation_problems(exc)
