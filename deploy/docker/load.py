#!/usr/bin/env python3
"""Bounded constant load for deploy/docker/test-stack.sh, through the published ports only.

Ingest: RATE gateway payloads per second to POST /ingest, each sent the way the Telegram gateway
sends (GATEWAY.md): success = a 2xx with a JSON body; anything else is retried after 5 s, 10 s and
20 s, 4 attempts in all, then given up. Reads: READ_RATE dashboard queries per second
(GET /signals?limit=50&channel=...). Every outcome is counted per phase (and the reads' p99 and
longest answer time); the phase is the content of
PHASE_FILE, which the test script rewrites as it injects faults. Runs until STOP_FILE exists, then
writes the summary (JSON) to OUT, with the acknowledged message ids for the database count.

usage: load.py API_URL INGEST_URL TOKEN CHANNEL_ID PHASE_FILE STOP_FILE OUT [RATE] [READ_RATE]
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

RETRY_DELAYS = (5, 10, 20)  # BASE_RETRY_DELAY_MS 5000 x 2^attempt, 4 attempts in all
TIMEOUT = 10  # API_TIMEOUT_MS


class Load:
    def __init__(self, argv):
        (self.api, self.ingest, self.token, channel, self.phase_file, self.stop_file,
         self.out) = argv[:7]
        self.channel = int(channel)
        self.rate = float(argv[7]) if len(argv) > 7 else 20.0
        self.read_rate = float(argv[8]) if len(argv) > 8 else 20.0
        self.lock = threading.Lock()
        self.counts = defaultdict(lambda: defaultdict(int))
        self.acked = []
        self.given_up = []
        self.read_errors = defaultdict(list)
        self.read_seconds = defaultdict(list)

    def phase(self):
        try:
            with open(self.phase_file) as f:
                return f.read().strip() or "?"
        except OSError:
            return "?"

    def count(self, phase, key, n=1):
        with self.lock:
            self.counts[phase][key] += n

    def stopping(self):
        return os.path.exists(self.stop_file)

    def payload(self, message_id):
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        price = 20 + (message_id % 50) / 10
        text = (f"Swing Trade\nAtivo: PETR4\nCompra: {price:.2f}\n"
                f"Alvo 1: {price + 2:.2f}\nStop: {price - 1:.2f}").replace(".", ",")
        return {
            "channelId": str(self.channel), "messageId": message_id, "text": text, "caption": None,
            "timestamp": now, "telegramDate": now, "receivedAt": now, "photos": [], "mediaRefs": [],
            "mediaType": "text", "threadId": None, "source": "user_client",
            "messageType": "channel_post", "chatId": str(self.channel), "metadata": {"load": True},
        }

    def post_once(self, message_id):
        body = json.dumps(self.payload(message_id)).encode()
        req = urllib.request.Request(
            self.ingest + "/ingest", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-Gateway-Token": self.token})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
                json.loads(res.read())
                return 200 <= res.status < 300, str(res.status)
        except urllib.error.HTTPError as e:
            return False, str(e.code)
        except Exception as e:  # connection refused/reset, timeout, non-JSON body
            return False, type(e).__name__

    def send(self, message_id):
        """One message, with the gateway's retry loop (blocking this worker, as the gateway does)."""
        for attempt in range(len(RETRY_DELAYS) + 1):
            phase = self.phase()
            ok, status = self.post_once(message_id)
            self.count(phase, "ingest_attempts")
            if ok:
                self.count(phase, "ingest_acked")
                with self.lock:
                    self.acked.append(message_id)
                return
            self.count(phase, f"ingest_failed_{status}")
            if attempt < len(RETRY_DELAYS):
                time.sleep(RETRY_DELAYS[attempt])
        self.count(self.phase(), "ingest_given_up")
        with self.lock:
            self.given_up.append(message_id)

    def read_once(self):
        phase = self.phase()
        url = f"{self.api}/signals?limit=50&channel={self.channel}"
        started = time.monotonic()
        try:
            self.read_answer(phase, url)
        finally:
            with self.lock:
                self.read_seconds[phase].append(time.monotonic() - started)

    def read_answer(self, phase, url):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as res:
                json.loads(res.read())
                cache = res.headers.get("X-Cache", "none")
                self.count(phase, "reads_ok")
                self.count(phase, f"reads_cache_{cache}")
                return
        except urllib.error.HTTPError as e:
            if e.code == 503 and e.headers.get("Retry-After"):
                self.count(phase, "reads_503_retry_after")
                self.note_read_error(phase, f"503: {e.read()[:160]!r}")
            else:
                self.count(phase, "reads_failed")
                self.note_read_error(phase, f"HTTP {e.code}")
        except Exception as e:
            self.count(phase, "reads_failed")
            self.note_read_error(phase, f"{type(e).__name__}: {e}")

    def note_read_error(self, phase, what):
        with self.lock:
            if len(self.read_errors[phase]) < 5:
                self.read_errors[phase].append(what)

    def paced(self, rate, job, pool):
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not self.stopping():
            pool.submit(job)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()

    def run(self):
        base = int(time.time() * 1000) % 1_000_000_000 * 100
        ids = iter(range(base, base + 10**9))
        id_lock = threading.Lock()

        def next_message():
            with id_lock:
                message_id = next(ids)
            self.send(message_id)

        # Enough workers that the retry sleeps of a fault window do not slow the constant rate.
        with ThreadPoolExecutor(max_workers=int(self.rate * 40) + 8) as ingest_pool, \
                ThreadPoolExecutor(max_workers=int(self.read_rate * 4) + 4) as read_pool:
            reader = threading.Thread(target=self.paced, args=(self.read_rate, self.read_once, read_pool))
            reader.start()
            self.paced(self.rate, next_message, ingest_pool)
            reader.join()
        for phase, seconds in self.read_seconds.items():
            seconds.sort()
            self.counts[phase]["read_p99_ms"] = round(1000 * seconds[int(0.99 * (len(seconds) - 1))])
            self.counts[phase]["read_max_ms"] = round(1000 * seconds[-1])
        summary = {
            "channel_id": self.channel,
            "phases": {p: dict(c) for p, c in self.counts.items()},
            "read_errors": dict(self.read_errors),
            "acked": sorted(self.acked),
            "given_up": sorted(self.given_up),
        }
        with open(self.out, "w") as f:
            json.dump(summary, f)


if __name__ == "__main__":
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    Load(sys.argv[1:]).run()
