"""The main job: AWS's content-recommendation tutorial end to end, with its pictures and measured quality.

``python -m recommender.tutorial`` runs, with the SageMaker v1 API calls of the tutorial (through the one-line
switch ``import opensagemaker.as_sagemaker``, so ``import sagemaker`` is this project's SDK and jobs run on its local
backend: processes and a local S3 store, no Docker, no AWS account, no network):

1. data preparation (:mod:`recommender.prepare`): 20 Newsgroups -> bag of words -> RecordIO-protobuf shards and
   ``vocab.txt`` in the store;
2. NTM training on 2 instances, ``train`` channel ``ShardedByS3Key``;
3. an NTM endpoint, and a batch transform of the training documents to topic vectors;
4. k-NN training on the topic vectors (``index_metric=COSINE``, labels = document ids) and its endpoint with
   ``accept="application/jsonlines; verbose=true"``;
5. recommendations for every test document: its topic vector from the NTM endpoint, its 10 nearest training
   documents from the k-NN endpoint (labels reversed, closest first, as the tutorial does);
6. measured quality: precision@10 of NTM+k-NN, and in the same run of TF-IDF cosine k-NN and LDA+k-NN;
7. exploration files: t-SNE map, topic-distribution bars for test documents 18, 25 and 5000, loss curves, topic
   top words with TU and NPMI, and ``report.html`` gathering them with the quality table.

Departures from the tutorial's cells, each printed when it happens: test documents go through
``vectorizer.transform`` (the tutorial's ``fit_transform`` re-fits the vocabulary on the test set); the training
documents' topic vectors come from the batch transform the tutorial also runs (checked against single ``predict``
calls on a sample) instead of one request per training document; the NTM hyperparameters are tuned for
recommendation quality (one 400-unit encoder layer, 64 documents per host and step, all 100 epochs (patience 100),
tolerance 1e-4, and this project's ``normalize_topic_logits`` extension)
and the ``validation`` channel drives early stopping. Test documents go one request each to the NTM and the k-NN
endpoint, as in the tutorial (``--rows-per-request`` sends several rows per request instead). Each run writes under
its own S3 prefix inside the tutorial's ``20newsgroups/`` (:func:`run_prefix`), so objects an earlier run or notebook
left there never join its channels. Endpoints are deleted at the end, also after an error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender import docs_table, plots, quality
from recommender.newsgroups import ARCHIVE_ENV, CorpusNotFound
from recommender.prepare import PreparedCorpus, prepare_corpus, write_channels
from recommender.report import QualityRow, Report, TopicRow, quality_markdown, write_report
from recommender.training_log import TeeStdout, final_metrics, loss_curves

PREFIX = "20newsgroups"  # the tutorial's prefix; each run of the main job writes under its own folder inside it
NUM_TOPICS = 30
NUM_NEIGHBORS = 10
PLOTTED_TEST_DOCUMENTS = (18, 25, 5000)
TOP_WORDS = 10
CHECKED_PREDICTS = 200  # training documents sent one request each, to check the batch transform against predict


@dataclass
class Settings:
    archive: Path | None
    output_dir: Path
    limit: int | None
    epochs: int
    mini_batch_size: int
    optimizer: str
    learning_rate: float
    encoder_layers: str
    num_patience_epochs: int
    tolerance: float
    rows_per_request: int
    lda_iterations: int
    seed: int
    update_docs: bool = False
    normalize_topic_logits: bool = True


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.tutorial",
        description="Run the SageMaker content-recommendation tutorial locally and write its report and plots.",
    )
    parser.add_argument("--archive", type=Path, default=None,
                        help="20news-bydate.tar.gz (default: $NEWSGROUPS_ARCHIVE or shared/data/20newsgroups/)")
    parser.add_argument("--output-dir", type=Path, default=Path("tutorial-output"),
                        help="where the report, plots and tables go (default ./tutorial-output)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first LIMIT posts of each subset (a reduced run)")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced run for a smoke test: --limit 600 --epochs 10 unless given")
    parser.add_argument("--epochs", type=int, default=None, help="NTM epochs (default 100, early stopping)")
    parser.add_argument("--mini-batch-size", type=int, default=64,
                        help="NTM mini_batch_size per host (default 64: 128 documents per step on 2 hosts)")
    parser.add_argument("--optimizer", default="adadelta", help="NTM optimizer (default adadelta)")
    parser.add_argument("--learning-rate", type=float, default=0.001,
                        help="NTM learning_rate (default 0.001; adadelta ignores it)")
    parser.add_argument("--encoder-layers", default="400",
                        help="NTM encoder_layers (default 400: one layer; 'auto' = the built-in's 90,60)")
    parser.add_argument("--num-patience-epochs", type=int, default=100,
                        help="NTM num_patience_epochs (default 100: all epochs run, the best validation epoch is kept)")
    parser.add_argument("--tolerance", type=float, default=0.0001, help="NTM tolerance (default 0.0001)")
    parser.add_argument("--normalize-topic-logits", action=argparse.BooleanOptionalAction, default=True,
                        help="NTM's normalize_topic_logits extension (default on: topic vectors compare by direction)")
    parser.add_argument("--rows-per-request", type=int, default=1,
                        help="test documents per request to the NTM and k-NN endpoints (default 1: the tutorial's "
                             "loop, one request per document)")
    parser.add_argument("--lda-iterations", type=int, default=10, help="passes of the LDA baseline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the t-SNE map")
    parser.add_argument("--update-docs", action="store_true",
                        help="write this run's quality table into README.md and docs/tutorial.md (a full run only)")
    args = parser.parse_args(argv)
    limit = args.limit if args.limit is not None else (600 if args.quick else None)
    epochs = args.epochs if args.epochs is not None else (10 if args.quick else 100)
    for name, value in (("--limit", limit), ("--epochs", epochs), ("--mini-batch-size", args.mini_batch_size),
                        ("--rows-per-request", args.rows_per_request), ("--lda-iterations", args.lda_iterations)):
        if value is not None and value < 1:
            parser.error(f"{name} must be positive, not {value}")
    if args.update_docs and limit is not None:
        parser.error("--update-docs writes the documents' table, which is the full corpus's: drop --limit/--quick")
    return Settings(args.archive, args.output_dir, limit, epochs, args.mini_batch_size, args.optimizer,
                    args.learning_rate, args.encoder_layers, args.num_patience_epochs, args.tolerance,
                    args.rows_per_request, args.lda_iterations, args.seed, args.update_docs,
                    args.normalize_topic_logits)


def ntm_hyperparameters(settings: Settings, vocab_size: int) -> dict[str, Any]:
    """The NTM hyperparameters of the main job (also what tests/e2e/test_quality_table.py re-trains with)."""
    return dict(num_topics=NUM_TOPICS, feature_dim=vocab_size, mini_batch_size=settings.mini_batch_size,
                epochs=settings.epochs, num_patience_epochs=settings.num_patience_epochs,
                tolerance=settings.tolerance, optimizer=settings.optimizer, learning_rate=settings.learning_rate,
                encoder_layers=settings.encoder_layers, normalize_topic_logits=settings.normalize_topic_logits)


class Progress:
    """One line per step, stamped with the time since the start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps: list[tuple[str, float]] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    @contextlib.contextmanager
    def step(self, name: str):
        self(f"== {name}")
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.steps.append((name, seconds))
        self(f"== {name}: done in {seconds:.1f} s")


@dataclass
class Outcome:
    """What a run measured (returned by :func:`run`, also written as ``quality.json``)."""

    quality: list[QualityRow]
    total_seconds: float
    report: Path
    figures: list[Path] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


# --- helpers around the endpoints -----------------------------------------------------------------------------------


def _csv_rows(rows: np.ndarray) -> str:
    """Dense rows as CSV text, one line per row, no trailing newline (what ``csv_serializer`` sends)."""
    buffer = io.StringIO()
    np.savetxt(buffer, rows, delimiter=",", fmt="%.9g")
    return buffer.getvalue().rstrip("\n")


def _json_documents(text: str) -> list[Any]:
    """Every JSON document of ``text``: one, several concatenated, or one per line (batch transform output)."""
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return documents
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


def topic_weights_of(documents: Sequence[Any]) -> np.ndarray:
    """(n, K) topic weights from NTM responses (``{"predictions": [...]}`` documents or ``{"topic_weights": ...}``
    lines)."""
    rows: list[list[float]] = []
    for document in documents:
        if isinstance(document, dict) and "predictions" in document:
            rows.extend(p["topic_weights"] for p in document["predictions"])
        elif isinstance(document, dict) and "topic_weights" in document:
            rows.append(document["topic_weights"])
        else:
            raise ValueError(f"not an NTM response: {str(document)[:200]}")
    return np.asarray(rows, dtype=np.float64)


def _in_blocks(count: int, size: int, say: Callable[[str], None], what: str):
    """Yield (lo, hi) blocks over ``count`` rows, reporting progress about every 10%."""
    every = max(1, count // 10)
    next_report = every
    for lo in range(0, count, size):
        hi = min(count, lo + size)
        yield lo, hi
        if hi >= next_report or hi == count:
            say(f"{what}: {hi}/{count}")
            while next_report <= hi:
                next_report += every


def run_prefix() -> str:
    """``20newsgroups/main-job-<UTC time>-<random>``: a prefix no earlier run or notebook has written to.

    The tutorial's channels are S3 prefixes, so any object left under ``20newsgroups/train`` (a notebook run with
    another vocabulary, say) would join this run's ``train`` channel; a fresh prefix per run owns all it reads."""
    return f"{PREFIX}/main-job-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def upload_channels(sess: Any, bucket: str, channels: Any, prefix: str) -> dict[str, str]:
    """Upload the ``train``, ``validation`` and ``auxiliary`` folders under ``prefix``; their S3 URIs by channel."""
    return {
        "train": sess.upload_data(str(channels.train), bucket=bucket, key_prefix=f"{prefix}/train"),
        "validation": sess.upload_data(str(channels.validation), bucket=bucket, key_prefix=f"{prefix}/val"),
        "auxiliary": sess.upload_data(str(channels.auxiliary), bucket=bucket, key_prefix=f"{prefix}/auxiliary"),
    }


# --- the run ----------------------------------------------------------------------------------------------------


def run(settings: Settings) -> Outcome:
    progress = Progress()
    out = settings.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {}
    notes: list[str] = []

    # --- Module 2: data preparation -------------------------------------------------------------------------------
    with progress.step("data preparation"):
        corpus = prepare_corpus(settings.archive, limit=settings.limit, progress=progress)
        channels = write_channels(corpus, out / "data", train_shards=8)
        progress(f"wrote {len(channels.train_files)} training shards, the validation shard and vocab.txt "
                 f"under {out / 'data'}")
    vectors, newidx, train_labels, categories = corpus.vectors, corpus.newidx, corpus.train_labels, corpus.categories
    vocab_size = vectors.shape[1]
    facts.update(training_documents=int(vectors.shape[0]), test_documents=int(corpus.test_vectors.shape[0]),
                 vocabulary=int(vocab_size))

    # The one-line switch: from here on `import sagemaker` is opensagemaker (local backend by default).
    import opensagemaker.as_sagemaker  # noqa: F401

    # isort: split
    import sagemaker
    from sagemaker import get_execution_role
    from sagemaker.amazon.amazon_estimator import get_image_uri
    from sagemaker.predictor import RealTimePredictor, csv_serializer, json_deserializer
    from sagemaker.session import s3_input

    predictors: list[Any] = []
    try:
        with progress.step("upload to the store"):
            sess = sagemaker.Session()
            bucket = sess.default_bucket()
            role = get_execution_role(sess)
            prefix = run_prefix()
            progress(f"this run's data and models go under s3://{bucket}/{prefix}/ (its own prefix: objects "
                     f"that earlier runs or notebooks left under {PREFIX}/ are not read)")
            uploaded = upload_channels(sess, bucket, channels, prefix)
            s3_train_data, s3_val_data, s3_aux_data = uploaded["train"], uploaded["validation"], uploaded["auxiliary"]
            output_path = f"s3://{bucket}/{prefix}/output"
            progress(f"train {s3_train_data}, validation {s3_val_data}, auxiliary {s3_aux_data}")

        # --- Module 3: NTM ------------------------------------------------------------------------------------------
        with progress.step("NTM training (2 instances, ShardedByS3Key)"):
            container = get_image_uri(sess.boto_region_name, "ntm")
            ntm = sagemaker.estimator.Estimator(container, role, train_instance_count=2,
                                                train_instance_type="ml.c4.xlarge", output_path=output_path,
                                                sagemaker_session=sess)
            hyperparameters = ntm_hyperparameters(settings, vocab_size)
            ntm.set_hyperparameters(**hyperparameters)
            progress(f"hyperparameters: {hyperparameters}")
            s3_train = s3_input(s3_train_data, distribution="ShardedByS3Key")
            tee = TeeStdout()
            with contextlib.redirect_stdout(tee):
                ntm.fit({"train": s3_train, "validation": s3_val_data, "auxiliary": s3_aux_data})
            training_log = tee.text()
            (out / "ntm-training.log").write_text(training_log, encoding="utf-8")
            curves = loss_curves(training_log)
            ntm_metrics = final_metrics(training_log)
            epochs_run = len(curves.get("train", []))
            facts.update(ntm_hyperparameters=hyperparameters, ntm_epochs_run=epochs_run, ntm_metrics=ntm_metrics)
            progress(f"NTM trained for {epochs_run} epochs; final metrics {ntm_metrics}")

        with progress.step("NTM endpoint"):
            ntm_predictor = ntm.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
            predictors.append(ntm_predictor)
            ntm_predictor.content_type = "text/csv"
            ntm_predictor.serializer = csv_serializer
            ntm_predictor.deserializer = json_deserializer

        with progress.step("NTM batch transform of the training documents"):
            csv_path = out / "trainvectors.csv"
            np.savetxt(csv_path, vectors.toarray(), delimiter=",", fmt="%i")
            batch_prefix = f"{prefix}/batch"
            train_s3 = sess.upload_data(str(csv_path), bucket=bucket, key_prefix=f"{batch_prefix}/train")
            batch_output_path = f"s3://{bucket}/{batch_prefix}/test"
            ntm_transformer = ntm.transformer(instance_count=1, instance_type="ml.m4.xlarge",
                                              output_path=batch_output_path)
            ntm_transformer.transform(train_s3, content_type="text/csv", split_type="Line")
            ntm_transformer.wait()
            output_text = sess.read_s3_file(bucket, f"{batch_prefix}/test/trainvectors.csv.out")
            predictions = topic_weights_of(_json_documents(output_text))
            csv_path.unlink()
            # The transform's input is a dense copy of the bag of words, the largest object of a run: every run
            # makes its own, so it is not left in the store.
            sess.s3_client().delete_object(Bucket=bucket, Key=train_s3.removeprefix(f"s3://{bucket}/"))
            if predictions.shape != (vectors.shape[0], NUM_TOPICS):
                raise RuntimeError(f"the batch transform gave {predictions.shape} topic vectors for "
                                   f"{vectors.shape[0]} documents")
            progress(f"topic vectors of {predictions.shape[0]} training documents from {batch_output_path}")

        with progress.step(f"checking the batch transform against single predict calls ({CHECKED_PREDICTS} docs)"):
            checked = min(CHECKED_PREDICTS, vectors.shape[0])
            started = time.perf_counter()
            single = []
            for item in np.array(vectors[:checked].todense()):
                results = ntm_predictor.predict(item)
                single.append([p["topic_weights"] for p in results["predictions"]][0])
            per_request = (time.perf_counter() - started) / checked
            difference = float(np.abs(np.asarray(single) - predictions[:checked]).max())
            facts.update(ntm_single_predict_ms=round(per_request * 1000, 2), batch_vs_predict_max_diff=difference)
            progress(f"{per_request * 1000:.2f} ms per single-document request; largest difference to the batch "
                     f"transform {difference:.2e}")
            if difference > 1e-4:
                raise RuntimeError(f"batch transform and predict disagree by {difference}")

        # --- Module 4: k-NN -------------------------------------------------------------------------------------
        labels = newidx
        labeldict = dict(zip(newidx.tolist(), range(len(newidx)), strict=True))

        with progress.step("k-NN training (COSINE)"):
            import boto3
            import sagemaker.amazon.common as smac

            buf = io.BytesIO()
            smac.write_numpy_to_dense_tensor(buf, predictions, labels)
            buf.seek(0)
            fname = os.path.join(prefix, "knn/train")
            boto3.resource("s3").Bucket(bucket).Object(fname).upload_fileobj(buf)
            s3_knn_train = f"s3://{bucket}/{fname}"
            knn = sagemaker.estimator.Estimator(get_image_uri(sess.boto_region_name, "knn"), role,
                                                train_instance_count=1, train_instance_type="ml.c4.xlarge",
                                                output_path=f"s3://{bucket}/{prefix}/knn/output",
                                                sagemaker_session=sess)
            knn.set_hyperparameters(feature_dim=predictions.shape[1], k=NUM_NEIGHBORS,
                                    sample_size=predictions.shape[0], predictor_type="classifier",
                                    index_metric="COSINE")
            knn.fit({"train": s3_knn_train})

        with progress.step("k-NN endpoint (accept=application/jsonlines; verbose=true)"):
            endpoint_name = "knn-ml-m4-xlarge-{}".format(str(time.time()).replace(".", "-"))
            knn_predictor = knn.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge",
                                       endpoint_name=endpoint_name, accept="application/jsonlines; verbose=true")
            predictors.append(knn_predictor)
            knn_predictor.content_type = "text/csv"
            knn_predictor.serializer = csv_serializer
            knn_predictor.deserializer = json_deserializer

        rows = settings.rows_per_request
        test_vectors = corpus.test_vectors
        progress("test documents: vectorizer.transform with the training vocabulary (the tutorial's cell calls "
                 "fit_transform, which re-fits the vocabulary on the test set)")
        with progress.step(f"NTM topic vectors of {test_vectors.shape[0]} test documents ({rows} per request)"):
            if rows == 1:
                test_topics_list = []
                for lo, hi in _in_blocks(test_vectors.shape[0], 1, progress, "test documents"):
                    vec = test_vectors[lo:hi].toarray()[0]
                    test_result = ntm_predictor.predict(vec)
                    test_topics_list.append(test_result["predictions"][0]["topic_weights"])
                test_topics = np.asarray(test_topics_list)
            else:
                blocks = []
                for lo, hi in _in_blocks(test_vectors.shape[0], rows, progress, "test documents"):
                    blocks.append(topic_weights_of([ntm_predictor.predict(_csv_rows(test_vectors[lo:hi].toarray()))]))
                test_topics = np.concatenate(blocks)

        with progress.step(f"k-NN recommendations for {test_topics.shape[0]} test documents ({rows} per request)"):
            topic_predictions = []
            if rows == 1:
                for lo, _hi in _in_blocks(test_topics.shape[0], 1, progress, "recommendations"):
                    result = knn_predictor.predict(test_topics[lo])
                    cur_predictions = np.array([int(result["labels"][i]) for i in range(len(result["labels"]))])
                    topic_predictions.append(cur_predictions[::-1][:10])
            else:
                # Several rows per request answer several JSON lines, which json_deserializer cannot read: a second
                # predictor on the same endpoint returns the bytes.
                lines_predictor = RealTimePredictor(knn_predictor.endpoint_name, sagemaker_session=sess,
                                                    content_type="text/csv",
                                                    accept="application/jsonlines; verbose=true")
                for lo, hi in _in_blocks(test_topics.shape[0], rows, progress, "recommendations"):
                    body = lines_predictor.predict(_csv_rows(test_topics[lo:hi])).decode("utf-8")
                    for result in _json_documents(body):
                        cur_predictions = np.array([int(label) for label in result["labels"]])
                        topic_predictions.append(cur_predictions[::-1][:10])
            topic_predictions = np.asarray(topic_predictions)
            if topic_predictions.shape != (test_topics.shape[0], NUM_NEIGHBORS):
                raise RuntimeError(f"got recommendations of shape {topic_predictions.shape}")

        # --- quality ------------------------------------------------------------------------------------------------
        with progress.step("precision@10 of NTM+k-NN and the baselines"):
            test_labels = corpus.test_labels
            ntm_precision = quality.precision_at_k(train_labels[topic_predictions], test_labels)
            exact = quality.knn_precision(predictions, corpus.row_labels, test_topics, test_labels, NUM_NEIGHBORS)
            progress(f"NTM + k-NN endpoint: {ntm_precision:.4f} (exact cosine search on the same topic vectors: "
                     f"{exact:.4f})")
            tfidf = quality.tfidf_knn_precision(vectors, corpus.row_labels, test_vectors, test_labels, NUM_NEIGHBORS)
            progress(f"TF-IDF cosine k-NN: {tfidf.precision:.4f} ({tfidf.seconds:.1f} s)")
            lda = quality.lda_knn_precision(vectors, corpus.row_labels, test_vectors, test_labels, NUM_NEIGHBORS,
                                            n_topics=NUM_TOPICS, max_iter=settings.lda_iterations)
            progress(f"LDA ({NUM_TOPICS} topics) + cosine k-NN: {lda.precision:.4f} ({lda.seconds:.1f} s)")
            ntm_seconds = sum(s for name, s in progress.steps if name.startswith(("NTM", "k-NN")))
            table = [
                QualityRow("NTM + k-NN (the tutorial's endpoints)", ntm_precision, ntm_seconds,
                           f"{NUM_TOPICS} topics, 2-host training, COSINE k-NN endpoint; time = NTM and k-NN steps"),
                QualityRow("TF-IDF + cosine k-NN", tfidf.precision, tfidf.seconds, f"{vocab_size} words"),
                QualityRow("LDA + cosine k-NN", lda.precision, lda.seconds,
                           f"scikit-learn online LDA, {NUM_TOPICS} topics, {settings.lda_iterations} passes"),
            ]
            facts["exact_cosine_precision_on_ntm_vectors"] = exact

        # --- exploration ----------------------------------------------------------------------------------------
        with progress.step("exploration: topics, t-SNE, topic distributions, loss curves"):
            figures: list[tuple[str, Path]] = []
            topic_word = _topic_word_matrix(sess, ntm.model_data)
            top_ids = quality.top_word_ids(topic_word, TOP_WORDS)
            tu = quality.topic_uniqueness_per_topic(top_ids)
            npmi = quality.npmi_per_topic(top_ids, vectors)
            topics = [TopicRow(t, [corpus.vocabulary[i] for i in top_ids[t]], float(tu[t]), float(npmi[t]))
                      for t in range(top_ids.shape[0])]
            facts.update(mean_tu=float(tu.mean()), mean_npmi=float(npmi.mean()))
            progress(f"topics: mean TU {tu.mean():.3f}, mean NPMI {npmi.mean():.3f}")

            tsne_seconds = plots.tsne_map(predictions, corpus.row_labels, categories, out / "tsne.png",
                                          seed=settings.seed)
            facts["tsne_seconds"] = round(tsne_seconds, 1)
            progress(f"t-SNE of {predictions.shape[0]} x {predictions.shape[1]} topic vectors: {tsne_seconds:.1f} s")
            figures.append(("t-SNE map of the training documents' topic vectors, coloured by newsgroup",
                            out / "tsne.png"))

            for wanted in PLOTTED_TEST_DOCUMENTS:
                doc = wanted if wanted < len(test_topics) else len(test_topics) - 1
                if doc != wanted:
                    notes.append(f"test document {wanted} does not exist in this reduced run; plotted {doc} instead")
                k = 5
                neighbours = topic_predictions[doc][:k]
                closest = np.array([predictions[labeldict[int(x)]] for x in neighbours])
                names = [f"doc {int(x)} ({categories[train_labels[int(x)]]})" for x in neighbours]
                path = out / f"topic_distribution_{wanted}.png"
                plots.topic_distribution(
                    test_topics[doc], closest, path, neighbour_names=names,
                    test_name=f"Test Document Distribution ({categories[test_labels[doc]]})",
                    title=f"Test document {doc} and its {k} nearest training documents",
                )
                figures.append((f"Topic distribution of test document {doc} ({categories[test_labels[doc]]}) "
                                f"beside its {k} nearest training documents", path))

            if curves:
                plots.loss_curves(curves, out / "loss_curves.png",
                                  title=f"NTM training ({epochs_run} epochs, 2 hosts)")
                figures.append(("NTM total_loss per epoch (training and validation)", out / "loss_curves.png"))
            else:
                notes.append("the training log held no per-epoch loss lines, so there is no loss plot")
    finally:
        for predictor in predictors:
            try:
                predictor.delete_endpoint()
                progress(f"deleted endpoint {predictor.endpoint_name}")
            except Exception as error:  # report and go on: the other endpoint must still be deleted
                progress(f"could not delete endpoint {predictor.endpoint_name}: {error}")

    total = progress.elapsed()
    facts["total_seconds"] = round(total, 1)
    facts["steps_seconds"] = {name: round(seconds, 1) for name, seconds in progress.steps}
    notes.append("Test documents are vectorized with vectorizer.transform (training vocabulary); the tutorial's "
                 "cell calls fit_transform, which re-fits the vocabulary on the test set.")
    notes.append(f"Training topic vectors come from the NTM batch transform (checked against "
                 f"{min(CHECKED_PREDICTS, vectors.shape[0])} single predict calls); test documents went "
                 f"{settings.rows_per_request} per request to the NTM and k-NN endpoints.")
    report = Report(
        title="Content recommendation with NTM + k-NN on 20 Newsgroups",
        k=NUM_NEIGHBORS, queries=int(len(test_topics)), quality=table, topics=topics, figures=figures, notes=notes,
        facts=[("total time", f"{total:.1f} s"),
               ("documents", f"{vectors.shape[0]} training (index), {test_vectors.shape[0]} test (queries)"),
               ("NTM hyperparameters", json.dumps(hyperparameters)),
               ("NTM epochs run", str(epochs_run)),
               ("NTM final metrics", json.dumps(ntm_metrics)),
               ("single predict latency", f"{facts['ntm_single_predict_ms']} ms"),
               ("exact cosine k-NN on the NTM vectors", f"{exact:.4f}"),
               *[(f"step: {name}", f"{seconds:.1f} s") for name, seconds in progress.steps]],
    )
    report_path = write_report(report, out / "report.html")
    (out / "quality.md").write_text(quality_markdown(table, NUM_NEIGHBORS) + "\n", encoding="utf-8")
    if settings.update_docs:
        for path in docs_table.update(quality_markdown(table, NUM_NEIGHBORS)):
            print(f"updated the quality table of {path}")
    (out / "quality.json").write_text(json.dumps({
        "precision_at_k": {row.method: row.precision for row in table}, "k": NUM_NEIGHBORS, **facts,
    }, indent=1, default=float), encoding="utf-8")
    (out / "topics.md").write_text("".join(
        f"topic {t.topic:2d} TU {t.tu:.2f} NPMI {t.npmi:+.2f}: {' '.join(t.words)}\n" for t in topics),
        encoding="utf-8")
    print()
    print(quality_markdown(table, NUM_NEIGHBORS))
    print()
    print(f"report: {report_path}")
    print(f"total time: {total:.1f} s")
    return Outcome(table, total, report_path, [path for _, path in figures], facts)


def _topic_word_matrix(sess: Any, model_data: str) -> np.ndarray:
    """The (K, V) ``topic_word.npy`` of the NTM model artifact in the store (read without unpickling)."""
    bucket, _, key = model_data.removeprefix("s3://").partition("/")
    body = sess.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        for member in tar:
            if member.isfile() and Path(member.name).name == "topic_word.npy":
                handle = tar.extractfile(member)
                assert handle is not None
                return np.load(io.BytesIO(handle.read()), allow_pickle=False)
    raise RuntimeError(f"{model_data} holds no topic_word.npy")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except CorpusNotFound as error:  # one line that says what to do, not a traceback
        print(f"python -m recommender.tutorial: {error}. Pass --archive PATH/20news-bydate.tar.gz or set "
              f"${ARCHIVE_ENV}.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Outcome", "PreparedCorpus", "Settings", "main", "parse_args", "run", "run_prefix", "upload_channels"]
