"""The node's container runtime: images in, containers out. Uses `ctr` against the cluster's own containerd."""

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from harness.node.config import PAUSE_IMAGE, Layout

NAMESPACE = "k8s.io"  # where the CRI plugin keeps the images and containers the kubelet uses


def ctr(layout: Layout, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["ctr", "--address", str(layout.containerd_socket), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def images(layout: Layout) -> set[str]:
    """The image references the node has."""
    return set(ctr(layout, "images", "list", "--quiet").stdout.split())


def import_archive(layout: Layout, archive: Path, reference: str) -> None:
    """Import an OCI archive whose reference is `reference` (a no-op when the node already has it)."""
    if reference in images(layout):
        return
    repository = reference.rsplit(":", 1)[0]
    # --base-name: ctr keeps only the archive's references under this name (without it, a full name is dropped).
    ctr(layout, "images", "import", "--base-name", repository, str(archive))
    if reference not in images(layout):
        raise RuntimeError(f"importing {archive} did not give the node {reference}")


def tag(layout: Layout, source: str, target: str) -> None:
    """Give an image the node has another reference too (what a registry would serve it as)."""
    ctr(layout, "images", "tag", "--force", source, target)


def _blob(data: bytes) -> tuple[str, int]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def oci_archive(files: dict[str, tuple[bytes, int]], entrypoint: list[str], reference: str) -> bytes:
    """A one-layer OCI image archive holding `files` (path -> (content, mode)), named `reference`."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        for path, (content, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(content), mode
            layer.addfile(info, io.BytesIO(content))
    layer_bytes = layer_buffer.getvalue()
    layer_digest, layer_size = _blob(layer_bytes)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    config_digest, config_size = _blob(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}
            ],
        }
    ).encode()
    manifest_digest, manifest_size = _blob(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": reference},
            }
        ],
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index).encode()),
            *((f"blobs/sha256/{digest[7:]}", blob) for digest, blob in (
                (layer_digest, layer_bytes), (config_digest, config), (manifest_digest, manifest))),
        ):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def import_pause(layout: Layout, binary: Path) -> None:
    """The pod sandbox image, made from our static pause program."""
    archive = layout.root / "pause.tar"
    archive.write_bytes(oci_archive({"pause": (binary.read_bytes(), 0o755)}, ["/pause"], PAUSE_IMAGE))
    import_archive(layout, archive, PAUSE_IMAGE)


def remove_containers(layout: Layout) -> None:
    """Kill and delete every container of the node (what the kubelet left when it was stopped)."""
    tasks = ctr(layout, "tasks", "list", "--quiet", check=False).stdout.split()
    for task in tasks:
        ctr(layout, "tasks", "kill", "--signal", "SIGKILL", task, check=False)
    for task in tasks:
        ctr(layout, "tasks", "delete", "--force", task, check=False)
    for container in ctr(layout, "containers", "list", "--quiet", check=False).stdout.split():
        ctr(layout, "containers", "delete", container, check=False)
