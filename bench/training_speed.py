"""Chapter 7 benchmark: the chapter's training loop vs the PyTorch tutorial's DataLoader loop.

1. Speed: one epoch of the same model (the chapter's 784-512-512-10 MLP), batch size and
   optimizer (the chapter's SGD, lr 0.05, momentum 0.9, unless ``--optimizer adam``), fed
   two ways, timed in this process, printed as a ratio:
   - tutorial-style: a per-sample ``Dataset`` behind ``DataLoader(batch_size, shuffle=True)``.
     ``--baseline pil`` (default) does per sample what torchvision's ``FashionMNIST`` with
     ``ToTensor()`` does: ``Image.fromarray(img.numpy(), mode="L")``, then ``ToTensor``
     (``np.array`` -> tensor -> float / 255); ``--baseline tensor`` converts the uint8
     tensor directly (a cheaper per-sample step, the one the book page times);
   - chapter-style: the whole split converted to float once, on the device, and sliced
     into shuffled batches (``autograder.data.batches``).
2. Accuracy (only when the real FashionMNIST files are found): carve a class-balanced
   validation split from the training images (``--val-per-class``, default 500 of each
   class), train ``--epochs`` epochs on the rest with the chapter's loop, print the train
   loss and validation accuracy after each epoch, and the test accuracy once, at the end.

Usage (the real files: ``python -m autograder data fetch`` first, or ``--data DIR``)::

    python bench/training_speed.py                 # speed on CPU, accuracy after 10 epochs
    python bench/training_speed.py --device cuda   # the same on the GPU
    python bench/training_speed.py --standin       # speed only, on the synthetic stand-in

Targets: chapter-style >= 3x faster per epoch on CPU; >= 88% test accuracy within 10 epochs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from autograder.data import MEAN, STD, DataNotFound, batches, carve_validation, load_fashion_mnist, make_standin, to_float


def reference_network() -> nn.Sequential:
    """The chapter's network, logits out: (N, 28, 28) float -> (N, 10)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


class PerSampleDataset(Dataset):
    """The tutorial's shape of Dataset: one (image, label) at a time, converted on access."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, via_pil: bool = True):
        self.images, self.labels, self.via_pil = images, labels, via_pil

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        if self.via_pil:  # torchvision: Image.fromarray(..., mode="L"), then ToTensor()
            from PIL import Image

            pic = Image.fromarray(self.images[i].numpy(), mode="L")
            image = torch.from_numpy(np.array(pic, copy=True)).view(1, 28, 28).to(torch.float32).div(255)
        else:
            image = self.images[i].to(torch.float32).div(255).unsqueeze(0)
        return (image - MEAN) / STD, int(self.labels[i])


def train_epoch(model, pairs, loss_fn, optimizer, device) -> float:
    model.train()
    total, count = 0.0, 0
    for X, y in pairs:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        count += 1
    return total / count


@torch.no_grad()
def accuracy(model, X, y, batch_size=1000) -> float:
    model.eval()
    correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in batches(X, y, batch_size))
    return correct / len(y)


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_optimizer(name: str, params, lr: float | None) -> torch.optim.Optimizer:
    """The chapter's optimizer (``sgd``: lr 0.05, momentum 0.9, as on the book page) or Adam (lr 1e-3)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.05 if lr is None else lr, momentum=0.9)
    return torch.optim.Adam(params, lr=1e-3 if lr is None else lr)


def time_epoch(make_pairs, device, optimizer, lr) -> float:
    torch.manual_seed(0)
    model = reference_network().to(device)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    loss_fn = nn.CrossEntropyLoss()
    _sync(device)
    start = time.perf_counter()
    train_epoch(model, make_pairs(), loss_fn, opt, device)
    _sync(device)
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="folder with the four FashionMNIST files")
    p.add_argument("--standin", action="store_true", help="use the synthetic stand-in (speed only)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="sgd: the chapter's SGD with momentum 0.9 (default); adam: Adam")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 for sgd, 1e-3 for adam)")
    p.add_argument("--baseline", choices=["pil", "tensor"], default="pil",
                   help="per-sample conversion of the tutorial-style loop (default: torchvision's PIL + ToTensor path)")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (the best counts)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--speed-samples", type=int, default=20000, help="training images per timed epoch")
    p.add_argument("--val-per-class", type=int, default=500, help="validation images of each class, carved from training")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    real = None
    if not args.standin:
        try:
            real = (load_fashion_mnist("train", args.data), load_fashion_mnist("test", args.data))
        except DataNotFound as err:
            print(f"real FashionMNIST not found; timing on the stand-in, no accuracy run.\n{err}\n")
    if real:
        train, test = real
        print(f"data: FashionMNIST from {train.source}: {len(train)} train, {len(test)} test")
    else:
        folder = make_standin(tempfile.mkdtemp(prefix="fmnist-standin-"), n_train=args.speed_samples, n_test=1000)
        train, test = load_fashion_mnist("train", folder), load_fashion_mnist("test", folder)
        print(f"data: synthetic stand-in (NOT FashionMNIST): {len(train)} train images")

    n = min(args.speed_samples, len(train))
    images, labels = train.images[:n], train.labels[:n]
    dev_X = to_float(images.to(args.device), MEAN, STD)
    dev_y = labels.to(args.device)
    gen = torch.Generator().manual_seed(0)
    tutorial = lambda: DataLoader(PerSampleDataset(images, labels, args.baseline == "pil"), batch_size=args.batch_size, shuffle=True)
    chapter = lambda: batches(dev_X, dev_y, args.batch_size, shuffle=True, generator=gen)
    print(f"baseline: per-sample Dataset ({args.baseline}) + DataLoader; chapter: in-memory tensor batches")
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {n} images/epoch, batch {args.batch_size}, "
          f"optimizer {args.optimizer}")
    time_epoch(chapter, args.device, args.optimizer, args.lr)  # warm-up (allocator, kernels)
    t_tutorial, t_chapter = float("inf"), float("inf")
    for _ in range(args.repeats):  # interleaved; the fastest epoch of each is the least disturbed
        t_tutorial = min(t_tutorial, time_epoch(tutorial, args.device, args.optimizer, args.lr))
        t_chapter = min(t_chapter, time_epoch(chapter, args.device, args.optimizer, args.lr))
    print(f"epoch time (best of {args.repeats}): tutorial DataLoader loop {t_tutorial:.2f} s, "
          f"chapter loop {t_chapter:.2f} s")
    print(f"speed-up: {t_tutorial / t_chapter:.2f}x (target >= 3x on CPU)")

    if real is None:
        return 0
    fit, val = carve_validation(train, per_class=args.val_per_class, seed=0)
    print(f"accuracy run: {len(fit)} training images, {len(val)} validation, {len(test)} test")
    X, y = to_float(fit.images.to(args.device), MEAN, STD), fit.labels.to(args.device)
    Xv, yv = to_float(val.images.to(args.device), MEAN, STD), val.labels.to(args.device)
    torch.manual_seed(0)
    model = reference_network().to(args.device)
    opt = make_optimizer(args.optimizer, model.parameters(), args.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, batches(X, y, args.batch_size, shuffle=True, generator=gen), loss_fn, opt, args.device)
        print(f"epoch {epoch:2d}: train loss {loss:.4f}, validation accuracy {accuracy(model, Xv, yv):.4f}")
    # The test set, once, after training.
    Xt, yt = to_float(test.images.to(args.device), MEAN, STD), test.labels.to(args.device)
    print(f"test accuracy after {args.epochs} epochs: {accuracy(model, Xt, yt):.4f} (target >= 0.88)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
