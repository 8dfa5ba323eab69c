"""Configuration, parsed once into frozen dataclasses from file, environment and flags.

Precedence, strongest first: command-line flags, `ASHIATO_*` environment variables, the TOML
file (`--config` or `ASHIATO_CONFIG`), the defaults in `collector.settings`. A bad value fails
at start-up with the name of the key that holds it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ashiato.beacon.accesslog import LogFormatError, LogParser
from ashiato.beacon.automation import AutomationRules
from ashiato.beacon.logurl import BaseUrlError, parse_base_url
from ashiato.beacon.netaddr import TrustedProxies
from ashiato.beacon.scanner_networks import parse_asns
from ashiato.beacon.vocabulary import (
    FSYNC_POLICIES,
    PURPOSES,
    RETENTION_PERIODS,
    FsyncPolicy,
    spoken,
)
from ashiato.collector.settings import BY_NAME, SECTIONS, SETTINGS, Setting
from ashiato.storage.backend import Store, open_store
from ashiato.storage.limits import QueryLimits


class ConfigError(Exception):
    """A configuration key is missing, unknown or malformed; the message names it."""


# Set in the worker processes `serve --workers N` starts; its value is the worker index.
WORKER_ENV = "ASHIATO_WORKER"
LOADER_ENV = "ASHIATO_LOADER"
ROLE_ENV = "ASHIATO_ROLE"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where and how the collector serves."""

    host: str
    port: int
    public_url: str
    data_dir: str
    workers: int
    loaders: int
    log_level: str
    max_url_length: int
    max_field_length: int
    header_timeout_seconds: float
    idle_timeout_seconds: float
    body_timeout_seconds: float
    max_connections: int

    @property
    def base_url(self) -> str:
        """The public base URL, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Which ClickHouse, and how rows are batched into it."""

    clickhouse_url: str
    cluster: str
    database: str
    batch_rows: int
    batch_ms: int
    spool_max_mb: int
    spool_segment_mb: int
    fsync: FsyncPolicy
    fsync_interval_ms: int
    drain_seconds: float
    sql_timeout_seconds: int
    sql_max_memory_mb: int
    sql_max_rows: int
    sql_max_result_mb: int

    @property
    def query_limits(self) -> QueryLimits:
        """The limits every query a person sends runs under."""
        return QueryLimits(
            timeout_seconds=self.sql_timeout_seconds,
            max_memory_bytes=self.sql_max_memory_mb << 20,
            max_rows=self.sql_max_rows,
            max_result_bytes=self.sql_max_result_mb << 20,
        )


@dataclass(frozen=True, slots=True)
class ConsentConfig:
    """Consent regime and what each outcome keeps."""

    consent_regime: str
    opt_out_purposes: tuple[str, ...]
    honor_gpc: bool
    honor_dnt: bool
    policy_version: str
    cookie_days: int
    cookie_secure: bool
    security_window_days: int


@dataclass(frozen=True, slots=True)
class CollectionConfig:
    """What hits are accepted and how they are enriched."""

    sites: tuple[str, ...]
    own_hosts: tuple[str, ...]
    cors_allow_http: bool
    trusted_proxies: tuple[str, ...]
    forwarded_header: str
    geoip_city_db: str
    geoip_asn_db: str
    reverse_dns: bool
    token_days: int
    automated_open_seconds: float
    automated_click_seconds: float
    scanner_asns: tuple[str, ...]
    log_exclude: tuple[str, ...]
    syslog_port: int
    syslog_host: str
    syslog_format: str
    syslog_site: str
    syslog_base_url: str
    syslog_idle_seconds: float

    @property
    def automation_rules(self) -> AutomationRules:
        """The thresholds and networks that mark e-mail opens and clicks as automated."""
        return AutomationRules.from_settings(
            open_seconds=self.automated_open_seconds,
            click_seconds=self.automated_click_seconds,
            extra_asns=parse_asns(self.scanner_asns),
        )


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long each retention class is kept, and how often jobs run in embedded mode."""

    days: Mapping[str, int]  # per class of `RETENTION_PERIODS`, from its `retention_*` setting
    retention_interval_minutes: int

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RetentionConfig:
        """The section from parsed setting values."""
        return cls(
            days={p.name: values[p.setting] for p in RETENTION_PERIODS if p.name != "full_ip"},
            retention_interval_minutes=values["retention_interval_minutes"],
        )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; each part is handed to the component that uses it."""

    server: ServerConfig
    storage: StorageConfig
    consent: ConsentConfig
    collection: CollectionConfig
    retention: RetentionConfig

    @property
    def data_dir(self) -> Path:
        """The state directory."""
        return Path(self.server.data_dir)


_SECTION_TYPES: dict[str, type] = {
    "server": ServerConfig,
    "storage": StorageConfig,
    "consent": ConsentConfig,
    "collection": CollectionConfig,
}


def _convert(setting: Setting, value: Any, origin: str) -> Any:
    """Coerce `value` (text from env/flags, or a TOML value) to the setting's type."""
    where = f"{origin}: {setting.name}"
    kind = setting.kind
    if kind == "list":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def read_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into {setting name: value}, refusing unknown keys."""
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for section, table in doc.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown section [{section}]; known: {', '.join(SECTIONS)}")
        for key, value in table.items():
            setting = BY_NAME.get(key)
            if setting is None or setting.section != section:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
            values[key] = _convert(setting, value, str(path))
    return values


def load_config(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Build the configuration from defaults, a file, the environment and flag overrides."""
    env = env if env is not None else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {s.name: _convert(s, s.default, "default") for s in SETTINGS}
    file_path = config_file or env.get("ASHIATO_CONFIG")
    if file_path:
        values.update(read_file(file_path))
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _convert(setting, env[setting.env], setting.env)
    for name, value in overrides.items():
        known = BY_NAME.get(name)
        if known is None:
            raise ConfigError(f"unknown setting: {name}")
        values[name] = _convert(known, value, known.flag)
    sections = {
        section: cls(**{f.name: values[f.name] for f in fields(cls)})
        for section, cls in _SECTION_TYPES.items()
    }
    config = Config(**sections, retention=RetentionConfig.from_values(values))
    _validate(config)
    return config


def _validate(config: Config) -> None:
    server, consent = config.server, config.consent
    if not 0 < server.port < 65536:
        raise ConfigError(f"port: must be between 1 and 65535, got {server.port}")
    if server.workers < 1:
        raise ConfigError(f"workers: must be at least 1, got {server.workers}")
    if server.loaders < 0:
        raise ConfigError(f"loaders: must be 0 or more, got {server.loaders}")
    if server.loaders > 1 and not config.storage.clickhouse_url:
        raise ConfigError(
            "loaders: the embedded store can be opened by one process only; use 1, or a "
            "ClickHouse server (clickhouse_url)"
        )
    if server.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(
            f"log_level: one of debug, info, warning, error; got {server.log_level!r}"
        )
    if consent.consent_regime not in ("opt-in", "opt-out"):
        raise ConfigError(
            f"consent_regime: must be opt-in or opt-out, got {consent.consent_regime!r}"
        )
    unknown = [p for p in consent.opt_out_purposes if p not in PURPOSES]
    if unknown:
        raise ConfigError(
            f"opt_out_purposes: unknown purpose {unknown[0]!r}; known: {spoken(PURPOSES)}"
        )
    if config.storage.cluster and not config.storage.clickhouse_url:
        raise ConfigError("cluster: needs clickhouse_url (a server of that cluster)")
    if config.storage.fsync not in FSYNC_POLICIES:
        raise ConfigError(f"fsync: {spoken(FSYNC_POLICIES)}; got {config.storage.fsync!r}")
    if config.storage.drain_seconds < 0:
        raise ConfigError("drain_seconds: must not be negative")
    for name in ("header_timeout_seconds", "idle_timeout_seconds", "body_timeout_seconds"):
        if getattr(config.server, name) <= 0:
            raise ConfigError(f"{name}: must be more than 0")
    if config.collection.syslog_idle_seconds <= 0:
        raise ConfigError("syslog_idle_seconds: must be more than 0")
    for name in ("automated_open_seconds", "automated_click_seconds"):
        if not getattr(config.collection, name) >= 0:
            raise ConfigError(f"{name}: must be 0 (off) or more")
    try:
        parse_asns(config.collection.scanner_asns)
    except ValueError as exc:
        raise ConfigError(f"scanner_asns: {exc}") from None
    if config.server.max_connections < 1:
        raise ConfigError("max_connections: must be at least 1")
    for name in (
        "batch_rows",
        "batch_ms",
        "spool_max_mb",
        "spool_segment_mb",
        "fsync_interval_ms",
        "sql_timeout_seconds",
        "sql_max_memory_mb",
        "sql_max_rows",
        "sql_max_result_mb",
    ):
        if getattr(config.storage, name) < 1:
            raise ConfigError(f"{name}: must be at least 1")
    if consent.security_window_days < 0 or consent.cookie_days < 1:
        raise ConfigError("security_window_days and cookie_days: must be positive")
    try:
        TrustedProxies.from_cidrs(config.collection.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"trusted_proxies: {exc}") from None
    for period in RETENTION_PERIODS:
        if period.name in config.retention.days and config.retention.days[period.name] < 1:
            raise ConfigError(f"{period.setting}: must be at least 1 day")
    if config.collection.forwarded_header not in ("x-forwarded-for", "forwarded"):
        raise ConfigError(
            "forwarded_header: x-forwarded-for or forwarded, "
            f"got {config.collection.forwarded_header!r}"
        )
    for pattern in config.collection.log_exclude:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"log_exclude: bad pattern {pattern!r}: {exc}") from None
    try:
        LogParser(config.collection.syslog_format)
    except LogFormatError as exc:
        raise ConfigError(f"syslog_format: {exc}") from None
    try:
        parse_base_url(config.collection.syslog_base_url)
    except BaseUrlError as exc:
        raise ConfigError(f"syslog_base_url: {exc}") from None
    for name in ("geoip_city_db", "geoip_asn_db"):
        path = getattr(config.collection, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"{name}: no such file: {path}")
    if not config.storage.database.isidentifier():
        raise ConfigError(f"database: not a valid name: {config.storage.database!r}")


def store_for(config: Config) -> Store:
    """The store the configuration names: a cluster, a server, or the embedded one."""
    return open_store(
        config.storage.clickhouse_url,
        config.server.data_dir,
        config.storage.database,
        config.storage.cluster,
    )
