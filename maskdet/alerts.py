"""Alerts where the people are: each announcement POSTed as JSON to a webhook (Slack, Teams and most
alerting tools accept it) from a background thread, with retries and backoff, never blocking detection."""
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

RETRIES = 4          # attempts per event: a receiver that is down for a few seconds loses nothing
BACKOFF = 1.0        # seconds before the second attempt, doubled for each next one
TIMEOUT = 10.0       # seconds one POST may take
QUEUE_SIZE = 100     # events waiting to be sent; beyond this new ones are dropped (and said so once)


def add_arguments(p):
    """The alert flags, the same in test.py and fleet.py."""
    p.add_argument("--webhook", default=None, help="POST each announcement as JSON to this URL (shown without its path)")
    p.add_argument("--no_snapshots", action="store_true", help="keep no picture of the frame that fired an announcement")


def redact(url):
    """`url` as it may be printed: scheme and host only. Webhook URLs carry their secret in the path,
    the query or user:password@, so none of those is shown."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    rest = "/..." if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def hide_credentials(source):
    """A camera or stream address as it may be printed: user:password@ removed, the rest kept."""
    if "://" not in source:
        return source
    parts = urlsplit(source)
    if parts.username is None and parts.password is None:
        return source
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def check_url(url):
    """InputError (URL redacted) unless `url` is an http:// or https:// address with a host."""
    from maskdet import InputError

    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        raise InputError(f"--webhook {redact(url)}: not a valid URL (bad port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--webhook {redact(url)}: expected an http:// or https:// URL")
    return url


def redacted_options(opt):
    """The parsed flags as a dict for the echo line: the webhook redacted, a source without credentials."""
    shown = dict(vars(opt))
    if shown.get("webhook"):
        shown["webhook"] = redact(shown["webhook"])
    if shown.get("source"):
        shown["source"] = hide_credentials(shown["source"])
    return shown


def payload(event):
    """The JSON body: the event's fields plus a `text` line, the field Slack and Teams display."""
    text = (f"{event['camera']}: {event['message']} ({event['correctly_masked']} of {event['total']} "
            f"correctly masked at {event['time']:.2f} s)")
    return {"text": text, **event}


class Webhook:
    """Posts events from a background thread. post() never blocks: a full queue drops the event with one
    warning. A failed POST (network error, 5xx, 429) is retried after 1, 2, 4 ... s; other 4xx answers
    are not retried. Only the redacted URL is ever printed."""

    def __init__(self, url, retries=RETRIES, backoff=BACKOFF, timeout=TIMEOUT):
        self.url, self.retries, self.backoff, self.timeout = url, retries, backoff, timeout
        self.sent = self.failed = self.dropped = 0
        self._queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def post(self, event):
        """Queue one event for sending; return at once."""
        try:
            self._queue.put_nowait(payload(event))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                print(f"warning: webhook {redact(self.url)}: {QUEUE_SIZE} events waiting, dropping new ones")

    def close(self, wait=30.0):
        """Send what is queued (for at most `wait` seconds), then stop."""
        self._queue.put(None)
        self._thread.join(wait)
        self._stop.set()

    def _run(self):
        while (body := self._queue.get()) is not None:
            if self._send(body):
                self.sent += 1
            else:
                self.failed += 1

    def _send(self, body):
        """One event, with retries; True when the receiver accepted it."""
        data = json.dumps(body).encode()
        for attempt in range(1, self.retries + 1):
            error = self._post_once(data)
            if error is None:
                return True
            retry = not error.startswith("HTTP 4") or error.startswith("HTTP 429")
            if not retry or attempt == self.retries or self._stop.wait(self.backoff * 2 ** (attempt - 1)):
                print(f"warning: webhook {redact(self.url)}: {error}, gave up after {attempt} attempts")
                return False
        return False

    def _post_once(self, data):
        """None when the POST succeeded, else a short reason that never holds the URL."""
        url, headers = split_credentials(self.url)
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "cctv-mask-detector", **headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                r.read()
            return None
        except urllib.error.HTTPError as e:
            return f"HTTP {e.code}"
        except Exception as e:  # noqa: BLE001 - any failure is a failed attempt; its text may quote the URL
            reason = getattr(e, "reason", e)
            return f"{type(e).__name__} ({type(reason).__name__})" if reason is not e else type(e).__name__


def split_credentials(url):
    """(url without user:password@, headers): urllib cannot send credentials written in the URL, so
    they go in an Authorization header."""
    import base64

    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
    return parts._replace(netloc=netloc).geturl(), {"Authorization": f"Basic {token}"}


def wait_for(webhooks, seconds=30.0):
    """Close several posters, giving them `seconds` in all to send what they hold."""
    deadline = time.time() + seconds
    for w in webhooks:
        w.close(max(0.0, deadline - time.time()))
