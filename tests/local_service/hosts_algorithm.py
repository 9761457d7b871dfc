"""A stand-in training program for service tests (standard library only, so a host starts in milliseconds).

``python hosts_algorithm.py train`` reads ``$SM_OPT_ML`` as SageMaker lays it out; the ``mode`` hyperparameter says
what each host does:

- ``ok``: print each channel's files and a metric line, write ``model/<host>.json`` (its channel files), exit 0;
- ``root-cause``: the losing order for failure reports. ``algo-1`` writes a UserError failure file, then takes
  2 s to exit; ``algo-2`` writes at once the failure a peer writes when its collective lost ``algo-1``, and exits
  first;
- ``sleep``: print a line every 0.1 s for a minute (a job to stop or to kill the service under).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    if sys.argv[1:] != ["train"]:
        sys.exit("usage: hosts_algorithm.py train")
    root = Path(os.environ["SM_OPT_ML"])
    host = json.loads((root / "input/config/resourceconfig.json").read_text())["current_host"]
    mode = json.loads((root / "input/config/hyperparameters.json").read_text()).get("mode", "ok")
    failure = root / "output" / "failure"
    failure.parent.mkdir(parents=True, exist_ok=True)
    if mode == "root-cause":
        if host == "algo-1":
            failure.write_text("Hyperparameter feature_dim=7 does not match the data (5 columns)\n\nError type: UserError\n")
            time.sleep(2)
            return 2
        failure.write_text("lost the connection to another host of this training job (it failed or was stopped; "
                           "see its log): Connection reset by peer\n\nError type: PlatformError\n")
        return 1
    if mode == "sleep":
        for index in range(600):
            print(f"{host} still working {index}", flush=True)
            time.sleep(0.1)
        return 0
    files = {}
    for channel in sorted((root / "input" / "data").iterdir()):
        files[channel.name] = sorted(p.name for p in channel.rglob("*") if p.is_file())
        print(f"{host} channel {channel.name}: {' '.join(files[channel.name])}", flush=True)
    print(f"#quality_metric: host={host}, train total_loss <loss>={1.5 if host == 'algo-1' else 2.5}", flush=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / f"{host}.json").write_text(json.dumps(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
