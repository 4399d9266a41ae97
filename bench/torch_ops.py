"""PyTorch side of `itpn bench ops` / `itpn bench gemm`: the same ops at the same ViT-B shapes, forward+backward,
median milliseconds. Run with Debian's python3-torch: /usr/bin/python3 bench/torch_ops.py --threads 2 --json"""
import argparse
import json
import statistics
import time

import torch


def median_ms(fn, warmup=2, min_time=0.5, min_reps=5):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 200:
            break
    return statistics.median(times)


def fwd_bwd(make_inputs, f):
    xs = make_inputs()

    def run():
        for x in xs:
            x.grad = None
        y = f(*xs)
        y.backward(g)

    with torch.no_grad():
        y0 = f(*xs)
    g = torch.randn_like(y0)
    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--json', action='store_true')
    p.add_argument('--quick', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    mt = 0.2 if a.quick else 0.5
    r = lambda *s: torch.randn(*s, requires_grad=True)
    out = {'torch_version': torch.__version__, 'threads': a.threads}
    # GEMMs (no autograd): the ViT-B MLP forward and the two products of its backward
    A, B = torch.randn(1024, 1024), torch.randn(1024, 1024)
    out['gemm_1024_ms'] = median_ms(lambda: A @ B, min_time=mt)
    x, w = torch.randn(1568, 768), torch.randn(768, 3072)
    dy = torch.randn(1568, 3072)
    out['gemm_mlp_nn_ms'] = median_ms(lambda: x @ w, min_time=mt)
    out['gemm_mlp_nt_ms'] = median_ms(lambda: dy @ w.t(), min_time=mt)
    out['gemm_mlp_tn_ms'] = median_ms(lambda: x.t() @ dy, min_time=mt)
    # ops, forward + backward
    ln = torch.nn.LayerNorm(768, eps=1e-6)
    out['layer_norm_ms'] = median_ms(fwd_bwd(lambda: [r(1568, 768)], lambda t: ln(t)), min_time=mt)
    out['softmax_ms'] = median_ms(fwd_bwd(lambda: [r(8, 12, 196, 196)], lambda t: t.softmax(-1)), min_time=mt)
    gelu = torch.nn.GELU()
    out['gelu_ms'] = median_ms(fwd_bwd(lambda: [r(1568, 3072)], lambda t: gelu(t)), min_time=mt)

    def attention(q, k, v):
        s = (q * 64 ** -0.5) @ k.transpose(-2, -1)
        return s.softmax(-1) @ v
    out['attention_ms'] = median_ms(fwd_bwd(lambda: [r(8, 12, 196, 64), r(8, 12, 196, 64), r(8, 12, 196, 64)], attention), min_time=mt)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
