"""First-party algorithm estimators (``NTM``, ``KNN``), ``get_image_uri`` and the RecordIO-protobuf helpers."""
