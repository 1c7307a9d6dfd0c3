"""Posting notifications with pictures to a Discord-compatible webhook: ``multipart/form-data`` with a
``payload_json`` part (``content``, ``embeds``, ``attachments``) and one ``files[i]`` part per picture.

Discord, and the services that copy its webhook format (Guilded, Revolt bridges, ntfy's Discord mode, Matrix
hookshot…), accept this form; a Prefect ``Webhook`` block cannot send it (its body is a JSON template), which is why
pictures are posted from the bot's and the launch's processes, not from Prefect automations (docs/observability.md).

:class:`WebhookNotifier` posts in a background thread from a bounded queue, so a bot's event loop never waits on the
network: :meth:`~WebhookNotifier.send` returns at once; :meth:`~WebhookNotifier.send_now` posts and waits (a launch's
digest, at its end). A 429 is retried after its ``retry_after``; a 5xx or a transport error up to ``tries`` times; a
4xx other than 429 is logged and dropped. Nothing here raises for a failed post: a notification must never fail a
bot.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import httpx

__all__ = ["MAX_CONTENT", "Attachment", "Message", "WebhookNotifier"]

log = logging.getLogger(__name__)
MAX_CONTENT = 2000  # Discord's limit on ``content`` (characters)
MAX_FILES = 10  # Discord's limit on attachments per message
_MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message: ``filename`` (shown, and referenced as ``attachment://<filename>``), its bytes
    and MIME type."""

    filename: str
    data: bytes
    content_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: ``content`` (plain text, cut to :data:`MAX_CONTENT`), optional ``title`` (an embed whose
    image is the first attachment) and up to :data:`MAX_FILES` ``attachments``."""

    content: str
    attachments: tuple[Attachment, ...] = ()
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = field(default=())  # (name, value) shown in the embed

    def payload(self) -> dict[str, object]:
        """The ``payload_json`` part."""
        files = self.attachments[:MAX_FILES]
        body: dict[str, object] = {"content": self.content[:MAX_CONTENT],
                                   "attachments": [{"id": i, "filename": a.filename} for i, a in enumerate(files)]}
        if self.title is not None:
            embed: dict[str, object] = {"title": self.title[:256]}
            if self.fields:
                embed["fields"] = [{"name": n[:256], "value": v[:1024] or "-", "inline": True}
                                   for n, v in self.fields[:25]]
            if files:
                embed["image"] = {"url": f"attachment://{files[0].filename}"}
            body["embeds"] = [embed]
        return body

    def multipart(self) -> dict[str, tuple[str | None, bytes | str, str]]:
        """The form's parts as httpx ``files``: ``payload_json`` and ``files[i]``."""
        parts: dict[str, tuple[str | None, bytes | str, str]] = {
            "payload_json": (None, json.dumps(self.payload()), "application/json")}
        for i, attachment in enumerate(self.attachments[:MAX_FILES]):
            parts[f"files[{i}]"] = (attachment.filename, attachment.data, attachment.content_type)
        return parts


class WebhookNotifier:
    """Posts :class:`Message` s to ``url`` (a Discord-compatible webhook) from a background thread.

    Args:
        url: the webhook URL (``https://discord.com/api/webhooks/<id>/<token>``, or any compatible receiver).
        timeout_s: per request. tries: attempts per message (429s excepted: they wait and do not count).
        capacity: queued messages beyond which :meth:`send` drops the new one (logged).
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0, tries: int = 3, capacity: int = 50) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.tries = tries
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Queue ``message``; returns at once (the background thread posts it)."""
        with self._lock:
            if self._thread is None:
                # not a daemon: a process ending right after its bot still delivers what is queued (close() ends it)
                self._thread = threading.Thread(target=self._drain, name="emufleet-notify")
                self._thread.start()
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            log.warning("notification dropped (%d queued): %s", self._queue.maxsize, message.content[:80])

    def send_now(self, message: Message) -> bool:
        """Post ``message`` and wait: ``True`` when the receiver accepted it."""
        with httpx.Client(timeout=self.timeout_s) as client:
            return self._post(client, message)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread once what is queued is posted; wait for that up to ``timeout_s`` (0: do not wait).
        A later :meth:`send` starts a new thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout_s)

    def _drain(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while (message := self._queue.get()) is not None:
                self._post(client, message)

    def _post(self, client: httpx.Client, message: Message) -> bool:
        tries = 0
        while True:
            status: int | None = None
            try:
                reply = client.post(self.url, files=message.multipart())
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if reply.is_success:
                    self.sent += 1
                    return True
                if reply.status_code == 429:  # rate limited: wait as told, then again (not a try)
                    time.sleep(_retry_after(reply))
                    continue
                status, error = reply.status_code, f"HTTP {reply.status_code}: {reply.text[:200]}"
            tries += 1
            if tries >= self.tries or (status is not None and status < 500):
                self.failed += 1
                log.warning("notification not delivered (%s): %s", error, message.content[:80])
                return False
            time.sleep(min(2.0 ** tries * 0.25, 5.0))


def _retry_after(reply: httpx.Response) -> float:
    """Seconds a 429 asks to wait: Discord's JSON ``retry_after``, else the ``Retry-After`` header, else 1."""
    try:
        seconds = float(reply.json().get("retry_after", 1.0))
    except (ValueError, AttributeError, TypeError):
        try:
            seconds = float(reply.headers.get("Retry-After", "1"))
        except ValueError:
            seconds = 1.0
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)
