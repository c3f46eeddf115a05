"""The sandbox image: its name, where the unpacked root filesystem for bubblewrap lives, and how both are built.

One recipe (`sandbox/image/build.sh`: Debian's mmdebstrap, no registry needed) produces both the Docker image and
the read-only root the `local` (bubblewrap) backend binds as `/`, so experiments see the same Python and
libraries in either.
Where a registry is reachable, `Dockerfile.registry` builds the Docker image the ordinary way instead.
The build takes minutes and over a gigabyte, so it happens once per machine and is cached (checked first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from scientist.errors import SandboxError

IMAGE_VERSION = "1"  # bump when the recipe changes: a new tag and rootfs folder, so stale builds are never reused
DEFAULT_IMAGE = f"scientist-sandbox:{IMAGE_VERSION}"
IMAGE_ENV = "SCIENTIST_SANDBOX_IMAGE"
ROOTFS_ENV = "SCIENTIST_SANDBOX_ROOTFS"
IMAGE_DIR = Path(__file__).resolve().parent / "image"
BUILD_SCRIPT = IMAGE_DIR / "build.sh"
ID_FILE = ".scientist-sandbox-id"
BUILD_HINT = "build it once per machine: `scientist sandbox build` (about 2 minutes, Debian mirror only)"
DOCKERD_HINT = (
    "start the engine: `sudo dockerd > /tmp/dockerd.log 2>&1 &` (or `sudo systemctl start docker`); "
    "without Docker use `--sandbox local` (bubblewrap), or set `sandbox_fallback = \"local\"` in scientist.toml"
)


def default_image() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def rootfs_dir() -> Path:
    """Where the bwrap root filesystem is unpacked: per user, outside any run (and outside XDG_CACHE_HOME, which
    tests isolate), so one build serves every run on the machine."""
    configured = os.environ.get(ROOTFS_ENV)
    if configured:
        return Path(configured)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "scientist" / "sandbox" / f"rootfs-{IMAGE_VERSION}"


def find_rootfs() -> Path | None:
    """The unpacked root filesystem, if it was built and has a python3."""
    path = rootfs_dir()
    return path if (path / "usr" / "bin" / "python3").exists() else None


def rootfs_identity(path: Path) -> str:
    """What `RunResult.image` records for a bwrap run: the sha256 of the tarball the rootfs was unpacked from."""
    try:
        return (path / ID_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return f"rootfs:{path}"


def connect(timeout: float = 60) -> Any:
    """A Docker SDK client that has answered a ping; a missing SDK or engine is a SandboxError saying what to do."""
    try:
        import docker
    except ImportError as err:
        raise SandboxError("the docker Python package is not installed", hint="pip install docker") from err
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as err:  # DockerException, requests' ConnectionError, a bad DOCKER_HOST: all mean "no engine"
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        message = f"the Docker engine is not reachable at {host} ({type(err).__name__})"
        raise SandboxError(message, hint=DOCKERD_HINT) from err
    return client


def docker_image_id(client: Any, image: str) -> str:
    """The local image id (`sha256:...`) of `image`; a missing image is a SandboxError naming the build command."""
    import docker.errors

    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound as err:
        raise SandboxError(f"the sandbox image {image} is not built", hint=BUILD_HINT) from err


class ImageStatus(BaseModel):
    """What exists on this machine; for `scientist sandbox status` and `doctor`."""

    image: str
    image_id: str | None
    docker_error: str | None  # the engine is unreachable (a missing image is image_id None)
    rootfs: str | None
    rootfs_path: str
    bwrap: str | None


def status() -> ImageStatus:
    image, image_id, error = default_image(), None, None
    try:
        client = connect(timeout=5)
    except SandboxError as err:
        error = err.message
    else:
        try:
            image_id = docker_image_id(client, image)
        except SandboxError:
            image_id = None
        finally:
            client.close()
    found = find_rootfs()
    return ImageStatus(
        image=image,
        image_id=image_id,
        docker_error=error,
        rootfs=rootfs_identity(found) if found else None,
        rootfs_path=str(rootfs_dir()),
        bwrap=shutil.which("bwrap"),
    )


Source = Literal["debian", "registry"]


def build(
    *,
    docker: bool,
    rootfs: bool,
    source: Source = "debian",
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> ImageStatus:
    """Build what is missing (or everything, with `force`): the Docker image and/or the bwrap root filesystem."""
    before = status()
    want_docker = docker and (force or before.image_id is None)
    want_rootfs = rootfs and (force or before.rootfs is None)
    if want_docker and before.docker_error:
        raise SandboxError(before.docker_error, hint=DOCKERD_HINT)
    if not (want_docker or want_rootfs):
        echo("sandbox image already built (use --force to rebuild)")
        return before
    if source == "registry":
        if want_rootfs:
            raise SandboxError(
                "the bwrap root filesystem is built from Debian packages only", hint="use `--from debian`"
            )
        _run(["docker", "build", "-t", default_image(), "-f", str(IMAGE_DIR / "Dockerfile.registry"), str(IMAGE_DIR)])
        return status()
    if shutil.which("mmdebstrap") is None:
        raise SandboxError("mmdebstrap is not installed", hint="apt-get install mmdebstrap (or use `--from registry`)")
    args = ["bash", str(BUILD_SCRIPT), "--version", IMAGE_VERSION]
    if want_docker:
        args += ["--docker", default_image()]
    if want_rootfs:
        args += ["--rootfs", str(rootfs_dir())]
    _run(args)
    return status()


def _run(args: list[str]) -> None:
    """Run a build step with its output on the terminal (it is long and the user should see progress)."""
    try:
        subprocess.run(args, check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    except subprocess.CalledProcessError as err:
        raise SandboxError(
            f"building the sandbox image failed (exit {err.returncode})", hint="see the output above"
        ) from err
    except OSError as err:
        raise SandboxError(f"cannot run {args[0]}: {err.strerror}", hint="install it and retry") from err
