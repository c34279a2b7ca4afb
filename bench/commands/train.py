"""``bench train``: train a method on a dataset with its official training strategy (and its later stages)."""
from __future__ import annotations

import argparse
import os
import sys

from bench.commands._common import add_set_option, add_verb
from bench.precision import PRECISIONS

EXAMPLES = """  bench train --method fomm --dataset synthetic                 # tiny preset, minutes on a CPU
  bench train --method sadm --dataset vox --root data/vox --device cuda --amp
  bench train --method mraa --dataset taichi --root data/taichi --set train.batch_size=16 --epochs 50
  bench train --resume runs/train/fomm-vox-20260101-120000     # continue (folder, checkpoint or MLflow run id)
  bench train --stage avd --resume runs/train/mraa-vox-20260101-120000   # MRAA stage 2: the AVD network
  torchrun --nproc_per_node 4 -m bench train --method sadm --dataset vox --root data/vox   # global batch split
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "train", "train a method with its official strategy (resumable, tracked in MLflow)",
                      EXAMPLES, description="Train METHOD on DATASET with the strategy in "
                      "configs/train/METHOD/DATASET.yaml, the values of the method's official config (Adam, "
                      "MultiStepLR, augmentation, identity sampling; FOMM's discriminator where its config has one). "
                      "Checkpoints go to OUT/checkpoints (last.pt every epoch, epoch-NNNN.pt every checkpoint_every "
                      "epochs; a later stage in OUT/checkpoints/STAGE); Ctrl-C saves one before exiting. Under "
                      "torchrun, DistributedDataParallel over all processes; batch_size is the global batch.")
    parser.add_argument("--method", help="registered method, e.g. fomm, mraa, sadm")
    parser.add_argument("--dataset", help="dataset to train on, e.g. vox, taichi, synthetic")
    parser.add_argument("--root", help="dataset root in FOMM layout (ROOT/train, ROOT/test)")
    parser.add_argument("--config", help="method config: a YAML file or a preset name (default: the dataset's preset)")
    parser.add_argument("--train-config", help="training strategy YAML (default: configs/train/METHOD/DATASET.yaml)")
    add_set_option(parser)
    parser.add_argument("--resume", metavar="RUN_ID|CKPT",
                        help="continue from a checkpoint file, an output folder or an MLflow run id")
    parser.add_argument("--stage", help="training stage after the main one, e.g. avd (MRAA's AVD network, "
                        "official train_avd.py); needs --resume of the stage before")
    parser.add_argument("--out", help="output folder (default runs/train/METHOD-DATASET-TIME)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default=None,
                        help="weights and arithmetic: fp32 (default) or fp64 (slower; the same numbers on every CPU "
                             "kernel path); a resumed run keeps its checkpoint's")
    parser.add_argument("--epochs", type=int, help="number of epochs (overrides train.num_epochs)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.training import TrainRequest, TrainingInterrupted, run_training

    request = TrainRequest(method=args.method, dataset=args.dataset, root=args.root, config=args.config,
                           train_config=args.train_config, overrides=args.overrides, resume=args.resume,
                           stage=args.stage, out=args.out, device=args.device, amp=args.amp, epochs=args.epochs,
                           precision=args.precision)
    try:
        result = run_training(request)
    except TrainingInterrupted as stop:
        if stop.checkpoint:
            sys.stderr.write(f"bench: interrupted; checkpoint saved to {stop.checkpoint}\n"
                             f"       continue with: bench train --resume {stop.checkpoint}\n")
        else:
            sys.stderr.write("bench: interrupted before a checkpoint could be saved\n")
        return 130
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(f"trained {result.method} on {result.dataset}: {result.epoch} epoch(s), {result.step} steps "
              f"in {result.wall_s:.1f}s")
        print(f"checkpoint: {result.checkpoint}")
        if result.run_id:
            print(f"MLflow run: {result.run_id}")
        print(f"evaluate:   bench run --method {result.method} --dataset {result.dataset} "
              f"--checkpoint {result.checkpoint}")
    return 0

