"""Media type parsing and Accept negotiation (docs/contract.md A4)."""

from __future__ import annotations

import pytest

from container_core.errors import UnsupportedAccept, UserError
from container_core.mime import JSON, JSONLINES, RECORDIO, negotiate, parse_media_type

OFFERED = (JSON, JSONLINES, RECORDIO)


def test_parse_parameters() -> None:
    media = parse_media_type('text/CSV; label_size=1; charset="utf-8"')
    assert media.base == "text/csv" and media.param("label_size") == "1" and media.param("charset") == "utf-8"


def test_missing_content_type_is_recordio() -> None:
    assert parse_media_type(None).base == RECORDIO
    assert parse_media_type("").base == RECORDIO


def test_malformed_media_type() -> None:
    with pytest.raises(UserError):
        parse_media_type("csv")


@pytest.mark.parametrize(
    ("accept", "base", "verbose"),
    [
        (None, JSON, False),
        ("", JSON, False),
        ("*/*", JSON, False),
        ("application/jsonlines; verbose=true", JSONLINES, True),
        ("application/json;verbose=True", JSON, True),
        ("text/html;q=0.9, application/x-recordio-protobuf", RECORDIO, False),
        ("image/png, application/*;q=0.5", JSON, False),
        ("application/jsonlines;q=0.2, application/json;q=0.8", JSON, False),
    ],
)
def test_negotiate(accept, base, verbose) -> None:
    chosen = negotiate(accept, OFFERED)
    assert chosen.base == base and chosen.flag("verbose") is verbose


def test_unsupported_accept_is_406() -> None:
    with pytest.raises(UnsupportedAccept) as caught:
        negotiate("text/html, image/png", OFFERED)
    assert caught.value.http_status == 406 and "text/html" in str(caught.value)
