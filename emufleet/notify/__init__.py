"""Notifications with pictures (docs/observability.md): a bot's give-up, stuck and ``Notify`` messages with its
frame and overlay, and one digest per launch, posted to a Discord-compatible webhook as ``multipart/form-data``.

The webhook is ``EMUFLEET_NOTIFY_WEBHOOK`` (:func:`webhook_url`), set on every host whose bots should send
pictures. Text-only notifications stay Prefect automations (``adapters/automations.py``).
"""

from __future__ import annotations

import os

from emufleet.notify.bot import FrameSource, NotifyingObserver, frame_attachment, message_for
from emufleet.notify.digest import digest_message, failure_of, top_failures
from emufleet.notify.webhook import Attachment, Message, WebhookNotifier

__all__ = ["ENV", "Attachment", "FrameSource", "Message", "NotifyingObserver", "WebhookNotifier", "digest_message",
           "failure_of", "frame_attachment", "message_for", "top_failures", "webhook_url"]

ENV = "EMUFLEET_NOTIFY_WEBHOOK"


def webhook_url() -> str | None:
    """The webhook of this process's notifications with pictures: ``EMUFLEET_NOTIFY_WEBHOOK``, or ``None``."""
    return os.environ.get(ENV) or None
