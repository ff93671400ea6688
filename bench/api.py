"""API speed: `okr serve --workers 2` on a demo warehouse with a champion, next to
`mlflow models serve --env-manager local` serving the same champion, in one run:

- the latency (p50, p99) of `GET /api/v1/key-results/{id}/risk` for one key result: many
  sequential requests after a warm-up;
- the throughput of `POST /api/v1/predict` with 1 row and with 100 rows from a few concurrent
  clients, and of MLflow's `/invocations` with the same bodies (its answers are checked to
  hold the same risks). Both servers get 2 workers; they are measured one after the other.

Clients keep their connection open (uvicorn, MLflow's server, and okr serve's gthread workers
keep it). The clients share the machine's cores with the servers, so beside the rates the
benchmark reports each server's own CPU time per request (its processes' user and system time
over the requests it answered): the cost a deployment pays per call, whatever the client.
Targets, reported and not asserted: p99 under 15 ms for one key result's risk; predict
throughput at least 5x MLflow's.

    uv run python bench/api.py [--scale 0.6] [--requests 2000] [--clients 4] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psutil

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

from broker import free_port  # noqa: E402
from okr_pipeline import jobs  # noqa: E402
from okr_pipeline.config import Settings, load_settings  # noqa: E402
from okr_pipeline.core import as_of_instant  # noqa: E402
from okr_pipeline.features import features_at, load_history, open_at  # noqa: E402
from okr_pipeline.sources.synthetic import generate_bundle  # noqa: E402
from okr_pipeline.warehouse import close_warehouses, open_warehouse  # noqa: E402

AS_OF = "2026-05-15"  # the demo's "now", as the API tests take it
P99_TARGET_MS = 15.0
RATIO_TARGET = 5.0


class Client:
    """One HTTP client: its connection kept while the server keeps it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.close()  # the server closed a kept connection: open another once
                if attempt:
                    raise
                continue
            if response.will_close:
                self.close()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
            return data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def demo(work: Path, scale: float) -> Settings:
    """A data directory as the API tests make it: a generated bundle ingested, a champion
    trained and the open key results' risks stored as of AS_OF."""
    os.environ["OKR_DATA_DIR"] = str(work / "data")
    settings = load_settings()
    print(f"generating and ingesting a demo bundle at scale {scale} ...", file=sys.stderr)
    generate_bundle(work / "bundle", seed=4, scale=scale, as_of=date(2026, 7, 1))
    jobs.ingest_path(settings, work / "bundle")
    print("training a champion ...", file=sys.stderr)
    trained = jobs.train_model(settings, as_of_instant(AS_OF))
    if not trained.promoted:
        raise SystemExit(f"the demo model was not promoted: {trained.reason}")
    jobs.predict_risks(settings, as_of_instant(AS_OF))
    return settings


def feature_rows(settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """A key result with a stored risk, and the feature rows of the open key results."""
    moment = as_of_instant(AS_OF)
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    open_ids = [k for k in open_at(history, moment) if not history.key_results[k].cancelled]
    frame = features_at(history, [(k, moment) for k in open_ids])
    rows = [
        {
            name: None if value is None or value != value else value
            for name, value in zip(frame.columns, row)
        }
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    return open_ids[0], rows


@contextlib.contextmanager
def running(
    command: list[str], port: int, ready_path: str, log: Path
) -> Iterator[subprocess.Popen]:
    """A server started, waited for until `ready_path` answers 200, stopped at the end."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{command[:4]} exited: see {log}\n{log.read_text()[-2000:]}")
                with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
                    Client(port).call("GET", ready_path, None, {})
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{command[:4]} did not start: see {log}")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def latencies(port: int, path: str, headers: dict[str, str], count: int) -> list[float]:
    """Milliseconds of `count` sequential GETs, after a warm-up."""
    client = Client(port)
    for _ in range(200):
        client.call("GET", path, None, headers)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.call("GET", path, None, headers)
        times.append((time.perf_counter() - started) * 1000)
    client.close()
    return times


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time (user and system) the server and its workers have used so far."""
    root = psutil.Process(server.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def throughput(
    port: int, path: str, body: bytes, headers: dict[str, str], clients: int, seconds: float
) -> tuple[float, int]:
    """Requests per second from `clients` concurrent clients for `seconds`, after a warm-up,
    and how many requests were made."""
    warm = Client(port)
    for _ in range(20):
        warm.call("POST", path, body, headers)
    warm.close()
    counts = [0] * clients
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)
    stop = threading.Event()

    def run(i: int) -> None:
        client = Client(port)
        start.wait()
        try:
            while not stop.is_set():
                client.call("POST", path, body, headers)
                counts[i] += 1
        except BaseException as exc:  # told after the run
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(counts) / elapsed, sum(counts)


def predict_figures(
    name: str,
    server: subprocess.Popen,
    port: int,
    path: str,
    bodies: dict[int, bytes],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Rows per second for each body, and the server's CPU time per request (the clients
    share the 2 cores: CPU per request is the server's cost alone)."""
    figures: dict[str, Any] = {}
    for n, body in bodies.items():
        cpu_before = server_cpu_seconds(server)
        rate, requests = throughput(port, path, body, headers, args.clients, args.seconds)
        cpu = server_cpu_seconds(server) - cpu_before
        figures[f"{name}_predict_{n}_rows_per_s"] = round(rate * n)
        figures[f"{name}_predict_{n}_requests_per_s"] = round(rate, 1)
        figures[f"{name}_predict_{n}_cpu_ms_per_request"] = round(1000 * cpu / requests, 2)
    return figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    settings = demo(work, args.scale)
    kr_id, rows = feature_rows(settings)
    token = jobs.create_token(settings, "bench", "viewer").token
    close_warehouses()
    ours, theirs = free_port(), free_port()
    auth = {"Authorization": f"Bearer {token}"}
    json_headers = {"Content-Type": "application/json"}
    bodies = {
        n: json.dumps({"dataframe_records": (rows * (1 + n // len(rows)))[:n]}).encode()
        for n in (1, 100)
    }
    figures: dict[str, Any] = {"rows_per_body": list(bodies), "clients": args.clients}

    serve = [sys.executable, "-m", "okr_pipeline", "serve", "--port", str(ours), "--workers", "2"]
    with running(serve, ours, "/health", work / "okr-serve.log") as server:
        print("okr serve: risk latency and predict throughput ...", file=sys.stderr)
        times = latencies(ours, f"/api/v1/key-results/{kr_id}/risk", auth, args.requests)
        figures["risk_p50_ms"] = round(statistics.median(times), 2)
        figures["risk_p99_ms"] = round(percentile(times, 0.99), 2)
        figures["risk_requests"] = len(times)
        headers = auth | json_headers
        figures |= predict_figures("okr", server, ours, "/api/v1/predict", bodies, headers, args)
        ours_risks = json.loads(Client(ours).call("POST", "/api/v1/predict", bodies[100], headers))

    os.environ["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_REGISTRY_URI"] = settings.tracking_uri
    # MLflow runs `uvicorn` by name: the environment's own, as under `uv run`
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    model = f"models:/{settings.model.registered_name}@champion"
    mlflow_serve = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local"]
    mlflow_serve += ["-m", model, "-p", str(theirs), "--workers", "2"]
    with running(mlflow_serve, theirs, "/ping", work / "mlflow-serve.log") as server:
        print("mlflow models serve: predict throughput ...", file=sys.stderr)
        figures |= predict_figures(
            "mlflow", server, theirs, "/invocations", bodies, json_headers, args
        )
        their_risks = json.loads(
            Client(theirs).call("POST", "/invocations", bodies[100], json_headers)
        )
    same = [p[1] for p in their_risks["predictions"]] == ours_risks["predictions"]
    figures["same_risks_as_mlflow"] = same

    for n in bodies:
        figures[f"predict_{n}_rows_ratio"] = round(
            figures[f"okr_predict_{n}_rows_per_s"] / figures[f"mlflow_predict_{n}_rows_per_s"], 2
        )
        figures[f"predict_{n}_cpu_ratio"] = round(
            figures[f"mlflow_predict_{n}_cpu_ms_per_request"]
            / figures[f"okr_predict_{n}_cpu_ms_per_request"],
            2,
        )
    figures["targets"] = {
        "risk_p99_ms_under": P99_TARGET_MS,
        "risk_p99_met": figures["risk_p99_ms"] < P99_TARGET_MS,
        "predict_ratio_at_least": RATIO_TARGET,
        "predict_ratio_met": all(
            figures[f"predict_{n}_rows_ratio"] >= RATIO_TARGET for n in bodies
        ),
    }
    return figures


def table(figures: dict[str, Any]) -> str:
    lines = [
        f"GET /api/v1/key-results/{{id}}/risk, {figures['risk_requests']} sequential requests:",
        f"  p50 {figures['risk_p50_ms']:.2f} ms   p99 {figures['risk_p99_ms']:.2f} ms"
        f"   (target p99 < {P99_TARGET_MS:g} ms: "
        f"{'met' if figures['targets']['risk_p99_met'] else 'MISSED'})",
        "",
        f"POST predict, {figures['clients']} concurrent clients, 2 workers each:",
        f"  {'rows/body':>9}  {'okr serve rows/s':>17}  {'mlflow serve rows/s':>20}  {'ratio':>6}"
        f"  {'server CPU ms/request okr | mlflow':>35}  {'ratio':>6}",
    ]
    for n in figures["rows_per_body"]:
        lines.append(
            f"  {n:>9}  {figures[f'okr_predict_{n}_rows_per_s']:>17,}"
            f"  {figures[f'mlflow_predict_{n}_rows_per_s']:>20,}"
            f"  {figures[f'predict_{n}_rows_ratio']:>5.2f}x"
            f"  {figures[f'okr_predict_{n}_cpu_ms_per_request']:>25.2f}"
            f" | {figures[f'mlflow_predict_{n}_cpu_ms_per_request']:>6.2f}"
            f"  {figures[f'predict_{n}_cpu_ratio']:>5.2f}x"
        )
    lines.append(
        f"  (target ratio >= {RATIO_TARGET:g}x: "
        f"{'met' if figures['targets']['predict_ratio_met'] else 'MISSED'}; "
        f"same risks as MLflow: {'yes' if figures['same_risks_as_mlflow'] else 'NO'})"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.6, help="demo generator scale")
    parser.add_argument("--requests", type=int, default=2000, help="risk requests timed")
    parser.add_argument("--clients", type=int, default=4, help="concurrent predict clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput figure")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="okr-bench-api-") as tmp:
        figures = measure(args, Path(tmp))
    print(json.dumps(figures, indent=2) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
