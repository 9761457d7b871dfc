"""The k-NN algorithm container: a drop-in for the SageMaker built-in k-NN, built on faiss and the container core.

Training samples ``sample_size`` labelled points across all hosts (reservoir sampling, one pass per host), optionally
reduces their dimension (``sign`` or ``fjlt``), and writes one faiss index plus the labels and an editable JSON
metadata file (``artifacts``). Serving loads them once per worker and answers every request format of the built-in,
``verbose=true`` included (``serve``). Module names follow the container core's concerns.
"""
