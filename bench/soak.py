"""Soak: mixed traffic against ``switchboard serve`` for a long while (30 minutes by
default), sampling the resident memory of every process of the deployment and the
router's in-flight gauges; judged after a warm-up: RSS growth <= 5 %, gauges back to 0.

The fleet is SmolLM2 with a batch of 2 that never queues (``max_waiting_per_replica: 0``)
and the fake provider as the overflow target, so the mix exercises every path at once:
answers whole and streamed, streams the client drops after two events, overflow to the
provider, a metered key refused with 429s, and requests pinned to the provider. Every
client loop is bounded by the duration; loopback only.

Usage: .venv/bin/python -m bench.soak [--minutes 30] [--clients 6]. Writes
bench/results/soak_<date>.json and .md.
"""

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil

from bench.load import machine
from harness.configs import smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess

RESULTS = Path(__file__).parent / "results"
KEYS = {"app": "sk-soak-app", "metered": "sk-soak-metered"}
# kind -> weight in the mix
MIX = {"whole": 3, "stream": 3, "dropped": 2, "metered": 1, "provider": 1}
PROMPT = "Count from 1 to 50, separated by spaces."
GROWTH_LIMIT = 0.05
WARM_UP_SHARE = 0.2


@dataclass
class Sample:
    at_s: float
    rss_mib: dict[str, float]  # "<pid> <name>" -> MiB
    in_flight: float  # summed over the router's in-flight gauges
    requests: int


async def request(session: aiohttp.ClientSession, url: str, kind: str) -> str:
    key = KEYS["metered" if kind == "metered" else "app"]
    body = {"model": "external" if kind == "provider" else "auto", "max_tokens": 16,
            "stream": kind in ("stream", "dropped"), "temperature": 0,
            "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as reply:
        if kind == "dropped" and reply.status == 200:
            events = 0
            async for line in reply.content:
                events += line.startswith(b"data: ")
                if events == 2:
                    return "dropped"  # leaving the block closes the connection mid-stream
        await reply.read()
        return str(reply.status)


async def traffic(url: str, until: float, clients: int, outcomes: Counter[str]) -> None:
    rng = random.Random(0)
    kinds, weights = list(MIX), list(MIX.values())
    timeout = aiohttp.ClientTimeout(total=120)

    async def client() -> None:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < until:
                kind = rng.choices(kinds, weights)[0]
                try:
                    outcomes[f"{kind}:{await request(session, url, kind)}"] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcomes[f"{kind}:{type(exc).__name__}"] += 1

    await asyncio.gather(*(client() for _ in range(clients)))


def rss_by_process(root: int) -> dict[str, float]:
    try:
        parent = psutil.Process(root)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    sizes = {}
    for process in processes:
        try:
            name = " ".join(process.cmdline()[:3])[-60:] or process.name()
            sizes[f"{process.pid} {name}"] = process.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return sizes


async def in_flight(session: aiohttp.ClientSession, metrics_url: str) -> float:
    async with session.get(metrics_url) as reply:
        text = await reply.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ray_switchboard_router_in_flight{")
    )


async def sampler(
    server: SwitchboardProcess, until: float, every_s: float, outcomes: Counter[str]
) -> list[Sample]:
    samples: list[Sample] = []
    started = time.monotonic()
    metrics_url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            samples.append(Sample(time.monotonic() - started, rss_by_process(server.pid),
                                  await in_flight(session, metrics_url),
                                  sum(outcomes.values())))  # fmt: skip
            await asyncio.sleep(every_s)
    return samples


def growth(samples: list[Sample], warm_up_s: float) -> dict[str, float]:
    """Per process alive throughout: RSS at the end over RSS at the end of the warm-up."""
    base = next(s for s in samples if s.at_s >= warm_up_s).rss_mib
    end = samples[-1].rss_mib
    per_process = {name: end[name] / base[name] - 1 for name in base if name in end}
    per_process["total"] = sum(end[n] for n in per_process) / sum(base[n] for n in per_process) - 1
    return per_process


def markdown(payload: dict, command: str) -> str:
    judged = payload["growth"]
    worst = max((v, k) for k, v in judged.items() if k != "total")
    lines = [
        "# Soak: mixed traffic against `switchboard serve`",
        "",
        f"Command: `{command}`  ",
        f"Machine: {json.dumps(payload['machine'])}  ",
        f"Duration {payload['minutes']} min, {payload['clients']} clients, warm-up "
        f"{payload['warm_up_s']:.0f} s; {payload['requests']} requests.",
        "",
        f"- RSS growth after warm-up, all processes: **{judged['total']:+.1%}**; worst single "
        f"process {worst[0]:+.1%} ({worst[1]}); limit {GROWTH_LIMIT:.0%}.",
        f"- In-flight gauges after the traffic stopped: **{payload['in_flight_after']:g}** "
        "(must be 0).",
        f"- Verdict: **{'pass' if payload['passed'] else 'FAIL'}**.",
        "",
        "| outcome | count |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in sorted(payload["outcomes"].items())),
        "",
        "| minute | requests | RSS MiB (all) | in flight |",
        "|---|---|---|---|",
    ]
    for sample in payload["samples"][:: max(1, len(payload["samples"]) // 30)]:
        total = sum(sample["rss_mib"].values())
        lines.append(f"| {sample['at_s'] / 60:.1f} | {sample['requests']} | {total:.0f} "
                     f"| {sample['in_flight']:g} |")  # fmt: skip
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--sample-every-s", type=float, default=15.0)
    args = parser.parse_args()
    info = machine()
    print(json.dumps(info), flush=True)
    raw = smol_only_raw(
        transformers={"dtype": "float32", "max_batch_size": 2, "torch_threads": 1},
        saturation={"max_waiting_per_replica": 0},
    )
    raw["auth"]["keys"] = {"metered": {"requests_per_minute": 30}}
    config = write_config(RESULTS.parent / ".soak-bench.yaml", raw)
    outcomes: Counter[str] = Counter()
    duration_s = args.minutes * 60
    try:
        with FakeProviderProcess("--ttft-ms", "100", "--token-latency-ms", "20") as fake:
            env = {
                "SWITCHBOARD_EXTERNAL_BASE_URL": fake.base_url,
                "SWITCHBOARD_EXTERNAL_MODEL": "fake-model",
                "SWITCHBOARD_API_KEYS": ",".join(f"{k}:{v}" for k, v in KEYS.items()),
            }
            server = SwitchboardProcess(config, free_port(), env=env).start()
            try:
                until = time.monotonic() + duration_s
                samples, _ = await asyncio.gather(
                    sampler(server, until, args.sample_every_s, outcomes),
                    traffic(server.base_url, until, args.clients, outcomes),
                )
                await asyncio.sleep(20)  # Ray exports metrics every few seconds
                async with aiohttp.ClientSession() as session:
                    after = await in_flight(
                        session, f"http://127.0.0.1:{server.metrics_port}/metrics"
                    )
            finally:
                server.stop()
    finally:
        config.unlink(missing_ok=True)
    warm_up_s = duration_s * WARM_UP_SHARE
    judged = growth(samples, warm_up_s)
    passed = judged["total"] <= GROWTH_LIMIT and after == 0
    command = f"python -m bench.soak --minutes {args.minutes:g} --clients {args.clients}"
    payload = {"machine": info, "command": command, "minutes": args.minutes,
               "clients": args.clients, "warm_up_s": warm_up_s,
               "requests": sum(outcomes.values()), "outcomes": dict(outcomes),
               "growth": judged, "in_flight_after": after, "passed": passed,
               "samples": [asdict(s) for s in samples]}  # fmt: skip
    report = markdown(payload, command)
    print(report)
    name = f"soak_{datetime.now(UTC):%Y%m%d}"
    (RESULTS / f"{name}.md").write_text(report)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
