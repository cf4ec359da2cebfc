"""The Git store, labels, audit, experiments and cache invalidation, on real Git and real databases."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs.versioning_service import VersioningService
from tests.support.postgres import scratch_database
from tests.support.versioning import make_service, variant
from versioning.errors import ExperimentError, LabelError, SpecError, UnknownVersionError
from versioning.store import GitStore

PUBLISHER = """
import sys
from pathlib import Path
from versioning.store import GitStore
print(GitStore(Path(sys.argv[1])).publish("market_brief", sys.argv[2], message="m", author="p").version)
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersioningService]:
    if request.param == "sqlite":
        service = make_service(tmp_path)
        yield service
        service.db.close()
        return
    with scratch_database("tradeflow_versioning") as url:
        service = make_service(tmp_path, url)
        yield service
        service.db.close()


def test_publish_tags_versions_and_identical_content_returns_the_existing_one(tmp_path: Path) -> None:
    store = GitStore(tmp_path / "workflows.git")
    first = store.publish("market_brief", variant("market_brief", "a"), message="first", author="Jane Doe <jd@desk>")
    again = store.publish("market_brief", variant("market_brief", "a"), message="again", author="x")
    second = store.publish("market_brief", variant("market_brief", "b"), message="second", author="x")
    assert (first.version, first.created, again.version, again.created, second.version) == (1, True, 1, False, 2)
    [v1, _v2] = store.versions("market_brief")
    assert (v1.author, v1.message, v1.sha) == ("Jane Doe <jd@desk>", "first", first.sha)
    assert store.read("market_brief", 1)[0] == variant("market_brief", "a")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "workflows.git"), str(clone)], check=True)
    tags = subprocess.run(["git", "tag"], cwd=clone, capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["market_brief/v1", "market_brief/v2"]
    assert (clone / "market_brief.yaml").read_text() == variant("market_brief", "b")


def test_ten_concurrent_publishers_never_lose_or_duplicate_a_version(tmp_path: Path) -> None:
    repo = tmp_path / "workflows.git"
    GitStore(repo).publish("market_brief", variant("market_brief", "seed"), message="seed", author="t")
    procs = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, str(repo), variant("market_brief", f"p{i}")],
                         stdout=subprocess.PIPE, text=True)
        for i in range(10)
    ]  # fmt: skip
    versions = sorted(int(p.communicate(timeout=120)[0]) for p in procs)
    assert versions == list(range(2, 12))
    store = GitStore(repo)
    assert [v.version for v in store.versions("market_brief")] == list(range(1, 12))
    assert len({v.blob for v in store.versions("market_brief")}) == 11
    log = subprocess.run(["git", "log", "--oneline", "main"], cwd=repo, capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 11  # every version is a commit on main; none lost


def test_an_invalid_spec_publishes_nothing(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    bad = variant("market_brief", "x").replace("tool: market_brief.compute_figures", "tool: nope")
    with pytest.raises(SpecError, match=r"bad\.yaml:16: steps\[0\]\.tool: unknown tool 'nope'"):
        svc.publish(text=bad, file="bad.yaml")
    assert svc.store.all_versions() == {}
    assert not (tmp_path / "workflows.git" / "refs" / "tags" / "market_brief").exists()


def test_labels_rollback_and_audit(svc: VersioningService) -> None:
    for marker in ("v1", "v2", "v3"):
        svc.publish(text=variant("market_brief", marker), message=marker, author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane", reason="go live")
    svc.labels.move("market_brief", "production", 2, actor="jane", reason="shorter brief")
    with pytest.raises(UnknownVersionError, match="cannot point at version 9"):
        svc.labels.move("market_brief", "production", 9, actor="jane")
    with pytest.raises(LabelError, match="cannot be moved"):
        svc.labels.move("market_brief", "latest", 1, actor="jane")
    assert svc.labels.get("market_brief", "production") == 2
    move = svc.labels.rollback("market_brief", actor="oncall", reason="P&L wrong")
    assert (move.from_version, move.to_version) == (2, 1)
    assert svc.labels.get("market_brief", "latest") == 3
    events = svc.labels.audit("market_brief")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in events] == [
        ("move", None, 1, "jane"), ("move", 1, 2, "jane"), ("rollback", 2, 1, "oncall"),
    ]  # fmt: skip
    assert events[-1].reason == "P&L wrong"
    assert [v.version for v in svc.store.versions("market_brief")] == [1, 2, 3]  # history intact


def test_experiments_refuse_bad_weights_and_a_second_one(svc: VersioningService) -> None:
    for marker in ("v1", "v2"):
        svc.publish(text=variant("market_brief", marker), message=marker, author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.4}]
    with pytest.raises(ExperimentError, match=r"weights sum to 0\.9; expected 1"):
        svc.experiments.start("market_brief", arms, actor="jane")
    arms[1]["weight"] = 0.5
    experiment = svc.experiments.start("market_brief", arms, actor="jane", name="brief-ab")
    with pytest.raises(ExperimentError, match="already runs experiment 'brief-ab'") as info:
        svc.experiments.start("market_brief", arms, actor="bob", name="second")
    assert info.value.field == "workflow"
    resolved = {svc.resolve("market_brief", unit_key=f"desk-{i}")["arm"] for i in range(40)}
    assert resolved == {"control", "treatment"}
    sticky = svc.resolve("market_brief", unit_key="desk-7")
    assert all(svc.resolve("market_brief", unit_key="desk-7") == sticky for _ in range(5))
    assert svc.resolve("market_brief", version=2, unit_key="desk-7")["arm"] is None  # a pin wins
    svc.experiments.stop(experiment.id, actor="jane", reason="done")
    assert svc.resolve("market_brief", unit_key="desk-7")["experiment"] is None


def test_a_label_move_reaches_another_replicas_cache(svc: VersioningService, tmp_path: Path) -> None:
    for marker in ("v1", "v2"):
        svc.publish(text=variant("market_brief", marker), message=marker, author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    other = make_service(tmp_path, svc.settings.database_url)  # a second replica: own caches, own connections
    try:
        assert other.db.wait_listening()
        assert other.resolve("market_brief")["version"] == 1
        assert other.resolve("market_brief")["version"] == 1  # from cache
        svc.labels.move("market_brief", "production", 2, actor="jane")
        deadline = time.monotonic() + 5
        while other.resolve("market_brief")["version"] != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert other.resolve("market_brief")["version"] == 2
    finally:
        other.db.close()
