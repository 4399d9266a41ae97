"""iTPN reference models in PyTorch, written by this project from /work/shared/docs/itpn-spec.md.

This is NOT the official code (github.com/sunsmarterjie/iTPN). It exists to
  (a) check this project's reading of the spec against the official fixtures
      (bench/torch_check_fixtures.py), and
  (b) serve as the PyTorch peer in benchmarks (bench/torch_train_step.py).

Parameter and buffer names follow the official state_dict keys, so
`model.load_state_dict(official_state_dict, strict=True)` works for the variants below.

Run with Debian's interpreter: /usr/bin/python3 (PyTorch 1.13 CPU).

Models
  iTPNMaskedAutoencoder  pixel pre-training (MAE-style token dropping, fused multi-level decoder)
  iTPNClassifier         fine-tuning / classification (mean-pool, fc_norm, head)
  iTPNClipDistill        CLIP-distillation pre-training student (mask token, pyramid head + aux head)
  CLIPVisionTransformer  OpenAI-layout CLIP ViT teacher (+ ClipTeacher wrapper producing the target)
  iTPNDetBackbone        detection backbone (5 NCHW levels, avg-pooled extras)
  iTPNSegBackbone        segmentation backbone (4 NCHW levels, concat with backbone features, max-pooled s32)

Factories
  Official sizes (spec section 1.2):
    itpn_base : C 512, MLP blocks 3+3, 24 main blocks, 8 heads
    itpn_large: C 768, MLP blocks 2+2, 40 main blocks, 12 heads
    both: fpn_dim 256; pixel decoder 512 dim, 8 blocks, 16 heads.
  This project's additions (no official tiny/small iTPN exists; spec section 1.2):
    itpn_tiny : C 192, MLP blocks 1+1, 6 main blocks, 3 heads, fpn_dim 96,
                pixel decoder 192 dim, 2 blocks, 3 heads
    itpn_small: C 384, MLP blocks 2+2, 12 main blocks, 6 heads, fpn_dim 192,
                pixel decoder 256 dim, 4 blocks, 8 heads
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-6

# --------------------------------------------------------------------------------------------
# helpers


def _ln(dim, eps=LN_EPS):
    return nn.LayerNorm(dim, eps=eps)


def get_1d_sincos(dim, pos):
    """dim/2 sin channels then dim/2 cos channels, omega_k = 10000^(-k/(dim/2))."""
    assert dim % 2 == 0
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(dim, grid_h, grid_w=None):
    """(grid_h*grid_w, dim); token t = row*grid_w + col.

    MAE convention (spec 1.6): the FIRST dim/2 channels encode the COLUMN index,
    the LAST dim/2 channels encode the ROW index.
    """
    grid_w = grid_h if grid_w is None else grid_w
    rows, cols = np.meshgrid(np.arange(grid_h, dtype=np.float64), np.arange(grid_w, dtype=np.float64), indexing="ij")
    emb_col = get_1d_sincos(dim // 2, cols)
    emb_row = get_1d_sincos(dim // 2, rows)
    return np.concatenate([emb_col, emb_row], axis=1).astype(np.float32)


def relative_position_index(hp, wp):
    """(N, N) int64; idx(a,b) = (ra-rb+hp-1)*(2wp-1) + (ca-cb+wp-1)."""
    r, c = torch.meshgrid(torch.arange(hp), torch.arange(wp), indexing="ij")
    coords = torch.stack([r.flatten(), c.flatten()])  # 2, N
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    rel = rel.permute(1, 2, 0).contiguous()
    rel[:, :, 0] += hp - 1
    rel[:, :, 1] += wp - 1
    rel[:, :, 0] *= 2 * wp - 1
    return rel.sum(-1)


def tokens_to_nchw(t, hp, wp):
    """(B, N, s, s, ch) with N = hp*wp row-major -> (B, ch, hp*s, wp*s);
    pixel (r*s+i, c*s+j) <- token r*wp+c, inner (i, j)."""
    B, N, s1, s2, ch = t.shape
    assert N == hp * wp
    return t.reshape(B, hp, wp, s1, s2, ch).permute(0, 5, 1, 3, 2, 4).reshape(B, ch, hp * s1, wp * s2)


def patchify(imgs, p=16):
    """(B,3,H,W) -> (B, N, p*p*3); per patch order [row in patch][col in patch][RGB]."""
    B, C, H, W = imgs.shape
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(B, h * w, p * p * C)


def random_masking_ids(noise, mask_ratio):
    """MAE masking from given noise (B, N). Returns ids_keep (shuffled order), ids_restore, mask (1 = removed)."""
    B, N = noise.shape
    len_keep = int(N * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    mask = torch.ones(B, N, device=noise.device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_keep, ids_restore, mask


# --------------------------------------------------------------------------------------------
# building blocks


class DropPath(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        r = x.new_empty(shape).bernoulli_(keep)
        return x * r / keep

    def extra_repr(self):
        return "p=%g" % self.p


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=True, rpe_size=None):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        if rpe_size is not None:
            hp, wp = rpe_size
            # zero-initialised in the official code (spec 1.6)
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * hp - 1) * (2 * wp - 1), num_heads))
        else:
            self.relative_position_bias_table = None

    def forward(self, x, rpe_index=None):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        if rpe_index is not None and self.relative_position_bias_table is not None:
            bias = self.relative_position_bias_table[rpe_index.reshape(-1)]
            if rpe_index.dim() == 2:  # (N, N)
                bias = bias.reshape(N, N, -1).permute(2, 0, 1).unsqueeze(0)
            else:  # (B, N, N): gathered per sample with kept ids
                bias = bias.reshape(B, N, N, -1).permute(0, 3, 1, 2)
            attn = attn + bias
        fi = torch.finfo(torch.float32)
        attn = attn.float().clamp(min=fi.min, max=fi.max)
        attn = attn.softmax(dim=-1).type_as(v)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class MlpBlock(nn.Module):
    """Stage 1/2 and pyramid block: x + DropPath(gamma_2 * MLP(norm2(x))). No attention, no norm1."""

    def __init__(self, dim, mlp_ratio, drop_path=0.0, init_values=None, eps=LN_EPS):
        super().__init__()
        self.norm2 = _ln(dim, eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        if init_values is not None:
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_2 = None

    def forward(self, x, rpe_index=None):
        y = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            y = self.gamma_2 * y
        return x + self.drop_path(y)


class Block(nn.Module):
    """Pre-norm attention block (main stage, decoder, cls_pt_layers)."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, drop_path=0.0, init_values=None,
                 rpe_size=None, eps=LN_EPS):
        super().__init__()
        self.norm1 = _ln(dim, eps)
        self.attn = Attention(dim, num_heads, qkv_bias, rpe_size)
        self.drop_path = DropPath(drop_path)
        self.norm2 = _ln(dim, eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if init_values is not None:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x, rpe_index=None):
        if self.gamma_1 is None:
            x = x + self.drop_path(self.attn(self.norm1(x), rpe_index))
            x = x + self.drop_path(self.mlp(self.norm2(x)))
        else:
            x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x), rpe_index))
            x = x + self.drop_path(self.gamma_2 * self.mlp(self.norm2(x)))
        return x


class PatchEmbed(nn.Module):
    """Conv 4x4 stride 4 (3 -> C/4) regrouped to (B, N, 4, 4, C/4), then LayerNorm."""

    def __init__(self, patch_size=16, inner_patches=4, in_chans=3, embed_dim=128, eps=LN_EPS):
        super().__init__()
        self.patch_size = patch_size
        self.inner_patches = inner_patches
        s = patch_size // inner_patches
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=s, stride=s)
        self.norm = _ln(embed_dim, eps)

    def forward(self, x):
        B, _, H, W = x.shape
        hp, wp, ip = H // self.patch_size, W // self.patch_size, self.inner_patches
        x = self.proj(x)  # B, c, H/4, W/4
        c = x.shape[1]
        x = x.reshape(B, c, hp, ip, wp, ip).permute(0, 2, 4, 3, 5, 1).reshape(B, hp * wp, ip, ip, c)
        return self.norm(x)


class PatchMerge(nn.Module):
    """Inner 2x2 merge: concat sub-grids (even r, even c), (odd r, even c), (even r, odd c), (odd r, odd c);
    LayerNorm(4d); Linear(4d -> 2d, no bias)."""

    def __init__(self, dim, eps=LN_EPS):
        super().__init__()
        self.norm = _ln(dim * 4, eps)
        self.reduction = nn.Linear(dim * 4, dim * 2, bias=False)

    def forward(self, x, rpe_index=None):
        x0 = x[..., 0::2, 0::2, :]
        x1 = x[..., 1::2, 0::2, :]
        x2 = x[..., 0::2, 1::2, :]
        x3 = x[..., 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], dim=-1)
        return self.reduction(self.norm(x))


class PatchSplit(nn.Module):
    """Inverse of PatchMerge: LayerNorm(in); Linear(in -> 4F, no bias); channel block 2*dh+dw goes to
    inner position (2h+dh, 2w+dw)."""

    def __init__(self, dim, fpn_dim, eps=LN_EPS):
        super().__init__()
        self.fpn_dim = fpn_dim
        self.norm = _ln(dim, eps)
        self.reduction = nn.Linear(dim, fpn_dim * 4, bias=False)

    def forward(self, x):
        B, N, H, W, _ = x.shape
        x = self.reduction(self.norm(x))
        x = x.reshape(B, N, H, W, 2, 2, self.fpn_dim).permute(0, 1, 2, 4, 3, 5, 6)
        return x.reshape(B, N, 2 * H, 2 * W, self.fpn_dim)


# --------------------------------------------------------------------------------------------
# HiViT / iTPN backbone with optional pyramid


class iTPNBase(nn.Module):
    def __init__(self, img_size=224, patch_size=16, inner_patches=4, in_chans=3, embed_dim=512,
                 mlp_depth1=3, mlp_depth2=3, depth=24, num_heads=8, bridge_mlp_ratio=3.0, mlp_ratio=4.0,
                 qkv_bias=True, drop_path_rate=0.0, rpe=False, init_values=None, ape=True,
                 ape_img_size=None, fpn=False, fpn_dim=256, fpn_depth=2, eps=LN_EPS, **unused):
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.mlp_depth1, self.mlp_depth2, self.depth = mlp_depth1, mlp_depth2, depth
        self.use_rpe = rpe
        self.has_fpn = fpn
        self.fpn_dim = fpn_dim
        hp = wp = img_size // patch_size
        self.grid = (hp, wp)
        self.patch_embed = PatchEmbed(patch_size, inner_patches, in_chans, embed_dim // 4, eps)

        if ape:
            a = (ape_img_size or img_size) // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, a * a, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        else:
            self.absolute_pos_embed = None
        if rpe:
            self.register_buffer("relative_position_index", relative_position_index(hp, wp))

        n_dp = mlp_depth1 + mlp_depth2 + depth
        self.dpr = [float(v) for v in torch.linspace(0, drop_path_rate, n_dp)]
        dp = iter(self.dpr)
        blocks = []
        blocks += [MlpBlock(embed_dim // 4, bridge_mlp_ratio, next(dp), init_values, eps) for _ in range(mlp_depth1)]
        blocks.append(PatchMerge(embed_dim // 4, eps))
        blocks += [MlpBlock(embed_dim // 2, bridge_mlp_ratio, next(dp), init_values, eps) for _ in range(mlp_depth2)]
        blocks.append(PatchMerge(embed_dim // 2, eps))
        blocks += [Block(embed_dim, num_heads, mlp_ratio, qkv_bias, next(dp), init_values,
                         (hp, wp) if rpe else None, eps) for _ in range(depth)]
        self.blocks = nn.ModuleList(blocks)
        self.num_pre = mlp_depth1 + mlp_depth2 + 2

        if fpn:
            F_ = fpn_dim
            if embed_dim != F_:
                self.align_dim_16tofpn = nn.Linear(embed_dim, F_)
            else:
                self.align_dim_16tofpn = None
            self.split_16to8 = PatchSplit(embed_dim, F_, eps)
            self.align_dim_16to8 = nn.Linear(embed_dim // 2, F_, bias=False)
            self.block_16to8 = nn.ModuleList([MlpBlock(F_, mlp_ratio, 0.0, None, eps) for _ in range(fpn_depth)])
            self.split_8to4 = PatchSplit(F_, F_, eps)
            self.align_dim_8to4 = nn.Linear(embed_dim // 4, F_, bias=False)
            self.block_8to4 = nn.ModuleList([MlpBlock(F_, mlp_ratio, 0.0, None, eps) for _ in range(fpn_depth)])
            self.fpn_modules = nn.ModuleList([MlpBlock(F_, mlp_ratio, 0.0, None, eps) for _ in range(3)])

        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # -- position encodings

    def interpolate_pos_encoding(self, npatch, hp, wp):
        """APE for an (hp, wp) grid; bicubic with scale_factor ((hp+0.1)/sqrt(N0), (wp+0.1)/sqrt(N0)).

        Official quirk (verified against the pixel-pretrain fixture): the identity shortcut tests the number of
        tokens actually present (npatch), i.e. the VISIBLE count when tokens are dropped. With MAE dropping,
        npatch != N0, so the APE is always bicubic-resampled with the +0.1 scale factor, even at the native grid
        (14 -> 14 with scale 14.1/14 at 224: a slightly shifted resample, not the identity), then gathered."""
        pos = self.absolute_pos_embed
        n0 = pos.shape[1]
        if npatch == n0 and hp == wp:
            return pos
        g = int(math.sqrt(n0))
        C = pos.shape[-1]
        p = pos.reshape(1, g, g, C).permute(0, 3, 1, 2)
        p = F.interpolate(p, scale_factor=((hp + 0.1) / math.sqrt(n0), (wp + 0.1) / math.sqrt(n0)),
                          mode="bicubic", align_corners=False)
        assert p.shape[-2] == hp and p.shape[-1] == wp, p.shape
        return p.permute(0, 2, 3, 1).reshape(1, hp * wp, C)

    # -- backbone

    def forward_backbone(self, x, ids_keep=None, bool_masked_pos=None, aux_tap=None):
        """Returns dict: x (B,n,C) main-stage output, feats [stage1 (B,n,4,4,C/4), stage2 (B,n,2,2,C/2)],
        aux (hidden state after main block aux_tap, 0-based), rpe_index, grid (hp, wp)."""
        B, _, H, W = x.shape
        hp, wp = H // self.patch_size, W // self.patch_size
        x = self.patch_embed(x)
        if ids_keep is not None:
            x = torch.gather(x, 1, ids_keep[:, :, None, None, None].expand(-1, -1, *x.shape[2:]))
        feats = []
        for blk in self.blocks[:self.num_pre]:
            if isinstance(blk, PatchMerge):
                feats.append(x)
            x = blk(x)
        x = x[..., 0, 0, :]
        if bool_masked_pos is not None:
            w = bool_masked_pos.unsqueeze(-1).type_as(self.mask_token)
            x = x * (1 - w) + self.mask_token * w
        if self.absolute_pos_embed is not None:
            pos = self.interpolate_pos_encoding(x.shape[1], hp, wp)
            if ids_keep is not None:
                pos = torch.gather(pos.expand(B, -1, -1), 1, ids_keep[:, :, None].expand(-1, -1, pos.shape[-1]))
            x = x + pos
        rpe_index = None
        if self.use_rpe:
            rpe_index = self.relative_position_index
            if ids_keep is not None:
                rpe_index = rpe_index[ids_keep[:, :, None], ids_keep[:, None, :]]
        aux = None
        for i, blk in enumerate(self.blocks[self.num_pre:]):
            x = blk(x, rpe_index)
            if aux_tap is not None and i == aux_tap:
                aux = x
        return {"x": x, "feats": feats, "aux": aux, "rpe_index": rpe_index, "grid": (hp, wp)}

    def forward_pyramid(self, x, feats):
        """x (B,n,C). Returns [P16 (B,n,1,1,F), P8 (B,n,2,2,F), P4 (B,n,4,4,F)] after fpn_modules."""
        B, n, C = x.shape
        x5 = x.reshape(B, n, 1, 1, C)
        p16 = self.align_dim_16tofpn(x5) if self.align_dim_16tofpn is not None else x5
        p8 = self.split_16to8(x5) + self.align_dim_16to8(feats[1])
        for blk in self.block_16to8:
            p8 = blk(p8)
        p4 = self.split_8to4(p8) + self.align_dim_8to4(feats[0])
        for blk in self.block_8to4:
            p4 = blk(p4)
        return [m(p) for m, p in zip(self.fpn_modules, [p16, p8, p4])]


# --------------------------------------------------------------------------------------------
# variants


class iTPNClassifier(iTPNBase):
    """Fine-tuning model: backbone (no pyramid), mean-pool, fc_norm, head. RPE on by default."""

    def __init__(self, num_classes=1000, rpe=True, **kw):
        kw.pop("fpn", None)
        super().__init__(rpe=rpe, fpn=False, **kw)
        eps = kw.get("eps", LN_EPS)
        self.fc_norm = _ln(self.embed_dim, eps)
        self.head = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(self.head, nn.Linear):
            nn.init.trunc_normal_(self.head.weight, std=2e-5)
            nn.init.zeros_(self.head.bias)

    def forward(self, images):
        x = self.forward_backbone(images)["x"]
        return self.head(self.fc_norm(x.mean(dim=1)))


class iTPNMaskedAutoencoder(iTPNBase):
    """Pixel pre-training: random masking from noise, token dropping at patch embed, pyramid on visible tokens,
    fused multi-level decoder with a single shared mask token, norm-pix MSE on masked tokens."""

    def __init__(self, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16, mask_ratio=0.75,
                 rpe=False, fpn_depth=2, mlp_ratio=4.0, norm_pix_loss=True, **kw):
        kw.pop("fpn", None)
        super().__init__(rpe=rpe, fpn=True, fpn_depth=fpn_depth, mlp_ratio=mlp_ratio, **kw)
        eps = kw.get("eps", LN_EPS)
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        D, F_ = decoder_embed_dim, self.fpn_dim
        self.decoder_embed = nn.ModuleList([
            nn.Sequential(_ln(F_, eps), nn.Linear(F_, D // (4 ** i))) for i in range(3)])
        self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
        hp, wp = self.grid
        self.decoder_pos_embed = nn.Parameter(torch.from_numpy(get_2d_sincos_pos_embed(D, hp, wp))[None],
                                              requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(D, decoder_num_heads, mlp_ratio, True, 0.0, None, None, eps) for _ in range(decoder_depth)])
        self.decoder_norm = _ln(D, eps)
        self.decoder_pred = nn.Linear(D, self.patch_size ** 2 * 3)
        for m in [self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred]:
            m.apply(self._init_weights)
        nn.init.normal_(self.mask_token, std=0.02)
        # pixel pre-training APE: fixed 2D sin-cos values, but a learnable parameter
        if self.absolute_pos_embed is not None:
            n0 = self.absolute_pos_embed.shape[1]
            g = int(math.sqrt(n0))
            with torch.no_grad():
                self.absolute_pos_embed.copy_(torch.from_numpy(get_2d_sincos_pos_embed(self.embed_dim, g))[None])

    def forward_decoder(self, pyramid, ids_restore):
        B, n = pyramid[0].shape[:2]
        N = ids_restore.shape[1]
        D = self.mask_token.shape[-1]
        levels = []
        for i, p in enumerate(pyramid):
            y = self.decoder_embed[i](p).reshape(B, n, D)  # space-to-depth: (i, j) row-major, then channel
            y = torch.cat([y, self.mask_token.expand(B, N - n, D)], dim=1)
            y = torch.gather(y, 1, ids_restore[:, :, None].expand(-1, -1, D))
            levels.append(y)
        x = levels[0] + self.decoder_pos_embed
        for y in levels[1:]:
            x = x + y
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))

    def forward_loss(self, images, pred, mask):
        target = patchify(images, self.patch_size)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased (torch default)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, images, noise=None):
        B = images.shape[0]
        N = (images.shape[2] // self.patch_size) * (images.shape[3] // self.patch_size)
        if noise is None:
            noise = torch.rand(B, N, device=images.device)
        ids_keep, ids_restore, mask = random_masking_ids(noise, self.mask_ratio)
        bb = self.forward_backbone(images, ids_keep=ids_keep)
        pyramid = self.forward_pyramid(bb["x"], bb["feats"])
        pred = self.forward_decoder(pyramid, ids_restore)
        loss = self.forward_loss(images, pred, mask)
        return {"loss": loss, "pred": pred, "mask": mask, "ids_keep": ids_keep, "ids_restore": ids_restore,
                "pyramid": pyramid}


class iTPNClipDistill(iTPNBase):
    """CLIP-distillation pre-training student. Mask token replaces masked tokens at the main stage (early stages
    see the full image), APE added after, RPE and layer scale on. Head A: fused pyramid (LN+Linear per level to C,
    summed) -> norm -> lm_head. Head B: hidden state after main block aux_tap -> 2 cls_pt_layers (LN eps 1e-5)
    -> norm_cls -> lm_cls_head. Loss: SmoothL1(beta 1, mean) of each head against the target, summed."""

    def __init__(self, teacher_dim=512, rpe=True, init_values=0.1, fpn_depth=1, aux_tap=None,
                 cls_pt_layers_eps=1e-5, num_cls_pt_layers=2, mlp_ratio=4.0, qkv_bias=True, **kw):
        kw.pop("fpn", None)
        super().__init__(rpe=rpe, init_values=init_values, fpn=True, fpn_depth=fpn_depth, mlp_ratio=mlp_ratio,
                         qkv_bias=qkv_bias, **kw)
        eps = kw.get("eps", LN_EPS)
        C = self.embed_dim
        self.aux_tap = int(0.75 * self.depth) if aux_tap is None else aux_tap
        self.mask_token = nn.Parameter(torch.zeros(1, 1, C))
        self.decoder_embed = nn.ModuleList([
            nn.Sequential(_ln(self.fpn_dim, eps), nn.Linear(self.fpn_dim, C // (4 ** i))) for i in range(3)])
        self.norm = _ln(C, eps)
        self.lm_head = nn.Linear(C, teacher_dim)
        # drop-path rates of positions aux_tap.. in the backbone's linspace (spec 4.2; exact index choice
        # unverified, irrelevant at drop-path 0)
        dp = [self.dpr[min(self.aux_tap + i, len(self.dpr) - 1)] for i in range(num_cls_pt_layers)]
        self.cls_pt_layers = nn.ModuleList([
            Block(C, self.num_heads, mlp_ratio, qkv_bias, dp[i], init_values, self.grid if rpe else None,
                  eps=cls_pt_layers_eps) for i in range(num_cls_pt_layers)])
        self.norm_cls = _ln(C, eps)
        self.lm_cls_head = nn.Linear(C, teacher_dim)
        for m in [self.decoder_embed, self.norm, self.cls_pt_layers, self.norm_cls]:
            m.apply(self._init_weights)
        for m in [self.lm_head, self.lm_cls_head]:
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, images, bool_masked_pos, target=None):
        bb = self.forward_backbone(images, bool_masked_pos=bool_masked_pos, aux_tap=self.aux_tap)
        B, N, C = bb["x"].shape
        pyramid = self.forward_pyramid(bb["x"], bb["feats"])
        h = None
        for i, p in enumerate(pyramid):
            y = self.decoder_embed[i](p).reshape(B, N, C)
            h = y if h is None else h + y
        head_pyramid = self.lm_head(self.norm(h))
        a = bb["aux"]
        for blk in self.cls_pt_layers:
            a = blk(a, bb["rpe_index"])
        head_aux = self.lm_cls_head(self.norm_cls(a))
        out = {"head_pyramid": head_pyramid, "head_aux": head_aux}
        if target is not None:
            out["loss_1"] = F.smooth_l1_loss(head_pyramid.float(), target, beta=1.0)
            out["loss_2"] = F.smooth_l1_loss(head_aux.float(), target, beta=1.0)
            out["loss"] = out["loss_1"] + out["loss_2"]
        return out


class iTPNDetBackbone(iTPNBase):
    """Detection backbone (official det `iTPN_pixel`): no RPE by default, fpn_depth 1, num_outs 5.
    Returns NCHW [s4, s8, s16, s32, s64]; the extra levels are 2x2 avg-pools (floor) of s16, then of s32."""

    def __init__(self, num_outs=5, rpe=False, fpn_depth=1, **kw):
        kw.pop("fpn", None)
        super().__init__(rpe=rpe, fpn=True, fpn_depth=fpn_depth, **kw)
        self.num_outs = num_outs

    def forward(self, images):
        bb = self.forward_backbone(images)
        hp, wp = bb["grid"]
        p16, p8, p4 = [tokens_to_nchw(p, hp, wp) for p in self.forward_pyramid(bb["x"], bb["feats"])]
        outs = [p4, p8, p16]
        while len(outs) < self.num_outs:
            outs.append(F.avg_pool2d(outs[-1], kernel_size=2, stride=2))
        return outs


class iTPNSegBackbone(iTPNBase):
    """Segmentation backbone (official seg code): RPE, layer scale, fpn_depth 2, num_outs 4.
    Each level is concatenated on channels [pyramid || same-scale backbone feature]; s32 = 2x2 max-pool of s16.
    The APE keeps 196 tokens (built for 224) and is bicubic-resized at run time."""

    def __init__(self, num_outs=4, rpe=True, fpn_depth=2, ape_img_size=224, **kw):
        kw.pop("fpn", None)
        super().__init__(rpe=rpe, fpn=True, fpn_depth=fpn_depth, ape_img_size=ape_img_size, **kw)
        self.num_outs = num_outs

    def forward(self, images):
        bb = self.forward_backbone(images)
        hp, wp = bb["grid"]
        B, N, C = bb["x"].shape
        pyr = self.forward_pyramid(bb["x"], bb["feats"])
        back = [bb["feats"][0], bb["feats"][1], bb["x"].reshape(B, N, 1, 1, C)]
        outs = [torch.cat([tokens_to_nchw(p, hp, wp), tokens_to_nchw(f, hp, wp)], dim=1)
                for p, f in zip([pyr[2], pyr[1], pyr[0]], back)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=2, stride=2))
        return outs


# --------------------------------------------------------------------------------------------
# OpenAI-layout CLIP ViT teacher


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class _ClipLayerNorm(nn.LayerNorm):
    """fp32 LayerNorm (eps 1e-5), as in OpenAI CLIP."""

    def forward(self, x):
        t = x.dtype
        return super().forward(x.float()).type(t)


class _ClipMlp(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.c_fc = nn.Linear(width, width * 4)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(width * 4, width)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = _ClipLayerNorm(width)
        self.mlp = _ClipMlp(width)
        self.ln_2 = _ClipLayerNorm(width)

    def forward(self, x):  # (L, B, D)
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _ClipTransformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, input_resolution=224, patch_size=16, width=768, layers=12, heads=12, output_dim=512):
        super().__init__()
        self.input_resolution = input_resolution
        self.patch_size = patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        g = input_resolution // patch_size
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(g * g + 1, width))
        self.ln_pre = _ClipLayerNorm(width)
        self.transformer = _ClipTransformer(width, layers, heads)
        self.ln_post = _ClipLayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def _pos(self, gh, gw):
        pos = self.positional_embedding
        g0 = int(math.sqrt(pos.shape[0] - 1))
        if gh == g0 and gw == g0:
            return pos
        # teacher input differs from its native size: bicubic resize of the patch part
        # (exact official form unverified; target-size, align_corners False)
        patch = pos[1:].reshape(1, g0, g0, -1).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], patch.permute(0, 2, 3, 1).reshape(gh * gw, -1)], dim=0)

    def forward_tokens(self, x):
        """Returns ln_post-ed tokens (B, 1+N, width) (class token first)."""
        x = self.conv1(x)
        B, W, gh, gw = x.shape
        x = x.reshape(B, W, gh * gw).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(B, 1, W, dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1)
        x = x + self._pos(gh, gw).to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        return self.ln_post(x)

    def forward(self, x):
        t = self.forward_tokens(x)
        patch_tokens_proj = t[:, 1:, :] @ self.proj
        pooled = t[:, 0, :] @ self.proj
        target = F.layer_norm(patch_tokens_proj, patch_tokens_proj.shape[-1:], eps=1e-5)
        return {"patch_tokens_proj": patch_tokens_proj, "target": target, "pooled": pooled}


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipTeacher(nn.Module):
    """Frozen teacher producing the distillation target. input_scaling:
      'official': ((x+1)*127.5).clamp(0,255)/255 then CLIP mean/std, on a [0,1] ToTensor view (official quirk:
                  the teacher effectively sees (x+1)/2 in [0.5, 1]);
      'clip':     CLIP mean/std on a [0,1] view (mmpretrain behaviour);
      'none':     the input is already normalised."""

    def __init__(self, vit, input_scaling="official"):
        super().__init__()
        self.vit = vit
        self.input_scaling = input_scaling
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        for p in self.vit.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, x01):
        if self.input_scaling == "official":
            x = ((x01 + 1.0) * 127.5).clamp(0, 255.0) / 255.0
            x = (x - self.mean) / self.std
        elif self.input_scaling == "clip":
            x = (x01 - self.mean) / self.std
        else:
            x = x01
        return self.vit(x)["target"]


# --------------------------------------------------------------------------------------------
# factories

_SIZES = {
    # official (spec 1.2)
    "itpn_base": dict(embed_dim=512, mlp_depth1=3, mlp_depth2=3, depth=24, num_heads=8, fpn_dim=256,
                      decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
    "itpn_large": dict(embed_dim=768, mlp_depth1=2, mlp_depth2=2, depth=40, num_heads=12, fpn_dim=256,
                       decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
    # this project's additions (no official tiny/small iTPN was trained)
    "itpn_tiny": dict(embed_dim=192, mlp_depth1=1, mlp_depth2=1, depth=6, num_heads=3, fpn_dim=96,
                      decoder_embed_dim=192, decoder_depth=2, decoder_num_heads=3),
    "itpn_small": dict(embed_dim=384, mlp_depth1=2, mlp_depth2=2, depth=12, num_heads=6, fpn_dim=192,
                       decoder_embed_dim=256, decoder_depth=4, decoder_num_heads=8),
}
_DECODER_KEYS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads")


def arch_config(arch):
    if arch not in _SIZES:
        raise ValueError("unknown arch %r (choose from %s)" % (arch, ", ".join(sorted(_SIZES))))
    return dict(_SIZES[arch])


def _backbone_kw(arch, **kw):
    cfg = {k: v for k, v in arch_config(arch).items() if k not in _DECODER_KEYS}
    cfg.update(kw)
    return cfg


def build_pixel_pretrain(arch="itpn_base", img_size=224, **kw):
    cfg = arch_config(arch)
    cfg.update(img_size=img_size, fpn_depth=2)
    cfg.update(kw)
    return iTPNMaskedAutoencoder(**cfg)


def build_classifier(arch="itpn_base", img_size=224, num_classes=1000, **kw):
    return iTPNClassifier(num_classes=num_classes, **_backbone_kw(arch, img_size=img_size, **kw))


def build_clip_pretrain(arch="itpn_base", img_size=224, teacher_dim=512, **kw):
    cfg = _backbone_kw(arch, img_size=img_size, teacher_dim=teacher_dim, fpn_depth=1, init_values=0.1, rpe=True)
    cfg.update(kw)
    return iTPNClipDistill(**cfg)


def build_det_backbone(arch="itpn_base", img_size=224, **kw):
    return iTPNDetBackbone(**_backbone_kw(arch, img_size=img_size, fpn_depth=1, **kw))


def build_seg_backbone(arch="itpn_base", img_size=512, **kw):
    return iTPNSegBackbone(**_backbone_kw(arch, img_size=img_size, fpn_depth=2, **kw))


def build_clip_teacher(name="ViT-B/16", input_resolution=224):
    if name == "ViT-B/16":
        return CLIPVisionTransformer(input_resolution, 16, 768, 12, 12, 512)
    if name == "ViT-L/14":
        return CLIPVisionTransformer(input_resolution, 14, 1024, 24, 16, 768)
    raise ValueError(name)


def itpn_base(**kw):
    return build_pixel_pretrain("itpn_base", **kw)


def itpn_large(**kw):
    return build_pixel_pretrain("itpn_large", **kw)


def itpn_small(**kw):
    return build_pixel_pretrain("itpn_small", **kw)


def itpn_tiny(**kw):
    return build_pixel_pretrain("itpn_tiny", **kw)


# --------------------------------------------------------------------------------------------
# fixture config -> model


def model_from_fixture_config(cfg):
    """Builds the model described by a fixture config.json (official constructor argument names)."""
    variant = cfg["variant"]
    kw = {}
    for k in ("img_size", "embed_dim", "depth", "num_heads", "bridge_mlp_ratio", "mlp_ratio", "fpn_dim",
              "fpn_depth", "init_values", "rpe"):
        if k in cfg:
            kw[k] = cfg[k]
    if "mlp_depth" in cfg:
        kw["mlp_depth1"] = kw["mlp_depth2"] = cfg["mlp_depth"]
    for k in ("mlp_depth1", "mlp_depth2"):
        if k in cfg:
            kw[k] = cfg[k]
    if "layer_norm_eps" in cfg:
        kw["eps"] = cfg["layer_norm_eps"]
    if variant == "pixel-pretrain":
        for k in ("decoder_embed_dim", "decoder_depth", "decoder_num_heads", "mask_ratio", "norm_pix_loss"):
            if k in cfg:
                kw[k] = cfg[k]
        return iTPNMaskedAutoencoder(**kw)
    if variant == "classify":
        kw.pop("fpn_dim", None)
        kw.pop("fpn_depth", None)
        return iTPNClassifier(num_classes=cfg["num_classes"], **kw)
    if variant == "clip-pretrain":
        kw["teacher_dim"] = cfg["teacher_dim"]
        if "aux_tap" in cfg:
            kw["aux_tap"] = cfg["aux_tap"]
        if "cls_pt_layers_eps" in cfg:
            kw["cls_pt_layers_eps"] = cfg["cls_pt_layers_eps"]
        return iTPNClipDistill(**kw)
    if variant == "detection-backbone":
        kw.setdefault("fpn_depth", 1)
        return iTPNDetBackbone(num_outs=cfg.get("num_outs", 5), **kw)
    if variant == "segmentation-backbone":
        kw.setdefault("fpn_depth", 2)
        return iTPNSegBackbone(num_outs=cfg.get("num_outs", 4), **kw)
    if variant == "clip-teacher":
        return CLIPVisionTransformer(cfg["input_resolution"], cfg["patch_size"], cfg["width"], cfg["layers"],
                                     cfg["heads"], cfg["output_dim"])
    raise ValueError("unknown variant %r" % variant)
