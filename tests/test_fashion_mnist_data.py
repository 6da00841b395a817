"""The FashionMNIST loader, on small IDX files written by the tests (never the real data)."""
import gzip
import hashlib
import io
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.data import (
    CLASSES, FILES, DataNotFound, IDXError, batches, fetch, find_raw_dir, load_fashion_mnist, make_standin, read_idx,
    to_float, write_idx,
)
from autograder.data import fashion_mnist as fm


@pytest.fixture(autouse=True)
def isolated_places(tmp_path, monkeypatch):
    """No real environment variable or user cache leaks into a test."""
    monkeypatch.delenv(fm.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image_name, label_name = FILES[split]
    if not gz:
        image_name, label_name = image_name[:-3], label_name[:-3]
    write_idx(folder / image_name, images)
    write_idx(folder / label_name, labels)


def tiny(folder: Path, n: int = 5, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_split(folder, "train", images, labels, gz)
    write_split(folder, "test", images[:2], labels[:2], gz)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_loads_uint8_images_int64_labels_and_class_names(tmp_path, gz):
    images, labels = tiny(tmp_path, gz=gz)
    data = load_fashion_mnist("train", root=tmp_path)
    assert data.images.dtype == torch.uint8 and data.images.shape == (5, 28, 28)
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == labels.tolist()
    assert torch.equal(data.images, torch.from_numpy(images))
    assert data.classes == CLASSES and len(CLASSES) == 10 and CLASSES[9] == "Ankle boot"
    assert len(load_fashion_mnist("test", root=tmp_path)) == 2


def test_idx_round_trip_and_magic_numbers(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    path = write_idx(tmp_path / "l.gz", labels)
    assert gzip.decompress(path.read_bytes())[:4] == (2049).to_bytes(4, "big")
    assert read_idx(path, 2049).tolist() == [3, 1, 4]
    images = np.zeros((2, 28, 28), np.uint8)
    assert write_idx(tmp_path / "i", images).read_bytes()[:4] == (2051).to_bytes(4, "big")


def test_wrong_magic_names_the_file(tmp_path):
    tiny(tmp_path)
    # a label file where the image file should be
    image_name, label_name = FILES["train"]
    (tmp_path / image_name).write_bytes((tmp_path / label_name).read_bytes())
    with pytest.raises(IDXError, match=rf"{image_name}: magic number 2049, expected 2051"):
        load_fashion_mnist("train", root=tmp_path)


def test_truncated_file_says_truncated(tmp_path):
    tiny(tmp_path, gz=False)
    name = FILES["train"][0][:-3]
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[:-100])
    with pytest.raises(IDXError, match=rf"{name}: truncated: header says 5 items"):
        load_fashion_mnist("train", root=tmp_path)


def test_corrupt_gzip_names_the_file(tmp_path):
    tiny(tmp_path)
    name = FILES["train"][0]
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXError, match=rf"{name}: corrupt or truncated gzip"):
        load_fashion_mnist("train", root=tmp_path)


def test_wrong_image_size_and_count_mismatch(tmp_path):
    write_split(tmp_path, "train", np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.uint8))
    write_split(tmp_path, "test", np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(IDXError, match=r"items of shape \(32, 32\), expected \(28, 28\)"):
        load_fashion_mnist("train", root=tmp_path)
    with pytest.raises(IDXError, match="holds 3 images but .* holds 2 labels"):
        load_fashion_mnist("test", root=tmp_path)


def test_label_out_of_range(tmp_path):
    write_split(tmp_path, "train", np.zeros((1, 28, 28), np.uint8), np.array([10], np.uint8))
    write_split(tmp_path, "test", np.zeros((1, 28, 28), np.uint8), np.array([0], np.uint8))
    with pytest.raises(IDXError, match="label 10 out of range"):
        load_fashion_mnist("train", root=tmp_path)


def test_search_order_argument_then_env_then_cache(tmp_path, monkeypatch):
    arg, env, cache = tmp_path / "arg", tmp_path / "env", tmp_path / "cache" / "autograder" / "fashion-mnist"
    for i, folder in enumerate((arg, env, cache)):
        write_split(folder, "train", np.full((i + 1, 28, 28), i, np.uint8), np.zeros(i + 1, np.uint8))
        write_split(folder, "test", np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8))
    monkeypatch.setenv(fm.ENV_VAR, str(env))
    assert len(load_fashion_mnist(root=arg)) == 1
    assert len(load_fashion_mnist()) == 2
    monkeypatch.delenv(fm.ENV_VAR)
    assert len(load_fashion_mnist()) == 3
    # an argument without the files falls through to the next place
    assert find_raw_dir(tmp_path / "empty") == cache


def test_accepts_torchvision_layout(tmp_path):
    tiny(tmp_path / "FashionMNIST" / "raw", gz=False)
    assert find_raw_dir(tmp_path) == tmp_path / "FashionMNIST" / "raw"
    assert len(load_fashion_mnist("train", root=tmp_path)) == 5


def test_missing_files_message_says_where_and_how(tmp_path):
    with pytest.raises(DataNotFound) as err:
        load_fashion_mnist(root=tmp_path)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and str(tmp_path) in message
    assert fm.ENV_VAR in message and "python -m autograder data fetch" in message


class FakeServer:
    """Stands in for urllib's opener: serves bytes by file name, records requests."""

    def __init__(self, files: dict[str, bytes], fail_after: dict[str, int] | None = None):
        self.files, self.fail_after, self.requested = files, fail_after or {}, []

    def __call__(self, url, timeout=None):
        name = url.rsplit("/", 1)[1]
        self.requested.append(name)
        if name not in self.files:
            raise urllib.error.URLError("no route to host")
        data = self.files[name]
        if name in self.fail_after:
            return _Breaking(data[: self.fail_after[name]])
        return io.BytesIO(data)


class _Breaking(io.BytesIO):
    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk:
            raise ConnectionResetError("connection reset mid-download")
        return chunk


def served_standin(tmp_path, monkeypatch) -> dict[str, bytes]:
    src = make_standin(tmp_path / "src", n_train=20, n_test=10)
    files = {name: (src / name).read_bytes() for name in fm.MD5}
    monkeypatch.setattr(fm, "MD5", {name: hashlib.md5(data).hexdigest() for name, data in files.items()})
    return files


def test_fetch_verifies_md5_and_renames_into_place(tmp_path, monkeypatch):
    files = served_standin(tmp_path, monkeypatch)
    server = FakeServer(files)
    target = fetch(tmp_path / "dl", opener=server)
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    assert len(load_fashion_mnist("test", root=target)) == 10
    fetch(target, opener=server)  # already there with the right md5: not fetched again
    assert len(server.requested) == 4


def test_fetch_with_bad_md5_leaves_no_file(tmp_path, monkeypatch):
    files = served_standin(tmp_path, monkeypatch)
    name = "t10k-images-idx3-ubyte.gz"
    files[name] = files[name][:-1] + b"X"
    with pytest.raises(IDXError, match=f"{name} .*md5"):
        fetch(tmp_path / "dl", opener=FakeServer(files))
    assert name not in os.listdir(tmp_path / "dl")
    assert not [p for p in os.listdir(tmp_path / "dl") if p.endswith(".part")]


def test_interrupted_download_leaves_no_half_file(tmp_path, monkeypatch):
    files = served_standin(tmp_path, monkeypatch)
    with pytest.raises(DataNotFound, match="connection reset"):
        fetch(tmp_path / "dl", opener=FakeServer(files, fail_after={"train-labels-idx1-ubyte.gz": 7}))
    left = os.listdir(tmp_path / "dl")
    assert left == ["train-images-idx3-ubyte.gz"], left


def test_offline_fetch_explains(tmp_path):
    with pytest.raises(DataNotFound, match="(?s)could not download .*python -m autograder data fetch"):
        fetch(tmp_path / "dl", opener=FakeServer({}))


def test_load_with_download_fetches_then_loads(tmp_path, monkeypatch):
    files = served_standin(tmp_path, monkeypatch)
    monkeypatch.setattr(fm.urllib.request, "urlopen", FakeServer(files))
    assert len(load_fashion_mnist("train", root=tmp_path / "dl", download=True)) == 20


def test_to_float_scales_and_standardises():
    x = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert torch.equal(to_float(x), torch.tensor([[0.0, 1.0]]))
    y = to_float(x, mean=0.5, std=0.5)
    assert y.dtype == torch.float32 and torch.allclose(y, torch.tensor([[-1.0, 1.0]]))


def test_batches_cover_every_sample_once_and_shuffle():
    x, y = torch.arange(10).view(10, 1), torch.arange(10)
    plain = list(batches(x, y, 4))
    assert [len(b[1]) for b in plain] == [4, 4, 2] and torch.equal(torch.cat([b[1] for b in plain]), y)
    g = torch.Generator().manual_seed(0)
    mixed = list(batches(x, y, 4, shuffle=True, generator=g))
    order = torch.cat([b[1] for b in mixed])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    assert all(torch.equal(bx[:, 0], by) for bx, by in mixed)


def test_standin_goes_through_the_real_loader(tmp_path):
    make_standin(tmp_path, n_train=30, n_test=20, seed=1)
    train, test = load_fashion_mnist("train", root=tmp_path), load_fashion_mnist("test", root=tmp_path)
    assert train.images.shape == (30, 28, 28) and test.labels.bincount().tolist() == [2] * 10
    assert not torch.equal(train.images[:20], test.images)


def test_cli_where_reports_the_folder_found(tmp_path, capsys):
    from autograder.__main__ import main

    assert main(["data", "where", "--dir", str(tmp_path)]) == 1
    assert "found: nothing" in capsys.readouterr().out
    tiny(tmp_path)
    assert main(["data", "where", "--dir", str(tmp_path)]) == 0
    assert f"found: {tmp_path}" in capsys.readouterr().out


def test_fetch_defaults_to_env_folder_then_cache(tmp_path, monkeypatch):
    files = served_standin(tmp_path, monkeypatch)
    assert fetch(opener=FakeServer(files)) == tmp_path / "cache" / "autograder" / "fashion-mnist"
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "env"))
    assert fetch(opener=FakeServer(files)) == tmp_path / "env"
    assert len(load_fashion_mnist("test")) == 10


# ---- the real sample shipped with the course (the dataset's own sprite) -------------------

from autograder.data import (  # noqa: E402
    MEAN, SPRITE, DataKind, carve_validation, load_course_data, load_sample, read_sprite, write_sample,
)
from autograder.data import sample as sample_module  # noqa: E402


def test_shipped_sprite_is_the_upstream_file_with_its_licence():
    assert hashlib.sha256(SPRITE.read_bytes()).hexdigest() == sample_module.SPRITE_SHA256
    licence = sample_module.LICENSE.read_text()
    assert "Copyright © 2017 Zalando SE" in licence and "MIT License" in licence


def test_sprite_holds_900_real_images_90_per_class_in_label_order():
    images, labels = read_sprite()
    assert images.shape == (900, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [90] * 10
    assert labels[:90].tolist() == [0] * 90 and labels[-90:].tolist() == [9] * 90
    # FashionMNIST's own pixel statistics (dark background, not inverted): the training
    # set's mean is 0.2860; a synthetic or inverted image would be far off.
    assert abs(images.mean() / 255 - MEAN) < 0.01
    assert len(np.unique(images.reshape(900, -1), axis=0)) == 900


def test_sample_splits_are_balanced_and_disjoint():
    train, test = load_sample("train"), load_sample("test")
    assert train.images.shape == (600, 28, 28) and test.images.shape == (300, 28, 28)
    assert train.labels.dtype == torch.int64 and train.labels.bincount().tolist() == [60] * 10
    assert test.labels.bincount().tolist() == [30] * 10
    seen = {bytes(img.numpy()) for img in train.images}
    assert not any(bytes(img.numpy()) in seen for img in test.images)
    with pytest.raises(ValueError, match="split must be one of"):
        load_sample("validation")


def test_sample_written_as_idx_loads_through_the_real_loader(tmp_path):
    write_sample(tmp_path)
    for split in ("train", "test"):
        via_idx, direct = load_fashion_mnist(split, root=tmp_path), load_sample(split)
        assert torch.equal(via_idx.images, direct.images) and torch.equal(via_idx.labels, direct.labels)


def test_a_changed_or_wrong_sized_sprite_is_refused(tmp_path):
    from PIL import Image

    changed = tmp_path / "sprite.png"
    Image.open(SPRITE).rotate(90).save(changed)
    with pytest.raises(IDXError, match=r"SHA-256 .*\(not the upstream sprite\)"):
        read_sprite(changed)
    small = tmp_path / "small.png"
    Image.new("L", (280, 280)).save(small)
    with pytest.raises(IDXError, match="280x280 pixels, expected 840x840"):
        read_sprite(small, sha256=None)


def test_course_data_is_the_full_set_when_found_else_the_sample(tmp_path, monkeypatch):
    assert load_course_data().kind is DataKind.SAMPLE  # nothing in the isolated places
    sample = load_course_data()
    assert torch.equal(sample.test.images, load_sample("test").images)
    make_standin(tmp_path / "full", n_train=40, n_test=20)
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "full"))
    full = load_course_data()
    assert full.kind is DataKind.FULL and len(full.train) == 40 and len(full.test) == 20


def test_course_data_without_sample_or_files_says_so(monkeypatch, tmp_path):
    import autograder.data.sources as sources

    monkeypatch.setattr(sources, "SPRITE", tmp_path / "missing.png")
    with pytest.raises(DataNotFound, match="neither the full FashionMNIST files nor the shipped sample"):
        load_course_data()


def test_validation_split_is_balanced_disjoint_and_seeded():
    data = load_sample("train")
    train, val = carve_validation(data, per_class=10, seed=0)
    assert len(train) == 500 and val.labels.bincount().tolist() == [10] * 10
    assert train.labels.bincount().tolist() == [50] * 10
    together = torch.cat([train.images, val.images]).reshape(600, -1)
    assert len(torch.unique(together, dim=0)) == 600  # nothing in both, nothing lost
    again, val_again = carve_validation(data, per_class=10, seed=0)
    assert torch.equal(val.images, val_again.images)
    _, other = carve_validation(data, per_class=10, seed=1)
    assert not torch.equal(val.images, other.images)
    with pytest.raises(ValueError, match="fewer than 61"):
        carve_validation(data, per_class=61)
