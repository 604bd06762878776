"""The cache tree huggingface_hub lays out for the test repository of tests/Diffusion.Hub.Tests (HubFixture's four
files at FakeModelServer's commit), derived here independently of the C# code from huggingface_hub's documented
layout (https://huggingface.co/docs/huggingface_hub/guides/manage-cache):

    models--{owner}--{name}/blobs/{etag}            etag = SHA-256 of an LFS file, git blob SHA-1 of any other
    models--{owner}--{name}/snapshots/{commit}/{path} -> relative symlink to the blob (os.path.relpath, as file_download does)
    models--{owner}--{name}/refs/{revision}         the commit id, no newline

Run with Debian's python3:  /usr/bin/python3 expected_cache_tree.py ../../../tests/Diffusion.Hub.Tests/TestData/expected-cache-tree.txt
"""
import hashlib
import os
import sys

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "models--owner--model"


def content(length, seed):
    # HubFixture.Bytes
    return bytes((i * 31 + seed * 17 + i // 251) % 251 for i in range(length))


FILES = {  # path -> (bytes, is LFS)
    "model_index.json": (b'{"_class_name": "StableDiffusionPipeline"}', False),
    "unet/config.json": (b'{"sample_size": 8}', False),
    "unet/model.onnx": (content(300_000, 1), True),
    "vae_decoder/model.onnx": (content(120_000, 2), True),
}


def etag(data, lfs):
    if lfs:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main(out):
    lines = []
    for path, (data, lfs) in FILES.items():
        blob = f"{REPO}/blobs/{etag(data, lfs)}"
        lines.append(f"{blob} ({len(data)} bytes)")
        link = f"{REPO}/snapshots/{COMMIT}/{path}"
        lines.append(f"{link} -> {os.path.relpath(blob, os.path.dirname(link))}")
    lines.append(f"{REPO}/refs/main = {COMMIT}")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(lines)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
