"""The Kafka event log, on confluent-kafka (librdkafka).

Connection settings come from `Settings.stream`; the SASL password only from the environment
variable OKR_STREAM__SASL_PASSWORD, so it is never written into a config file. Every call that
talks to the broker is bounded (`timeout_s` for requests, `delivery_timeout_s` for produced
messages), and what a user can get wrong (an unreachable broker, failed authentication, a missing
topic) becomes an `OkrError` that says so.

Producing is asynchronous: `produce` queues the messages and `flush` waits until the broker has
acknowledged every one of them (idempotent producer, acks=all), raising on the first failure.
Consumers commit only when told to, synchronously, and start at the earliest offset of a partition
the group has never committed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from okr_pipeline.config import Settings
from okr_pipeline.errors import ConfigError, OkrError
from okr_pipeline.stream.log import Message

__all__ = ["PASSWORD_VARIABLE", "KafkaConsumer", "KafkaEventLog", "client_config"]

PASSWORD_VARIABLE = "OKR_STREAM__SASL_PASSWORD"
WAIT_SLICE_S = 0.2  # librdkafka calls ignore Ctrl-C while they block: wait in short slices
FETCH_MAX_BYTES = 2 * 1024 * 1024  # see KafkaEventLog.consumer
READER_GROUP = "okr-stream-reader"  # a reader's group.id: it assigns, never joins or commits

log = logging.getLogger(__name__)

_AUTH_ERRORS = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
# a commit refused because the group gave this consumer's partitions to others meanwhile (it
# was away too long, or the group is rebalancing): their messages come again to the new owner
_NOT_OWNER = {
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.FENCED_INSTANCE_ID,
    KafkaError.STALE_MEMBER_EPOCH,
    KafkaError.FENCED_MEMBER_EPOCH,
    KafkaError._ASSIGNMENT_LOST,
}
_MECHANISMS_WITH_PASSWORD = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


class _ErrorTrap:
    """Keeps the last client-level error librdkafka reports, to explain a later timeout."""

    def __init__(self) -> None:
        self.last: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        self.last = error
        log.debug("kafka client error: %s", error)

    def error(self, servers: str, message: str) -> OkrError:
        """The error to raise: a failed authentication explains more than what it caused."""
        last = self.last
        if last is not None and last.code() in _AUTH_ERRORS:
            return OkrError(
                f"authentication with the Kafka broker at {servers} failed ({last.str()}): check "
                f"stream.sasl_mechanism, stream.sasl_username and {PASSWORD_VARIABLE}"
            )
        if last is not None:
            message += f"; last client error: {last.str()}"
        return OkrError(message)

    def raise_if_fatal(self, servers: str, message: str) -> None:
        """Raise for what retrying cannot cure: failed authentication, a fatal client error."""
        last = self.last
        if last is not None and (last.code() in _AUTH_ERRORS or last.fatal()):
            raise self.error(servers, f"{message}: {last.str()}")


def client_config(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """The connection and security part of every client's configuration."""
    stream = settings.stream
    config: dict[str, Any] = {
        "bootstrap.servers": stream.bootstrap_servers,
        "security.protocol": stream.security_protocol,
        "socket.timeout.ms": int(timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        "logger": log,  # librdkafka's own log lines go to logging, not stderr
    }
    if stream.security_protocol.startswith("SASL"):
        mechanism = stream.sasl_mechanism or "PLAIN"
        config["sasl.mechanism"] = mechanism
        if mechanism.upper() in _MECHANISMS_WITH_PASSWORD:
            secret = stream.sasl_password  # settings take it from the environment only
            password = secret.get_secret_value() if secret else None
            if not stream.sasl_username or not password:
                raise ConfigError(
                    f"stream.security_protocol {stream.security_protocol} with {mechanism} needs "
                    f"stream.sasl_username and the environment variable {PASSWORD_VARIABLE}"
                )
            config["sasl.username"] = stream.sasl_username
            config["sasl.password"] = password
    return config


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


class KafkaEventLog:
    """Topics, producer and consumers on the Kafka cluster named by `settings.stream`.

    `timeout_s` bounds each request to the broker, `delivery_timeout_s` how long a produced message
    may wait for its acknowledgement, `session_timeout_ms` how soon a dead consumer loses its
    partitions (a group join takes about half of it; by default `stream.session_timeout_seconds`).
    `extra_config` is merged into every client.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_s: float = 10.0,
        delivery_timeout_s: float = 30.0,
        session_timeout_ms: int | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.stream = settings.stream
        self.timeout_s = timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self.session_timeout_ms = session_timeout_ms or round(
            self.stream.session_timeout_seconds * 1000
        )
        self._base = client_config(settings, timeout_s) | dict(extra_config or {})
        self._servers = self.stream.bootstrap_servers
        self._admin: AdminClient | None = None
        self._admin_errors = _ErrorTrap()
        self._producer: Producer | None = None
        self._producer_errors = _ErrorTrap()
        self._delivery_failures: list[tuple[str, KafkaError]] = []

    def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = self._admin_client()
        existing = self._metadata_topics(admin)
        missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
        if not missing:
            return
        new = [
            NewTopic(topic, self.stream.partitions, self.stream.replication_factor)
            for topic in missing
        ]
        futures = admin.create_topics(
            new, request_timeout=self.timeout_s, operation_timeout=self.timeout_s
        )
        for topic, future in futures.items():
            # TOPIC_ALREADY_EXISTS: another process created it first
            self._admin_answer(
                future, f"create Kafka topic {topic!r}", KafkaError.TOPIC_ALREADY_EXISTS
            )

    def produce(self, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
        """Queue the messages (keyed, so one key keeps one partition); `flush` confirms them."""
        producer = self._producer_client()
        self._raise_delivery_failures()
        count = 0
        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    # queue full: serve acknowledgements; expiring messages bound this wait
                    producer.poll(0.05)
                    self._raise_delivery_failures()
                except KafkaException as exc:
                    error = _kafka_error(exc)
                    raise OkrError(
                        f"cannot produce to Kafka topic {topic!r}: {error.str() if error else exc}"
                    ) from None
            count += 1
        producer.poll(0)
        self._raise_delivery_failures()
        return count

    def flush(self) -> None:
        """Wait until the broker has acknowledged everything produced, or raise why not."""
        if self._producer is None:
            return
        deadline = time.monotonic() + self.delivery_timeout_s + self.timeout_s
        remaining = len(self._producer)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(WAIT_SLICE_S)
        self._raise_delivery_failures()
        if remaining:
            raise self._producer_errors.error(
                self._servers,
                f"{remaining} message(s) were not acknowledged by {self._servers} within "
                f"{self.delivery_timeout_s + self.timeout_s:g} s",
            )

    def consumer(self, group: str, topics: Sequence[str], *, drain: bool = False) -> KafkaConsumer:
        """A member of `group` subscribed to `topics`; it joins the group on its first poll
        (a drain is a member like any other: the group shares the partitions out)."""
        config = self._base | {
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 3),
            # a fetch brings at most this much in all, so that partitions come interleaved (a
            # broker may fill a fetch from one partition: Tansu does) and a child read from one
            # comes near its parent from another, instead of waiting parked for it
            "fetch.max.bytes": FETCH_MAX_BYTES,
        }
        return KafkaConsumer(config, list(topics), timeout_s=self.timeout_s)

    def group_busy(self, group: str) -> bool:
        future = self._admin_client().describe_consumer_groups(
            [group], request_timeout=self.timeout_s
        )[group]
        description = self._admin_answer(
            future, f"describe consumer group {group!r}", KafkaError.GROUP_ID_NOT_FOUND
        )
        return description is not None and bool(description.members)

    def _admin_answer(self, future: Any, action: str, absent: int | None = None) -> Any:
        """The result of an admin request; None for the error code `absent` (the answer that
        says there is nothing to do); other errors and time-outs as clear errors."""
        try:
            return future.result(timeout=self.timeout_s + 1)
        except KafkaException as exc:
            error = _kafka_error(exc)
            if error is not None and error.code() == absent:
                return None
            raise self._admin_errors.error(
                self._servers,
                f"cannot {action} on {self._servers}: {error.str() if error else exc}",
            ) from None
        except concurrent.futures.TimeoutError:
            raise self._admin_errors.error(
                self._servers,
                f"could not {action} on {self._servers} within {self.timeout_s:g} s",
            ) from None

    def group_lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """The group's lag as its consumers see it, from a client of the group that never
        subscribes: it does not join, so the group's members keep their partitions."""
        config = self._base | {"group.id": group, "enable.auto.commit": False}
        reader = KafkaConsumer(config, list(topics), timeout_s=self.timeout_s, join=False)
        try:
            return reader.lag()
        finally:
            reader.close()

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """The broker's low and high watermarks per partition ({}: no such topic)."""
        admin = self._admin_client()
        parts = self._metadata_topics(admin).get(topic)
        if parts is None:
            return {}
        marks: dict[int, list[int]] = {part: [] for part in parts.partitions}
        for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
            futures = admin.list_offsets(
                {TopicPartition(topic, part): spec for part in marks},
                request_timeout=self.timeout_s,
            )
            for tp, future in futures.items():
                answer = self._admin_answer(future, f"read the offsets of {topic}[{tp.partition}]")
                marks[tp.partition].append(max(answer.offset, 0))
        return {part: (low, high) for part, (low, high) in marks.items()}

    def committed_offsets(self, topic: str) -> dict[str, dict[int, int]]:
        """Of every consumer group the cluster lists, those with offsets committed on `topic`."""
        admin = self._admin_client()
        parts = self._metadata_topics(admin).get(topic)
        if parts is None:
            return {}
        partitions = [TopicPartition(topic, part) for part in parts.partitions]
        listed = self._admin_answer(
            admin.list_consumer_groups(request_timeout=self.timeout_s), "list the consumer groups"
        )
        if listed.errors:
            raise self._admin_errors.error(
                self._servers, f"cannot list the consumer groups: {listed.errors[0]}"
            )
        groups = {}
        for group in sorted(listing.group_id for listing in listed.valid):
            request = [ConsumerGroupTopicPartitions(group, partitions)]
            answer = self._admin_answer(
                admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)[group],
                f"read the offsets of consumer group {group!r}",
                KafkaError.GROUP_ID_NOT_FOUND,  # deleted since it was listed
            )
            committed = {
                tp.partition: tp.offset
                for tp in (answer.topic_partitions if answer else [])
                if tp.error is None and tp.offset >= 0  # < 0: none committed there
            }
            if committed:
                groups[group] = committed
        return groups

    def first_messages(self, topic: str, offsets: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Read from each offset by a consumer that assigns itself the partitions (it joins no
        group and commits nothing), up to the first message or the partition's end."""
        if not offsets:
            return {}
        errors = _ErrorTrap()
        reader = Consumer(
            self._base
            | {
                "group.id": READER_GROUP,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",  # an offset no longer held: the first one that is
                "error_cb": errors,
            }
        )
        found: dict[int, tuple[int, int]] = {}
        try:
            reader.assign([TopicPartition(topic, part, max(o, 0)) for part, o in offsets.items()])
            ended: set[int] = set()
            deadline = time.monotonic() + self.timeout_s
            while len(found) + len(ended) < len(offsets):
                if time.monotonic() > deadline:
                    raise errors.error(
                        self._servers,
                        f"could not read {topic} on {self._servers} within {self.timeout_s:g} s",
                    )
                errors.raise_if_fatal(self._servers, f"cannot read {topic}")
                for item in reader.consume(len(offsets), WAIT_SLICE_S):
                    part, offset, error = item.partition(), item.offset(), item.error()
                    if part is None or offset is None or part in found or part in ended:
                        continue
                    if error is None:
                        kind, timestamp = item.timestamp()
                        found[part] = (offset, 0 if kind == TIMESTAMP_NOT_AVAILABLE else timestamp)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        ended.add(part)
                    else:
                        raise OkrError(f"cannot read {topic} on {self._servers}: {error.str()}")
        except KafkaException as exc:
            error = _kafka_error(exc)
            raise OkrError(
                f"cannot read {topic} on {self._servers}: {error.str() if error else exc}"
            ) from None
        finally:
            reader.close()
        return found

    def close(self) -> None:
        """Flush what is still queued; the clients are released with this object."""
        try:
            self.flush()
        finally:
            self._producer = None
            self._admin = None

    def __enter__(self) -> KafkaEventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _admin_client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self._base | {"error_cb": self._admin_errors})
        return self._admin

    def _producer_client(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                self._base
                | {
                    "error_cb": self._producer_errors,
                    "enable.idempotence": True,
                    "acks": "all",
                    "message.timeout.ms": int(self.delivery_timeout_s * 1000),
                    "partitioner": "murmur2_random",  # keys land where Java clients put them
                    "linger.ms": 5,
                    "on_delivery": self._on_delivery,
                    "delivery.report.only.error": True,  # no Python call per good message
                }
            )
        return self._producer

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._delivery_failures.append((message.topic(), error))

    def _raise_delivery_failures(self) -> None:
        self._producer_errors.raise_if_fatal(self._servers, "the Kafka producer failed")
        if not self._delivery_failures:
            return
        failures, self._delivery_failures = self._delivery_failures, []
        topic, error = failures[0]
        raise self._producer_errors.error(
            self._servers,
            f"{len(failures)} message(s) were not delivered to {self._servers}; the first, for "
            f"topic {topic!r}: {error.str()}",
        )

    def _metadata_topics(self, admin: AdminClient) -> dict[str, Any]:
        """The cluster's topics: name -> metadata (its `partitions`)."""
        try:
            metadata = admin.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            admin.poll(0)  # deliver pending error callbacks, e.g. an authentication failure
            error = _kafka_error(exc)
            raise self._admin_errors.error(
                self._servers,
                f"cannot reach the Kafka broker at {self._servers} within {self.timeout_s:g} s "
                f"({error.str() if error else exc}): check stream.bootstrap_servers and that the "
                f"broker is running",
            ) from None
        return dict(metadata.topics)


def _listed(partitions: Sequence[TopicPartition]) -> str:
    """Partitions as `topic[0, 2]`, one entry per topic."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    listed = [f"{topic}{sorted(parts)}" for topic, parts in sorted(by_topic.items())]
    return ", ".join(listed) or "none"


def _refused(partitions: Sequence[TopicPartition], error: KafkaError) -> None:
    log.warning(
        "the group refused the commit of %s (%s): the member that gets them reads them again",
        _listed(partitions),
        error.str(),
    )


class KafkaConsumer:
    """A consumer-group member with manual, synchronous commits."""

    def __init__(
        self, config: dict[str, Any], topics: list[str], *, timeout_s: float, join: bool = True
    ) -> None:
        """`join` false: never subscribes, so it only reads (offsets, watermarks, lag)."""
        self.topics = topics
        self.timeout_s = timeout_s
        self._servers = config["bootstrap.servers"]
        self._errors = _ErrorTrap()
        self._consumer = Consumer(config | {"error_cb": self._errors})
        if join:
            self._consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked)
        self._committed: dict[tuple[str, int], int] = {}

    def ready(self) -> bool:
        return bool(self._consumer.assignment())

    # called by the client within `poll` (so never between a batch and its commit); the client
    # assigns and revokes the partitions itself after them
    def _assigned(self, _client: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions assigned: %s", _listed(partitions))

    def _revoked(self, _client: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions revoked: %s", _listed(partitions))

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """What the client has fetched, at once; else wait up to `timeout` for the first message."""
        if max_messages < 1:
            return []
        raw = self._consume(max_messages, 0)
        deadline = time.monotonic() + timeout
        while not raw and (remaining := deadline - time.monotonic()) > 0:
            # consume(n, t) waits for all n: wait for one, then take what else is there
            raw = self._consume(1, min(WAIT_SLICE_S, remaining))
            if raw and max_messages > 1:
                raw += self._consume(max_messages - 1, 0)
            self._errors.raise_if_fatal(self._servers, f"Kafka consumer of {self.topics} failed")
        messages = []
        for item in raw:
            error = item.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.code() == KafkaError._MAX_POLL_EXCEEDED:
                    # a batch took longer than max.poll.interval.ms (the warehouse was busy):
                    # the client left the group and joins again with its next poll
                    log.warning("%s; joining the group again", error.str())
                    continue
                raise OkrError(f"Kafka consumer of {self.topics} failed: {error.str()}")
            kind, timestamp = item.timestamp()
            messages.append(
                Message(
                    item.topic(),
                    item.partition(),
                    item.offset(),
                    item.key(),
                    item.value() or b"",
                    0 if kind == TIMESTAMP_NOT_AVAILABLE else timestamp,
                )
            )
        return messages

    def commit(self, messages: Sequence[Message]) -> None:
        """Commit past the last given message of each partition; older offsets are skipped.

        So are partitions the group gave to another member since the messages were read (a
        rebalance within the poll that read them): the new owner reads them again, a no-op,
        and a late commit here would move its offsets back where the broker allows it. A commit
        the group refuses because this consumer no longer holds the partitions is not an error
        either, for the same reason."""
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        nexts: dict[tuple[str, int], int] = {}
        for message in messages:
            where = (message.topic, message.partition)
            nexts[where] = max(nexts.get(where, 0), message.offset + 1)
        if lost := [TopicPartition(t, p) for t, p in nexts if (t, p) not in owned]:
            log.info("not committing %s: no longer assigned to this consumer", _listed(lost))
            nexts = {where: offset for where, offset in nexts.items() if where in owned}
        unknown = [TopicPartition(t, p) for t, p in nexts if (t, p) not in self._committed]
        if unknown:
            for tp in self._call(
                "read committed offsets", self._consumer.committed, unknown, timeout=self.timeout_s
            ):
                self._committed[(tp.topic, tp.partition)] = tp.offset  # < 0: none yet
        offsets = [
            TopicPartition(topic, part, offset)
            for (topic, part), offset in nexts.items()
            if offset > self._committed[(topic, part)]
        ]
        if not offsets:
            return
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            error = _kafka_error(exc)
            if error is None or error.code() not in _NOT_OWNER:
                raise self._errors.error(
                    self._servers,
                    f"Kafka consumer of {self.topics} on {self._servers} cannot commit offsets: "
                    f"{error.str() if error else exc}",
                ) from None
            _refused(offsets, error)
            return
        failed = [(tp, tp.error) for tp in result if tp.error is not None]
        if refused := [(tp, error) for tp, error in failed if error.code() in _NOT_OWNER]:
            _refused([tp for tp, _ in refused], refused[0][1])
        if others := [(tp, error) for tp, error in failed if error.code() not in _NOT_OWNER]:
            tp, error = others[0]
            raise OkrError(f"Kafka commit failed for {tp.topic}[{tp.partition}]: {error.str()}")
        for tp in result:
            if tp.error is None:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    def lag(self) -> dict[tuple[str, int], int]:
        """Head minus committed offset per assigned partition (all partitions before joining).

        The head is the client's cached high watermark where it has fetched, else the broker's,
        and never below the consumer's position; lag is clamped at 0 because some brokers
        (Tansu) report a stale high watermark.
        """
        partitions = self._consumer.assignment() or self._all_partitions()
        if not partitions:
            return {}
        committed = self._call(
            "read committed offsets", self._consumer.committed, partitions, timeout=self.timeout_s
        )
        positions = {
            (tp.topic, tp.partition): tp.offset for tp in self._consumer.position(partitions)
        }
        lag = {}
        for tp in committed:
            where = (tp.topic, tp.partition)
            low, high = self._watermarks(tp)
            if tp.offset >= 0:
                self._committed[where] = max(self._committed.get(where, -1), tp.offset)
            start = tp.offset if tp.offset >= 0 else low  # never committed: from the earliest
            lag[where] = max(0, max(high, positions.get(where, OFFSET_INVALID)) - start)
        return lag

    def close(self) -> None:
        """Leave the group, so its partitions go to other members at once."""
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("closing the Kafka consumer of %s: %s", self.topics, exc)

    def __enter__(self) -> KafkaConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _consume(self, count: int, timeout: float) -> list[Any]:
        return self._call("consume", self._consumer.consume, count, timeout)

    def _watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        low, high = self._consumer.get_watermark_offsets(tp, cached=True)
        if high >= 0:
            return max(low, 0), high
        low, high = self._call(
            "read watermarks", self._consumer.get_watermark_offsets, tp, timeout=self.timeout_s
        )
        return max(low, 0), high

    def _all_partitions(self) -> list[TopicPartition]:
        metadata = self._call("read metadata", self._consumer.list_topics, timeout=self.timeout_s)
        return [
            TopicPartition(topic, part)
            for topic in self.topics
            if topic in metadata.topics
            for part in metadata.topics[topic].partitions
        ]

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KafkaException as exc:
            error = _kafka_error(exc)
            raise self._errors.error(
                self._servers,
                f"Kafka consumer of {self.topics} on {self._servers} cannot {action}: "
                f"{error.str() if error else exc}",
            ) from None
