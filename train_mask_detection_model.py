"""README step 3: train the 3-class mask classifier on face crops and write models/<name>.pt.

    python train_mask_detection_model.py                                  # mask_dataset_faces -> models/mask_classifier.pt
    python train_mask_detection_model.py --init_from models/mask_classifier_base.pt \
        --data_dir scene_faces mask_dataset_faces --name mask_classifier  # finetune
    python train_mask_detection_model.py --arch cnn --epochs 40 --lr 2e-3  # the seed's small CNN instead of O-Net

The checkpoint carries weights, class names, input size, normalisation, detector settings,
training settings and a data summary. Seeded and deterministic on CPU.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from maskdet import CLASSES, InputError, cli, layout
from maskdet.classifier import arch_of, load_checkpoint, new_net, write_model
from maskdet.config import ModelConfig, odds_ok
from maskdet.files import check_writable, clean_partials
from maskdet.training import augment, class_weights, load_split, normalize, standardize


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", nargs="+", default=[layout.FACES], help="crop folders (<class>/<split>/); several are mixed")
    p.add_argument("--name", default="mask_classifier", help="model name: writes models/<name>.pt")
    p.add_argument("--models_dir", default=layout.MODELS, help="where models are written")
    p.add_argument("--repeat_first", type=cli.positive_int, default=1, help="repeat the first --data_dir's training crops (few new crops among many old)")
    p.add_argument("--init_from", default="", help="continue from this model file (finetuning)")
    p.add_argument("--input_size", type=cli.int_from(4), default=32, help="cnn: classifier input (px, at least 4; camera faces are 15-40 px)")
    p.add_argument("--arch", choices=("onet", "cnn"), default=None,
                   help="onet (default): MTCNN's O-Net, pretrained on faces, with a class head (48 px); cnn: the seed's "
                        "small CNN, trained from scratch (--epochs 40 --lr 2e-3); with --init_from, the file's unless given")
    p.add_argument("--new_net", action="store_true",
                   help="with --init_from: a new network (pretrained O-Net, or the seed's CNN) over the file's detector and verifier")
    p.add_argument("--width", type=cli.positive_int, default=64, help="cnn: channels of the first convolution (the second has twice as many)")
    p.add_argument("--epochs", type=cli.nonneg_int, default=10, help="passes over the training crops (0: re-save with new settings)")
    p.add_argument("--batch_size", type=cli.positive_int, default=64, help="crops per step")
    p.add_argument("--lr", type=cli.positive_float, default=1e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--weight_decay", type=cli.nonneg_float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--seed", type=cli.nonneg_int, default=1, help="random seed")
    p.add_argument("--threads", type=cli.positive_int, default=2, help="torch CPU threads (results depend on it slightly)")
    p.add_argument("--dry_run", action="store_true", help="one batch only, to check the set-up; writes no model")
    g = p.add_argument_group("detector settings stored in the model (default: inherited from --init_from, else MTCNN's)")
    g.add_argument("--min_face_size", type=cli.positive_int, default=None, help="smallest face (px of the detection image)")
    g.add_argument("--max_side", type=cli.nonneg_int, default=None, help="shrink larger frames to this longer side before detection (0: no limit)")
    g.add_argument("--thresholds", type=cli.unit_float, nargs=3, default=None, help="MTCNN P-, R-, O-Net thresholds")
    g.add_argument("--min_score", type=cli.unit_float, default=None, help="drop faces with a lower final probability")
    g.add_argument("--mask_ssd", type=cli.unit_float, default=None,
                   help="AIZOO's mask detector also searches: add its faces scoring at least this where none was kept (0: off)")
    g.add_argument("--mask_ssd_side", type=cli.nonneg_int, default=None, help="... on the frame shrunk to this longer side (0: no limit)")
    g.add_argument("--detect_every", type=cli.positive_int, default=None, help="footage: detect every k-th frame, track in between")
    g.add_argument("--unsure_below", type=cli.unit_float, default=None,
                   help="a face whose class probability is lower is shown as unsure and not counted by the rule")
    g.add_argument("--incorrect_odds", type=float, default=None,
                   help="non-compliant faces: multiply the odds of incorrectly over not masked by this")
    return p.parse_args(argv)


def train_epoch(net, opt, sched, x, y, weights, args, g, norm):
    """One pass over shuffled, augmented training crops; returns the mean loss."""
    net.train()
    order = torch.randperm(len(y), generator=g)
    total, steps = 0.0, range(0, len(y), args.batch_size)
    for i in tqdm(steps, desc="batches", leave=False, disable=not sys.stderr.isatty()):
        idx = order[i:i + args.batch_size]
        xb = standardize(augment(x[idx], g), norm["mean"], norm["std"])
        loss = F.cross_entropy(net(xb), y[idx], weight=weights, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(idx)
        if args.dry_run:
            return total / len(idx)
    return total / len(y)


@torch.no_grad()
def predict(net, x, norm):
    """Class probabilities of un-augmented crops."""
    net.eval()
    return torch.cat([torch.softmax(net(normalize(x[i:i + 256], norm["mean"], norm["std"])), 1)
                      for i in range(0, len(x), 256)])


def evaluate(net, x, y, norm):
    """Accuracy and per-class recall on un-augmented crops."""
    if len(y) == 0:
        return float("nan"), {}
    pred = predict(net, x, norm).argmax(1)
    recall = {c: float((pred[y == k] == k).float().mean()) for k, c in enumerate(CLASSES) if (y == k).any()}
    return float((pred == y).float().mean()), recall


def drift_reference(net, x, sides, norm):
    """What live footage is compared with: mean classifier confidence and the share of small faces."""
    from maskdet.drift import SMALL

    conf = float(predict(net, x, norm).max(1).values.mean()) if len(x) else None
    return {"confidence_mean": conf, "small_face_share": sum(s < SMALL for s in sides) / max(len(sides), 1)}


def build(args):
    """Network, model configuration and the detector's verifier weights: continued from --init_from
    (everything the flags do not change is kept; --new_net, or an --arch other than the file's, starts a
    new network over the same detector and verifier), or fresh."""
    config, onet, weights = ModelConfig(), None, None
    if args.init_from:
        ckpt = load_checkpoint(args.init_from)
        config, onet, weights = ModelConfig.from_checkpoint(ckpt), ckpt.get("onet"), ckpt["model"]
    if weights is None or args.new_net or args.arch not in (None, arch_of(config.model_args)):
        config, weights = config.merged(**network_config(args.arch or "onet", args)), None
    net = new_net(len(CLASSES), config.model_args, pretrained=weights is None)
    if weights is not None:
        net.load_state_dict(weights)
    return net, with_flags(config, args), onet


def network_config(arch, args):
    """Input size, network arguments and normalisation of a new network."""
    if arch == "onet":  # O-Net's own input: 48 px, (x - 127.5) / 127.5
        return {"input_size": 48, "model_args": {"arch": "onet"}, "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    return {"input_size": args.input_size, "model_args": {"width": args.width, "hidden": 128},
            "normalize": ModelConfig().normalize}


def with_flags(config, args):
    """The configuration with the still-image detector settings, detect_every, unsure_below and
    incorrect_odds the flags give."""
    detector = {k: getattr(args, k) for k in ("min_face_size", "max_side", "thresholds", "min_score", "mask_ssd",
                                             "mask_ssd_side")
                if getattr(args, k) is not None}
    kept = {k: getattr(args, k) for k in ("detect_every", "unsure_below", "incorrect_odds") if getattr(args, k) is not None}
    if not odds_ok(kept.get("incorrect_odds", 1.0)):
        raise InputError(f"--incorrect_odds must be a finite number above 0, not {args.incorrect_odds}")
    return config.merged(detector=detector, **kept)


def main(argv=None):
    args = parse_args(argv)
    print(f"train: {vars(args)}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    path = Path(args.models_dir) / f"{args.name}.pt"
    try:
        if not args.dry_run:
            check_writable(path)
        for d in args.data_dir:
            if not Path(d).is_dir():
                raise InputError(f"{d}: crops folder not found (run extract_faces.py, or pass --data_dir)")
        net, config, onet = build(args)
        x, y, _, sides = load_split(args.data_dir, "train", config.input_size, args.repeat_first)
        xv, yv, _, _ = load_split(args.data_dir, "test", config.input_size)
        if len(y) == 0 or len(set(y.tolist())) < 2:
            raise InputError(f"{', '.join(args.data_dir)}: need training crops of at least two classes (run extract_faces.py)")
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(f"{len(y):,} training and {len(yv):,} validation crops; per class: "
          + ", ".join(f"{c} {int((y == k).sum()):,}" for k, c in enumerate(CLASSES)))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = max(args.epochs, 1) * -(-len(y) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(steps, 1), pct_start=0.15)
    weights, t0 = class_weights(y), time.time()
    acc, _ = evaluate(net, xv, yv, config.normalize)  # --epochs 0 re-saves a model with new detector settings
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(net, opt, sched, x, y, weights, args, g, config.normalize)
        acc, recall = evaluate(net, xv, yv, config.normalize)
        print(f"epoch {epoch:>2}/{args.epochs}  train loss {loss:.4f}  val acc {acc:.4f}  "
              + "  ".join(f"{c[:9]} {r:.3f}" for c, r in recall.items()) + f"  {time.time() - t0:.0f} s")
        if args.dry_run:
            break
    if args.dry_run:
        print(f"dry run: no model written ({path} untouched)")
        return 0
    clean_partials(args.models_dir)  # a killed run's half-written model
    summary = {"train": int(len(y)), "test": int(len(yv)), "dirs": list(args.data_dir),
               "per_class_train": {c: int((y == k).sum()) for k, c in enumerate(CLASSES)}, "val_accuracy": acc,
               "drift_reference": drift_reference(net, xv if len(yv) else x, sides, config.normalize)}
    write_model(path, net.state_dict(), config.merged(config=dict(vars(args)), data=summary), onet, keep=True)
    print(f"{args.epochs} epochs in {time.time() - t0:.0f} s, val accuracy {acc:.4f} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
