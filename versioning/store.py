"""The Git store: one bare repository, ``<id>.yaml`` per workflow, a tag ``<id>/v<N>`` per version.

A person can ``git clone`` it and review every change. Publishing writes the blob, tree and commit as
objects, then moves ``main`` and creates the version tag in one atomic ``update-ref`` transaction (the old
value of ``main`` is checked, the tag must not exist), under a file lock: concurrent publishers never lose
or duplicate a version, and a crash leaves either nothing or a complete version. Every call opens the
repository, acts and closes it: GitPython's object readers are not kept in a long-lived server process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from versioning.errors import FieldError, StoreError, UnknownVersionError, UnknownWorkflowError

if TYPE_CHECKING:
    from git import Actor, Repo

logger = logging.getLogger(__name__)

BRANCH = "refs/heads/main"
BLOBS = "refs/tradeflow/blobs"
"""Index of published content: ``<BLOBS>/<workflow>/<blob id>/v<N>`` -> the version's commit (duplicate check)."""
ZERO = "0" * 40
_FIELDS = ("%(refname)", "%(objectname)", "%(authorname)", "%(authoremail)", "%(authordate:iso-strict)",
           "%(trailers:key=Spec-Blob,valueonly,separator=)", "%(subject)")  # fmt: skip
_TAG = re.compile(r"^refs/tags/([a-z][a-z0-9_]{0,62})/v(\d+)$")
_AUTHOR = re.compile(r"^\s*(?P<name>[^<]+?)\s*(?:<(?P<email>[^>]*)>)?\s*$")
COMMITTER = ("tradeflow", "tradeflow@localhost")
MAX_MESSAGE = 500
MAX_AUTHOR = 200


def check_metadata(message: object, author: object) -> tuple[str, str]:
    """A publish's message and author, stripped; a :class:`FieldError` names the one that is wrong.

    Both go into the commit (the subject line and the author), so they must be one line of printable text.
    """
    checked = []
    for field, value, limit in (("message", message, MAX_MESSAGE), ("author", author, MAX_AUTHOR)):
        if not isinstance(value, str) or not value.strip():
            hint = "why this version exists (-m on the CLI)" if field == "message" else "who publishes it"
            raise FieldError(f"required: {hint}", field=field)
        text = value.strip()
        if len(text) > limit:
            raise FieldError(f"at most {limit} characters, got {len(text)}", field=field)
        bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
        if bad is not None:
            raise FieldError(f"one line of printable text; found control character {bad!r}", field=field)
        checked.append(text)
    if not _AUTHOR.match(checked[1]) or checked[1].count("<") > 1 or checked[1].count(">") > 1:
        raise FieldError(f"expected 'Name' or 'Name <email>', got {checked[1]!r}", field="author")
    return checked[0], checked[1]


@dataclass(frozen=True)
class VersionInfo:
    """One published version."""

    workflow: str
    version: int
    sha: str
    author: str
    time: str
    message: str
    blob: str


@dataclass(frozen=True)
class Published:
    """The result of a publish: the version, and whether this call created it."""

    workflow: str
    version: int
    sha: str
    created: bool


def blob_id(text: str) -> str:
    """Git's id of ``text`` as a blob (what identical content is recognised by)."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def author_actor(author: str) -> Actor:
    """``'Jane Doe <jane@desk>'`` or ``'j.doe'`` as a Git identity."""
    from git import Actor

    match = _AUTHOR.match(author or "")
    if not match:
        return Actor("unknown", "unknown@localhost")
    name = match.group("name")
    return Actor(name, match.group("email") or f"{re.sub(r'[^A-Za-z0-9._-]', '.', name)}@localhost")


class GitStore:
    """Published workflow specs in a bare Git repository at ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _repo(self, *, create: bool = False) -> Iterator[Repo]:
        from git import Repo  # GitPython is imported where the store is used, not at start-up

        if not (self.path / "HEAD").exists():
            if not create:
                raise UnknownWorkflowError(f"no workflow has been published yet (store: {self.path})")
            with self._lock():
                if not (self.path / "HEAD").exists():
                    self.path.mkdir(parents=True, exist_ok=True)
                    Repo.init(self.path, bare=True, initial_branch="main").close()
        repo = Repo(self.path)
        try:
            yield repo
        finally:
            repo.close()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.parent / f".{self.path.name}.publish.lock"
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- reading ---------------------------------------------------------------------------------
    def _tags(self, repo: Repo, workflow: str | None, exact: int | None = None) -> list[VersionInfo]:
        pattern = f"refs/tags/{workflow}/" if workflow else "refs/tags/"
        if exact is not None:
            pattern += f"v{exact}"
        raw = repo.git.for_each_ref(pattern, format="%00".join(_FIELDS))
        found = []
        for line in raw.splitlines():
            ref, sha, name, email, when, blob, subject = line.split("\x00")
            match = _TAG.match(ref)
            if match is None:
                continue
            author = f"{name} {email}".strip()
            workflow_id, number = match.group(1), int(match.group(2))
            message = subject.removeprefix(f"{workflow_id} v{number}: ")
            found.append(VersionInfo(workflow_id, number, sha, author, when, message, blob.strip()))
        return sorted(found, key=lambda v: (v.workflow, v.version))

    def versions(self, workflow: str) -> list[VersionInfo]:
        """Every version of ``workflow``, oldest first (author, time, message, commit sha)."""
        with self._repo() as repo:
            found = self._tags(repo, workflow)
        if not found:
            raise UnknownWorkflowError(f"workflow {workflow!r} has not been published")
        return found

    def all_versions(self) -> dict[str, list[VersionInfo]]:
        """Every workflow's versions (one ``for-each-ref``)."""
        try:
            with self._repo() as repo:
                found = self._tags(repo, None)
        except UnknownWorkflowError:
            return {}
        grouped: dict[str, list[VersionInfo]] = {}
        for info in found:
            grouped.setdefault(info.workflow, []).append(info)
        return grouped

    def sha(self, workflow: str, version: int) -> str:
        """The commit of a version (one ref read, no object read): what label moves and resolution need."""
        with self._repo() as repo:
            sha = _resolve(repo, f"refs/tags/{workflow}/v{version}")
            if sha is not None:
                return sha
            numbers = self._numbers(repo, workflow)
        if not numbers:
            raise UnknownWorkflowError(f"workflow {workflow!r} has not been published")
        raise UnknownVersionError(f"workflow {workflow!r} has no version {version} (versions 1 to {max(numbers)})")

    def version(self, workflow: str, version: int) -> VersionInfo:
        """One version's metadata (read in Python: one ref, one commit); the error names the versions that exist."""
        with self._repo() as repo:
            sha = _resolve(repo, f"refs/tags/{workflow}/v{version}")
            if sha is not None:
                commit = repo.commit(sha)
                author = f"{commit.author.name} <{commit.author.email}>"
                subject = str(commit.message).split("\n", 1)[0].removeprefix(f"{workflow} v{version}: ")
                blob = re.search(r"^Spec-Blob: (\w+)$", str(commit.message), re.M)
                when = datetime.fromtimestamp(commit.authored_date, UTC).isoformat()
                return VersionInfo(workflow, version, sha, author, when, subject, blob.group(1) if blob else "")
            numbers = self._numbers(repo, workflow)
        if not numbers:
            raise UnknownWorkflowError(f"workflow {workflow!r} has not been published")
        raise UnknownVersionError(f"workflow {workflow!r} has no version {version} (versions 1 to {max(numbers)})")

    @staticmethod
    def _numbers(repo: Repo, workflow: str) -> list[int]:
        """Version numbers of ``workflow`` (ref names only, read in Python: no commit, no subprocess)."""
        from git.refs import TagReference

        found = (_TAG.match(ref.path) for ref in TagReference.iter_items(repo, common_path=f"refs/tags/{workflow}"))
        return sorted(int(m.group(2)) for m in found if m is not None)

    def read(self, workflow: str, version: int) -> tuple[str, str]:
        """The spec text of a version, and its commit sha."""
        from git.exc import GitCommandError

        with self._repo() as repo:
            try:
                commit = repo.commit(f"refs/tags/{workflow}/v{version}")
                blob = commit.tree / f"{workflow}.yaml"
            except (GitCommandError, ValueError, KeyError):
                raise UnknownVersionError(f"workflow {workflow!r} has no version {version}") from None
            return blob.data_stream.read().decode(), commit.hexsha

    # --- writing ---------------------------------------------------------------------------------
    def publish(self, workflow: str, text: str, *, message: str, author: str) -> Published:
        """Commit ``<workflow>.yaml`` and tag the next version; identical content returns its version.

        The caller validates the spec first: the store only versions text. The message and author are
        checked here (:func:`check_metadata`), before anything is written.
        """
        from git.exc import GitError

        message, author = check_metadata(message, author)
        try:
            return self._publish(workflow, text, message, author)
        except (GitError, OSError) as exc:
            raise StoreError(f"could not publish {workflow!r} to {self.path}: {_git_message(exc)}") from exc

    def _publish(self, workflow: str, text: str, message: str, author: str) -> Published:
        blob = blob_id(text)
        with self._repo(create=True) as repo, self._lock():
            for attempt in range(5):
                same = self._published_blob(repo, workflow, blob)
                if same is not None:
                    return Published(workflow, same[1], same[0], created=False)
                numbers = self._numbers(repo, workflow)
                number = (numbers[-1] if numbers else 0) + 1
                try:
                    sha = self._commit(repo, workflow, number, text, message, author)
                except _RefRace:
                    logger.info("publish of %s v%d raced another writer (attempt %d); retrying", workflow, number,
                                attempt + 1)  # fmt: skip
                    continue
                logger.info("published %s v%d (%s)", workflow, number, sha[:10])
                return Published(workflow, number, sha, created=True)
        raise StoreError(f"could not publish {workflow!r}: other writers moved main 5 times in a row; try again")

    def _commit(self, repo: Repo, workflow: str, number: int, text: str, message: str, author: str) -> str:
        from git import Actor
        from git.objects import Commit, Tree
        from git.objects.fun import tree_to_stream
        from gitdb.base import IStream

        parent = self._head(repo)
        data = text.encode()
        blob = repo.odb.store(IStream("blob", len(data), BytesIO(data))).binsha
        entries = {}
        if parent is not None:
            for item in repo.commit(parent).tree:
                entries[item.name] = (item.binsha, item.mode, item.name)
        entries[f"{workflow}.yaml"] = (blob, 0o100644, f"{workflow}.yaml")
        stream = BytesIO()
        tree_to_stream(sorted(entries.values(), key=lambda e: e[2]), stream.write)
        tree_sha = repo.odb.store(IStream("tree", stream.tell(), BytesIO(stream.getvalue()))).binsha
        tree = Tree(repo, tree_sha)
        subject = f"{workflow} v{number}: {message.strip() or 'published'}"
        body = f"{subject}\n\nWorkflow: {workflow}\nVersion: {number}\nSpec-Blob: {blob.hex()}\n"
        when = int(time.time())
        commit = Commit.create_from_tree(
            repo, tree, body, parent_commits=[repo.commit(parent)] if parent else [], head=False,
            author=author_actor(author), committer=Actor(*COMMITTER), author_date=f"{when} +0000",
            commit_date=f"{when} +0000",
        )  # fmt: skip
        tag = f"refs/tags/{workflow}/v{number}"
        index = f"{BLOBS}/{workflow}/{blob.hex()}/v{number}"
        try:
            self._update_refs(repo, [f"update {BRANCH} {commit.hexsha} {parent or ZERO}",
                                     f"create {tag} {commit.hexsha}", f"create {index} {commit.hexsha}"])  # fmt: skip
        except StoreError:
            # Only another writer having moved main or taken the number is a race worth another try; a
            # stale lock file, a full disk or a broken repository fails the same way every time.
            if self._head(repo) != parent or _resolve(repo, tag) is not None or _resolve(repo, index) is not None:
                raise _RefRace(f"main or {tag} moved under us") from None
            raise
        return commit.hexsha

    @staticmethod
    def _published_blob(repo: Repo, workflow: str, blob: str) -> tuple[str, int] | None:
        """(commit, version) of a version whose spec is exactly ``blob``, from the index refs (no object read)."""
        from git.refs import Reference

        for ref in Reference.iter_items(repo, common_path=f"{BLOBS}/{workflow}/{blob}"):
            number = ref.path.rsplit("/v", 1)[-1]
            sha = _resolve(repo, ref.path)
            if number.isdigit() and sha is not None:
                return sha, int(number)
        return None

    @staticmethod
    def _head(repo: Repo) -> str | None:
        return _resolve(repo, BRANCH)

    @staticmethod
    def _update_refs(repo: Repo, commands: list[str]) -> None:
        """All or nothing: ``git update-ref --stdin`` in one transaction."""
        from git.exc import GitCommandError

        script = "start\n" + "\n".join(commands) + "\nprepare\ncommit\n"
        with tempfile.TemporaryFile() as stdin:
            stdin.write(script.encode())
            stdin.seek(0)
            try:
                repo.git.execute(["git", "update-ref", "--stdin"], istream=stdin)
            except GitCommandError as exc:
                raise StoreError(f"git update-ref in {repo.git_dir}: {_git_message(exc)}") from exc


def _resolve(repo: Repo, name: str) -> str | None:
    """The sha a ref points at (loose or packed refs read in Python, no object read), or None when it is missing."""
    from git.refs import SymbolicReference

    try:
        return str(SymbolicReference.dereference_recursive(repo, name))
    except (ValueError, OSError):
        return None


def _git_message(exc: Exception) -> str:
    """What git said on stderr (its ``fatal:``/``error:`` lines), without GitPython's command dump."""
    stderr = str(getattr(exc, "stderr", "") or "") or str(exc)
    lines = [line.strip().strip("'").strip() for line in stderr.splitlines()]
    said = [line.removeprefix("stderr:").strip() for line in lines if line and not line.startswith("cmdline")]
    return "; ".join(s for s in said if s) or type(exc).__name__


class _RefRace(Exception):
    """``main`` moved or the tag appeared since we read them: start again."""


def now_iso() -> str:
    """UTC now, ISO 8601."""
    return datetime.now(UTC).isoformat()
