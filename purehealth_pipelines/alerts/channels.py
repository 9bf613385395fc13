"""Delivery channels: email over SMTP, signed JSON webhooks, SMS through Twilio's Messages API.

Why not apprise: it covers many providers but reports a send as a bare True/False, so the worker could not
tell a 500 (retry) from a 400 (give up) nor record the receiver's reason, and it gives no control over the
headers that carry the idempotency key. The three channels here are small over libraries already in the
stack: smtplib (stdlib; STARTTLS, implicit TLS and AUTH) and httpx.

Every message carries its outbox idempotency key — `X-PureHealth-Idempotency-Key` header (email and
webhook; the email's Message-ID is derived from it too) and `idempotency_key` in the webhook body — so a
receiver can drop the rare duplicate (see worker.py for the exact guarantee).

Webhook signature scheme: headers `X-PureHealth-Timestamp: <unix seconds>` and
`X-PureHealth-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body bytes>")>`; the secret is the
subscription's `webhook_secret` (else `PUREHEALTH_WEBHOOK_SECRET`). A receiver recomputes it over the raw
body, compares in constant time, and rejects timestamps older than a few minutes (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx

from purehealth_pipelines.alerts.routing import sms_text

KEY_HEADER = "X-PureHealth-Idempotency-Key"
SIGNATURE_HEADER = "X-PureHealth-Signature"
TIMESTAMP_HEADER = "X-PureHealth-Timestamp"


class DeliveryError(Exception):
    """A failed send: `permanent` ones go straight to the dead letters, others are retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs of one outbox row."""

    notification_id: int
    idempotency_key: str
    channel: str
    address: str
    subject: str
    body: str
    payload: dict[str, Any]
    webhook_secret: str | None = None


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "PureHealth alerts <alerts@purehealth.local>"
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> SmtpConfig:
        """PUREHEALTH_SMTP_HOST/PORT/STARTTLS/SSL/USER/PASSWORD/FROM."""
        return cls(
            host=os.environ.get("PUREHEALTH_SMTP_HOST", "127.0.0.1"),
            port=int(os.environ.get("PUREHEALTH_SMTP_PORT", "25")),
            starttls=_env_bool("PUREHEALTH_SMTP_STARTTLS", False),
            ssl=_env_bool("PUREHEALTH_SMTP_SSL", False),
            username=os.environ.get("PUREHEALTH_SMTP_USER") or None,
            password=os.environ.get("PUREHEALTH_SMTP_PASSWORD") or None,
            sender=os.environ.get("PUREHEALTH_SMTP_FROM", cls.sender),
        )


class EmailSender:
    """One SMTP session per message: simple, and a broken connection never poisons the next send."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        # Built once, and only when TLS is used: create_default_context() loads the system CA bundle, which
        # took ~60 ms of CPU per message here and capped the worker at ~15 emails/s (bench_notify.py).
        # An SSLContext is safe to share between threads.
        self._context = ssl.create_default_context() if (config.ssl or config.starttls) else None

    def build(self, message: Outgoing) -> EmailMessage:
        # no folding of long headers: the idempotency key must reach the receiver as one token
        email = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
        email["From"] = self.config.sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
        email["Message-ID"] = f"<{digest}@purehealth.alerts>"
        email[KEY_HEADER] = message.idempotency_key
        email.set_content(message.body)
        return email

    def send(self, message: Outgoing) -> None:
        c = self.config
        context = self._context
        try:
            smtp_class = smtplib.SMTP_SSL if c.ssl else smtplib.SMTP
            kwargs = {"context": context} if c.ssl else {}
            with smtp_class(c.host, c.port, timeout=c.timeout, **kwargs) as smtp:
                if c.starttls and not c.ssl:
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password or "")
                smtp.send_message(self.build(message))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"SMTP refused recipient: {exc.recipients}", permanent=min(codes) >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise DeliveryError(reason, permanent=exc.smtp_code >= 500 and exc.smtp_code != 535) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from exc


def _http_failure(response: httpx.Response) -> DeliveryError:
    """2xx is success; 408, 429 and 5xx are retried; any other status is permanent."""
    retry = response.status_code in (408, 429) or response.status_code >= 500
    return DeliveryError(f"HTTP {response.status_code}: {response.text[:300]}", permanent=not retry)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature header value (scheme in the module docstring)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


class WebhookSender:
    def __init__(self, client: httpx.Client, default_secret: str | None = None) -> None:
        self.client = client
        self.default_secret = default_secret or os.environ.get("PUREHEALTH_WEBHOOK_SECRET")

    def send(self, message: Outgoing) -> None:
        secret = message.webhook_secret or self.default_secret
        if not secret:
            reason = "no webhook secret (subscription webhook_secret or PUREHEALTH_WEBHOOK_SECRET)"
            raise DeliveryError(reason, permanent=True)
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            KEY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            response = self.client.post(message.address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise _http_failure(response)


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str | None
    auth_token: str | None
    sender: str | None
    api_base: str = "https://api.twilio.com"

    @classmethod
    def from_env(cls) -> TwilioConfig:
        """PUREHEALTH_SMS_ACCOUNT_SID / _AUTH_TOKEN / _FROM, PUREHEALTH_SMS_API_BASE (tests: a local fake)."""
        return cls(
            account_sid=os.environ.get("PUREHEALTH_SMS_ACCOUNT_SID"),
            auth_token=os.environ.get("PUREHEALTH_SMS_AUTH_TOKEN"),
            sender=os.environ.get("PUREHEALTH_SMS_FROM"),
            api_base=os.environ.get("PUREHEALTH_SMS_API_BASE", "https://api.twilio.com"),
        )


class TwilioSmsSender:
    """Twilio's Messages API: POST /2010-04-01/Accounts/{Sid}/Messages.json, form-encoded To/From/Body,
    HTTP basic auth (Account SID, auth token); 201 Created on success. Twilio has no request idempotency
    key, so an SMS shares the at-least-once window of the other channels without a receiver-side de-dup."""

    def __init__(self, client: httpx.Client, config: TwilioConfig) -> None:
        self.client = client
        self.config = config

    def send(self, message: Outgoing) -> None:
        c = self.config
        if not (c.account_sid and c.auth_token and c.sender):
            raise DeliveryError(
                "SMS not configured (PUREHEALTH_SMS_ACCOUNT_SID/AUTH_TOKEN/FROM)", permanent=True
            )
        url = f"{c.api_base.rstrip('/')}/2010-04-01/Accounts/{c.account_sid}/Messages.json"
        data = {"To": message.address, "From": c.sender, "Body": sms_text(message.subject, message.payload)}
        try:
            response = self.client.post(url, data=data, auth=(c.account_sid, c.auth_token))
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise _http_failure(response)


def default_senders(timeout: float = 10.0) -> dict[str, Sender]:
    """Senders configured from the environment (one httpx client shared, thread-safe)."""
    client = httpx.Client(timeout=timeout)
    return {
        "email": EmailSender(SmtpConfig.from_env()),
        "webhook": WebhookSender(client),
        "sms": TwilioSmsSender(client, TwilioConfig.from_env()),
    }
