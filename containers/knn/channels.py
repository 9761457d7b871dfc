"""The k-NN channels: ``train`` (sampled and indexed) and ``test`` (scored), both labelled (docs/contract.md §2.2).

RecordIO-protobuf records carry the label in ``label["values"]``; CSV rows carry it in the first column
(``label_size`` defaults to 1 for k-NN training, A3). A record or row without a label is a ``UserError`` that names
the file and the record.
"""

from __future__ import annotations

from collections.abc import Iterator

from container_core import codecs, recordio
from container_core.batch import Batch
from container_core.channels import Channel, ChannelSpec
from container_core.errors import UserError
from container_core.mime import CSV, RECORDIO

CHANNELS = (
    ChannelSpec("train", (RECORDIO, CSV), required=True, description="labelled points to sample and index"),
    ChannelSpec("test", (RECORDIO, CSV), description="labelled points scored with the built index"),
)


def labelled_batches(channel: Channel, feature_dim: int, batch_size: int) -> Iterator[Batch]:
    """Stream a channel's files as batches that all carry labels."""
    files = channel.files()
    if channel.content_type.base == CSV:
        raw = channel.content_type.param("label_size", "1")
        try:
            label_size = int(raw)
        except ValueError:
            raise UserError(f"Channel {channel.name!r}: label_size={raw!r} is not an integer") from None
        if label_size != 1:
            raise UserError(
                f"Channel {channel.name!r}: k-NN needs exactly one label column (label_size=1), got label_size={raw}"
            )
        yield from codecs.read_csv_batches(files, batch_size, feature_dim, 1, channel.content_type.param("charset"))
    else:
        yield from recordio.read_batches(files, batch_size, feature_dim, need_label=True)
