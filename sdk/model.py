"""``Model``: an image plus a ``model.tar.gz``, deployable to an endpoint or used by a batch transform."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from opensagemaker.backends.base import EndpointRequest, ModelRequest
from opensagemaker.naming import base_name_from_image, name_from_base
from opensagemaker.predictor import RealTimePredictor
from opensagemaker.serializers import accept_of, content_type_of, sets_headers_when_assigned

__all__ = ["Model"]


class Model:
    """SDK v1 ``Model(model_data, image, role=None, predictor_cls=None, env=None, name=None, sagemaker_session=None)``."""

    def __init__(
        self,
        model_data: str | None,
        image: str | None = None,
        role: str | None = None,
        predictor_cls: Callable[..., Any] | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
        vpc_config: Any = None,
        sagemaker_session: Any = None,
        enable_network_isolation: bool = False,
        image_uri: str | None = None,
        **_ignored: Any,
    ) -> None:
        image = image or image_uri
        if not image:
            raise ValueError("a Model needs an image URI")
        if sagemaker_session is None:
            from opensagemaker.session import Session

            sagemaker_session = Session()
        self.model_data = model_data
        self.image = image
        self.role = role
        self.predictor_cls = predictor_cls
        self.env = dict(env or {})
        self.name = name
        self.sagemaker_session = sagemaker_session
        self.endpoint_name: str | None = None

    @property
    def image_uri(self) -> str:
        return self.image

    def _request(self) -> ModelRequest:
        if self.name is None:
            self.name = name_from_base(base_name_from_image(self.image))
        return ModelRequest(self.name, self.image, self.model_data, self.role, dict(self.env))

    def _create_sagemaker_model(self, *args: Any, **kwargs: Any) -> None:
        self.sagemaker_session.backend.create_model(self._request())

    def deploy(
        self,
        initial_instance_count: int,
        instance_type: str,
        accelerator_type: str | None = None,
        endpoint_name: str | None = None,
        update_endpoint: bool = False,
        tags: Any = None,
        kms_key: str | None = None,
        wait: bool = True,
        data_capture_config: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        **_ignored: Any,
    ) -> Any:
        """Start an endpoint serving this model; returns ``predictor_cls(endpoint, session)`` (a
        ``RealTimePredictor`` when there is none). ``serializer`` / ``deserializer`` (v2) are set on it."""
        if initial_instance_count is None or int(initial_instance_count) < 1:
            raise ValueError(f"initial_instance_count must be at least 1, got {initial_instance_count}")
        if not instance_type:
            raise ValueError("instance_type is required (e.g. 'ml.m4.xlarge' or 'local')")
        request = self._request()
        backend = self.sagemaker_session.backend
        backend.create_model(request)
        self.endpoint_name = endpoint_name or request.name
        if update_endpoint:
            with contextlib.suppress(ValueError):
                backend.delete_endpoint(self.endpoint_name)
        backend.create_endpoint(
            EndpointRequest(self.endpoint_name, request, int(initial_instance_count), instance_type), wait=wait
        )
        if self.predictor_cls is not None:
            predictor = self.predictor_cls(self.endpoint_name, self.sagemaker_session)
        else:
            predictor = RealTimePredictor(self.endpoint_name, self.sagemaker_session)
        # v2 objects set the headers as long as they are the predictor's; others fix them now
        if serializer is not None:
            predictor.serializer = serializer
            if not sets_headers_when_assigned(serializer):
                predictor.content_type = content_type_of(serializer)
        if deserializer is not None:
            predictor.deserializer = deserializer
            if not sets_headers_when_assigned(deserializer):
                predictor.accept = accept_of(deserializer) or predictor.accept
        if isinstance(predictor, RealTimePredictor):
            predictor._model_names.append(request.name)
        return predictor

    def transformer(
        self,
        instance_count: int,
        instance_type: str,
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        output_kms_key: str | None = None,
        accept: str | None = None,
        env: dict[str, str] | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: Any = None,
        volume_kms_key: str | None = None,
    ) -> Any:
        from opensagemaker.transformer import Transformer

        self._create_sagemaker_model()
        assert self.name is not None
        return Transformer(
            self.name, instance_count, instance_type, strategy=strategy, assemble_with=assemble_with,
            output_path=output_path, accept=accept, max_concurrent_transforms=max_concurrent_transforms,
            max_payload=max_payload, env=env, base_transform_job_name=base_name_from_image(self.image),
            sagemaker_session=self.sagemaker_session,
        )

    def delete_model(self) -> None:
        if self.name:
            self.sagemaker_session.delete_model(self.name)
