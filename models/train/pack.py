"""Write the training data (split_train, split_val, face crops, starting weights) to one file.

    python -m models.train.pack --out .traindata/pack.pkl

For training where ../shared is absent (a rented GPU): pass the file to
`python -m models.train.detector --data .traindata/pack.pkl`. split_test is never packed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from models.train.data import build_pack, save_pack, shared_root
from models.train.faces import yunet_finder

INIT_FILE = "ultraface_masked_rfb_640.pth"


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    p = argparse.ArgumentParser(prog="python -m models.train.pack", description=__doc__)
    p.add_argument("--shared", type=Path, default=None, help="default $SIAGA_SHARED or ../shared")
    p.add_argument("--out", type=Path, default=Path(".traindata") / "pack.pkl")
    p.add_argument("--crops-per-class", type=int, default=0, help="0: all crops")
    p.add_argument("--no-init", action="store_true", help="leave the starting weights out")
    args = p.parse_args(argv)
    shared = args.shared or shared_root()
    os.environ.setdefault("SIAGA_SHARED", str(shared))
    pack = build_pack(shared, crops_per_class=args.crops_per_class or None, finder=yunet_finder())
    init = shared / "models" / INIT_FILE
    if not args.no_init and init.is_file():
        state = torch.load(init, map_location="cpu", weights_only=True)
        pack.init_weights = {k: v.numpy() for k, v in state.items()}
    save_pack(pack, args.out)
    size_mb = args.out.stat().st_size / 2**20
    print(
        f"{args.out}: {len(pack.train)} train, {len(pack.val)} val, {len(pack.crops)} crops, "
        f"init {'yes' if pack.init_weights else 'no'}, {size_mb:.1f} MiB"
    )


if __name__ == "__main__":
    main()
