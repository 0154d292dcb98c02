"""The ``/v1/predict`` load of ``bench-service``: a separate process that times each request.

``python -m consumers.bench_client URL INTERVAL_MS BODY_JSON_FILE`` sends the body to
``URL/v1/predict`` every INTERVAL_MS (one request at a time, keep-alive connection) until it gets
SIGTERM, then prints ``[[wall_time_sent, seconds, status], ...]`` as JSON on stdout.
"""

from __future__ import annotations

import json
import signal
import sys
import time


def main(argv: list[str]) -> int:
    import httpx

    url, interval_ms, body_file = argv[0], float(argv[1]), argv[2]
    with open(body_file, "rb") as f:
        body = f.read()
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    out: list[tuple[float, float, int]] = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=10.0) as client:
        nxt = time.perf_counter()
        while not stop[0]:
            now = time.perf_counter()
            if now < nxt:
                time.sleep(nxt - now)
                continue
            nxt = now + interval_ms / 1000.0
            wall = time.time()
            t0 = time.perf_counter()
            try:
                status = client.post("/v1/predict", content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            out.append((wall, time.perf_counter() - t0, status))
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
