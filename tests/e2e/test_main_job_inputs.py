"""What the main job reads: a missing 20 Newsgroups corpus is one clear line, and each run owns its S3 prefix.

The corpus checks run the real ``python -m recommender.tutorial`` (it fails in data preparation, before any store or
training process starts) and the real scikit-learn downloader against a proxy port nothing listens on, so the
download fails at the socket as it does on a machine without network.

The prefix check plants what an earlier notebook run leaves under the tutorial's ``20newsgroups/`` (shards of
another vocabulary) and trains NTM, 2 hosts ``ShardedByS3Key`` as the main job does, on the channels the job's own
upload step returns. The same upload and training on the tutorial's fixed prefix is the control: it must fail on the
planted shard, or the planted objects prove nothing (one host, so the failure is that host's own: with two, which
host's message the SDK reports depends on which finishes first). It runs in a child process (the switch ``import opensagemaker.as_sagemaker`` edits
``sys.modules``) with its own store and job folder under the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recommender import newsgroups, tutorial
from tests.conftest import REPO


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr
    return lines[0]


def _main_job(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != newsgroups.ARCHIVE_ENV}
    environment.update(RECOMMENDER_CACHE=str(tmp_path / "cache"), OPENSAGEMAKER_STORE_DIR=str(tmp_path / "store"),
                       OPENSAGEMAKER_WORK_DIR=str(tmp_path / "jobs"), **env)
    return subprocess.run([sys.executable, "-m", "recommender.tutorial", "--quick", "--output-dir",
                           str(tmp_path / "out"), *args], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_a_missing_archive_option_is_one_line_naming_both_ways_to_give_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / newsgroups.ARCHIVE_NAME
    done = _main_job(tmp_path, "--archive", str(missing))
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert str(missing) in line and "--archive" in line and "$NEWSGROUPS_ARCHIVE" in line
    assert not (tmp_path / "store").exists(), "nothing past data preparation may have started"


def test_an_environment_variable_naming_no_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "gone.tar.gz"
    done = _main_job(tmp_path, NEWSGROUPS_ARCHIVE=str(missing))
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert f"$NEWSGROUPS_ARCHIVE='{missing}' names no file" in line and "--archive" in line


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_archive_and_a_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # "No archive on this machine": the search finds none; scikit-learn's cache is empty; its download goes to a
    # loopback proxy port nothing listens on, so it fails at connect, as without network.
    monkeypatch.setattr(newsgroups, "default_archive", lambda: None)
    monkeypatch.delenv(newsgroups.ARCHIVE_ENV, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))
    monkeypatch.setenv("RECOMMENDER_CACHE", str(tmp_path / "cache"))
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert tutorial.main(["--quick", "--output-dir", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "could not download it" in line and "Connection refused" in line
    assert "--archive" in line and "$NEWSGROUPS_ARCHIVE" in line


# --- the job's own prefix -------------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import numpy as np
    import scipy.sparse as sp

    import opensagemaker.as_sagemaker  # noqa: F401  the main job's switch
    import sagemaker
    from sagemaker.amazon.amazon_estimator import get_image_uri
    from sagemaker.session import s3_input

    from container_core.recordio import write_sparse
    from recommender.prepare import Channels
    from recommender.tutorial import PREFIX, run_prefix, upload_channels

    root = Path(sys.argv[1])
    rng = np.random.default_rng(3)

    def shard(path, rows, width):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            write_sparse(out, sp.csr_matrix(rng.poisson(0.6, size=(rows, width)).astype(np.float32)))
        return path

    sess = sagemaker.Session()
    bucket = sess.default_bucket()
    s3 = sess.s3_client()
    # What a notebook run with a 7-word vocabulary left under the tutorial's prefix.
    stale = root / "stale"
    for key in ("train/train_part0.pbr", "train/train_part9.pbr", "val/val_part0.pbr"):
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=shard(stale / key, 16, 7).read_bytes())
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/auxiliary/vocab.txt", Body=b"a\\nb\\nc\\nd\\ne\\nf\\ng\\n")

    # This run's channels: 20 words, as write_channels lays them out.
    data = root / "data"
    train = [shard(data / "train" / f"train_part{i}.pbr", 24, 20) for i in range(2)]
    val = [shard(data / "val" / "val_part0.pbr", 8, 20)]
    (data / "auxiliary").mkdir()
    vocab = data / "auxiliary" / "vocab.txt"
    vocab.write_text("".join(f"w{i}\\n" for i in range(20)))
    channels = Channels(data / "train", data / "val", data / "auxiliary", train, val, vocab)

    def fit(uris, output, hosts):
        role = "arn:aws:iam::000000000000:role/opensagemaker-local"  # the service validates it as SageMaker does
        ntm = sagemaker.estimator.Estimator(get_image_uri(sess.boto_region_name, "ntm"), role,
                                            train_instance_count=hosts, train_instance_type="ml.c4.xlarge",
                                            output_path=output, sagemaker_session=sess)
        ntm.set_hyperparameters(num_topics=2, feature_dim=20, epochs=1, mini_batch_size=8)
        try:
            ntm.fit({"train": s3_input(uris["train"], distribution="ShardedByS3Key"),
                     "validation": uris["validation"], "auxiliary": uris["auxiliary"]}, logs=False)
        except Exception as error:
            return {"ok": False, "error": str(error)}
        return {"ok": True, "model": ntm.model_data}

    def keys(uri):
        prefix = uri.split("/", 3)[3]
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"][len(prefix):] for item in listed)

    # The control: the same upload under the tutorial's fixed prefix, as the job did before it owned its data.
    fixed = upload_channels(sess, bucket, channels, PREFIX)
    control = fit(fixed, f"s3://{bucket}/{PREFIX}/output", 1)
    prefix = run_prefix()
    owned = upload_channels(sess, bucket, channels, prefix)
    result = fit(owned, f"s3://{bucket}/{prefix}/output", 2)
    print(json.dumps({"control": control, "owned": result, "prefix": prefix, "second_prefix": run_prefix(),
                      "train_keys": keys(owned["train"]), "val_keys": keys(owned["validation"]),
                      "aux_keys": keys(owned["auxiliary"]), "uris": owned}))
""")


@pytest.mark.slow  # two small NTM trainings (1 and 2 hosts) on a few dozen rows, about 30 s
def test_objects_an_earlier_run_left_under_the_tutorial_prefix_do_not_reach_training(tmp_path: Path) -> None:
    env = dict(os.environ, OPENSAGEMAKER_STORE_DIR=str(tmp_path / "store"),
               OPENSAGEMAKER_WORK_DIR=str(tmp_path / "jobs"))
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        from opensagemaker.local_store import LocalStore

        LocalStore(tmp_path / "store").stop()  # the child stops it at exit too; this covers a killed child
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # The planted shards do break a training that reads the tutorial's fixed prefix...
    assert not found["control"]["ok"] and "feature" in found["control"]["error"].lower(), found["control"]
    # ...and the job's own prefix holds exactly this run's files, on which the same training succeeds.
    assert found["owned"]["ok"], found["owned"]
    prefix = found["prefix"]
    assert prefix.startswith(f"{tutorial.PREFIX}/main-job-") and found["second_prefix"] != prefix
    assert found["owned"]["model"].split("/", 3)[3].startswith(f"{prefix}/output/")
    assert all(uri.split("/", 3)[3].startswith(f"{prefix}/") for uri in found["uris"].values())
    assert found["train_keys"] == ["/train_part0.pbr", "/train_part1.pbr"]
    assert found["val_keys"] == ["/val_part0.pbr"] and found["aux_keys"] == ["/vocab.txt"]
