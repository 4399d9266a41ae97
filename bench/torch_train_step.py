#!/usr/bin/python3
"""Time iTPN training steps of this project's PyTorch reference (bench/torch_reference.py) on synthetic data.

usage:
  /usr/bin/python3 bench/torch_train_step.py --arch itpn_base --img-size 224 --batch 8 --steps 10 --warmup 2 \
      --threads 2 --json [--variant pixel|classify] [--forward-only]

variant pixel    (default): pixel pre-training step of iTPNMaskedAutoencoder (mask ratio 0.75, token dropping,
                            pyramid, fused decoder, norm-pix MSE) + backward + AdamW(beta 0.9/0.95, wd 0.05)
variant classify          : fine-tuning step of iTPNClassifier (RPE on, 1000 classes, cross-entropy)
                            + backward + AdamW(beta 0.9/0.999, wd 0.05)
--forward-only            : time the forward pass (incl. loss) under torch.no_grad() instead of a full step
--autocast-bf16           : run forward (and so backward) under torch.autocast("cpu", dtype=torch.bfloat16), the
                            peer of itpn's --precision bf16

Weight decay is skipped for 1-D parameters and biases (as the official scripts do); decoder_pos_embed is frozen.
With --json, prints one JSON object:
  {"images_per_s": batch / median step time, "step_ms_median", "steps", "torch_version", "threads", ...}
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as R  # noqa: E402


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="itpn_base", choices=sorted(R._SIZES))
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave default)")
    ap.add_argument("--variant", default="pixel", choices=["pixel", "classify"])
    ap.add_argument("--forward-only", action="store_true")
    ap.add_argument("--autocast-bf16", action="store_true")
    ap.add_argument("--num-classes", type=int, default=1000)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--drop-path", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if args.threads > 0:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed + 1)

    B, S = args.batch, args.img_size
    if S % 16 != 0:
        raise SystemExit("--img-size must be a multiple of 16")
    n_tok = (S // 16) ** 2
    if args.variant == "pixel":
        model = R.build_pixel_pretrain(args.arch, img_size=S, mask_ratio=args.mask_ratio,
                                       drop_path_rate=args.drop_path)
        betas, lr = (0.9, 0.95), 1.5e-4 * B / 256 if args.lr is None else args.lr
    else:
        model = R.build_classifier(args.arch, img_size=S, num_classes=args.num_classes,
                                   drop_path_rate=args.drop_path)
        betas, lr = (0.9, 0.999), 4e-4 * B / 256 if args.lr is None else args.lr
    model.train()
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=lr, betas=betas, eps=1e-8)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    images = torch.randn(B, 3, S, S, generator=gen)
    labels = torch.randint(0, args.num_classes, (B,), generator=gen)

    if args.autocast_bf16:
        # PyTorch 1.13's CPU autocast leaves layer_norm out of its float32 list, and LayerNorm then fails on a
        # bfloat16 input with float32 weights; run it in float32, as CUDA autocast does.
        layer_norm = F.layer_norm
        F.layer_norm = lambda x, *a, **k: layer_norm(x.float(), *a, **k)

    def compute_loss():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast_bf16):
            if args.variant == "pixel":
                noise = torch.rand(B, n_tok, generator=gen)
                return model(images, noise=noise)["loss"].float()
            return F.cross_entropy(model(images).float(), labels)

    def step():
        if args.forward_only:
            with torch.no_grad():
                return compute_loss().item()
        opt.zero_grad(set_to_none=True)
        loss = compute_loss()
        loss.backward()
        opt.step()
        return loss.item()

    if args.forward_only:
        model.eval()
    losses, times = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
    med = statistics.median(times) if times else float("nan")
    res = {
        "images_per_s": B / med if times else 0.0,
        "step_ms_median": med * 1e3,
        "step_ms_min": min(times) * 1e3 if times else float("nan"),
        "step_ms_mean": statistics.mean(times) * 1e3 if times else float("nan"),
        "step_ms": [round(t * 1e3, 3) for t in times],
        "steps": len(times),
        "warmup": args.warmup,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "arch": args.arch,
        "variant": args.variant,
        "forward_only": args.forward_only,
        "autocast_bf16": args.autocast_bf16,
        "img_size": S,
        "batch": B,
        "params": n_params,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
    }
    if args.json:
        print(json.dumps(res))
    else:
        print("%s %s%s img %d batch %d threads %d torch %s: %.1f ms/step median (min %.1f), %.2f images/s; "
              "loss %.4f -> %.4f; %.2fM params" % (
                  args.arch, args.variant, " forward-only" if args.forward_only else "", S, B, res["threads"],
                  res["torch_version"], res["step_ms_median"], res["step_ms_min"], res["images_per_s"],
                  res["loss_first"], res["loss_last"], n_params / 1e6))


if __name__ == "__main__":
    main()
