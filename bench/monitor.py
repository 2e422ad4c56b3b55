"""gate-monitor's /metrics under load: latency (p50, p99) and service memory.

A server process exports ~10,000 series (91 models x 5 versions, 22 series per version, as real
gate runs produce) and 20 scraper threads in this process fetch /metrics for 30 s each round.
Round one is the baseline, prometheus_client's stock WSGI app, which renders on every scrape;
round two is gate-monitor's app, where scrapes share one rendering until the state changes or a
second passes. Both run on gate-monitor's HTTP server (listen backlog 128).
Latencies include the scraper's own time to read the ~1.5 MB body.

    .venv/bin/python bench/monitor.py [--seconds 30] [--scrapers 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS, VERSIONS = 91, 5
CATEGORIES = ("violence", "weapons", "cyber", "crime", "harassment", "self-harm")


def synthetic_snapshot() -> object:
    from dataclasses import replace

    from gate.publish import names
    from monitor.metrics import Snapshot, VersionRecord

    records = []
    for m in range(MODELS):
        for v in range(VERSIONS):
            hs = (m * VERSIONS + v) % 100 / 100
            metrics = {"hs": hs, "hs_lower": hs * 0.8, "hs_upper": min(1.0, hs * 1.2 + 0.01)}
            for t in ("0.0", "0.7"):
                metrics |= {f"hs_t{t}": hs, f"hs_t{t}_lower": hs * 0.8, f"hs_t{t}_upper": hs}
            metrics |= {f"category.{c}.hs": hs for c in CATEGORIES}
            metrics |= {"delta_hs": hs / 2, "durability": 1 - hs / 2, "generations_spent": 240}
            metrics |= {
                "similarity_mean": 0.4,
                "similarity_p90": 0.6,
                "similarity_share_above": 0.1,
            }
            records.append(
                VersionRecord(
                    model=f"model-{m:03d}",
                    version=str(v + 1),
                    run_id=f"{m:03d}{v}",
                    started_ms=v,
                    verdict="PASS" if hs < 0.1 else "BLOCK",
                    suites=(replace(names.HEADLINE, benchmark="strongreject", judge="keyword"),),
                    dataset="data/finetune.jsonl",
                    metrics=metrics,
                )
            )
    return Snapshot(versions=tuple(records), runs_by_verdict={"PASS": 46, "BLOCK": 409})


def serve(port: int, stock: bool) -> None:
    """The service's HTTP side over a synthetic snapshot, with its imports (mlflow included).

    `stock` serves prometheus_client's own WSGI app instead: it renders on every scrape.
    """
    import mlflow.tracking  # noqa: F401 - the real service holds MLflow's client in memory
    from prometheus_client import make_wsgi_app
    from prometheus_client.core import REGISTRY

    from monitor.metrics import GateCollector, MonitorState
    from monitor.server import MonitorApp
    from monitor.server import serve as start

    state = MonitorState()
    REGISTRY.register(GateCollector(state))
    state.record_poll(synthetic_snapshot())  # type: ignore[arg-type]
    app = make_wsgi_app(REGISTRY) if stock else MonitorApp(REGISTRY, state, ttl=1.0)
    httpd, thread = start(app, "127.0.0.1", port)  # type: ignore[arg-type]
    print("ready", flush=True)
    thread.join()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def load(url: str, seconds: float, scrapers: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def scrape() -> None:
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as answer:
                size = len(answer.read())
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            sizes.append(size)

    threads = [threading.Thread(target=scrape) for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, max(sizes)


def round_(label: str, stock: bool, seconds: float, scrapers: int) -> dict[str, float]:
    from tests.servers import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), *(["--stock"] if stock else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as answer:
            text = answer.read().decode()
        series = sum(1 for line in text.splitlines() if line.startswith("safety_gate_"))
        latencies, size = load(url, seconds, scrapers)
        rss, peak = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    quantiles = statistics.quantiles(latencies, n=100)
    figures = {
        "series": series,
        "scrapes": len(latencies),
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "kb": size / 1024,
    }
    print(
        f"{label:<34} {series:>6} series  {figures['scrapes']:>6} scrapes  "
        f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
        f"RSS {rss:5.0f} MB (peak {peak:5.0f})  body {figures['kb']:.0f} KB",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.stock)
        return
    print(f"{args.scrapers} concurrent scrapers, {args.seconds:.0f} s per round, loopback")
    base = round_("baseline: client_python's WSGI app", True, args.seconds, args.scrapers)
    shared = round_("gate-monitor: shared rendering", False, args.seconds, args.scrapers)
    print(
        f"p99 {base['p99_ms'] / shared['p99_ms']:.1f}x lower, "
        f"{shared['scrapes'] / base['scrapes']:.1f}x the scrapes served; "
        f"target p99 < 100 ms: {'met' if shared['p99_ms'] < 100 else 'MISSED'}, "
        f"RSS < 300 MB: {'met' if shared['peak_rss_mb'] < 300 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
