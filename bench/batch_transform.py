"""NTM batch transform end to end through the SDK's local backend, against the same handlers called in-process.

The tutorial's batch step on tutorial-sized input: 11,314 documents x 2,000 words of counts, written as CSV with
``np.savetxt(..., delimiter=',', fmt='%i')`` (as the tutorial writes ``trainvectors.csv``) and as sparse
RecordIO-protobuf (``write_sparse``, what ``write_spmatrix_to_sparse_tensor`` writes). The SDK side is the
tutorial's code: ``Estimator(get_image_uri(..., 'ntm'), ...)`` trained for one epoch on the local backend, then
``ntm.transformer(1, 'ml.m4.xlarge', output_path=...).transform(uri, content_type=..., split_type='Line' | 'RecordIO')``
and ``wait()``: model server start, reading from the local S3 store, splitting, MultiRecord batching (6 MB), HTTP,
assembling and writing the output back. The alternative is the same model artifact (downloaded from the job's
``model.tar.gz``) called in-process through the same handlers on the same request bodies the SDK sends (the SDK's
own ``split_records``/``pack``). The two sides alternate (``--repeats`` each, order flipping every round); MB/s =
input bytes / seconds. Target (issue 7): the CSV transform of the 11,314-document set under 15 s end to end.

    .venv/bin/python bench/batch_transform.py [--repeats 2] [--no-write]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import markdown, write_section  # noqa: E402
from serving import REPO, sparse_counts  # noqa: E402

DOCUMENTS, VOCABULARY, TOPICS = 11_314, 2_000, 30
TARGET_CSV_S = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    os.environ.update(OPENSAGEMAKER_STORE_DIR=str(work / "store"), OPENSAGEMAKER_WORK_DIR=str(work / "work"),
                      PYTHONPATH=str(REPO))
    from container_core import recordio
    from container_core.mime import negotiate, parse_media_type
    from container_core.serving import load_handlers
    from opensagemaker import Estimator, Session, get_image_uri
    from opensagemaker.backends import shutdown_backend, storage
    from opensagemaker.backends.local_transform import pack, split_records
    from opensagemaker.local_store import LocalStore

    matrix = sparse_counts(DOCUMENTS, VOCABULARY, seed=0)
    csv_path, pbr_path = work / "trainvectors.csv", work / "trainvectors.pbr"
    np.savetxt(csv_path, matrix.toarray(), delimiter=",", fmt="%i")
    with open(pbr_path, "wb") as out:
        recordio.write_sparse(out, matrix)
    rows = []
    try:
        session = Session()
        bucket = session.default_bucket()
        train_uri = session.upload_data(str(pbr_path), bucket=bucket, key_prefix="bench/ntm-train")
        ntm = Estimator(get_image_uri("us-east-1", "ntm"), "role", train_instance_count=1,
                        train_instance_type="ml.c4.xlarge", output_path=f"s3://{bucket}/bench/ntm-out",
                        sagemaker_session=session)
        ntm.set_hyperparameters(num_topics=TOPICS, feature_dim=VOCABULARY, mini_batch_size=128, epochs=1)
        ntm.fit({"train": train_uri}, logs=False)
        model_dir = work / "model"
        with tarfile.open(fileobj=io.BytesIO(storage.read_bytes(session.s3_client(), ntm.model_data))) as archive:
            archive.extractall(model_dir, filter="data")
        os.environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = "1"
        handlers = load_handlers("ntm_container.serve:HANDLERS")
        model = handlers.model_fn(model_dir)

        cases = [("CSV (`text/csv`, split Line)", csv_path, "text/csv", "Line"),
                 ("RecordIO-protobuf sparse (split RecordIO)",
                  pbr_path, "application/x-recordio-protobuf", "RecordIO")]
        for name, path, content_type, split in cases:
            data = path.read_bytes()
            uri = session.upload_data(str(path), bucket=bucket, key_prefix=f"bench/batch-{split}")
            media = parse_media_type(content_type, default="")
            accept = negotiate(None, handlers.accept_types)

            def in_process(data: bytes = data, split: str = split, media=media, accept=accept) -> tuple[float, int]:
                started = time.perf_counter()
                requests = 0
                out = io.BytesIO()
                for body in pack(split_records(data, split, "input"), split, "MultiRecord", 6 * 1024 * 1024, "input"):
                    batch = handlers.input_fn(body, media, model)
                    out.write(handlers.output_fn(handlers.predict_fn(batch, model), accept, model))
                    requests += 1
                return time.perf_counter() - started, requests

            def through_sdk(uri: str = uri, content_type: str = content_type, split: str = split) -> float:
                transformer = ntm.transformer(instance_count=1, instance_type="ml.m4.xlarge",
                                              output_path=f"s3://{bucket}/bench/batch-out-{split}")
                started = time.perf_counter()
                transformer.transform(uri, content_type=content_type, split_type=split)
                transformer.wait(logs=False)
                return time.perf_counter() - started

            local_s, sdk_s, requests = [], [], 0
            for repeat in range(args.repeats):
                for side in (("local", "sdk") if repeat % 2 == 0 else ("sdk", "local")):
                    if side == "local":
                        seconds, requests = in_process()
                        local_s.append(seconds)
                    else:
                        sdk_s.append(through_sdk())
                print(f"{name}: in-process {local_s[-1]:.2f} s, SDK {sdk_s[-1]:.2f} s", file=sys.stderr)
            mb = len(data) / 1e6
            local, sdk = float(np.median(local_s)), float(np.median(sdk_s))
            is_csv = split == "Line"
            rows.append([name, f"{mb:.1f}", requests, f"{local:.2f}", f"{mb / local:.1f}", f"{sdk:.2f}",
                         f"{min(sdk_s):.2f}-{max(sdk_s):.2f}", f"{mb / sdk:.1f}", f"{local / sdk:.0%}",
                         f"< {TARGET_CSV_S:.0f} s" if is_csv else "",
                         ("yes" if sdk < TARGET_CSV_S else "NO") if is_csv else ""])
    finally:
        shutdown_backend("local")
        LocalStore(work / "store").stop()
    load_after = os.getloadavg()
    table = [["input", "MB", "requests (6 MB MultiRecord)", "in-process s", "in-process MB/s", "SDK end to end s",
              "(min-max)", "SDK MB/s", "SDK / in-process", "target", "met"], *rows]
    note = (
        f"`bench/batch_transform.py`: NTM ({TOPICS} topics, vocabulary {VOCABULARY:,}, trained one epoch through the "
        f"SDK) transforming {DOCUMENTS:,} synthetic documents (Zipf word counts, ~120 words each), end to end "
        "through `Estimator.transformer(...).transform(...)` + `wait()` on the local backend (server start, local "
        "S3 store in and out, splitting, 6 MB MultiRecord requests over HTTP, one worker), against the same "
        "artifact called in-process through the same handlers on the same request bodies; median of "
        f"{args.repeats} alternating runs each. {os.cpu_count()} CPU cores; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute)."
    )
    if args.no_write:
        print(note + "\n\n" + markdown(table))
    else:
        write_section("NTM batch transform", table, note)


if __name__ == "__main__":
    main()
