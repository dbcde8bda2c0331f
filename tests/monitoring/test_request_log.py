"""The request log of `serve`: sampled at the configured rate, bounded on disk, read by window."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlops_bot.serving.request_log import RequestLog, read_requests, requests_folder
from mlops_bot.serving.state import DeployedModel


@dataclass
class Served:
    """What the server hands the log: a loaded model's id, deployment and feature names."""

    id: str = "wine_quality-3"
    deployed: DeployedModel = field(default_factory=lambda: DeployedModel(
        "wine_quality-3", "/models/3", 100, model="wine_quality", model_version=3,
        lineage={"run_id": "run-abc"}))
    feature_names: tuple[str, ...] = ("alcohol", "colour")


def test_a_request_is_one_line_read_back_as_one_record_per_instance(tmp_path):
    log = RequestLog(tmp_path, 1.0)
    before = time.time()
    log.offer(Served(), [[12.5, "red"], [13.0, "white"]], [1, 2])
    log.close()
    [segment] = tmp_path.glob("*.jsonl")
    assert len(segment.read_text().splitlines()) == 1
    records = list(read_requests(tmp_path, before - 1, time.time() + 1))
    assert [r["features"] for r in records] == [{"alcohol": 12.5, "colour": "red"},
                                                {"alcohol": 13.0, "colour": "white"}]
    assert [r["prediction"] for r in records] == [1, 2]
    assert {(r["model"], r["model_name"], r["model_version"], r["run_id"]) for r in records} == {
        ("wine_quality-3", "wine_quality", 3, "run-abc")}
    # Rounded to the millisecond, so it may pass the clock by up to half of one.
    assert round(before, 3) <= records[0]["time"] <= round(time.time(), 3)


def test_the_sampling_rate_keeps_that_share_of_instances(tmp_path):
    log = RequestLog(tmp_path, 0.25, rng=random.Random(3))
    for _ in range(400):
        log.offer(Served(), [[12.0, "red"]] * 10, [1] * 10)
    log.close()
    kept = len(list(read_requests(tmp_path, 0, time.time() + 1)))
    assert 900 <= kept <= 1100  # 25% of 4000


def test_the_log_stays_under_its_cap_dropping_the_oldest(tmp_path):
    log = RequestLog(tmp_path, 1.0, segment_bytes=4096, max_bytes=20_000)
    for index in range(3000):
        log.offer(Served(), [[float(index), "red"]], [index])
    log.close()
    total = sum(p.stat().st_size for p in tmp_path.glob("*.jsonl"))
    assert total <= 20_000 + 4096
    kept = [r["prediction"] for r in read_requests(tmp_path, 0, time.time() + 1)]
    assert kept == sorted(kept) and kept[-1] == 2999 and kept[0] > 0  # the newest, in order


def test_a_full_queue_drops_requests_instead_of_waiting(tmp_path):
    log = RequestLog(tmp_path / "file-not-folder", 1.0, max_pending=1)
    (tmp_path / "file-not-folder").write_text("")  # the writer fails: the server must go on
    started = time.perf_counter()
    for _ in range(2000):
        log.offer(Served(), [[1.0, "red"]], [0])
    assert time.perf_counter() - started < 1.0
    log.close()


def test_reading_skips_a_cut_line_and_keeps_to_the_window(tmp_path):
    folder = requests_folder(tmp_path, "staging")
    folder.mkdir(parents=True)
    lines = [json.dumps({"time": t, "features": {"alcohol": t}}) for t in (10, 20, 30)]
    (folder / "5.000000-1-1.jsonl").write_text("\n".join(lines) + '\n{"time": 40, "feat')
    assert [r["time"] for r in read_requests(folder, 15, 40)] == [20, 30]
    assert list(read_requests(Path(tmp_path / "none"), 0, 100)) == []
