#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into corpus/<target>/seed-*.

Run from crates/fuzz: `python3 seeds/make_seeds.py`. The seeds are small valid inputs of each
kind (and a few near-misses); the fuzzer grows the corpus from them. Deterministic: the same
bytes every run (tar mtimes, gzip mtimes and names fixed).
"""

import gzip
import hashlib
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")
EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def js(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def gz(data, name=None, mtime=0):
    out = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=out, mtime=mtime, compresslevel=6) as g:
        g.write(data)
    return out.getvalue()


def tar_of(members, fmt=tarfile.PAX_FORMAT):
    """members: (name, type, data, linkname) with type one of tarfile's type flags."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mtime = 0
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.size = len(data) if kind in (tarfile.REGTYPE,) else 0
            if link:
                info.linkname = link
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            t.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


def references():
    hexd = EMPTY
    for i, r in enumerate([
        "alpine",
        "alpine:3.20",
        "library/alpine:latest",
        "user/app",
        "index.docker.io/user/app:1",
        "localhost/app",
        "localhost:5000/app:v1",
        "127.0.0.1:5000/base:1",
        "[::1]:5000/app",
        "ghcr.io/a/b:1@" + hexd,
        "ghcr.io/org/sub/app:1.2-rc_3",
        "alpine@" + hexd,
        "a__b/c-d.e",
        "registry.example.com:443/team/app---x.y__z:TAG_1",
        hexd,
        "sha512:" + "ab" * 64,
        "linux/amd64",
        "linux/arm64/v8",
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        "Alpine",
        "host.io:port/c",
    ]):
        write("reference", f"{i:02}", r)


def descriptor(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": sha(data), "size": len(data)}
    d.update(extra)
    return d


def manifests():
    config = js({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [EMPTY]}})
    layer = gz(b"")
    oci = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
              "layers": [descriptor(OCI_LAYER_GZ, layer)], "annotations": {"a": "b"}})
    docker = js({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": descriptor(DOCKER_CONFIG, config),
                 "layers": [descriptor(DOCKER_LAYER_GZ, layer), descriptor(DOCKER_LAYER_GZ, layer)]})
    artifact = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sbom",
                   "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
                   "layers": [{"mediaType": "text/plain", "digest": EMPTY, "size": 0}]})
    index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, oci, platform={"architecture": "amd64", "os": "linux"}),
        descriptor(OCI_MANIFEST, oci, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
        descriptor(OCI_MANIFEST, artifact, platform={"architecture": "unknown", "os": "unknown"},
                   annotations={"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": sha(oci)}),
    ]})
    docker_list = js({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        descriptor(DOCKER_MANIFEST, docker, platform={"architecture": "arm", "os": "linux", "variant": "v7"})]})
    bare_index = b'{"schemaVersion":2,"manifests":[]}'
    schema1 = b'{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}'
    for i, (ct, raw) in enumerate([(0, oci), (4, docker), (0, artifact), (1, index), (3, docker_list),
                                   (0, bare_index), (5, schema1), (2, b'{"config":{}}')]):
        write("manifest", f"{i:02}", bytes([ct]) + raw)
    return config


def configs():
    full = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Entrypoint": ["/docker-entrypoint.sh"],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "WorkingDir": "/srv",
            "User": "101:101",
            "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
            "Labels": {"org.opencontainers.image.source": "https://example.invalid/x", "maintainer": "me"},
            "StopSignal": "SIGQUIT",
        },
        "rootfs": {"type": "layers", "diff_ids": [EMPTY, "sha256:" + "1" * 64]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in / "},
            {"created_by": "ENV LANG=C.UTF-8", "empty_layer": True},
            {"created_by": "RUN apt-get install nginx", "comment": "buildkit.dockerfile.v0"},
        ],
    }
    write("config", "00", json.dumps(full, indent=2))
    write("config", "01", js({"architecture": "amd64", "os": "linux", "config": None,
                              "rootfs": {"type": "layers", "diff_ids": []}}))
    write("config", "02", b"{}")
    write("config", "03", js({"rootfs": {"diff_ids": ["sha512:" + "ab" * 64]}, "history": "no"}))
    write("config", "04", b'["/app/run", "-v"]')


def layer_tar_bytes():
    long_name = "usr/share/" + "very-long-directory-name/" * 8 + "file.txt"
    pax = tar_of([
        ("./", tarfile.DIRTYPE, b"", None),
        ("etc/", tarfile.DIRTYPE, b"", None),
        ("etc/motd", tarfile.REGTYPE, b"hello from a layer\n", None),
        ("etc/hostname", tarfile.REGTYPE, b"box\n", None),
        ("bin/sh", tarfile.SYMTYPE, b"", "busybox"),
        ("bin/ls", tarfile.LNKTYPE, b"", "etc/motd"),
        ("etc/.wh.passwd", tarfile.REGTYPE, b"", None),
        ("var/.wh..wh..opq", tarfile.REGTYPE, b"", None),
        (".wh..wh.plnk", tarfile.DIRTYPE, b"", None),
        ("dev/null", tarfile.CHRTYPE, b"", None),
        ("dev/sda", tarfile.BLKTYPE, b"", None),
        ("run/fifo", tarfile.FIFOTYPE, b"", None),
        (long_name, tarfile.REGTYPE, b"x" * 700, None),
    ])
    gnu = tar_of([
        ("a/", tarfile.DIRTYPE, b"", None),
        ("a/" + "g" * 150, tarfile.REGTYPE, b"gnu long name", None),
        ("a/link", tarfile.SYMTYPE, b"", "t" * 120),
    ], fmt=tarfile.GNU_FORMAT)
    ustar = tar_of([("file", tarfile.REGTYPE, b"data", None)], fmt=tarfile.USTAR_FORMAT)
    return pax, gnu, ustar


def layers():
    pax, gnu, ustar = layer_tar_bytes()
    # umoci-style: the stream ends right after the last member's data (no padding, no end blocks).
    cut = ustar[:512 + 4]
    for i, (mode, blob) in enumerate([
        (0, pax), (0, gnu), (0, ustar), (0, gz(pax)), (0, gz(gnu) + gz(b"")),
        (1, pax), (2, gnu), (3, pax), (3, gz(ustar)), (0, cut), (0, b"\0" * 1024),
    ]):
        write("layer_tar", f"{i:02}", bytes([mode]) + blob)


def gzips():
    pax, _, ustar = layer_tar_bytes()
    out = io.BytesIO()
    # A member with every optional header field (FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT).
    body = gz(b"all the flags")
    header = bytes([0x1F, 0x8B, 8, 0x1F, 0, 0, 0, 0, 0, 3])
    extra = b"\x03\x00abc"
    name, comment = b"name.txt\0", b"a comment\0"
    hcrc = b"\x00\x00"
    flagged = header + extra + name + comment + hcrc + body[10:]
    out.write(flagged)
    for i, (buf, blob) in enumerate([
        (255, gz(pax)), (0, gz(ustar) + gz(b"second")), (7, flagged), (63, gz(b"")),
        (15, gz(b"a" * 100000)), (1, gz(b"x")[:-4]),
    ]):
        write("gunzip", f"{i:02}", bytes([buf]) + blob)


def archives():
    # A layer and config as docker save writes them.
    layer = tar_of([("hello.txt", tarfile.REGTYPE, b"hi\n", None)], fmt=tarfile.USTAR_FORMAT)
    layer_gz = gz(layer)
    diff = sha(layer)
    config = js({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                 "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": [diff]},
                 "history": [{"created_by": "ADD hello.txt /"}]})
    chex = hashlib.sha256(config).hexdigest()
    lid = hashlib.sha256(b"layer-id").hexdigest()

    # Legacy docker save: <config-hex>.json, <id>/layer.tar, manifest.json, repositories.
    legacy = tar_of([
        (f"{lid}/", tarfile.DIRTYPE, b"", None),
        (f"{lid}/VERSION", tarfile.REGTYPE, b"1.0", None),
        (f"{lid}/layer.tar", tarfile.REGTYPE, layer, None),
        (f"{chex}.json", tarfile.REGTYPE, config, None),
        ("manifest.json", tarfile.REGTYPE,
         js([{"Config": f"{chex}.json", "RepoTags": ["alpine:3", "127.0.0.1:5000/app:1"],
              "Layers": [f"{lid}/layer.tar"]}]), None),
        ("repositories", tarfile.REGTYPE, js({"alpine": {"3": lid}}), None),
    ], fmt=tarfile.USTAR_FORMAT)

    # A repeated layer linked as ../<id>/layer.tar, and an image saved by ID (RepoTags null).
    lid2 = hashlib.sha256(b"layer-id-2").hexdigest()
    config2 = js({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff, diff]}})
    c2hex = hashlib.sha256(config2).hexdigest()
    linked = tar_of([
        (f"{lid}/layer.tar", tarfile.REGTYPE, layer, None),
        (f"{lid2}/layer.tar", tarfile.SYMTYPE, b"", f"../{lid}/layer.tar"),
        (f"{c2hex}.json", tarfile.REGTYPE, config2, None),
        ("manifest.json", tarfile.REGTYPE,
         js([{"Config": f"{c2hex}.json", "RepoTags": None, "Layers": [f"{lid}/layer.tar", f"./{lid2}/layer.tar"]}]),
         None),
    ], fmt=tarfile.USTAR_FORMAT)

    # Docker 25+: an OCI layout with manifest.json beside it, blobs by digest.
    def blob(data):
        return ("blobs/sha256/" + hashlib.sha256(data).hexdigest(), tarfile.REGTYPE, data, None)

    oci_cfg = config
    manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": descriptor(OCI_CONFIG, oci_cfg), "layers": [descriptor(OCI_LAYER_GZ, layer_gz)]})
    index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, manifest, annotations={
            "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1"})]})
    docker25 = tar_of([
        ("blobs/", tarfile.DIRTYPE, b"", None),
        ("blobs/sha256/", tarfile.DIRTYPE, b"", None),
        blob(layer_gz), blob(oci_cfg), blob(manifest),
        ("index.json", tarfile.REGTYPE, index, None),
        ("oci-layout", tarfile.REGTYPE, b'{"imageLayoutVersion":"1.0.0"}', None),
        ("manifest.json", tarfile.REGTYPE,
         js([{"Config": "blobs/sha256/" + hashlib.sha256(oci_cfg).hexdigest(), "RepoTags": ["app:1"],
              "Layers": ["blobs/sha256/" + hashlib.sha256(layer_gz).hexdigest()]}]), None),
    ], fmt=tarfile.PAX_FORMAT)

    # OCI only (podman, skopeo): index.json → a multi-platform index, one platform present.
    arm_manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(OCI_CONFIG, config2), "layers": []})
    platform_index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, manifest, platform={"architecture": "amd64", "os": "linux"}),
        descriptor(OCI_MANIFEST, arm_manifest, platform={"architecture": "arm64", "os": "linux"}),
    ]})
    top = js({"schemaVersion": 2, "manifests": [
        descriptor(OCI_INDEX, platform_index, annotations={"org.opencontainers.image.ref.name": "latest"})]})
    oci_only = tar_of([
        blob(layer_gz), blob(oci_cfg), blob(manifest), blob(platform_index),
        ("index.json", tarfile.REGTYPE, top, None),
        ("oci-layout", tarfile.REGTYPE, b'{"imageLayoutVersion":"1.0.0"}', None),
    ], fmt=tarfile.USTAR_FORMAT)
    # The same with both platforms present (a complete index).
    oci_full = tar_of([
        blob(layer_gz), blob(oci_cfg), blob(manifest), blob(config2), blob(arm_manifest), blob(platform_index),
        ("index.json", tarfile.REGTYPE, top, None),
    ], fmt=tarfile.USTAR_FORMAT)

    for i, a in enumerate([legacy, linked, docker25, oci_only, oci_full]):
        write("archive", f"{i:02}", a)


def challenges():
    for i, h in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"',
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push"',
        'Basic realm="Registry Realm"',
        "Bearer realm=http://127.0.0.1:5000/token, service=svc",
        'Bearer realm="a\\"b\\\\c", error="invalid_token", error_description="the token expired"',
        "Negotiate abc123==, Basic realm=x",
        'Bearer  ,, realm = "spaced" ,',
        "Bearer",
        "",
    ]):
        write("challenge", f"{i:02}", h)


if __name__ == "__main__":
    references()
    manifests()
    configs()
    layers()
    gzips()
    archives()
    challenges()
