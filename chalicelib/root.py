"""The composition root: the one place Parley's objects are built and wired together.

    Settings -> clients -> data layer -> secrets -> realtime -> agent tokens -> access policy
             -> bot registry -> typing relay, transitions -> bot turns, reply queue
             -> chat service, agent service, reply worker
             -> HTTP routes, agent routes, WebSocket handlers

Once per process and lazily: each object is made on first use (a cold start
pays only for what its first request needs), once, however many threads ask
at the same moment. ``app.py`` makes one ``Root`` from the environment and
hands it to its views; tests make their own with fakes (a moto or stubbed
DynamoDB client, a recording Pusher, a fake clock) instead of resetting
globals. No other module keeps process-wide state.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Mapping

from .access import AccessPolicy, SiteDirectory
from .agent_routes import AgentRoutes
from .agent_service import AgentService
from .agent_tokens import AgentTokens
from .bot import ENGINES, BotRegistry
from .chat import ChatService
from .data import Data
from .desk import Presence
from .jobs import JobQueue, JobWorker
from .mailer import Mailer
from .notices import Notices
from .outbox import Outbox
from .lazy import Lazy
from .limits import RateLimiter, parse_limits
from .realtime import build as build_realtime
from .realtime.apigw_websocket import WebSocketBroadcaster
from .replies import BotTurns, ReplyQueue, ReplyWorker
from .routes import HttpRoutes
from .secretstore import Secrets
from .settings import Settings, load_settings
from .sockets import SocketHandlers
from .transitions import Transitions
from .typing_relay import TypingRelay


class Root:
    """Parley's object graph. Every argument replaces the part it names (tests); all are optional.

    ``clock`` is wall time (timestamps, TTLs), ``monotonic`` measures
    intervals (caches, retry budgets, the typing throttle), ``sleep`` waits
    between retries.
    """

    def __init__(self, settings: Settings | None = None, *, environ: Mapping[str, str] | None = None,
                 dynamodb: Any = None, ssm: Any = None, pusher: Any = None, management: Any = None,
                 sqs: Any = None, ses: Any = None, bots: BotRegistry | None = None,
                 jwks: Callable[[str], Any] | None = None, resolve: Callable[..., Any] | None = None,
                 post: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        self._clock, self._management = clock, management  # for _build_websocket
        self._settings = Lazy(lambda: load_settings(environ), settings)
        self._data = Lazy(lambda: self._build_data(dynamodb, clock, monotonic, sleep, jitter))
        self._secrets = Lazy(lambda: Secrets(self.settings, ssm=ssm, clock=monotonic))
        self._realtime = Lazy(lambda: build_realtime(self.settings, self.data.connections, self.secrets,
                                                     pusher_client=pusher, management_client=management,
                                                     clock=clock))
        self._websocket = Lazy(self._build_websocket)
        self._sites = Lazy(lambda: SiteDirectory(self.data.sites, self.settings.site_cache_seconds,
                                                 clock=monotonic))
        self._agent_tokens = Lazy(lambda: self._build_agent_tokens(jwks, monotonic))
        self._access = Lazy(lambda: AccessPolicy(
            self.sites, self.secrets, agent_tokens=self._agent_tokens.get(), agents=self.data.agents,
            console_origins=self.settings.console_origins,
            membership_ttl=self.settings.membership_cache_seconds, clock=monotonic))
        # The built-in engines, and any the settings add (PARLEY_BOT_ENGINES).
        self._bots = Lazy(lambda: BotRegistry({**ENGINES, **self.settings.extra_engines}), bots)
        self._typing = Lazy(lambda: TypingRelay(self.realtime, clock=monotonic))
        self._limits = Lazy(lambda: RateLimiter(self.data.table, parse_limits(self.settings.rate_limits),
                                                clock=clock))
        # Later work (notifications, transcripts, webhook deliveries) and what sets it off.
        self._jobs = Lazy(lambda: JobQueue(self.settings.job_queue_url, client=sqs, clock=clock))
        self._ses = Lazy(self._build_ses, ses)
        self._mailer = Lazy(lambda: Mailer(self._ses.get, self.settings.mail_from))
        self._presence = Lazy(lambda: Presence(self.data.desk.online, clock=monotonic))
        self._webhooks = Lazy(lambda: self._build_webhooks(clock, resolve, post))
        self._notices = Lazy(lambda: Notices(self.data, self.sites, self.jobs, self._mailer.get(),
                                             self.settings.console_url, clock=clock))
        self._outbox = Lazy(lambda: Outbox(self.sites, self._webhooks.get, self.notices))
        self._job_worker = Lazy(lambda: JobWorker(self.jobs, {
            "notify": self.notices.run_notify, "transcript": self.notices.run_transcript,
            "webhook": lambda job: self.webhooks.deliver(job)}, clock=clock))
        self._transitions = Lazy(lambda: Transitions(self.data.messages, self.realtime, clock=clock,
                                                     outbox=self.outbox))
        self._turns = Lazy(lambda: BotTurns(self.data, self.realtime, self.transitions, outbox=self.outbox))
        self._reply_queue = Lazy(lambda: ReplyQueue(self.settings.reply_queue_url, client=sqs))
        self._chat = Lazy(lambda: ChatService(self.settings, self.data, self.sites, self.access,
                                              self.realtime, self.bots, self.secrets, self.transitions,
                                              self._typing.get(), self.limits, self.turns, self.reply_queue,
                                              outbox=self.outbox, presence=self._presence.get(), clock=clock))
        # The reply worker's clock paces the deltas (at most one per 100 ms).
        self._replies = Lazy(lambda: ReplyWorker(self.data, self.sites, self.bots, self.realtime, self.turns,
                                                 clock=monotonic))
        self._agents = Lazy(lambda: AgentService(self.data, self.sites, self.realtime, self.transitions,
                                                 self._typing.get(), outbox=self.outbox,
                                                 presence=self._presence.get(), webhooks=self._webhooks.get))
        self._http = Lazy(lambda: HttpRoutes(self.access, self.chat, self.realtime))
        self._agent_http = Lazy(lambda: AgentRoutes(self.access, self.agents, self.realtime, self.limits))
        self._sockets = Lazy(lambda: SocketHandlers(self.settings, self.access, self.data.connections,
                                                    self.data.messages, websocket=lambda: self.websocket,
                                                    typing=self._typing.get(), limits=self.limits))

    def _build_data(self, dynamodb: Any, clock: Callable[[], float], monotonic: Callable[[], float],
                    sleep: Callable[[float], None], jitter: Callable[[float, float], float]) -> Data:
        data = Data(self.settings.table_name, dynamodb, clock=clock, monotonic=monotonic, sleep=sleep,
                    jitter=jitter)

        # An append whose caller has no site at hand (a lifecycle change, an agent's
        # reply) finds the site's retention through the site cache.
        def retention_days_of(site_key: str) -> int | None:
            site = self.sites.get(site_key)
            return site.retention_days if site is not None else None

        data.messages.retention_days_of = retention_days_of
        return data

    def _build_ses(self) -> Any:
        from . import aws

        return aws.client("sesv2", connect_timeout=2, read_timeout=5)

    def _build_webhooks(self, clock: Callable[[], float], resolve: Callable[..., Any] | None,
                        post: Callable[..., Any] | None) -> Any:
        # Imported here: http.client and ssl are for the job worker and the console's log, not a cold send.
        from .data.webhooks import WebhookStore
        from .webhooks import Webhooks

        extra = {name: f for name, f in (("resolve", resolve), ("post", post)) if f is not None}
        return Webhooks(WebhookStore(self.data.table, clock=clock), self.jobs.send,
                        allow_loopback=self.settings.webhook_allow_loopback,
                        retry_seconds=self.settings.webhook_retry_seconds, clock=clock,
                        cache_seconds=self.settings.site_cache_seconds, **extra)

    def _build_agent_tokens(self, jwks: Callable[[str], Any] | None,
                            monotonic: Callable[[], float]) -> AgentTokens | None:
        s = self.settings
        if not s.cognito_issuer:
            return None  # no user pool configured: the agent API answers agents_disabled
        extra = {"fetch": jwks} if jwks is not None else {}
        return AgentTokens(s.cognito_issuer, s.cognito_client_id or "", s.jwks_url or "",
                           monotonic=monotonic, **extra)

    def _build_websocket(self) -> WebSocketBroadcaster:
        # The WebSocket handlers answer through the same broadcaster that
        # fans out messages, so both share one client and one pool.
        existing = self.realtime.get("websocket")
        if isinstance(existing, WebSocketBroadcaster):
            return existing
        return WebSocketBroadcaster(self.settings, self.data.connections, client=self._management,
                                    clock=self._clock)

    settings = property(lambda self: self._settings.get(), doc="Settings, read from the environment once")
    data = property(lambda self: self._data.get(), doc="the data layer (one DynamoDB table)")
    secrets = property(lambda self: self._secrets.get(), doc="the token key and Pusher secret")
    realtime = property(lambda self: self._realtime.get(), doc="the configured broadcasters")
    websocket = property(lambda self: self._websocket.get(), doc="the @connections client's broadcaster")
    sites = property(lambda self: self._sites.get(), doc="sites and listed origins, cached")
    access = property(lambda self: self._access.get(), doc="the access policy")
    bots = property(lambda self: self._bots.get(), doc="bot engines by site settings")
    chat = property(lambda self: self._chat.get(), doc="the chat service")
    turns = property(lambda self: self._turns.get(), doc="the bot's turn: its reply stored, pushed, handed off")
    reply_queue = property(lambda self: self._reply_queue.get(), doc="the SQS queue of reply jobs")
    replies = property(lambda self: self._replies.get(), doc="the reply worker (on_sqs_message)")
    limits = property(lambda self: self._limits.get(), doc="rate limits (DynamoDB counters)")
    jobs = property(lambda self: self._jobs.get(), doc="the SQS queue of later work")
    job_worker = property(lambda self: self._job_worker.get(), doc="the job worker (on_sqs_message)")
    notices = property(lambda self: self._notices.get(), doc="team notifications and transcripts by email")
    webhooks = property(lambda self: self._webhooks.get(), doc="the site's webhooks: registry and deliveries")
    outbox = property(lambda self: self._outbox.get(), doc="what a stored change sets off: webhooks, emails")
    mailer = property(lambda self: self._mailer.get(), doc="email through SES")
    transitions = property(lambda self: self._transitions.get(), doc="lifecycle changes, stored and broadcast")
    agents = property(lambda self: self._agents.get(), doc="the agent service")
    http = property(lambda self: self._http.get(), doc="the HTTP route handlers")
    agent_http = property(lambda self: self._agent_http.get(), doc="the agent API's HTTP handlers")
    sockets = property(lambda self: self._sockets.get(), doc="the WebSocket handlers")
