"""Publishing into a Git store that already holds 1,000 versions, and moving a label / rolling back.

Targets (issue 10): publish <= 500 ms, label move / rollback <= 50 ms.
Baselines, measured in the same run on the same repository and database:
* publish: what a person does by hand in a clone of the store (write the file, ``git add``, ``git commit``,
  ``git tag``), without validation, locking or the duplicate check;
* label move: a bare ``UPDATE`` of the label row plus an audit ``INSERT`` in one transaction (the database floor),
  without checking that the version exists, the epoch bump or the notification.
Prints ``name value unit`` lines. The 1,000 versions are written with ``git fast-import`` (seconds, not minutes).

    .venv/bin/python benchmarks/versioning_store.py [--rounds 30] [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import settings_from_mapping
from graphs.versioning_service import VersioningService
from graphs.workflows import spec_file
from tests.support.postgres import scratch_database_for
from versioning.store import blob_id

WORKFLOW = "market_brief"


def text(n: int) -> str:
    return spec_file(WORKFLOW).read_text() + f"# revision {n}\n"


def seed(repo: Path, versions: int) -> None:
    """A bare store with ``versions`` versions of one workflow, tagged as GitStore tags them."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "fast-import", "--quiet"], input=_stream(versions), cwd=repo, check=True)


def _stream(versions: int) -> bytes:
    """The fast-import stream: one blob, commit (parent: the previous one) and tag per version."""
    out = []
    when = int(time.time()) - versions
    for n in range(1, versions + 1):
        data = text(n).encode()
        blob_mark, commit_mark = 2 * n, 2 * n + 1
        out.append(f"blob\nmark :{blob_mark}\ndata {len(data)}\n".encode() + data + b"\n")
        message = (
            f"{WORKFLOW} v{n}: seed\n\nWorkflow: {WORKFLOW}\nVersion: {n}\nSpec-Blob: {blob_id(text(n))}\n".encode()
        )
        parent = f"from :{2 * (n - 1) + 1}\n".encode() if n > 1 else b""
        out.append(
            f"commit refs/heads/main\nmark :{commit_mark}\nauthor seed <seed@localhost> {when + n} +0000\n"
            f"committer tradeflow <tradeflow@localhost> {when + n} +0000\ndata {len(message)}\n".encode()
            + message
            + parent
            + f"M 100644 :{blob_mark} {WORKFLOW}.yaml\n\n".encode()
        )
        out.append(f"reset refs/tags/{WORKFLOW}/v{n}\nfrom :{commit_mark}\n\n".encode())
    return b"".join(out)


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database_for(args.store, "tradeflow_bench_versioning") as url:
        root = Path(tmp)
        repo = root / "workflows.git"
        started = time.perf_counter()
        seed(repo, args.versions)
        print(f"seeded_versions {args.versions} versions in {time.perf_counter() - started:.1f} s")
        env = {"TRADEFLOW_DATA_DIR": str(root / "data"), "TRADEFLOW_WORKFLOWS_REPO": str(repo)}
        svc = VersioningService(settings_from_mapping(env | ({"DATABASE_URL": url} if url else {})))
        clone = root / "clone"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        publish, manual = [], []
        for i in range(args.rounds):  # interleaved: one of each per round
            body = text(args.versions + 1 + i)
            started = time.perf_counter()
            published = svc.publish(text=body, message=f"round {i}", author="bench")
            publish.append(time.perf_counter() - started)
            assert published.created
            started = time.perf_counter()
            (clone / f"{WORKFLOW}.yaml").write_text(body + "# manual\n")
            subprocess.run([*git, "add", f"{WORKFLOW}.yaml"], cwd=clone, check=True)
            subprocess.run([*git, "commit", "-q", "-m", f"manual {i}"], cwd=clone, check=True)
            subprocess.run([*git, "tag", f"manual/v{i}"], cwd=clone, check=True)
            manual.append(time.perf_counter() - started)
        print(f"store {args.store}")
        print(f"versioning_publish_{args.versions}_versions_p50 {ms(publish):.1f} ms")
        print(f"baseline_git_add_commit_tag_p50 {ms(manual):.1f} ms")
        print(f"publish_over_baseline {ms(publish) / ms(manual):.2f} x")

        svc.labels.move(WORKFLOW, "production", 1, actor="bench")
        moves, rollbacks, floor = [], [], []
        for i in range(args.rounds):
            started = time.perf_counter()
            svc.labels.move(WORKFLOW, "production", 2 + i, actor="bench", reason="bench")
            moves.append(time.perf_counter() - started)
            started = time.perf_counter()
            svc.labels.rollback(WORKFLOW, actor="bench", reason="bench")
            rollbacks.append(time.perf_counter() - started)
            started = time.perf_counter()
            with svc.db.transaction() as tx:
                tx.execute("UPDATE workflow_labels SET version = :v WHERE workflow = :w AND label = 'floor'",
                           {"v": i, "w": WORKFLOW})  # fmt: skip
                tx.execute("INSERT INTO workflow_audit (ts, workflow, action, actor) VALUES (:ts, :w, 'floor', 'b')",
                           {"ts": "2026-01-01T00:00:00+00:00", "w": WORKFLOW})  # fmt: skip
            floor.append(time.perf_counter() - started)
        print(f"versioning_label_move_p50 {ms(moves):.2f} ms")
        print(f"versioning_rollback_p50 {ms(rollbacks):.2f} ms")
        print(f"baseline_update_and_audit_insert_p50 {ms(floor):.2f} ms")
        print(f"label_move_over_baseline {ms(moves) / ms(floor):.1f} x")
        svc.db.close()


if __name__ == "__main__":
    main()
