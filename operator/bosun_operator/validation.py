"""Validate an AppRelease's settings with the service's own `Settings` model, from a plain mapping only.

The pods see, in this order (later wins): the template container's `envFrom`, its `env`, then `spec.settings`.
What comes from a Secret or ConfigMap the operator may read is validated with its value; what it may not read is
taken as present, and the secret settings among it get a placeholder that passes the rules, so a correct release is
never refused for a secret the operator cannot see.
"""

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Secret
from pydantic import ValidationError

from app.core.config import Settings, describe_validation_error
from bosun_operator.workloads import app_container

# A message is one line of reasonable length, whatever the input was (status, Event and admission answer alike).
MESSAGE_LIMIT = 1024
# More distinct ConfigMaps and Secrets than any real template reads: a bound on what one release costs to check.
MAX_SOURCES = 64
# Settings that must come from Secrets (the CRD refuses them in spec.settings).
SECRET_SETTINGS = ("SECRET_KEY", "DATABASE_URL", "SMTP_PASSWORD")
_PLACEHOLDERS = {
    "SECRET_KEY": "unreadable-secret-" + "x" * 46,
    "DATABASE_URL": "postgresql://unreadable@unreadable/unreadable",
    "SMTP_PASSWORD": "unreadable",
}


class InvalidSettings(Exception):
    """The release's configuration would not start the service; the message names the setting and the rule."""


@dataclass
class Environment:
    """What a release's pods would see as environment, as far as the operator can tell."""

    values: dict[str, str] = field(default_factory=dict)
    # Names known to be set, to values the operator may not read.
    hidden: set[str] = field(default_factory=set)
    # Sources (`Secret/name`) whose keys the operator may not list: any setting may come from them.
    opaque_sources: list[str] = field(default_factory=list)

    def set(self, name: str, value: str | None) -> None:
        if value is None:
            self.values.pop(name, None)
            self.hidden.add(name)
        else:
            self.hidden.discard(name)
            self.values[name] = value

    def may_be_set(self, name: str) -> bool:
        return name in self.values or name in self.hidden or bool(self.opaque_sources)


def release_problem(spec: object, environment: "Environment | InvalidSettings") -> str | None:
    """Why a release's settings would not start the service, in one line; None when they pass.

    The one check of a release: the reconciler and the admission webhook both call it.
    """
    if isinstance(environment, InvalidSettings):
        return _one_line(str(environment))
    settings = spec.get("settings") if isinstance(spec, dict) else None
    if not isinstance(settings, dict):
        settings = {} if settings is None else None
    if settings is None:
        return "spec.settings: must be a map of setting names to text values"
    for name, value in settings.items():
        if not isinstance(value, str):
            return _one_line(f"spec.settings.{name}: must be text, not {type(value).__name__}")
    try:
        validate_settings(settings, environment)
    except InvalidSettings as exc:
        return _one_line(str(exc))
    return None


def _one_line(message: str) -> str:
    flat = " ".join(message.replace("\x00", "\\0").split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 3] + "..."


def validate_settings(settings: Mapping[str, str], environment: Environment) -> Settings:
    """The service's Settings for what the pods would see; raises InvalidSettings with a one-line reason."""
    values: dict[str, str] = {**environment.values, **settings}
    for name, value in values.items():
        if "\x00" in name or "\x00" in value:
            raise InvalidSettings(f"{name}: contains a NUL character, which no environment variable can hold")
    for name in SECRET_SETTINGS:
        if name not in values and environment.may_be_set(name):
            values[name] = _PLACEHOLDERS[name]
    if "DATABASE_URL" not in values:
        raise InvalidSettings(
            "DATABASE_URL: not set (the service refuses to start without it): give it from a Secret in the "
            "template's env or envFrom"
        )
    try:
        return Settings.from_mapping(values)
    except ValidationError as exc:
        raise InvalidSettings(describe_validation_error(exc)) from None


async def observe_environment(
    client: AsyncClient, namespace: str, spec: Mapping[str, object]
) -> Environment | InvalidSettings:
    """What the release's pods would see, or why they could not start (a missing source, a missing key)."""
    try:
        return await read_environment(client, namespace, app_container(spec))
    except InvalidSettings as exc:
        return exc


async def read_environment(client: AsyncClient, namespace: str, container: Mapping[str, object]) -> Environment:
    """Resolve a container's env and envFrom against the API, as the kubelet would (raises InvalidSettings)."""
    reader = _SourceReader(client, namespace)
    environment = Environment()
    for source in _list_of_dicts(container.get("envFrom")):
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            reference = source.get(key)
            if isinstance(reference, dict):
                data = await reader.read(kind, reference)
                if data is None:
                    environment.opaque_sources.append(f"{kind}/{reference.get('name')}")
                for name, value in (data or {}).items():
                    environment.set(f"{source.get('prefix') or ''}{name}", value)
    for variable in _list_of_dicts(container.get("env")):
        name = str(variable.get("name", ""))
        value_from = variable.get("valueFrom")
        if not isinstance(value_from, dict):
            environment.set(name, str(variable.get("value", "")))
            continue
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            reference = value_from.get(key)
            if isinstance(reference, dict):
                data = await reader.read(kind, reference)
                if data is None:
                    environment.set(name, None)
                elif str(reference.get("key")) in data:
                    environment.set(name, data[str(reference.get("key"))])
                elif not reference.get("optional"):
                    raise InvalidSettings(
                        f"{name}: the {kind} {reference.get('name')!r} has no key {reference.get('key')!r}"
                    )
                break
        else:
            environment.set(name, None)  # fieldRef / resourceFieldRef: filled in by the kubelet
    return environment


class _SourceReader:
    """Reads each ConfigMap and Secret once: its data, None when the operator may not read it."""

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        self._client = client
        self._namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def read(self, kind: str, reference: Mapping[str, object]) -> dict[str, str] | None:
        """The data of a referenced source; {} for a missing optional one; InvalidSettings for a missing one."""
        name = str(reference.get("name", ""))
        if (kind, name) not in self._cache:
            if len(self._cache) >= MAX_SOURCES:
                raise InvalidSettings(f"the template reads more than {MAX_SOURCES} ConfigMaps and Secrets")
            self._cache[(kind, name)] = await self._fetch(kind, name)
        data = self._cache[(kind, name)]
        if data is _MISSING:
            if reference.get("optional"):
                return {}
            raise InvalidSettings(f"the {kind} {name!r} that the template reads does not exist in this namespace")
        return data

    async def _fetch(self, kind: str, name: str) -> dict[str, str] | None:
        try:
            if kind == "Secret":
                secret = await self._client.get(Secret, name, namespace=self._namespace)
                return _decode_secret(secret.data or {}, secret.stringData or {})
            config_map = await self._client.get(ConfigMap, name, namespace=self._namespace)
            return dict(config_map.data or {})
        except ApiError as exc:
            if exc.status.code == 404:
                return _MISSING
            if exc.status.code in (401, 403):
                return None
            raise


# The marker for a source that does not exist (compared by identity).
_MISSING: dict[str, str] = {}


def _decode_secret(data: Mapping[str, str], string_data: Mapping[str, str]) -> dict[str, str]:
    decoded = dict(string_data)
    for key, encoded in data.items():
        try:
            decoded[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue  # not text: not a setting the service could read either
    return decoded


def _list_of_dicts(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
