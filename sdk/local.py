"""``python -m opensagemaker.local start|status|env|stop``: the local SageMaker service from a shell.

- ``start``: start the service (and its store) and keep it running until ``stop``;
- ``status``: whether it runs, where, and its endpoints and jobs (exit code 1 when it does not run);
- ``env``: ``export`` lines that point any AWS client at it (``eval "$(python -m opensagemaker.local env)"``),
  starting it if needed;
- ``stop``: stop it (its model servers and jobs with it; the records stay for the next start) and its store.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from opensagemaker.local_service.control import LocalService


def _status(service: LocalService) -> int:
    if not service.is_running():
        print(f"not running (records in {service.root})")
        return 1
    client = service.client("sagemaker")
    endpoints = client.list_endpoints(MaxResults=100)["Endpoints"]
    jobs = client.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
    print(f"running: pid {service.pid}, {service.endpoint_url}, records in {service.root}, log {service.log_file}")
    for endpoint in endpoints:
        print(f"endpoint {endpoint['EndpointName']}: {endpoint['EndpointStatus']}")
    for job in jobs:
        print(f"training job {job['TrainingJobName']}: {job['TrainingJobStatus']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opensagemaker.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "status", "env", "stop"))
    args = parser.parse_args(argv)
    service = LocalService()
    if args.command == "status":
        return _status(service)
    if args.command == "stop":
        from opensagemaker.local_store import LocalStore

        stopped = service.stop()
        LocalStore(service.store_root).stop()
        print("stopped" if stopped else "was not running")
        return 0
    service.start(persistent=True, register=False)
    if args.command == "start":
        print(f"running: pid {service.pid}, {service.endpoint_url}")
        return 0
    for name, value in sorted(service.proxy_environment().items()):
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
