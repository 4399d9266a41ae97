#!/usr/bin/python3
"""Check this project's PyTorch reference (bench/torch_reference.py) against official fixtures.

usage: /usr/bin/python3 bench/torch_check_fixtures.py <fixture-dir>... [--tol 1e-4] [--verbose]
                                                      [--architectures official-architectures.json]

For each folder: build the model from config.json, load weights.safetensors with strict=True, run the inputs
(train mode where the variant trains; drop-path/dropout are 0), compute the loss as fixtures/README.md says,
backward, and print the relative L2 error ||ours - ref|| / ||ref|| of every output and every grad.<name>.
Exit status 0 only if every error <= tol and integer outputs are exactly equal.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as R  # noqa: E402
import torch_safetensors as st  # noqa: E402


def rel_err(ours, ref):
    ours = ours.detach().double().reshape(-1)
    ref = ref.double().reshape(-1)
    if ours.numel() != ref.numel():
        return float("inf")
    d = torch.linalg.norm(ours - ref).item()
    n = torch.linalg.norm(ref).item()
    if n == 0.0:
        return 0.0 if d == 0.0 else float("inf")
    return d / n


def run_fixture(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    variant = cfg["variant"]
    weights = st.load(os.path.join(d, "weights.safetensors"))
    inputs = st.load(os.path.join(d, "inputs.safetensors"))
    ref = st.load(os.path.join(d, "outputs.safetensors"))

    model = R.model_from_fixture_config(cfg)
    notes = []
    # spec check: our relative_position_index must equal the official buffer before loading it
    ours_sd = model.state_dict()
    if "relative_position_index" in weights:
        same = torch.equal(ours_sd["relative_position_index"], weights["relative_position_index"])
        notes.append("relative_position_index recomputed %s" % ("== official" if same else "!= OFFICIAL"))
        if not same:
            raise SystemExit("relative_position_index mismatch in %s" % d)
    if "decoder_pos_embed" in weights:
        e = rel_err(ours_sd["decoder_pos_embed"], weights["decoder_pos_embed"])
        notes.append("decoder_pos_embed sin-cos recomputed rel err %.2e" % e)
    model.load_state_dict(weights, strict=True)

    outs = {}
    ints = set()
    images = inputs["images"]
    if variant == "clip-teacher":
        model.eval()
        with torch.no_grad():
            o = model(images)
        outs.update(o)
        loss = None
    else:
        model.train()
        if variant == "pixel-pretrain":
            o = model(images, noise=inputs["noise"])
            loss = o["loss"]
            outs["loss"] = loss
            outs["pred"] = o["pred"]
            outs["mask"] = o["mask"]
            outs["ids_keep"] = o["ids_keep"]
            outs["ids_restore"] = o["ids_restore"]
            for i, p in enumerate(o["pyramid"]):
                outs["pyramid.%d" % i] = p
            ints |= {"ids_keep", "ids_restore", "mask"}
        elif variant == "classify":
            logits = model(images)
            loss = F.cross_entropy(logits, inputs["labels"])
            outs["logits"] = logits
            outs["loss"] = loss
        elif variant == "clip-pretrain":
            o = model(images, inputs["bool_masked_pos"], inputs["target"])
            loss = o["loss"]
            outs.update(o)
        elif variant in ("detection-backbone", "segmentation-backbone"):
            o = model(images)
            total = sum(t.numel() for t in o)
            loss = sum((t * inputs["loss_weight.%d" % i]).sum() for i, t in enumerate(o)) / total
            for i, t in enumerate(o):
                outs["out.%d" % i] = t
            outs["loss"] = loss
        else:
            raise ValueError(variant)
        model.zero_grad(set_to_none=True)
        loss.backward()
        for name, p in model.named_parameters():
            if p.requires_grad:
                outs["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)

    results = []
    ok = True
    for name in sorted(ref):
        r = ref[name]
        if name not in outs:
            results.append((name, None, "MISSING"))
            ok = False
            continue
        o = outs[name]
        if name in ints:
            eq = o.shape == r.shape and torch.equal(o.to(r.dtype), r)
            results.append((name, 0.0 if eq else float("inf"), "exact" if eq else "NOT EQUAL"))
            ok &= eq
        else:
            e = rel_err(o, r)
            results.append((name, e, ""))
    extra = sorted(k for k in outs if k not in ref and not k.startswith("grad."))
    return variant, results, notes, extra, ok


_ARCH_BUILDERS = {
    "itpn_base_pixel_pretrain": lambda: R.build_pixel_pretrain("itpn_base"),
    "itpn_large_pixel_pretrain": lambda: R.build_pixel_pretrain("itpn_large"),
    "itpn_base_classify_1000": lambda: R.build_classifier("itpn_base", num_classes=1000),
    "itpn_large_classify_1000": lambda: R.build_classifier("itpn_large", num_classes=1000),
    "itpn_base_clip_pretrain_teacher512": lambda: R.build_clip_pretrain("itpn_base", teacher_dim=512),
    "itpn_large_clip_pretrain_teacher768": lambda: R.build_clip_pretrain("itpn_large", teacher_dim=768),
}


def check_architectures(path):
    """Our factories vs official-architectures.json: exact key set, shapes and parameter count."""
    spec = json.load(open(path))
    ok = True
    for name, entry in spec.items():
        if name not in _ARCH_BUILDERS:
            print("SKIP architecture %s (no factory mapping)" % name)
            continue
        m = _ARCH_BUILDERS[name]()
        ours = {k: list(v.shape) for k, v in m.state_dict().items()}
        ref = {k: list(v if isinstance(v, list) else v["shape"]) for k, v in entry["tensors"].items()}
        missing = sorted(set(ref) - set(ours))
        extra = sorted(set(ours) - set(ref))
        bad = sorted(k for k in ref if k in ours and ours[k] != ref[k])
        n = sum(p.numel() for p in m.parameters())
        good = not (missing or extra or bad) and n == entry["params"]
        ok &= good
        print("%s architecture %-40s %d tensors, %d params (official %d)%s" % (
            "PASS" if good else "FAIL", name, len(ours), n, entry["params"],
            "" if good else " missing %s extra %s shape %s" % (missing[:5], extra[:5], bad[:5])))
        del m
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--architectures", metavar="JSON", help="also check factories against official-architectures.json")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    all_ok = True
    if args.architectures:
        all_ok &= check_architectures(args.architectures)
    for d in args.dirs:
        variant, results, notes, extra, ok = run_fixture(d)
        worst = ("", 0.0)
        nbad = 0
        for name, e, tag in results:
            bad = e is None or e > args.tol or tag in ("MISSING", "NOT EQUAL")
            if e is not None and e > worst[1]:
                worst = (name, e)
            if bad:
                nbad += 1
            if args.verbose or bad or not name.startswith("grad."):
                es = "   n/a  " if e is None else "%.3e" % e
                print("  %-60s %s %s%s" % (name, es, tag, "  <-- FAIL" if bad else ""))
        for n in notes:
            print("  note: %s" % n)
        if extra:
            print("  (outputs not in fixture: %s)" % ", ".join(extra))
        ok = ok and nbad == 0
        ngrad = sum(1 for n, _, _ in results if n.startswith("grad."))
        print("%s %-24s %-45s %d tensors (%d grads), max rel err %.3e (%s)" % (
            "PASS" if ok else "FAIL", variant, d, len(results), ngrad, worst[1], worst[0] or "-"))
        all_ok &= ok
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
