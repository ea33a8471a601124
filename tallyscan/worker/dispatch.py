"""Sending documents to the queue, and re-sending those whose message was lost.

The store, not the broker, is the record of what was submitted: a document is
written there (state ``queued``) before its message is sent. A message can
still be lost -- Redis restarted without persistence, a submit killed between
storing and sending, a worker gone with the broker's copy expired -- so
:func:`resend_lost` (run by every worker when it connects and every
``TALLYSCAN_SWEEP_INTERVAL`` seconds, and by ``submit --requeue``) sends them
again. Re-sending is safe: the task claims its document in the store first and
drops messages for documents that are finished or held by a live attempt.

A Redis broker that lost its data is recognised by a marker key
(``tallyscan:epoch:<queue>``) that vanishes with everything else: whoever
recreates it re-sends every queued document.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable

from tallyscan.settings import Settings
from tallyscan.store import BrokerUnavailable, Store

log = logging.getLogger(__name__)

# A queued document not sent after this long was stored by a submit that died.
UNSENT_AFTER_S = 300.0


def live_window(settings: Settings) -> float:
    """An attempt started longer ago than this is over: the hard limit would have ended it."""
    return settings.hard_time_limit + 30.0


def stale_after(settings: Settings) -> float:
    """A running document older than this was not handed out again by the broker either."""
    return settings.broker_visibility_timeout + settings.sweep_interval + 60.0


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def broker_was_emptied(settings: Settings) -> bool:
    """True once after the Redis broker lost its data (restart without persistence, flush).

    Creates the marker key; only the caller that creates it gets True. Other
    brokers keep their messages, so the answer is always False for them.
    """
    if not _is_redis(settings.broker_url):
        return False
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=10)
    try:
        created = client.set(f"tallyscan:epoch:{settings.queue}", secrets.token_hex(8), nx=True)
    except redis.RedisError as exc:
        raise BrokerUnavailable(_broker_message(settings, exc)) from exc
    finally:
        client.close()
    return bool(created)


def _broker_message(settings: Settings, exc: BaseException) -> str:
    url = settings.broker_url.split("@")[-1]
    return (f"the broker at {url} cannot be reached ({exc}); the documents are stored and "
            "will be sent when it is back (workers do this on connecting, or run "
            "`tallyscan submit --requeue`)")


def send_documents(keys: Iterable[str], store: Store, settings: Settings,
                   on_sent: Callable[[str], object] | None = None) -> int:
    """Send one task per document key; returns how many were sent.

    Raises BrokerUnavailable when the broker cannot be reached; documents not
    yet sent stay ``queued`` in the store and are sent later.
    """
    from kombu.exceptions import OperationalError as KombuOperationalError

    from tallyscan.worker.app import app
    from tallyscan.worker.tasks import process_document

    sent = 0
    try:
        with app.connection_for_write(settings.broker_url) as conn, conn.Producer() as producer:
            for key in keys:
                # No time limits in the message: the worker's own settings decide them.
                process_document.apply_async(args=[key], queue=settings.queue, producer=producer,
                                             time_limit=None, soft_time_limit=None)
                store.mark_sent(key)
                sent += 1
                if on_sent is not None:
                    on_sent(key)
    except (KombuOperationalError, ConnectionError, OSError) as exc:
        raise BrokerUnavailable(_broker_message(settings, exc)) from exc
    return sent


def resend_lost(store: Store, settings: Settings, *, everything: bool = False) -> int:
    """Re-send documents whose message may be lost (see the module docstring)."""
    everything = broker_was_emptied(settings) or everything
    keys = store.to_resend(everything=everything, live_window=live_window(settings),
                           unsent_after=UNSENT_AFTER_S, stale_after=stale_after(settings))
    if not keys:
        return 0
    why = "the broker lost its queue" if everything else "their messages were lost"
    log.warning("re-sending %d document(s): %s", len(keys), why)
    return send_documents(keys, store, settings)
