"""The SageMaker bring-your-own-container contract, shared by the NTM and k-NN containers.

Nothing here knows about an algorithm: each algorithm package declares its hyperparameters, channels and four
serving handlers, and hands them to this core, which owns the process boundary (``cli``), the ``/opt/ml`` tree
(``paths``), the data formats (``recordio``, ``codecs``) and the HTTP server (``serving``).
"""
