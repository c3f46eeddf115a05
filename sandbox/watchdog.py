"""A host-side deadline for one sandbox container that outlives the harness (issue 21, item 16).

The Docker backend's wall clock lives in the harness process: a harness killed with SIGKILL (OOM killer, kill -9,
a crashed CI job) used to leave its container running with no deadline at all. `DockerSandbox.run` therefore
starts this module as a detached process (its own session, so a signal to the harness's group spares it) with
the container's id and the run's absolute deadline; the harness ends it when the run ends normally. If the
harness dies first, the watchdog sleeps to the deadline (plus a grace) and force-removes the container.

Run as `python -I -S watchdog.py CONTAINER_ID DEADLINE_EPOCH_S` (by path: no package import). It loads
site-packages and the Docker SDK only when it has to act, so an idle watchdog is a sleeping bare interpreter
(a few MB, ~20 ms to start) and holds no secret (its environment is PATH and DOCKER_HOST only).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

GRACE_S = 2.0  # the harness's own kill comes first; this is the backstop


def start(container_id: str, deadline_epoch_s: float) -> subprocess.Popen[bytes]:
    """Launch the watchdog for one container, detached from the harness's session and process group."""
    return subprocess.Popen(
        [sys.executable, "-I", "-S", __file__, container_id, f"{deadline_epoch_s:.3f}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env={key: value for key, value in os.environ.items() if key in ("PATH", "DOCKER_HOST")},
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a watchdog whose run finished under the harness's own supervision."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def main(argv: list[str]) -> int:
    container_id, deadline = argv[0], float(argv[1])
    time.sleep(max(0.0, deadline + GRACE_S - time.time()))
    import site

    site.main()  # started with -S (no site-packages) so an idle watchdog loads nothing; the SDK needs them now
    import docker
    import docker.errors

    client = docker.from_env(timeout=30)
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        client.containers.get(container_id).remove(force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
