"""The local SageMaker service: AWS's SageMaker API on loopback, running NTM and k-NN as local processes.

Any SageMaker client (this SDK, AWS's SageMaker Python SDK v2 / v3, plain boto3, the AWS CLI) reaches it with
nothing but environment variables (``python -m opensagemaker.local env`` prints them). Modules:

- ``control``: find / start / stop the service process, and its environment;
- ``server``: the process itself, routing each request by the protocol botocore speaks;
- ``wire``: parsing, validation and errors with botocore's own service models;
- ``sagemaker_api``: the SageMaker operations and the jobs and endpoints they run;
- ``logs``: the CloudWatch Logs streams of jobs;
- ``records``: the records on disk.
"""

from opensagemaker.local_service.control import LocalService, LocalServiceError, default_root, ensure_running

__all__ = ["LocalService", "LocalServiceError", "default_root", "ensure_running"]
