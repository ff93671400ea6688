"""The embedded event log: one SQLite file under the data directory, so one machine needs no broker.

Layout: each (topic, partition) is a row of `partitions` with an id, its head (the next offset
to append) and its low mark (the oldest offset still held). A message's row id packs that id and
its offset, `partition_id << 40 | offset`, so a partition is one contiguous range of the table's
own B-tree: appends go to its end and a poll is one range scan, with no second index to maintain.
Committed offsets are per (group, partition).

Retention (`prune`) drops a prefix of each partition and raises its low mark, as Kafka's does, but
never past what a group that committed on the topic (or is named as its reader) has not committed
yet. A consumer of a group the log does not know (it never committed) starts at the low mark.

Durability and concurrency: WAL with `synchronous=NORMAL` makes a committed transaction survive a
killed process (not a power cut); each `produce` is one short write transaction, and readers never
block the writer. Several producer processes may append at once. A consumer is assigned every
partition of its topics, so a group has one active consumer at a time: it holds an exclusive
`flock` on a lock file beside the log while it is open, and a second consumer of the group is
refused. The kernel drops the lock with its process, however that ends (SIGKILL too).
An instance is not thread-safe; give each thread its own log or consumer.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import zip_longest
from pathlib import Path

from okr_pipeline.errors import OkrError
from okr_pipeline.stream.log import GroupBusyError, Message

__all__ = ["SqliteConsumer", "SqliteEventLog", "partition_for"]

SCHEMA_VERSION = 2
OFFSET_BITS = 40  # 1.1e12 messages per partition, 8.4e6 partitions in all
POLL_STEP_S = 0.05
# A poll returns at most this many bytes of values (and at least one message): a batch of large
# messages stays small in memory, as Kafka's client bounds what it fetches.
POLL_MAX_BYTES = 64 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partitions (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL REFERENCES topics (name),
    part INTEGER NOT NULL,
    head INTEGER NOT NULL DEFAULT 0,
    low INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic, part)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,  -- partition id << OFFSET_BITS | offset
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    partition_id INTEGER NOT NULL REFERENCES partitions (id),
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, partition_id)
) WITHOUT ROWID;
"""
# from the version before to this one
_UPGRADES = {2: "ALTER TABLE partitions ADD COLUMN low INTEGER NOT NULL DEFAULT 0"}


def partition_for(key: bytes | None, partitions: int) -> int:
    """The partition of a key: stable across processes and runs (CRC-32), None goes to 0."""
    return 0 if key is None else zlib.crc32(key) % partitions


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    try:
        # autocommit mode: every transaction below is explicit and short
        conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise OkrError(f"cannot open the event log {path}: {exc}") from None
    return conn


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taking the write lock up front so it cannot deadlock on upgrade."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _sqlite_errors(path: Path, action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise OkrError(f"event log {path}: cannot {action}: {exc}") from None


DRAIN = "drain"  # a pipeline's drain of the topic: it ends by itself, so others wait for it


def _group_lock(path: Path, group: str) -> int:
    """The open (not locked) lock file of the consumer group on the log at `path`."""
    digest = hashlib.sha256(group.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    try:
        return os.open(path.with_name(f"{path.name}.group-{digest}.lock"), os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise OkrError(f"cannot open the lock file of consumer group {group!r}: {exc}") from None


def _group_held(path: Path, group: str) -> bool:
    """Whether a consumer of the group holds it now (asked without taking it for long, and
    without writing anything a waiting consumer would read)."""
    fd = _group_lock(path, group)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases it, if taken
    return False


def _hold_group(path: Path, group: str, role: str = "consumer") -> int:
    """The open lock file of the group on the log at `path`, locked for this process as `role`;
    a GroupBusyError if another consumer of the group holds it. A drain holding it is waited
    for: it stops once it has read to where the topic ended when it started."""
    fd = _group_lock(path, group)
    unnamed = 0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").split()
            unnamed = unnamed + 1 if not holder else 0
            if holder[1:] == [DRAIN] or 0 < unnamed < 20:  # a drain, or a holder naming itself
                time.sleep(0.1)
                continue
            os.close(fd)
            raise GroupBusyError(
                f"consumer group {group!r} already has an active consumer on the event log "
                f"{path} (pid {holder[0] if holder else 'unknown'}); stop it first, or consume "
                "as another group (--group)"
            ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)  # for the message and the wait above
    return fd


class SqliteEventLog:
    """The embedded durable log in one SQLite file; new topics get `partitions` partitions."""

    def __init__(self, path: Path, partitions: int, *, busy_timeout_ms: int = 30000) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.path = Path(path)
        self.partitions = partitions
        self.busy_timeout_ms = busy_timeout_ms
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OkrError(f"cannot create the folder of the event log {path}: {exc}") from None
        self._conn = _connect(self.path, busy_timeout_ms)
        self._topics: dict[str, tuple[int, list[int]]] = {}  # name -> (partitions, partition ids)
        with _sqlite_errors(self.path, "create its tables"):
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise OkrError(
                    f"the event log {path} has schema version {version}, newer than this "
                    f"program's {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                with _write(self._conn):
                    # again under the write lock: another process may have done it meanwhile
                    version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                    if version == 0:  # executescript would commit: run them one by one
                        statements = [s for s in _SCHEMA.split(";") if s.strip()]
                    else:
                        statements = [_UPGRADES[v] for v in range(version + 1, SCHEMA_VERSION + 1)]
                    for statement in statements:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics; an existing topic keeps its partition count (keys stay put)."""
        with _sqlite_errors(self.path, "create topics"), _write(self._conn):
            for topic in topics:
                created = self._conn.execute(
                    "INSERT INTO topics (name, partitions) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (topic, self.partitions),
                ).rowcount
                if created:
                    self._conn.executemany(
                        "INSERT INTO partitions (topic, part) VALUES (?, ?)",
                        [(topic, part) for part in range(self.partitions)],
                    )

    def produce(self, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
        """Append the messages in one transaction: all or none, durable when this returns."""
        count, ids = self._topic(topic)
        batch = []
        for key, value in messages:
            if not isinstance(value, bytes) or not (key is None or isinstance(key, bytes)):
                raise TypeError("message keys and values must be bytes (a key may be None)")
            batch.append((key, value, 0 if key is None else zlib.crc32(key) % count))
        if not batch:
            return 0
        now_ms = time.time_ns() // 1_000_000
        with _sqlite_errors(self.path, f"append to {topic}"), _write(self._conn):
            heads = dict(
                self._conn.execute(
                    "SELECT part, head FROM partitions WHERE topic = ?", (topic,)
                ).fetchall()
            )
            nexts = [ids[part] << OFFSET_BITS | heads[part] for part in range(count)]
            rows = []
            for key, value, part in batch:
                rows.append((nexts[part], key, value, now_ms))
                nexts[part] += 1
            self._conn.executemany(
                "INSERT INTO messages (id, key, value, timestamp_ms) VALUES (?, ?, ?, ?)", rows
            )
            self._conn.executemany(
                "UPDATE partitions SET head = ? WHERE id = ?",
                [(nexts[part] - (ids[part] << OFFSET_BITS), ids[part]) for part in range(count)],
            )
        return len(batch)

    def flush(self) -> None:
        """Nothing to do: `produce` commits before it returns."""

    def consumer(self, group: str, topics: Sequence[str], *, drain: bool = False) -> SqliteConsumer:
        """A consumer of all partitions of `topics`, starting at the group's committed offsets."""
        assigned = [(topic, part, pid) for topic in topics for part, pid in self._ids(topic)]
        return SqliteConsumer(
            self.path, group, assigned, busy_timeout_ms=self.busy_timeout_ms, drain=drain
        )

    def group_busy(self, group: str) -> bool:
        return _group_held(self.path, group)

    def group_lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """Head minus the group's committed offset, read from the tables: no group lock taken."""
        names = list(dict.fromkeys(topics))
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        with _sqlite_errors(self.path, "read the lag"):
            rows = self._conn.execute(
                "SELECT p.topic, p.part, p.head - max(p.low, coalesce(g.next_offset, 0)) "
                "FROM partitions p "
                "LEFT JOIN group_offsets g ON g.partition_id = p.id AND g.grp = ? "
                f"WHERE p.topic IN ({marks})",
                (group, *names),
            ).fetchall()
        return {(topic, part): max(0, lag) for topic, part, lag in rows}

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """Per partition: the oldest offset held and the next one to append ({}: no such topic)."""
        with _sqlite_errors(self.path, f"read topic {topic}"):
            rows = self._conn.execute(
                "SELECT part, low, head FROM partitions WHERE topic = ?", (topic,)
            ).fetchall()
        return {part: (low, head) for part, low, head in rows}

    def committed_offsets(self, topic: str) -> dict[str, dict[int, int]]:
        """Per group that committed on `topic`: partition -> the next offset it reads."""
        with _sqlite_errors(self.path, f"read the groups of {topic}"):
            return self._committed_on(topic)

    def _committed_on(self, topic: str) -> dict[str, dict[int, int]]:
        groups: dict[str, dict[int, int]] = {}
        for group, part, offset in self._conn.execute(
            "SELECT g.grp, p.part, g.next_offset FROM group_offsets g "
            "JOIN partitions p ON p.id = g.partition_id WHERE p.topic = ?",
            (topic,),
        ):
            groups.setdefault(group, {})[part] = offset
        return groups

    def first_messages(self, topic: str, offsets: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Per partition of `offsets`: the offset and timestamp (ms) of the first message held
        at or after its offset; a partition with none is left out."""
        with _sqlite_errors(self.path, f"read {topic}"):
            ids = dict(
                self._conn.execute(
                    "SELECT part, id FROM partitions WHERE topic = ?", (topic,)
                ).fetchall()
            )
            found = {}
            for part, offset in offsets.items():
                if part not in ids:
                    continue
                base = ids[part] << OFFSET_BITS
                row = self._conn.execute(
                    "SELECT id, timestamp_ms FROM messages WHERE id >= ? AND id < ? "
                    "ORDER BY id LIMIT 1",
                    (base + max(offset, 0), base + (1 << OFFSET_BITS)),
                ).fetchone()
                if row is not None:
                    found[part] = (row[0] - base, row[1])
        return found

    def prune(
        self,
        *,
        before_ms: int | None,
        keep: int | None,
        chunk: int,
        readers: Mapping[str, Collection[str]] | None = None,
    ) -> dict[str, int]:
        """Drop the oldest messages of every partition: those older than `before_ms` (epoch ms)
        or beyond the newest `keep`, `chunk` at most per transaction; never one that a group
        that committed on the topic, or one of its `readers` (topic -> groups), has not
        committed past (such a group that has not committed on a partition holds all of it).
        The messages dropped, per topic. Cheap when there is nothing to drop: a row or two read
        in a short transaction per partition."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        dropped: dict[str, int] = {}
        with _sqlite_errors(self.path, "prune"):
            for topic, part, pid in self._conn.execute(
                "SELECT topic, part, id FROM partitions ORDER BY topic, part"
            ).fetchall():
                held = set((readers or {}).get(topic, ()))
                count = dropped.setdefault(topic, 0)
                while step := self._prune_step(topic, part, pid, held, before_ms, keep, chunk):
                    count += step
                dropped[topic] = count
        return dropped

    def _prune_step(
        self,
        topic: str,
        part: int,
        pid: int,
        readers: set[str],
        before_ms: int | None,
        keep: int | None,
        chunk: int,
    ) -> int:
        """Up to `chunk` messages dropped from the start of partition `part` (id `pid`), in one
        transaction: it holds the write lock, so no group commits meanwhile (and commits only
        move on)."""
        base = pid << OFFSET_BITS
        with _write(self._conn):
            low, head = self._conn.execute(
                "SELECT low, head FROM partitions WHERE id = ?", (pid,)
            ).fetchone()
            needed = self._needed_from(topic, part, head, readers)
            limit = min(head, low + chunk, needed)  # kept from there on
            end = low if keep is None else max(low, min(limit, head - keep))  # beyond `keep`
            if before_ms is not None and end < limit:  # then the old ones, a prefix of the rest
                young = self._conn.execute(
                    "SELECT id FROM messages WHERE id >= ? AND id < ? AND timestamp_ms >= ? "
                    "ORDER BY id LIMIT 1",  # a scan of the range that stops at the first
                    (base + end, base + limit, before_ms),
                ).fetchone()
                end = limit if young is None else young[0] - base
            if end <= low:
                return 0
            self._conn.execute(
                "DELETE FROM messages WHERE id >= ? AND id < ?", (base + low, base + end)
            )
            self._conn.execute("UPDATE partitions SET low = ? WHERE id = ?", (end, pid))
        return end - low  # offsets are dense

    def _needed_from(self, topic: str, part: int, head: int, readers: set[str]) -> int:
        """The first offset of partition `part` that a group still has to read: the lowest
        committed by `readers` and the groups that committed on `topic` (0 if one of them has
        not on this partition); `head` if there is no such group."""
        offsets = self._committed_on(topic)
        here = {group: mine[part] for group, mine in offsets.items() if part in mine}
        if len(here) < len(readers | offsets.keys()):
            return 0
        return min(here.values(), default=head)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteEventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _topic(self, topic: str) -> tuple[int, list[int]]:
        """Partition count and partition ids of a topic (fixed once created, so cached)."""
        known = self._topics.get(topic)
        if known is None:
            with _sqlite_errors(self.path, f"read topic {topic}"):
                ids = [
                    pid
                    for (pid,) in self._conn.execute(
                        "SELECT id FROM partitions WHERE topic = ? ORDER BY part", (topic,)
                    )
                ]
            if not ids:
                raise OkrError(f"event log {self.path}: no topic {topic!r}; call ensure_topics")
            known = self._topics[topic] = (len(ids), ids)
        return known

    def _ids(self, topic: str) -> list[tuple[int, int]]:
        return list(enumerate(self._topic(topic)[1]))


class SqliteConsumer:
    """Reads its partitions from the group's committed offsets, then from where it left off."""

    def __init__(
        self,
        path: Path,
        group: str,
        assigned: Sequence[tuple[str, int, int]],  # (topic, partition, partition id)
        *,
        busy_timeout_ms: int = 30000,
        drain: bool = False,
    ) -> None:
        self.path = path
        self.group = group
        self._lock = _hold_group(path, group, DRAIN if drain else "consumer")
        try:
            self._conn = _connect(path, busy_timeout_ms)
        except OkrError:
            os.close(self._lock)
            raise
        self._assigned = list(assigned)
        self._by_id = {pid: (topic, part) for topic, part, pid in assigned}
        self._pid_of = {(topic, part): pid for topic, part, pid in assigned}
        ids = ",".join(str(pid) for pid in self._by_id)  # integers from the database itself
        self._heads_sql = f"SELECT id, head, low FROM partitions WHERE id IN ({ids})"
        self._committed_sql = (
            f"SELECT partition_id, next_offset FROM group_offsets "
            f"WHERE grp = ? AND partition_id IN ({ids})"
        )
        self._position = dict.fromkeys(self._by_id, 0) | self._committed()
        self._turn = 0  # which partition goes first, rotated for fairness

    def ready(self) -> bool:
        return True  # every partition of the topics is this consumer's from the start

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """At once if messages wait, else checking every 50 ms until `timeout` runs out."""
        if max_messages < 1 or not self._assigned:
            return []
        deadline = time.monotonic() + timeout
        while True:
            with _sqlite_errors(self.path, "read messages"):
                batch = self._fetch(max_messages)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            time.sleep(min(POLL_STEP_S, remaining))

    def commit(self, messages: Sequence[Message]) -> None:
        """Move each partition's committed offset past its last given message, never backwards."""
        nexts: dict[int, int] = {}
        for message in messages:
            pid = self._pid_of.get((message.topic, message.partition))
            if pid is None:
                raise ValueError(
                    f"message of {message.topic}[{message.partition}] is not from this consumer"
                )
            nexts[pid] = max(nexts.get(pid, 0), message.offset + 1)
        if not nexts:
            return
        with _sqlite_errors(self.path, "commit offsets"), _write(self._conn):
            self._conn.executemany(
                "INSERT INTO group_offsets (grp, partition_id, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)",
                [(self.group, pid, offset) for pid, offset in nexts.items()],
            )
        for pid, offset in nexts.items():
            self._position[pid] = max(self._position[pid], offset)

    def lag(self) -> dict[tuple[str, int], int]:
        """Head minus the group's committed offset (or the low mark), per assigned partition."""
        if not self._assigned:
            return {}
        with _sqlite_errors(self.path, "read the lag"):
            heads = self._conn.execute(self._heads_sql).fetchall()
            committed = self._committed()
        return {
            self._by_id[pid]: max(0, head - max(low, committed.get(pid, 0)))
            for pid, head, low in heads
        }

    def close(self) -> None:
        self._conn.close()
        if self._lock >= 0:
            os.close(self._lock)  # and so the group's lock
            self._lock = -1

    def __enter__(self) -> SqliteConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _committed(self) -> dict[int, int]:
        return dict(self._conn.execute(self._committed_sql, (self.group,)).fetchall())

    def _fetch(self, max_messages: int) -> list[Message]:
        heads = {}
        for pid, head, low in self._conn.execute(self._heads_sql):
            heads[pid] = head
            if low > self._position[pid]:  # pruned before this group read it (it never committed)
                self._position[pid] = low
        waiting = [
            (heads[pid] - self._position[pid], pid)
            for pid in self._by_id
            if heads[pid] > self._position[pid]
        ]
        if not waiting:
            return []
        # fair shares: partitions with little waiting take all of it, the rest split what is left
        waiting.sort()
        left, shares = max_messages, {}
        for i, (available, pid) in enumerate(waiting):
            take = min(available, -(-left // (len(waiting) - i)))
            shares[pid] = take
            left -= take
        order = list(self._by_id)
        self._turn = (self._turn + 1) % len(order)
        runs = []
        room = POLL_MAX_BYTES
        for pid in order[self._turn :] + order[: self._turn]:
            take = shares.get(pid, 0)
            if not take or room <= 0:
                continue
            topic, part = self._by_id[pid]
            start = self._position[pid]
            base = pid << OFFSET_BITS
            rows = []
            for row in self._conn.execute(
                "SELECT id, key, value, timestamp_ms FROM messages WHERE id >= ? AND id < ? "
                "ORDER BY id",
                (base + start, base + start + take),
            ):
                rows.append(row)
                room -= len(row[2])
                if room <= 0:
                    break
            # the offset is the row id's: a prune since the heads were read may have dropped
            # the range's start
            runs.append(
                [Message(topic, part, i - base, key, value, ts) for i, key, value, ts in rows]
            )
            if rows:
                self._position[pid] = rows[-1][0] - base + 1
        if len(runs) == 1:
            return runs[0]
        return [m for group in zip_longest(*runs) for m in group if m is not None]
