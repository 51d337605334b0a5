"""README step 10: finetune the face detector on annotated camera scenes (Pascal VOC).

    python finetune_detector.py --data_dir ../shared/data/scenes_dev    # models/mask_classifier.pt -> models/mask_classifier_new.pt

The face search (YuNet by default, or MTCNN) proposes faces at a loose threshold; MTCNN's last stage
(O-Net) is finetuned on those proposals of the training split (split by image, as extract_faces.py
splits them) to become the detector's verifier. The verifier and the detector settings are written
into the model file, so every stage (scenes, footage, live streams, annotation) detects the same
way. The classifier is unchanged.
"""
import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from maskdet import InputError, cli, layout
from maskdet.classifier import load_checkpoint, write_model
from maskdet.config import ModelConfig
from maskdet.detect import BACKENDS
from maskdet.files import check_writable, clean_partials


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", nargs="+", default=[layout.SCENES],
                   help="Pascal VOC scene folders (images/ + annotations/); several are mixed (new frames with the old)")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file to add the verifier to")
    p.add_argument("--output", default=layout.NEW_MODEL,
                   help="where to write the model; a file already there is kept as <name>.prev.pt")
    p.add_argument("--split", default="train", choices=("all", "train"), help="scenes trained on (split by image)")
    p.add_argument("--test_percent", type=cli.percent, default=40, help="share of images kept for evaluation")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="split and training seed")
    p.add_argument("--class_map", default="", help="extra name=class pairs")
    p.add_argument("--epochs", type=cli.positive_int, default=12, help="passes over the crops, per round")
    p.add_argument("--lr", type=cli.positive_float, default=5e-4, help="Adam learning rate")
    p.add_argument("--threads", type=cli.positive_int, default=2, help="torch CPU threads")
    g = p.add_argument_group("detector settings stored in the model (still images and streams alike)")
    g.add_argument("--backend", default="yunet", choices=BACKENDS, help="the face search that proposes faces")
    g.add_argument("--upscale", type=cli.positive_float, default=2.0, help="enlarge frames by this before the search: small faces")
    g.add_argument("--max_side", type=cli.nonneg_int, default=1920, help="... keeping the searched image's longer side within this (0: no limit)")
    g.add_argument("--min_face_size", type=cli.positive_int, default=5, help="smallest face proposed (px of the searched image)")
    g.add_argument("--thresholds", type=cli.unit_float, nargs=3, default=(0.1, 0.1, 0.1),
                   help="proposal thresholds (MTCNN: P-, R-, O-Net; YuNet: the last)")
    g.add_argument("--pad", type=cli.unit_float, default=0.0, help="pad the image by this share of its size: faces cut by the border")
    g.add_argument("--min_score", type=cli.unit_float, default=0.45, help="keep faces whose verified score is at least this")
    g.add_argument("--mask_ssd", type=cli.unit_float, default=0.8,
                   help="AIZOO's mask detector also searches: add its faces scoring at least this where none was kept (0: off)")
    g.add_argument("--mask_ssd_side", type=cli.nonneg_int, default=800, help="... on the frame shrunk to this longer side (0: no limit)")
    g.add_argument("--count_score", type=cli.unit_float, default=0.9, help="faces scoring less are not sure: the rule counts them only when called correctly masked")
    return p.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    print(f"finetune_detector: {vars(opt)}")
    torch.set_num_threads(opt.threads)
    t0, output = time.time(), Path(opt.output)
    try:
        from maskdet.onet import finetune, proposals
        from maskdet.voc import load_scenes, print_skipped

        ckpt = load_checkpoint(opt.model)
        check_writable(output)
        scenes, errors = [], []
        for d in opt.data_dir:
            found, bad = load_scenes(d, opt.class_map, opt.split, opt.test_percent, opt.seed)
            scenes, errors = scenes + found, errors + bad
        print_skipped(errors, scenes)
        if not any(s.boxes for s in scenes):
            raise InputError(f"{', '.join(opt.data_dir)}: no annotated faces in the {opt.split} split of annotations/*.xml")
        config = ModelConfig.from_checkpoint(ckpt)
        settings = replace(config.detector, backend=opt.backend, upscale=opt.upscale, max_side=opt.max_side,
                           min_face_size=opt.min_face_size, thresholds=tuple(opt.thresholds), pad=opt.pad,
                           min_score=opt.min_score, count_score=opt.count_score, mask_ssd=opt.mask_ssd,
                           mask_ssd_side=opt.mask_ssd_side, verify=True)
        proposed = proposals(scenes, replace(settings, min_score=0.0, mask_ssd=0.0))  # the search's own proposals
        if not proposed:
            raise InputError(f"{', '.join(opt.data_dir)}: none of the annotated images could be read")
        print(f"{len(proposed)} scenes, {sum(len(s.boxes) for s, _, _ in proposed)} faces, "
              f"{sum(len(b) for _, _, b in proposed)} proposals ({time.time() - t0:.0f} s)")
        state = finetune(proposed, opt.epochs, opt.lr, opt.seed)
        config = config.merged(detector=settings.to_dict(),
                               detector_training={k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(opt).items()})
        clean_partials(output.parent, only=output.name)  # a killed run's half-written model
        write_model(output, ckpt["model"], config, onet=state, keep=True)
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(f"verifier trained in {time.time() - t0:.0f} s -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
