"""Retention of the embedded log (SqliteEventLog.prune): old or surplus messages go from the start
of each partition, never one that a group that committed on the topic has not committed past;
consumers keep reading true offsets; a log of the first schema upgrades in place."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okr_pipeline.stream.log import Message
from okr_pipeline.stream.sqlite_log import SqliteEventLog, partition_for

FAR_FUTURE_MS = 2**62  # older than this: every message


def produce(log: SqliteEventLog, topic: str, count: int, partitions: int = 1) -> None:
    """`count` messages whose value names their key's partition and a running number."""
    log.produce(topic, [(b"k%d" % (i % partitions), b"v%d" % i) for i in range(count)])


def commit(log: SqliteEventLog, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit `group` up to (not including) each partition's offset."""
    with log.consumer(group, [topic]) as consumer:
        consumer.commit(
            [Message(topic, part, end - 1, None, b"", 0) for part, end in offsets.items()]
        )


def read_all(log: SqliteEventLog, group: str, topic: str) -> list[Message]:
    with log.consumer(group, [topic]) as consumer:
        got: list[Message] = []
        while batch := consumer.poll(7, 0):
            got += batch
    return got


def keys_by_partition(partitions: int) -> list[bytes]:
    """One key per partition (partition i gets key_i)."""
    found: dict[int, bytes] = {}
    n = 0
    while len(found) < partitions:
        key = b"k%d" % n
        found.setdefault(partition_for(key, partitions), key)
        n += 1
    return [found[part] for part in range(partitions)]


def test_old_messages_go_once_every_group_committed_them(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["t"])
        produce(log, "t", 10)
        commit(log, "g", "t", {0: 10})
        assert log.prune(before_ms=FAR_FUTURE_MS, keep=None, chunk=3) == {"t": 10}
        assert log.watermarks("t") == {0: (10, 10)}
        produce(log, "t", 2)  # the offsets go on
        assert [m.offset for m in read_all(log, "g", "t")] == [10, 11]


def test_uncommitted_messages_survive_pruning(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["t"])
        produce(log, "t", 10)
        commit(log, "ahead", "t", {0: 10})
        commit(log, "behind", "t", {0: 4})
        assert log.prune(before_ms=FAR_FUTURE_MS, keep=1, chunk=100) == {"t": 4}
        assert log.watermarks("t") == {0: (4, 10)}
        got = read_all(log, "behind", "t")
        assert [(m.offset, m.value) for m in got] == [(i, b"v%d" % i) for i in range(4, 10)]
        assert log.group_lag("behind", ["t"]) == {("t", 0): 6}


def test_a_group_that_has_not_committed_on_a_partition_holds_all_of_it(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 2) as log:
        log.ensure_topics(["t"])
        first, second = keys_by_partition(2)
        log.produce("t", [(first, b"a")] * 5 + [(second, b"b")] * 5)
        commit(log, "g", "t", {0: 5})  # it read partition 0 only
        assert log.prune(before_ms=FAR_FUTURE_MS, keep=None, chunk=10) == {"t": 5}
        assert log.watermarks("t") == {0: (5, 5), 1: (0, 5)}


def test_a_named_reader_holds_its_topic_before_its_first_commit(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["a", "b"])
        produce(log, "a", 3)
        produce(log, "b", 3)
        readers = {"a": ["warehouse"]}
        assert log.prune(before_ms=FAR_FUTURE_MS, keep=None, chunk=5, readers=readers) == {
            "a": 0,
            "b": 3,
        }
        commit(log, "warehouse", "a", {0: 2})
        assert log.prune(before_ms=FAR_FUTURE_MS, keep=None, chunk=5, readers=readers) == {
            "a": 2,
            "b": 0,
        }


def test_groups_of_other_topics_hold_nothing_and_young_messages_stay(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["a", "b"])
        produce(log, "a", 3)
        time.sleep(0.01)
        boundary_ms = time.time_ns() // 1_000_000
        time.sleep(0.01)
        produce(log, "a", 2)
        produce(log, "b", 4)
        commit(log, "reader-of-b", "b", {0: 1})
        assert log.prune(before_ms=boundary_ms, keep=None, chunk=10) == {"a": 3, "b": 0}
        assert log.watermarks("a") == {0: (3, 5)}
        assert log.prune(before_ms=0, keep=None, chunk=10) == {"a": 0, "b": 0}
        # beyond the newest `keep`, whatever their age, once committed
        assert log.prune(before_ms=None, keep=1, chunk=10) == {"a": 1, "b": 1}
        assert log.watermarks("a") == {0: (4, 5)}
        assert log.watermarks("b") == {0: (1, 4)}  # what its group read, no more


def test_a_consumer_reading_while_the_log_is_pruned_gets_true_offsets(tmp_path: Path) -> None:
    """A consumer of a group the log does not know yet (it never committed) starts at the low
    mark, even when the prefix goes after it was opened; its lag counts from there."""
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["t"])
        produce(log, "t", 10)
        with log.consumer("new", ["t"]) as consumer:
            assert [m.offset for m in consumer.poll(2, 0)] == [0, 1]
            assert log.prune(before_ms=None, keep=5, chunk=2) == {"t": 5}
            got = consumer.poll(100, 0)
            assert [(m.offset, m.value) for m in got] == [(i, b"v%d" % i) for i in range(5, 10)]
            assert consumer.lag() == {("t", 0): 5}  # nothing committed: from the low mark
            consumer.commit(got)
            assert consumer.lag() == {("t", 0): 0}


def test_a_log_of_the_first_schema_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as conn:  # what version 1 made
        conn.executescript(
            """
            CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE partitions (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, part INTEGER
                NOT NULL, head INTEGER NOT NULL DEFAULT 0, UNIQUE (topic, part));
            CREATE TABLE messages (id INTEGER PRIMARY KEY, key BLOB, value BLOB NOT NULL,
                timestamp_ms INTEGER NOT NULL);
            CREATE TABLE group_offsets (grp TEXT NOT NULL, partition_id INTEGER NOT NULL,
                next_offset INTEGER NOT NULL, PRIMARY KEY (grp, partition_id)) WITHOUT ROWID;
            INSERT INTO topics VALUES ('t', 1);
            INSERT INTO partitions (id, topic, part, head) VALUES (1, 't', 0, 2);
            INSERT INTO messages VALUES (1 << 40, NULL, X'78', 1), ((1 << 40) + 1, NULL, X'79', 2);
            PRAGMA user_version = 1;
            """
        )
    conn.close()
    with SqliteEventLog(path, 1) as log:
        assert log.watermarks("t") == {0: (0, 2)}
        assert [m.value for m in read_all(log, "g", "t")] == [b"x", b"y"]
    with SqliteEventLog(path, 1) as log:  # opened again: already upgraded
        assert log.first_messages("t", {0: 1}) == {0: (1, 2)}


# ---- the invariant, over random histories ---------------------------------------------------

PARTITIONS = 3
GROUPS = ("g0", "g1", "g2")
operation = st.one_of(
    st.tuples(st.just("produce"), st.integers(1, 12), st.integers(0, PARTITIONS - 1)),
    st.tuples(
        st.just("commit"), st.sampled_from(GROUPS), st.integers(0, PARTITIONS - 1), st.floats(0, 1)
    ),
    st.tuples(
        st.just("prune"),
        st.sampled_from([None, 0, FAR_FUTURE_MS]),  # no age limit, none old, all old
        st.one_of(st.none(), st.integers(0, 10)),
        st.integers(1, 5),
        st.sampled_from([(), ("g0",)]),  # named readers of the topic
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=25))
def test_pruning_never_drops_what_a_known_group_has_not_committed(operations: list) -> None:
    """A model of the log's low marks, heads and the groups' commits, against the log: each
    prune drops exactly what the rules allow (no less), never a message a group that committed
    on the topic (or is named its reader) has not committed past; what is kept reads back
    whole, at its offsets."""
    keys = keys_by_partition(PARTITIONS)
    with tempfile.TemporaryDirectory() as folder:
        log = SqliteEventLog(Path(folder) / "events.db", PARTITIONS)
        log.ensure_topics(["t"])
        heads = [0] * PARTITIONS
        lows = [0] * PARTITIONS
        committed: dict[str, dict[int, int]] = {}
        values: dict[tuple[int, int], bytes] = {}
        for op in operations:
            if op[0] == "produce":
                _, count, part = op
                batch = [b"%d-%d" % (part, heads[part] + i) for i in range(count)]
                log.produce("t", [(keys[part], value) for value in batch])
                for value in batch:
                    values[(part, heads[part])] = value
                    heads[part] += 1
            elif op[0] == "commit":
                _, group, part, share = op
                end = round(share * heads[part])
                if end > committed.get(group, {}).get(part, 0):
                    commit(log, group, "t", {part: end})
                    committed.setdefault(group, {})[part] = end
            else:
                _, before_ms, keep, chunk, readers = op
                expected = []
                for part in range(PARTITIONS):
                    groups = {*committed, *readers}
                    mine = [committed.get(group, {}).get(part) for group in groups]
                    needed = heads[part] if not mine else (0 if None in mine else min(mine))
                    end = lows[part] if keep is None else max(lows[part], heads[part] - keep)
                    if before_ms == FAR_FUTURE_MS:
                        end = heads[part]
                    expected.append(max(lows[part], min(end, needed)))
                dropped = log.prune(
                    before_ms=before_ms, keep=keep, chunk=chunk, readers={"t": readers}
                )
                assert dropped == {"t": sum(e - low for e, low in zip(expected, lows, strict=True))}
                # the safety the model's arithmetic implies, for the groups known at the prune (a
                # group committing first later may commit below what was dropped before it came)
                for offsets in committed.values():
                    for part, end in offsets.items():
                        assert expected[part] <= end or expected[part] == lows[part]
                lows = expected
            assert log.watermarks("t") == {p: (lows[p], heads[p]) for p in range(PARTITIONS)}
        kept = read_all(log, "a-reader-of-everything", "t")
        assert sorted((m.partition, m.offset, m.value) for m in kept) == sorted(
            (part, offset, value)
            for (part, offset), value in values.items()
            if offset >= lows[part]
        )
        log.close()
