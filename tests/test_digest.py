"""Base-weight digests: one file is its sha256; shards are the sha256 of their bytes in order, memoised."""

import hashlib
import json

from models.digest import file_sha256, files_sha256


def test_digests_match_hashlib_and_shards_are_memoised(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"first shard " * 1000)
    b.write_bytes(b"second shard")
    assert file_sha256(a) == files_sha256([a]) == hashlib.sha256(a.read_bytes()).hexdigest()
    both = files_sha256([a, b], chunk=7)  # chunking does not change the digest
    assert both == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest() != files_sha256([b, a])
    memo = json.loads((tmp_path / "cache" / "digests.json").read_text())
    assert both in memo.values()
    b.write_bytes(b"changed shard")  # a new size: the memo key changes, the digest is computed again
    assert files_sha256([a, b]) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest() != both
    assert files_sha256([]) == ""
