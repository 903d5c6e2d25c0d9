"""``switchboard capacity``: the planning formula, and both readers on real scrapes of a
Switchboard that overflowed (saved by ``python -m bench.dashboard``)."""

import re
from pathlib import Path

import pytest

from harness.configs import REPO
from harness.ports import free_port
from router.cli.capacity import ModelLoad, plan
from router.cli.capacity_sources import SourceError, from_snapshots, parse_duration
from router.cli.main import main

SNAPSHOTS = sorted((REPO / "tests" / "data" / "capacity").glob("*.txt"))
SMOL = "smollm2-135m"


def load(**fields: float | None) -> ModelLoad:
    base: dict[str, float | None] = dict(
        slots_per_replica=2, mean_utilisation=0.5, peak_utilisation=1.0, peak_queue=2,
        peak_busy=6, kept=40, overflowed=60, refused=0)  # fmt: skip
    return ModelLoad(model="m", replicas=2, **(base | fields))  # type: ignore[arg-type]


def test_turned_away_demand_scales_the_peak() -> None:
    capacity = plan(load(), target_utilisation=0.7)
    assert capacity.overflow_share == pytest.approx(0.6)
    assert capacity.peak_demand == pytest.approx(6 / 0.4)  # 15 requests at once
    assert capacity.replicas_needed == 11  # ceil(15 / (2 x 0.7)) = ceil(10.7)


def test_refusals_count_as_turned_away_too() -> None:
    capacity = plan(load(kept=80, overflowed=0, refused=40), target_utilisation=1.0)
    assert capacity.refused_share == pytest.approx(0.5)
    assert capacity.peak_demand == pytest.approx(12)
    assert capacity.replicas_needed == 6


def test_an_exact_fit_does_not_round_up() -> None:
    capacity = plan(load(peak_busy=7, overflowed=0), target_utilisation=0.5)
    assert capacity.replicas_needed == 7  # 7 / (2 x 0.5), despite float noise


def test_idle_still_needs_one_replica() -> None:
    assert plan(load(peak_busy=0, overflowed=0), 0.7).replicas_needed == 1


def test_unknown_when_nothing_was_served_here_or_no_batch_size() -> None:
    assert plan(load(kept=5, refused=5), 0.7).replicas_needed is None
    assert plan(load(slots_per_replica=None), 0.7).replicas_needed is None


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("2d", 172800)])
def test_windows(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "1h 30m", "-5m"])
def test_bad_windows_are_named(text: str) -> None:
    with pytest.raises(SourceError, match="window"):
        parse_duration(text)


def sums(path: Path, name: str, **labels: str) -> dict[str, float]:
    """An independent reader of the text format: the value per model of matching lines."""
    totals: dict[str, float] = {}
    for line in path.read_text().splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) if match else {}
        if match and labels.items() <= found.items():
            model = found.get("model", "")
            totals[model] = totals.get(model, 0.0) + float(match.group(2))
    return totals


def test_the_saved_scrapes_are_from_an_overflowing_run() -> None:
    assert [p.name for p in SNAPSHOTS] == ["1_busy_start.txt", "2_busy_mid.txt", "3_busy_end.txt"]
    assert sums(SNAPSHOTS[1], "ray_switchboard_engine_running")[SMOL] > 0


def test_snapshots_read_like_the_text_says() -> None:
    (smol,) = from_snapshots(SNAPSHOTS).loads
    first, last = SNAPSHOTS[0], SNAPSHOTS[-1]
    overflow = sum(sums(last, "ray_switchboard_overflow_total").values()) - sum(
        sums(first, "ray_switchboard_overflow_total").values()
    )
    assert smol.overflowed == overflow > 0  # one local model: all overflow left it
    running = [sums(p, "ray_switchboard_engine_running").get(SMOL, 0) for p in SNAPSHOTS]
    waiting = [sums(p, "ray_switchboard_engine_waiting").get(SMOL, 0) for p in SNAPSHOTS]
    assert smol.peak_queue == max(waiting)
    assert smol.peak_busy == max(r + w for r, w in zip(running, waiting, strict=True))
    slots = sums(SNAPSHOTS[1], "ray_switchboard_engine_batch_slots")[SMOL]
    assert smol.peak_utilisation == max(running) / slots
    kept = {p: sum(v for k, v in sums(p, "ray_switchboard_requests_total", model=SMOL).items())
            - sums(p, "ray_switchboard_requests_total", model=SMOL, route="overflow").get(SMOL, 0)
            for p in (first, last)}  # fmt: skip
    assert smol.kept == kept[last] - kept[first]
    assert smol.replicas == 2 and smol.slots_per_replica == 2


def test_the_command_prints_a_row_per_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["capacity", "--snapshot", *map(str, SNAPSHOTS), "--target-utilisation", "0.5"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["model", "replicas"] and "@50%" in out[0]
    (row,) = [line.split() for line in out[1:]]
    expected = plan(from_snapshots(SNAPSHOTS).loads[0], 0.5).replicas_needed
    # These scrapes predate the predictor's series: no TTFT target, no plan for one.
    assert row[0] == SMOL and row[-3:] == [str(expected), "-", "-"]


def ttft_load(demand: float, target_s: float, **fields: float | None) -> ModelLoad:
    """Nothing turned away, so peak demand = peak busy."""
    base: dict[str, float | None] = dict(slots_per_replica=1, service_s=1.0, prefill_s=0.0)
    return load(peak_busy=demand, overflowed=0, ttft_target_s=target_s, **(base | fields))


def test_the_ttft_plan_follows_erlang_c() -> None:
    """One slot, half busy: half the requests wait, and P(wait > t) = 0.5 exp(-0.5 t), so
    one replica holds a p95 target of 2 ln 10 = 4.61 service times, and not 4.5."""
    assert plan(ttft_load(0.5, target_s=4.7), 0.7).replicas_for_ttft == 1
    assert plan(ttft_load(0.5, target_s=4.5), 0.7).replicas_for_ttft == 2
    # The prefill comes off the wait the target allows; the flag replaces the target.
    assert plan(ttft_load(0.5, target_s=4.7, prefill_s=0.2), 0.7).replicas_for_ttft == 2
    assert plan(ttft_load(0.5, target_s=0.1), 0.7, ttft_target_s=4.7).replicas_for_ttft == 1


def test_a_tight_target_needs_more_than_the_batch_slots_a_loose_one_less() -> None:
    busy = dict(slots_per_replica=8, service_s=2.0, prefill_s=0.1)
    tight = plan(ttft_load(30, target_s=0.2, **busy), 1.0)
    loose = plan(ttft_load(30, target_s=10.0, **busy), 1.0)
    assert tight.replicas_needed == loose.replicas_needed == 4  # ceil(30 / 8)
    assert tight.replicas_for_ttft is not None and loose.replicas_for_ttft is not None
    assert tight.replicas_for_ttft > 4 >= loose.replicas_for_ttft


def test_no_ttft_plan_without_its_inputs_or_below_the_prefill() -> None:
    assert plan(ttft_load(2, target_s=0.1, prefill_s=0.3), 0.7).replicas_for_ttft is None
    assert plan(ttft_load(2, target_s=1.0, service_s=None), 0.7).replicas_for_ttft is None
    assert plan(ttft_load(0, target_s=1.0), 0.7).replicas_for_ttft == 1  # idle


def test_snapshots_carry_the_predictors_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router = "".join(
        f'ray_switchboard_{name}{{model="a",replica="{r}"}} {value}\n'
        for r, prefill in (("r1", 0.1), ("r2", 0.3))
        for name, value in (("prefill_seconds", prefill), ("ttft_target_seconds", 2.0))
    ) + "".join(
        f'ray_switchboard_{name}_seconds_{part}{{model="a",replica="r1"}} {value}\n'
        for name, total in (("e2e", 30.0), ("ttft", 5.0))
        for part, value in (("sum", total), ("count", 10))
    )  # fmt: skip
    (tmp_path / "m.txt").write_text(two_models("") + router)
    (a, _) = from_snapshots([tmp_path / "m.txt"]).loads
    assert a.prefill_s == 0.3 and a.ttft_target_s == 2.0  # the slower router replica's
    assert a.service_s == pytest.approx(3.0 - 0.5 + 0.3)  # e2e - TTFT + prefill, means
    assert main(["capacity", "--snapshot", str(tmp_path / "m.txt")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    expected = plan(a, 0.7).replicas_for_ttft
    assert expected is not None and rows[0][-2:] == ["2s", str(expected)]
    assert rows[1][-2:] == ["-", "-"]  # b has no target


def two_models(overflow: str) -> str:
    engine = "".join(
        f'ray_switchboard_engine_{g}{{model="{m}",replica="r1"}} {v}\n'
        for m in ("a", "b") for g, v in (("running", 1), ("waiting", 0), ("batch_slots", 2))
    )  # fmt: skip
    return engine + overflow


def test_labelled_overflow_goes_to_the_chosen_model(tmp_path: Path) -> None:
    series = "ray_switchboard_overflow_total"
    overflow = (f'{series}{{model="b",reason="queue",target="ext"}} 3.0\n'
                f'{series}{{model="b",reason="stale",target="a"}} 1.0\n')  # fmt: skip
    (tmp_path / "m.txt").write_text(two_models(overflow))
    observed = from_snapshots([tmp_path / "m.txt"])
    assert [(m.model, m.overflowed) for m in observed.loads] == [("a", 0), ("b", 4)]
    assert not observed.notes


def test_unlabelled_overflow_with_several_models_is_reported_not_guessed(
    tmp_path: Path,
) -> None:
    text = two_models('ray_switchboard_overflow_total{reason="queue",target="ext"} 4.0\n')
    (tmp_path / "m.txt").write_text(text)
    observed = from_snapshots([tmp_path / "m.txt"])
    assert [m.overflowed for m in observed.loads] == [0, 0]
    assert "4 overflowed requests" in observed.notes[0]


def test_unreachable_prometheus_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["capacity", "--prometheus", url, "--window", "5m"]) == 2
    assert "cannot query Prometheus" in capsys.readouterr().err


def test_a_file_that_is_not_a_scrape_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.txt").write_text("this is not { prometheus text\n")
    assert main(["capacity", "--snapshot", str(tmp_path / "x.txt")]) == 2
    assert "x.txt" in capsys.readouterr().err
