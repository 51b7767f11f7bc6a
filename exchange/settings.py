"""Settings: one typed, frozen model read once from ``EXCHANGE_*`` variables and an optional TOML file.

Precedence, lowest first: defaults, the TOML file (``EXCHANGE_CONFIG`` or ``--config``), environment
variables, explicit overrides (command-line flags). An unknown key in the file or an unknown
``EXCHANGE_*`` variable stops start-up with a message naming it, so a typo never goes unnoticed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ENV_PREFIX = "EXCHANGE_"
CONFIG_ENV = "EXCHANGE_CONFIG"
#: Variables with the prefix that are not server settings: the config-file pointer, the client
#: commands' own (EXCHANGE_CLIENT_*) and the test harness's (EXCHANGE_TEST_*, EXCHANGE_REQUIRE_SERVICES).
RESERVED_ENV = frozenset({CONFIG_ENV, "EXCHANGE_REQUIRE_SERVICES"})
RESERVED_ENV_PREFIXES = ("EXCHANGE_TEST_", "EXCHANGE_CLIENT_")


class SettingsError(Exception):
    """Settings could not be read; the message says which key and why."""


class Settings(BaseModel):
    """Every setting of the service. Each field's description is its documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(
        Path("./exchange-data"),
        description="Directory for the embedded database and the repository's own keys.",
    )
    database_url: str | None = Field(
        None,
        description=(
            "Repository database. Unset: the embedded SQLite file `exchange.db` in the data directory. "
            "`sqlite:///PATH` for another file, `postgresql://…` for PostgreSQL."
        ),
    )
    queue_url: str | None = Field(
        None,
        description=(
            "Submission queue. Unset: the durable queue inside the embedded SQLite database. `amqp://…` for RabbitMQ."
        ),
    )
    signing_key_file: Path | None = Field(
        None,
        description=(
            "PEM file of the repository's Ed25519 key that signs acknowledgments. Unset: "
            "`keys/signing.pem` in the data directory, created at first start. Gateways must share it."
        ),
    )
    secrets_key_file: Path | None = Field(
        None,
        description=(
            "File of the key that seals webhook secrets in the database (AES-256-GCM). Unset: "
            "`keys/secrets.key` in the data directory, created at first start (mode 0600). "
            "Every process of a deployment must share it."
        ),
    )
    log_key_file: Path | None = Field(
        None,
        description=(
            "PEM file of the Ed25519 key that signs the transparency log's checkpoints. Unset: `keys/log.pem` "
            "in the data directory, created at first start. Every process of a deployment must share it."
        ),
    )
    log_previous_key_file: Path | None = Field(
        None,
        description=(
            "During a rotation of the log key: the old key's PEM file. Checkpoints are then signed by both keys, "
            "so verifiers that still trust the old key keep working until they learn the new one."
        ),
    )
    checkpoint_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between signed checkpoints while the log grows."
    )
    feed_poll_interval: float = Field(
        0.1, gt=0, le=10, description="Seconds between checks for new changes while feed readers wait."
    )
    feed_heartbeat: float = Field(
        15.0, gt=0, le=300, description="Seconds between heartbeat comments on an idle event stream."
    )
    feed_write_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a stream client may stall before it is dropped (it resumes from its last id).",
    )
    webhooks_allow_private: bool = Field(
        False,
        description="Allow webhook deliveries to loopback and private addresses (off: such URLs are refused).",
    )
    webhook_timeout: float = Field(10.0, gt=0, le=120, description="Seconds a webhook receiver has to answer.")
    webhook_retry_base: float = Field(
        1.0, gt=0, description="First retry delay (seconds) after a failed delivery; it doubles each attempt."
    )
    webhook_max_backoff: float = Field(
        3600.0, gt=0, description="Longest delay (seconds) between two delivery attempts to one subscription."
    )
    webhook_failure_window: float = Field(
        86400.0,
        gt=0,
        description="Seconds a subscription may keep failing before it is paused (its cursor is kept).",
    )
    webhook_secret_overlap: float = Field(
        86400.0, ge=0, description="Seconds the old secret keeps signing beside the new one after a rotation."
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="Most PostgreSQL connections one process opens.")
    amqp_prefix: str = Field(
        "exchange",
        pattern=r"^[a-z][a-z0-9_.-]{0,40}$",
        description="Prefix of the RabbitMQ exchange and queue names (several deployments can share a broker).",
    )
    amqp_prefetch: int = Field(
        512, ge=1, le=65535, description="Most unacknowledged RabbitMQ messages one worker holds at once."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the HTTP server listens on.")
    origin: str | None = Field(
        None,
        description=(
            "The repository's public origin (scheme://host[:port]); submissions must name it as their "
            "`audience`. Unset: `http://HOST:PORT`. Set it in production to the public URL."
        ),
    )
    mode: Literal["development", "production"] = Field(
        "development", description="`production` refuses unsafe settings (such as an http origin)."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body, in bytes.")
    max_json_depth: int = Field(32, ge=4, le=256, description="Deepest accepted JSON nesting in a payload.")
    max_batch_items: int = Field(1000, ge=1, description="Most submissions accepted in one batch request.")
    max_batch_bytes: int = Field(
        8 * 1_048_576, ge=1024, description="Largest accepted batch request body (NDJSON), in bytes."
    )
    batch_concurrency: int = Field(
        4, ge=1, description="Batch request bodies read at once per process; further batches wait their turn."
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a client has to send a whole request body before the request is refused."
    )
    created_at_max_age: int = Field(
        7 * 24 * 3600,
        ge=1,
        description="How old (seconds) a submission's `created_at` may be when it is received.",
    )
    created_at_max_skew: int = Field(
        300, ge=0, description="How far (seconds) in the future a submission's `created_at` may lie."
    )
    rate_limit: float = Field(
        500.0, gt=0, description="Sustained submissions per second accepted from one participant."
    )
    rate_burst: int = Field(2000, ge=1, description="Submissions one participant may send in a burst.")
    token_rate_limit: float = Field(
        500.0, gt=0, description="Sustained requests per second accepted with one API token (answered 429 beyond)."
    )
    token_rate_burst: int = Field(2000, ge=1, description="Requests one API token may make in a burst.")
    session_seconds: int = Field(
        8 * 3600, ge=60, le=30 * 86400, description="How long a portal sign-in lasts before the person signs in again."
    )
    worker_batch: int = Field(256, ge=1, le=10_000, description="Most submissions a worker decides per commit.")
    worker_poll_interval: float = Field(
        0.02, gt=0, description="Seconds an idle worker waits before polling the embedded queue again."
    )
    serve_workers: int = Field(1, ge=0, description="Validation workers `exchange serve` runs beside the gateway.")
    serve_worker_mode: Literal["process", "inline"] = Field(
        "process",
        description=(
            "`process`: each worker of `exchange serve` is a child process (uses another core); "
            "`inline`: workers run inside the serving process."
        ),
    )
    queue_lease_seconds: float = Field(
        30.0, gt=0, description="How long a worker holds an embedded-queue message before it is redelivered."
    )
    retry_max_attempts: int = Field(
        8,
        ge=1,
        description=(
            "Attempts on a transient fault (database unavailable) before a submission is dead-lettered. "
            "A worker that meets an unavailable database waits for it before taking more, so an outage "
            "costs only the submissions in hand one attempt; with the default delay, 8 attempts also span "
            "over 4 minutes of back-off."
        ),
    )
    retry_delay: float = Field(
        2.0, gt=0, description="First retry delay in seconds; it doubles each attempt (2, 4, 8 … 128 s)."
    )
    key_cache_seconds: float = Field(
        1.0, ge=0, description="How long a process trusts its cached copy of the key registry."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite `synchronous` mode: FULL survives power loss, NORMAL only process crashes.",
    )
    relay_upstreams: tuple[str, ...] = Field(
        (),
        description=(
            "Upstream repositories this node relays submissions to, each `<origin>=<URL>`: a submission signed "
            "for audience `<origin>` is checked, kept in the relay outbox (`relay-outbox.sqlite3` in the data "
            "directory) and forwarded unchanged to `<URL>/v1/submissions`. In the environment, entries "
            "separated by commas. Empty: this node refuses submissions for any audience but its own origin."
        ),
    )
    relay_timeout: float = Field(30.0, gt=0, le=300, description="Seconds an upstream has to answer the relay.")
    relay_max_backoff: float = Field(
        60.0, gt=0, description="Longest delay (seconds) between two attempts to reach an upstream that is down."
    )
    witness_logs: tuple[str, ...] = Field(
        (),
        description=(
            "Logs this node witnesses: their verifier keys (`<origin>+<hex key id>+<base64 key>`, as each "
            "publishes at `GET /v1/info`), several for one origin during a key rotation. In the environment, "
            "separated by commas or spaces. Empty: `POST /witness/add-checkpoint` knows no log."
        ),
    )
    witness_key_file: Path | None = Field(
        None,
        description=(
            "PEM file of the Ed25519 key this node cosigns others' checkpoints with. Unset: `keys/witness.pem` "
            "in the data directory, created at first start when `witness_logs` is set."
        ),
    )
    witness_name: str | None = Field(
        None,
        pattern=r"^[^\s+]+$",
        description="This node's witness name in cosignatures. Unset: the log origin followed by `/witness`.",
    )
    witnesses: tuple[str, ...] = Field(
        (),
        description=(
            "Witnesses asked to cosign each new checkpoint, each `<witness vkey> <URL prefix>` (the witness "
            "answers `POST <prefix>/add-checkpoint`; for an exchange node the prefix is `<its origin>/witness`). "
            "In the environment, entries separated by commas."
        ),
    )
    witness_timeout: float = Field(10.0, gt=0, le=120, description="Seconds a witness has to answer.")
    witness_max_backoff: float = Field(
        300.0, gt=0, description="Longest delay (seconds) between two attempts to reach a witness that is down."
    )
    mirror_of: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description=(
            "The URL of an upstream repository this node mirrors (`exchange mirror URL` sets it): the node "
            "follows the upstream's log and feed, verifies everything as `exchange follow` does, stores it "
            "and serves it read-only, each checkpoint with its own mirror cosignature. Unset: a repository."
        ),
    )
    mirror_token: SecretStr | None = Field(
        None,
        description=(
            "API token the mirror reads the upstream with (versions for participants, restricted ones it "
            "is a reader of). Unset: the upstream's public view (the other changes keep their seq as "
            "placeholders)."
        ),
    )
    mirror_log_key: str | None = Field(
        None,
        description=(
            "The upstream's log verifier key (`<origin>+<hex key id>+<base64 key>`), pinned. Unset: taken "
            "from the upstream's `GET /v1/info` at the first sync, then held to by the checkpoints stored."
        ),
    )
    mirror_witnesses: tuple[str, ...] = Field(
        (),
        description=(
            "Witness verifier keys (vkeys) the mirror requires cosignatures from before it takes a "
            "checkpoint. In the environment, separated by commas or spaces."
        ),
    )
    mirror_quorum: int | None = Field(
        None, ge=0, description="How many of `mirror_witnesses` must cosign. Unset: all of them."
    )
    mirror_interval: float = Field(
        10.0,
        gt=0,
        le=120,
        description=(
            "Longest wait (seconds) of a mirror that is caught up before it asks again; a new change of the "
            "upstream's feed (a long poll) ends it sooner."
        ),
    )
    mirror_step: int = Field(
        10000,
        ge=1,
        le=1_000_000,
        description=(
            "Log entries a mirror takes in one step (one transaction), when the upstream lists a checkpoint "
            "that near; it never takes one more than ten steps ahead."
        ),
    )
    review: tuple[str, ...] = Field(
        (),
        description=(
            "Whose submissions wait for an editor's review before they are published: entries "
            "`<participant>` (all its kinds) or `<participant>/<kind>`, `*` standing for any participant "
            "or kind (`ZAF`, `KEN/lesson`, `*/need`). In the environment, separated by commas or spaces. "
            "Empty: every accepted submission is published at once."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")

    @field_validator("witness_logs", "review", "mirror_witnesses", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @field_validator("witnesses", "relay_upstreams", mode="before")
    @classmethod
    def _split_entries(cls, value: Any) -> Any:
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value

    @field_validator("relay_upstreams")
    @classmethod
    def _check_upstreams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins: set[str] = set()
        for entry in value:
            origin, _, url = entry.partition("=")
            if not origin.strip() or not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"{entry!r}: expected '<origin>=<http(s) URL>'")
            if origin.strip() in origins:
                raise ValueError(f"{entry!r}: origin {origin.strip()!r} is named twice")
            origins.add(origin.strip())
        return value

    @field_validator("witness_logs")
    @classmethod
    def _check_log_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from exchange.transparency.note import NoteError, parse_verifier_key

        for key in value:
            try:
                parse_verifier_key(key)
            except NoteError as exc:
                raise ValueError(f"{key!r}: {exc}") from None
        return value

    @field_validator("review")
    @classmethod
    def _check_review(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from exchange.identifiers import KINDS, PARTICIPANT_ID

        for entry in value:
            who, _, kind = entry.partition("/")
            if not (who == "*" or PARTICIPANT_ID.fullmatch(who)) or (kind and kind != "*" and kind not in KINDS):
                raise ValueError(f"{entry!r}: expected <participant>[/<kind>], with * for any")
        return value

    def under_review(self, participant: str, kind: str) -> bool:
        """Whether a submission of ``kind`` by ``participant`` waits for an editor's review."""
        return any(
            who in ("*", participant) and kind_ in ("", "*", kind)
            for who, _, kind_ in (entry.partition("/") for entry in self.review)
        )

    @field_validator("witnesses")
    @classmethod
    def _check_witnesses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from exchange.transparency.cosignature import parse_cosigner_key
        from exchange.transparency.note import NoteError

        for entry in value:
            parts = entry.split()
            if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
                raise ValueError(f"{entry!r}: expected '<witness vkey> <http(s) URL prefix>'")
            try:
                parse_cosigner_key(parts[0])
            except NoteError as exc:
                raise ValueError(f"{entry!r}: {exc}") from None
        return value

    @property
    def public_origin(self) -> str:
        return (self.origin or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file when the repository is embedded, else None."""
        url = self.database_url
        if url is None:
            return self.data_dir / "exchange.db"
        if url.startswith("sqlite:///"):
            return Path(url.removeprefix("sqlite:///"))
        return None


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _read_env(env: Mapping[str, str]) -> dict[str, str]:
    known = {_env_name(name): name for name in Settings.model_fields}
    values: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIXES):
            continue
        if key in known:
            if value != "":  # an empty variable counts as unset (as `${VAR:-}` in a compose file leaves it)
                values[known[key]] = value
        else:
            unknown.append(key)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in the environment: {', '.join(sorted(unknown))}; see `exchange settings` for the list"
        )
    return values


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    return data


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Read the settings once. Raises :class:`SettingsError` with a readable message."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    file = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if file is not None:
        values.update(_read_file(file))
    values.update(_read_env(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])} ({_env_name(str(err['loc'][0]))}): {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    if settings.mode == "production" and not settings.public_origin.startswith("https://"):
        raise SettingsError("production mode needs EXCHANGE_ORIGIN set to an https:// origin")
    return settings


def settings_reference() -> str:
    """The settings reference in Markdown, generated from the model (docs/settings.md)."""
    lines = [
        "# Settings reference",
        "",
        "Generated by `exchange settings --markdown` from the code; a test keeps this file in step.",
        "",
        "Every setting is read from an environment variable or from a TOML file named by",
        f"`{CONFIG_ENV}` (or `--config`), whose keys are the names in the first column. Environment",
        "variables win over the file; an empty variable counts as unset. An unknown key or `EXCHANGE_*`",
        "variable stops start-up.",
        "",
        "| setting | variable | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else f"`{default}`"
        lines.append(f"| `{name}` | `{_env_name(name)}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"
