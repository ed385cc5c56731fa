"""Parley's settings: one pydantic model, read from the environment once.

Every setting has an environment variable. Endpoints for local stand-ins are
not settings of ours: boto3 reads ``AWS_ENDPOINT_URL_DYNAMODB`` (and friends)
itself, exactly as it does against AWS, so chalicelib has no local branches.
"""
from __future__ import annotations

import os
import re
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Provider = Literal["pusher", "websocket", "polling"]

# Field name -> environment variable. Kept explicit (rather than a prefix rule)
# so the README, config.json and this table can be read side by side.
ENV = {
    "table_name": "PARLEY_TABLE",
    "token_secret": "PARLEY_TOKEN_SECRET",
    "token_secret_param": "PARLEY_TOKEN_SECRET_PARAM",
    "secrets_ttl_seconds": "PARLEY_SECRETS_TTL_SECONDS",
    "token_ttl_seconds": "PARLEY_TOKEN_TTL_SECONDS",
    "realtime_providers": "PARLEY_REALTIME_PROVIDERS",
    "polling_interval_ms": "PARLEY_POLL_INTERVAL_MS",
    "websocket_url": "PARLEY_WEBSOCKET_URL",
    "websocket_endpoint": "PARLEY_WEBSOCKET_ENDPOINT",
    "connection_ttl_seconds": "PARLEY_CONNECTION_TTL_SECONDS",
    "fanout_workers": "PARLEY_FANOUT_WORKERS",
    "site_cache_seconds": "PARLEY_SITE_CACHE_SECONDS",
    "history_limit": "PARLEY_HISTORY_LIMIT",
    "pusher_app_id": "PUSHER_APP_ID",
    "pusher_key": "PUSHER_KEY",
    "pusher_secret": "PUSHER_SECRET",
    "pusher_secret_param": "PUSHER_SECRET_PARAM",
    "pusher_cluster": "PUSHER_CLUSTER",
    "pusher_host": "PUSHER_HOST",
    "pusher_port": "PUSHER_PORT",
    "pusher_use_tls": "PUSHER_USE_TLS",
    "pusher_timeout_seconds": "PUSHER_TIMEOUT_SECONDS",
    "broadcast_budget_seconds": "PARLEY_BROADCAST_BUDGET_SECONDS",
    "cognito_issuer": "PARLEY_COGNITO_ISSUER",
    "cognito_client_id": "PARLEY_COGNITO_CLIENT_ID",
    "cognito_jwks_url": "PARLEY_COGNITO_JWKS_URL",
    "console_origins": "PARLEY_CONSOLE_ORIGINS",
    "membership_cache_seconds": "PARLEY_MEMBERSHIP_CACHE_SECONDS",
    "rate_limits": "PARLEY_RATE_LIMITS",
    "reply_queue_url": "PARLEY_REPLY_QUEUE_URL",
    "bot_engines": "PARLEY_BOT_ENGINES",
    "job_queue_url": "PARLEY_JOB_QUEUE_URL",
    "mail_from": "PARLEY_MAIL_FROM",
    "console_url": "PARLEY_CONSOLE_URL",
    "webhook_allow_loopback": "PARLEY_WEBHOOK_ALLOW_LOOPBACK",
    "webhook_retry_seconds": "PARLEY_WEBHOOK_RETRY_SECONDS",
}

# The reply queue's name when no URL is configured: what app.py's on_sqs_message names
# for Chalice (`make deploy` always writes the stage's own queue URL first).
def reply_queue_for(table_name: str) -> str:
    """The reply queue of the stack that holds the table (infra/table.json names it so)."""
    return f"{table_name}-replies.fifo"


def job_queue_for(table_name: str) -> str:
    """The job queue (notifications, transcripts, webhook deliveries) of the stack that holds the table."""
    return f"{table_name}-jobs"
_ENGINE_ENTRY = re.compile(r"([a-z0-9][a-z0-9_-]{0,31})=([A-Za-z_][\w.]*:[A-Za-z_]\w*)")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names its variable."""


class Settings(BaseModel):
    """Everything Parley reads from its environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table_name: str = Field(min_length=3, max_length=255)
    # HMAC-SHA256 key for visitor tokens: at least 32 characters of secret,
    # given itself (local use) or as the name of an SSM SecureString (AWS).
    token_secret: str | None = Field(default=None, min_length=32, repr=False)
    token_secret_param: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_.\-/]{1,1010}$")
    secrets_ttl_seconds: float = Field(default=300.0, ge=0)
    token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    realtime_providers: tuple[Provider, ...] = ("polling",)
    polling_interval_ms: int = Field(default=2000, ge=250, le=60000)
    # What the widget connects to (wss://…), and where the @connections
    # management API is (https://<api-id>.execute-api.<region>.amazonaws.com/<stage>).
    websocket_url: str | None = None
    websocket_endpoint: str | None = None
    # API Gateway ends a connection after 2 h; a little longer, so a record
    # outlives its socket rather than the other way round.
    connection_ttl_seconds: int = Field(default=2 * 3600 + 300, ge=60)
    fanout_workers: int = Field(default=16, ge=1, le=64)
    site_cache_seconds: float = Field(default=30.0, ge=0)
    history_limit: int = Field(default=50, ge=1, le=200)
    pusher_app_id: str | None = None
    pusher_key: str | None = None
    pusher_secret: str | None = Field(default=None, repr=False)
    pusher_secret_param: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_.\-/]{1,1010}$")
    pusher_cluster: str = "mt1"
    pusher_host: str | None = None
    pusher_port: int | None = Field(default=None, ge=1, le=65535)
    pusher_use_tls: bool = True
    # A send waits for the trigger; a Pusher outage must not hold it long.
    pusher_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # The most one send waits for each provider, all its broadcasts together (the
    # message, the bot's reply, a new conversation's event): a slow or hung provider
    # costs the send this much at worst, and the others are not held by it. Each
    # provider's client gives up inside it (Pusher: its timeout; a WebSocket post:
    # 1 s to connect + 2 s to answer), so no late push outlives it by much.
    broadcast_budget_seconds: float = Field(default=4.0, ge=1, le=15)
    # The agent side: the Cognito user pool whose ID tokens sign agents in
    # (https://cognito-idp.<region>.amazonaws.com/<pool id>), its app client
    # (the tokens' audience), and where its keys are (by default the pool's
    # own /.well-known/jwks.json; locally moto serves them elsewhere). Without
    # an issuer the agent API answers 404 agents_disabled.
    cognito_issuer: str | None = None
    cognito_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+]{1,128}$")
    cognito_jwks_url: str | None = None
    # Where the agent console is served from: the agent API answers CORS for these alone.
    console_origins: tuple[str, ...] = ()
    # A membership change reaches every Lambda container within this long.
    membership_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    # name=count/seconds over chalicelib/limits.py's defaults, e.g. "messages=120/60".
    rate_limits: str | None = None
    # The SQS queue a streaming bot engine's replies go through (chalicelib/replies.py):
    # https://sqs.<region>.amazonaws.com/<account>/<name>. Without it, such an engine
    # answers inline, inside the send (slowly).
    reply_queue_url: str | None = None
    # Bot engines beyond the built-in ones: "name=package.module:Class,…" (chalicelib/bot).
    bot_engines: str | None = None
    # The standard SQS queue of later work (chalicelib/jobs.py): team notifications, transcripts,
    # webhook deliveries. Without it none of those happen (webhooks are still registered).
    job_queue_url: str | None = None
    # The address notifications and transcripts come from: an identity verified in SES (a bare
    # address or "Name <address>"). Without it no email is sent.
    mail_from: str | None = Field(default=None, min_length=3, max_length=320)
    # The agent console's address, for the link in a notification ("?site=…&conversation=…" is added).
    console_url: str | None = None
    # Webhook URLs must be https and public; the local stage alone may allow http and loopback
    # (127.0.0.1, ::1) for its own tests. Never set in a deployed stage.
    webhook_allow_loopback: bool = False
    # The waits before each retry of a failed webhook delivery (1 + as many attempts in all).
    webhook_retry_seconds: tuple[int, ...] = (10, 60, 300, 1800, 7200)

    @field_validator("realtime_providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("console_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/").lower() for o in value.split(",") if o.strip())
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(cls, value: str | None) -> str | None:
        from .limits import parse_limits

        parse_limits(value)  # raises with the entry that is wrong
        return value

    @field_validator("reply_queue_url")
    @classmethod
    def _queue_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/[^\s/]+)*/[A-Za-z0-9_-]{1,75}(\.fifo)?", value):
            raise ValueError("must be an SQS queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>")
        return value

    @property
    def reply_queue_name(self) -> str:
        """The queue's name (the URL's last part), for the event source app.py declares; without a
        URL, the name the table's stack gives it (``<table>-replies.fifo``, infra/table.json)."""
        return self.reply_queue_url.rsplit("/", 1)[1] if self.reply_queue_url else reply_queue_for(self.table_name)

    @field_validator("job_queue_url")
    @classmethod
    def _job_queue_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/[^\s/]+)*/[A-Za-z0-9_-]{1,80}", value):
            raise ValueError("must be a standard SQS queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>")
        return value

    @property
    def job_queue_name(self) -> str:
        """The job queue's name, for the event source app.py declares (as ``reply_queue_name``)."""
        return self.job_queue_url.rsplit("/", 1)[1] if self.job_queue_url else job_queue_for(self.table_name)

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s):// URL without a query or fragment")
        return value

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _split_retries(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = tuple(int(p) for p in value.split(",") if p.strip())
            except ValueError:
                raise ValueError("must be whole numbers of seconds, comma-separated: 10,60,300") from None
        if isinstance(value, tuple) and (len(value) > 10 or any(not 0 <= v <= 86_400 for v in value)):
            raise ValueError("at most 10 waits, each 0 to 86400 seconds")
        return value

    @field_validator("bot_engines")
    @classmethod
    def _bot_engines(cls, value: str | None) -> str | None:
        for entry in (e.strip() for e in (value or "").split(",")):
            if entry and not _ENGINE_ENTRY.fullmatch(entry):
                raise ValueError(f"{entry!r}: each entry is name=package.module:Class")
        return value

    @property
    def extra_engines(self) -> dict[str, str]:
        """``bot_engines`` as BotRegistry takes them: name -> "module:Class"."""
        return dict(e.strip().split("=", 1) for e in (self.bot_engines or "").split(",") if e.strip())

    @field_validator("cognito_issuer", "cognito_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/") if value else value

    @property
    def jwks_url(self) -> str | None:
        if self.cognito_jwks_url:
            return self.cognito_jwks_url
        return f"{self.cognito_issuer}/.well-known/jwks.json" if self.cognito_issuer else None

    @field_validator("websocket_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be a ws:// or wss:// URL")
        return value

    @field_validator("websocket_endpoint")
    @classmethod
    def _websocket_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http(s):// URL: https://<api-id>.execute-api.<region>.amazonaws.com/<stage>")
        return value

    @field_validator("pusher_host")
    @classmethod
    def _pusher_host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.-]+", value):
            raise ValueError("must be a host name alone (no scheme, port or path)")
        return value

    @model_validator(mode="after")
    def _providers_are_configured(self) -> "Settings":
        if not self.realtime_providers:
            raise ValueError("realtime_providers: name at least one provider")
        if not (self.token_secret or self.token_secret_param):
            raise ValueError("token_secret: required (or PARLEY_TOKEN_SECRET_PARAM, an SSM parameter name)")
        if "pusher" in self.realtime_providers:
            for name in ("pusher_app_id", "pusher_key"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: required when 'pusher' is a realtime provider")
            if not (self.pusher_secret or self.pusher_secret_param):
                raise ValueError("pusher_secret: required when 'pusher' is a realtime provider "
                                 "(or PUSHER_SECRET_PARAM, an SSM parameter name)")
            if not str(self.pusher_app_id).isdigit():
                # The pusher library (and Pusher itself) only knows numeric app ids.
                raise ValueError("pusher_app_id: must be numeric")
        if self.cognito_issuer and not self.cognito_client_id:
            raise ValueError("cognito_client_id: required with PARLEY_COGNITO_ISSUER (the app client of the pool)")
        if "websocket" in self.realtime_providers:
            for name in ("websocket_url", "websocket_endpoint"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: required when 'websocket' is a realtime provider")
            from .realtime.apigw_websocket import POST_SECONDS

            if self.broadcast_budget_seconds < POST_SECONDS:
                raise ValueError(f"broadcast_budget_seconds: at least {POST_SECONDS:g} with 'websocket' "
                                 f"(one post's connect and read timeouts must fit inside it)")
        if "pusher" in self.realtime_providers and self.pusher_timeout_seconds > self.broadcast_budget_seconds:
            raise ValueError(f"broadcast_budget_seconds: must be at least PUSHER_TIMEOUT_SECONDS "
                             f"({self.pusher_timeout_seconds:g}), so a Pusher call ends inside it")
        return self


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Builds Settings from an environment, naming the variable on failure."""
    environ = os.environ if environ is None else environ
    raw = {field: environ[var] for field, var in ENV.items() if environ.get(var, "") != ""}
    try:
        return Settings(**raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else err["msg"].split(":", 1)[0].split()[-1]
            var = ENV.get(field, field)
            kind = "missing" if err["type"] == "missing" else "invalid"
            msg = err["msg"].removeprefix("Value error, ").removeprefix(f"{field}: ")
            problems.append(f"{var} ({kind}): {msg}")
        raise SettingsError("Parley settings: " + "; ".join(problems)) from None
