"""The NTM container: a neural topic model (NVDM-style variational encoder) on the shared container core.

``ntm-container train`` / ``ntm-container serve`` (see ``cli``). Modules follow the core's concern names:
``hyperparameters`` (the schema), ``channels``, ``model`` (the torch modules), ``optimizers`` (the five update
rules), ``train`` (the epoch loop, early stopping, checkpoints), ``cluster`` (the multi-host all-reduce), ``topics``
(top words, TU, NPMI, WETC), ``artifacts`` (the safe model format), ``inference`` (the encoder's forward pass in
numpy) and ``serve`` (the four inference handlers, which never import torch).
"""
