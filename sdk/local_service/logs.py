"""CloudWatch Logs, as far as the SDKs read job logs: groups, streams, ``GetLogEvents`` and ``FilterLogEvents``.

A job's lines go where SageMaker puts them: group ``/aws/sagemaker/TrainingJobs`` (``TransformJobs``,
``Endpoints/<name>``), one stream per host named ``<job>/algo-<n>-<epoch>``. Each stream is a JSON-lines file under
``<service dir>/logs/<quoted group>/<stream>.jsonl``, appended and flushed line by line, so the lines of a job that
was running when the service was killed are still there after a restart. Tokens are ``f/<index>`` (forward) and
``b/<index>`` (backward) into the stream's events; a read that finds nothing new returns the token it was given, as
CloudWatch does, which is how the SDKs know to stop.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from opensagemaker.local_service.wire import APIError

__all__ = ["LogStore"]

_REGION_ACCOUNT = "us-east-1:000000000000"


def _not_found(what: str) -> APIError:
    return APIError("ResourceNotFoundException", f"The specified log {what} does not exist.")


class _Stream:
    def __init__(self, path: Path, created: int) -> None:
        self.path = path
        self.created = created
        self.events: list[dict[str, Any]] = []
        self._file: Any = None

    def append(self, message: str, timestamp: int) -> None:
        event = {"timestamp": timestamp, "message": message, "ingestionTime": timestamp}
        self.events.append(event)
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while the job logs
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LogStore:
    """Every log group and stream of one service folder; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._groups: dict[str, dict[str, _Stream]] = {}
        root.mkdir(parents=True, exist_ok=True)
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            streams = self._groups.setdefault(unquote(folder.name), {})
            for path in sorted(folder.glob("*.jsonl")):
                stream = _Stream(path, int(path.stat().st_mtime * 1000))
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    try:
                        stream.events.append(json.loads(line))
                    except ValueError:
                        continue  # the last line of a killed writer may be cut
                if stream.events:
                    stream.created = int(stream.events[0]["timestamp"])
                streams[unquote(path.stem)] = stream

    # -- writing (the service's jobs) ----------------------------------------------------------------------------

    def append(self, group: str, stream: str, message: str, timestamp: int | None = None) -> None:
        now = int(time.time() * 1000) if timestamp is None else timestamp
        with self._lock:
            streams = self._groups.setdefault(group, {})
            target = streams.get(stream)
            if target is None:
                folder = self.root / quote(group, safe="")
                folder.mkdir(parents=True, exist_ok=True)
                target = streams[stream] = _Stream(folder / f"{quote(stream, safe='')}.jsonl", now)
            target.append(message, now)

    def close_streams(self, group: str, prefix: str) -> None:
        with self._lock:
            for name, stream in self._groups.get(group, {}).items():
                if name.startswith(prefix):
                    stream.close()

    def delete_streams(self, group: str, prefix: str) -> None:
        with self._lock:
            streams = self._groups.get(group, {})
            for name in [n for n in streams if n.startswith(prefix)]:
                streams[name].close()
                streams.pop(name).path.unlink(missing_ok=True)

    # -- the API ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _group_name(params: dict[str, Any]) -> str:
        """``logGroupName``, or the name inside ``logGroupIdentifier`` (a name or an ARN); one is required."""
        name = params.get("logGroupName") or params.get("logGroupIdentifier", "")
        if name.startswith("arn:"):
            name = name.split(":log-group:", 1)[-1].removesuffix(":*")
        if not name:
            raise APIError("InvalidParameterException", "Either logGroupName or logGroupIdentifier is required")
        return name

    def _group(self, name: str) -> dict[str, _Stream]:
        streams = self._groups.get(name)
        if streams is None:
            raise _not_found("group")
        return streams

    def DescribeLogGroups(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix", "")
        with self._lock:
            names = sorted(n for n in self._groups if n.startswith(prefix))
        groups = [{"logGroupName": n, "creationTime": min((s.created for s in self._groups[n].values()), default=0),
                   "arn": f"arn:aws:logs:{_REGION_ACCOUNT}:log-group:{n}:*", "storedBytes": 0} for n in names]
        return {"logGroups": groups[: params.get("limit", 50)]}

    def DescribeLogStreams(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(params)
        prefix = params.get("logStreamNamePrefix", "")
        with self._lock:
            streams = [(n, s) for n, s in self._group(group).items() if n.startswith(prefix)]
            if params.get("orderBy") == "LastEventTime":
                streams.sort(key=lambda item: item[1].events[-1]["timestamp"] if item[1].events else 0)
            else:
                streams.sort(key=lambda item: item[0])
            if params.get("descending"):
                streams.reverse()
            start = int(params.get("nextToken", "0") or 0) if str(params.get("nextToken", "0")).isdigit() else 0
            limit = params.get("limit", 50)
            page = streams[start:start + limit]
            result: dict[str, Any] = {"logStreams": []}
            for name, stream in page:
                entry: dict[str, Any] = {"logStreamName": name, "creationTime": stream.created,
                                         "arn": f"arn:aws:logs:{_REGION_ACCOUNT}:log-group:{group}:log-stream:{name}",
                                         "storedBytes": 0}
                if stream.events:
                    entry.update(firstEventTimestamp=stream.events[0]["timestamp"],
                                 lastEventTimestamp=stream.events[-1]["timestamp"],
                                 lastIngestionTime=stream.events[-1]["ingestionTime"])
                result["logStreams"].append(entry)
            if start + limit < len(streams):
                result["nextToken"] = str(start + limit)
        return result

    def GetLogEvents(self, params: dict[str, Any]) -> dict[str, Any]:
        group, name = self._group_name(params), params["logStreamName"]
        limit = params.get("limit", 10000)
        with self._lock:
            stream = self._group(group).get(name)
            if stream is None:
                raise _not_found("stream")
            events = stream.events
            token = params.get("nextToken")
            if token is not None:
                direction, _, number = token.partition("/")
                if direction not in ("f", "b") or not number.isdigit():
                    raise APIError("InvalidParameterException", f"The specified nextToken is invalid: {token!r}")
                index = min(int(number), len(events))
                forward = direction == "f"
            else:
                forward = bool(params.get("startFromHead", False))
                index = 0 if forward else len(events)
            start_time, end_time = params.get("startTime"), params.get("endTime")

            def wanted(event: dict[str, Any]) -> bool:
                return ((start_time is None or event["timestamp"] >= start_time)
                        and (end_time is None or event["timestamp"] < end_time))

            if forward:
                chosen = [i for i in range(index, len(events)) if wanted(events[i])][:limit]
                end = (chosen[-1] + 1) if chosen else index
                begin = chosen[0] if chosen else index
            else:
                chosen = [i for i in range(index - 1, -1, -1) if wanted(events[i])][:limit][::-1]
                begin = chosen[0] if chosen else index
                end = (chosen[-1] + 1) if chosen else index
            return {"events": [dict(events[i]) for i in chosen],
                    "nextForwardToken": f"f/{end:020d}", "nextBackwardToken": f"b/{begin:020d}"}

    def FilterLogEvents(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix", "")
        pattern = params.get("filterPattern", "").strip().strip('"')
        start_time, end_time = params.get("startTime"), params.get("endTime")
        with self._lock:
            found = []
            for name, stream in sorted(self._group(group).items()):
                if (names is not None and name not in names) or not name.startswith(prefix):
                    continue
                for event in stream.events:
                    if ((start_time is None or event["timestamp"] >= start_time)
                            and (end_time is None or event["timestamp"] < end_time)
                            and (not pattern or pattern in event["message"])):
                        found.append({"logStreamName": name, "eventId": f"{name}/{event['timestamp']}",
                                      **event})
        found.sort(key=lambda e: e["timestamp"])
        start = int(params["nextToken"]) if str(params.get("nextToken", "")).isdigit() else 0
        limit = params.get("limit", 10000)
        result: dict[str, Any] = {"events": found[start:start + limit], "searchedLogStreams": []}
        if start + limit < len(found):
            result["nextToken"] = str(start + limit)
        return result
