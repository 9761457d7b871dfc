"""Media types: one parser for Content-Type and Accept values, shared by training channels and serving.

``text/csv; label_size=1; charset=utf-8`` -> ``MediaType("text/csv", {"label_size": "1", "charset": "utf-8"})``.
Accept negotiation honours q-values and wildcards; an absent Accept or ``*/*`` means the container's default
(``application/json``, docs/contract.md A4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from container_core.errors import UnsupportedAccept, UserError

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
TEXT = "text/plain"

# Spellings seen in the wild for the same formats.
_ALIASES = {
    "application/x-recordio": RECORDIO,
    "application/recordio-protobuf": RECORDIO,
    "application/x-protobuf": RECORDIO,
    "application/jsonl": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/json-lines": JSONLINES,
    "text/x-csv": CSV,
    "application/csv": CSV,
}


@dataclass(frozen=True)
class MediaType:
    """A parsed media type: lower-cased base type plus parameters (names lower-cased, values as given)."""

    base: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def flag(self, name: str) -> bool:
        return str(self.params.get(name, "false")).strip().lower() in {"true", "1", "yes"}

    def __str__(self) -> str:
        return "; ".join([self.base, *(f"{k}={v}" for k, v in self.params.items())])


def parse_media_type(value: str | None, default: str = RECORDIO) -> MediaType:
    """Parse one media type; an empty value means ``default`` (SageMaker's missing ContentType = RecordIO)."""
    if value is None or not value.strip():
        return MediaType(default)
    parts = [p.strip() for p in value.split(";")]
    base = parts[0].lower()
    if "/" not in base and base != "*":
        raise UserError(f"Content type {value!r} is not a media type like text/csv")
    base = _ALIASES.get(base, base)
    params: dict[str, str] = {}
    q = 1.0
    for part in parts[1:]:
        if not part:
            continue
        name, sep, raw = part.partition("=")
        if not sep:
            raise UserError(f"Content type {value!r}: parameter {part!r} has no value")
        name = name.strip().lower()
        raw = raw.strip().strip('"')
        if name == "q":
            try:
                q = float(raw)
            except ValueError:
                raise UserError(f"Accept {value!r}: q={raw!r} is not a number") from None
        else:
            params[name] = raw
    return MediaType(base, params, q)


def parse_accept(header: str | None) -> list[MediaType]:
    """All media ranges of an Accept header, best first (stable for equal q)."""
    if header is None or not header.strip():
        return []
    ranges = [parse_media_type(part, default="*/*") for part in _split_accept(header)]
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def _split_accept(header: str) -> list[str]:
    # Commas separate media ranges; parameters never contain commas in the types we serve.
    return [part for part in header.split(",") if part.strip()]


def negotiate(header: str | None, offered: Sequence[str], default: str = JSON) -> MediaType:
    """Pick the response type: the first acceptable offered type, keeping the client's parameters (``verbose``).

    Raises ``UnsupportedAccept`` (406) when nothing offered is acceptable.
    """
    ranges = parse_accept(header)
    if not ranges:
        return MediaType(default)
    for wanted in ranges:
        if wanted.base in ("*/*", "*"):
            return MediaType(default, wanted.params)
        if wanted.base.endswith("/*"):
            prefix = wanted.base[:-1]
            for base in offered:
                if base.startswith(prefix):
                    return MediaType(base, wanted.params)
            continue
        if wanted.base in offered:
            return MediaType(wanted.base, wanted.params)
    raise UnsupportedAccept(f"Accept {header!r} is not supported; this endpoint returns one of: {', '.join(offered)}")
