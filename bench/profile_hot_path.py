"""Where the router replica's CPU goes per request, pinned and ``auto``, and per event.

``switchboard serve`` (the default front) relays to the fake provider answering at once
(the overhead benchmark's setting: auth, filters, the decision log, the request log and
metrics on). For each request kind in turn (pinned, ``auto``, pinned and streamed with 64
events), closed-loop clients send requests for ``--seconds`` while py-spy samples the
router replica (``--nonblocking``: it never pauses the process; active threads only, so a
sample is CPU being spent) and psutil reads the replica's CPU time. Each sample is charged
two ways, scaled to CPU ms per request (its share of the samples x the replica's CPU per
request):
- self: the package of the innermost frame (what burns it: ``json``, ``pydantic``,
  ``ray``, ...);
- inclusive: each Switchboard module on the stack (``router/...``, ``serving/...``; which
  of our steps causes it, callees included; a sample counts once per module).

Usage: .venv/bin/python -m bench.profile_hot_path [--seconds 20] [--clients 16]
Writes bench/results/profile_hot_path_<date>.md and .json. Loopback only; bounded.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil

from bench.load import closed_loop, machine, report_header
from bench.overhead_cpu import switchboard_meter
from bench.overhead_phases import JSON_HEADERS, body
from bench.overhead_servers import PINNED, switchboard_server
from harness.configs import REPO, smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess

OURS = ("router", "serving")
STREAM_TOKENS = 64  # the fake provider echoes the prompt's 64 words, one per token
KINDS = ((PINNED, False), ("auto", False), (PINNED, True))  # (model, streamed)
TOP = 15  # rows per table


@dataclass
class Profile:
    model: str  # what the requests asked for: the pinned provider, or auto
    stream: bool  # streamed: STREAM_TOKENS tokens, each relayed as one SSE event
    requests: int
    per_s: float
    cpu_ms_per_request: float  # the router replica's, from psutil
    cpu_ms_per_chunk: float | None  # streamed: the same per SSE event relayed
    samples: int
    self_ms: dict[str, float]  # per request, by the innermost frame's package
    inclusive_ms: dict[str, float]  # per request, by Switchboard module on the stack


def frame_path(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``path/to/module.py``."""
    return frame.rsplit("(", 1)[-1].split(":", 1)[0]


def charge(stacks: str, cpu_ms_per_request: float) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, self ms per request by package, inclusive ms by our module)."""
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in stacks.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        paths = [frame_path(frame) for frame in stack.split(";")]
        self_samples[paths[-1].split("/", 1)[0].removesuffix(".py")] += int(count)
        for module in {p for p in paths if p.split("/", 1)[0] in OURS}:
            inclusive[module] += int(count)
    total = sum(self_samples.values())
    scale = cpu_ms_per_request / max(total, 1)
    return (
        total,
        Counter({k: v * scale for k, v in self_samples.items()}),
        Counter({k: v * scale for k, v in inclusive.items()}),
    )


async def profile(
    url: str, model: str, stream: bool, replica_pid: int, args: argparse.Namespace
) -> Profile:
    replica = psutil.Process(replica_pid)
    out = Path(tempfile.mkdtemp()) / f"{model}{'-stream' if stream else ''}.txt"
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(replica_pid),
        "--rate", "200", "--duration", str(args.seconds), "--format", "raw",
        "--nonblocking", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    payload = body(model, stream, STREAM_TOKENS if stream else 16)
    chat = f"{url}/v1/chat/completions"
    cpu_before = sum(replica.cpu_times()[:2])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> int | None:
            """SSE events received (1 for a whole answer); None: it failed."""
            async with session.post(chat, data=payload, headers=JSON_HEADERS) as reply:
                events = sum([line.startswith(b"data: {") async for line in reply.content])
                return max(events, 1) if reply.status == 200 else None

        outcomes = await closed_loop(one, args.clients, seconds=args.seconds)
    cpu_ms = (sum(replica.cpu_times()[:2]) - cpu_before) * 1000
    await asyncio.wait_for(spy.wait(), 60)
    events = [n for n in outcomes if n is not None]
    if len(events) != len(outcomes):
        raise RuntimeError(f"{model}: {len(outcomes) - len(events)} of {len(outcomes)} failed")
    per_request = cpu_ms / max(len(events), 1)
    per_chunk = cpu_ms / max(sum(events), 1) if stream else None
    samples, self_ms, inclusive = charge(out.read_text(), per_request)
    return Profile(model, stream, len(events), len(events) / args.seconds, per_request,
                   per_chunk, samples, dict(self_ms.most_common()),
                   dict(inclusive.most_common()))  # fmt: skip


def markdown(info: dict[str, str], command: str, profiles: list[Profile]) -> str:
    lines = report_header("Where the router replica's CPU goes", command, info)
    for p in profiles:
        streamed = (f", streamed: {p.cpu_ms_per_chunk:.3f} ms per SSE event relayed"
                    if p.cpu_ms_per_chunk is not None else "")  # fmt: skip
        lines += [
            f"## model `{p.model}`: {p.cpu_ms_per_request:.2f} ms CPU per request{streamed}",
            "",
            f"{p.requests} requests ({p.per_s:.0f}/s), {p.samples} samples.",
            "",
            "| self: innermost package | ms/req | | inclusive: Switchboard module | ms/req |",
            "|---|---|---|---|---|",
        ]
        rows = zip(list(p.self_ms.items())[:TOP], list(p.inclusive_ms.items())[:TOP], strict=False)
        lines += [f"| {a} | {x:.3f} | | {b} | {y:.3f} |" for (a, x), (b, y) in rows]
        lines.append("")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-profile-"))
    config = write_config(workdir / "models.yaml", smol_only_raw())
    with FakeProviderProcess() as fake:
        server = switchboard_server("haproxy", config, fake.base_url, workdir)
        await asyncio.to_thread(server.start, 300)
        try:
            assert server.process is not None
            replica = switchboard_meter(server.process.pid).roles["router_replica"][0].pid
            profiles = [await profile(server.base_url, model, stream, replica, args)
                        for model, stream in KINDS]  # fmt: skip
        finally:
            await asyncio.to_thread(server.stop)
    command = " ".join(["python -m bench.profile_hot_path", *sys.argv[1:]])
    report = markdown(info, command, profiles)
    print(report)
    stem = REPO / "bench" / "results" / f"profile_hot_path_{datetime.now(UTC):%Y%m%d}"
    stem.with_suffix(".md").write_text(report)
    payload = {"machine": info, "command": command, "profiles": [asdict(p) for p in profiles]}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
