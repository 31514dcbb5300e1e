r"""Stateless, counter-based randomness for stochastic problems: minibatch order and noise.

Every draw is a pure function of (run seed, counter), so a stochastic run is reproducible
serial or parallel, on the CPU or on CUDA, and no generator state is carried between steps.

**Integer arithmetic.** 64-bit quantities are held as two 32-bit halves ``(hi, lo)`` in
ordinary (signed) integers, and every intermediate stays below :math:`2^{63}` in magnitude (a
full 32 × 32-bit product is split into 16-bit pieces; a product mod :math:`2^{32}` reads one
factor as signed 32-bit). The same source therefore gives bit-identical results
in plain Python, ``numba.njit`` (int64) and ``numba.cuda`` device code, with no overflow and
no unsigned/signed promotion traps. Seeds, epochs and counters must lie in
:math:`[0, 2^{62})`.

* :func:`splitmix64` — Steele, Lea & Flood, *Fast splittable pseudorandom number generators*
  (OOPSLA 2014): ``z += 0x9E3779B97F4A7C15``, then the variant-13 finaliser.
* :func:`perm_index` ``(n, seed, epoch, j)`` — position ``j`` of a pseudo-random permutation of
  ``0 … n-1``: a 6-round balanced Feistel network on the smallest :math:`4^h \ge n`, made a
  bijection of ``0 … n-1`` by cycle walking (Black & Rogaway, *Ciphers with arbitrary finite
  domains*, CT-RSA 2002). Round keys come from ``splitmix64(splitmix64(seed) ^ epoch)``; the
  round function is MurmurHash3's ``fmix32``. Expected cost O(1) per index (< 4 Feistel
  evaluations on average), O(1) memory.
* :func:`normal` ``(seed, counter)`` — a standard normal draw: two splitmix64 words of
  ``splitmix64(seed) ^ 2c`` and ``^ 2c+1`` → two 53-bit uniforms → Box–Muller (cosine branch).

**Minibatch rule (drop last, as ``torch.utils.data.DataLoader(drop_last=True)``).** With
``n`` samples and batch size ``B`` (``1 <= B <= n``) an epoch holds ``nb = n // B`` batches.
Step ``k`` belongs to epoch ``e = k // nb``; its batch is the samples
``perm_index(n, seed, e, p)`` for positions ``p = (k mod nb)·B … (k mod nb)·B + B − 1``.
The last ``n − nb·B`` positions of each epoch's permutation are skipped (different samples in
each epoch). When ``B`` divides ``n`` the batches of an epoch partition the data, so the
average of the ``nb`` minibatch gradients of one epoch equals the full gradient exactly.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel
from optbench.kernels.probes import fmix32, mul32  # noqa: F401 (kernels of this module)

FEISTEL_ROUNDS = 6


@kernel
def mul32_full(a, b):
    """Full 64-bit product of two 32-bit values as ``(hi, lo)``; intermediates < 2**49."""
    p0 = (a & 0xFFFF) * b
    p1 = (a >> 16) * b
    s = (p0 & 0xFFFFFFFF) + ((p1 & 0xFFFF) << 16)
    return (p0 >> 32) + (p1 >> 16) + (s >> 32), s & 0xFFFFFFFF


@kernel
def mul64(ah, al, bh, bl):
    """``(ah:al) * (bh:bl) mod 2**64`` as ``(hi, lo)``."""
    h, lo = mul32_full(al, bl)
    h = (h + mul32(ah, bl) + mul32(al, bh)) & 0xFFFFFFFF
    return h, lo


@kernel
def xorshr64(h, lo, s):
    """``z ^ (z >> s)`` for ``0 < s < 32``."""
    return h ^ (h >> s), lo ^ (((lo >> s) | (h << (32 - s))) & 0xFFFFFFFF)


@kernel
def splitmix64(h, lo):
    """One splitmix64 output for state ``(h, lo)``: ``mix(z + 0x9E3779B97F4A7C15)``."""
    s = lo + 0x7F4A7C15
    lo = s & 0xFFFFFFFF
    h = (h + 0x9E3779B9 + (s >> 32)) & 0xFFFFFFFF
    h, lo = xorshr64(h, lo, 30)
    h, lo = mul64(h, lo, 0xBF58476D, 0x1CE4E5B9)
    h, lo = xorshr64(h, lo, 27)
    h, lo = mul64(h, lo, 0x94D049BB, 0x133111EB)
    return xorshr64(h, lo, 31)


@kernel
def perm_key(seed, epoch):
    """The 64-bit permutation key ``splitmix64(splitmix64(seed) ^ epoch)`` as ``(hi, lo)``."""
    h, lo = splitmix64(seed >> 32, seed & 0xFFFFFFFF)
    return splitmix64(h ^ (epoch >> 32), lo ^ (epoch & 0xFFFFFFFF))


@kernel
def perm_round_key(kh, kl, r):
    """Round key r of the Feistel network of key (kh, kl)."""
    return fmix32(((kl + r * 0x9E3779B9) & 0xFFFFFFFF) ^ kh)


@kernel
def perm_round_keys(kh, kl):
    """The FEISTEL_ROUNDS (= 6) round keys of key (kh, kl), a tuple: computed once for the
    many positions of :func:`perm_block`."""
    return (perm_round_key(kh, kl, 0), perm_round_key(kh, kl, 1), perm_round_key(kh, kl, 2),
            perm_round_key(kh, kl, 3), perm_round_key(kh, kl, 4), perm_round_key(kh, kl, 5))


@kernel
def perm_bits(n):
    """Half the bits of the Feistel domain of a permutation of 0 … n−1 (n ≥ 2): the smallest
    hb with 4**hb ≥ n."""
    hb = 1
    while (1 << (2 * hb)) < n:
        hb += 1
    return hb


@kernel
def feistel_round(left, right, key, mask):
    """The new right half of one Feistel round: ``left ^ (fmix32(right ^ key) & mask)``."""
    return left ^ (fmix32(right ^ key) & mask)


@kernel
def feistel(hb, rk, x):
    """One pass of the balanced Feistel network (FEISTEL_ROUNDS rounds, keys ``rk``) over the
    2·hb-bit value x."""
    mask = (1 << hb) - 1
    left = x >> hb
    right = x & mask
    for r in range(FEISTEL_ROUNDS):
        t = feistel_round(left, right, rk[r], mask)
        left = right
        right = t
    return (left << hb) | right


@kernel
def perm_block(out, oo, n, hb, rk, p0, m):
    """out[oo + s] = image of position p0 + s (s < m, every position < n, n ≥ 2) as a float,
    the map of :func:`perm_apply` (round keys ``rk`` of :func:`perm_round_keys`, hb =
    :func:`perm_bits`): the Feistel network cycle-walked until it lands below n, for m
    positions at once — every pass one loop over the block without a branch (the compiler
    vectorises it), repeated while any of them is still ≥ n."""
    v = out[oo:oo + m]
    for s in range(m):
        v[s] = feistel(hb, rk, p0 + s)
    top = float(n)
    while True:
        left = 0
        for s in range(m):
            left += 1 if v[s] >= top else 0
        if left == 0:
            return
        for s in range(m):
            x = int(v[s])
            y = feistel(hb, rk, x)
            v[s] = y if x >= n else x


@kernel
def perm_apply(n, kh, kl, j):
    """Image of ``j mod n`` under the keyed permutation of 0 … n-1 (see module doc). One
    position, the round keys computed as it goes (integers only: the lane forms rewrite it);
    :func:`perm_block` computes many positions with the keys computed once, the same map."""
    if n <= 1:
        return 0
    hb = perm_bits(n)
    mask = (1 << hb) - 1
    x = j % n                   # guards termination: positions are taken modulo n
    while True:
        left = x >> hb
        right = x & mask
        for r in range(FEISTEL_ROUNDS):
            t = feistel_round(left, right, perm_round_key(kh, kl, r), mask)
            left = right
            right = t
        x = (left << hb) | right
        if x < n:
            return x


@kernel
def perm_index(n, seed, epoch, j):
    """Position ``j`` of the permutation of 0 … n-1 for (``seed``, ``epoch``)."""
    kh, kl = perm_key(seed, epoch)
    return perm_apply(n, kh, kl, j)


@kernel
def batch_epoch(n, batch, step):
    """Epoch of minibatch step ``step`` (drop-last rule: ``n // batch`` batches per epoch)."""
    return step // (n // batch)


@kernel
def batch_start(n, batch, step):
    """First permutation position of step ``step``'s minibatch within its epoch."""
    nb = n // batch
    return (step - (step // nb) * nb) * batch


@kernel
def normal(seed, counter):
    """Standard normal draw number ``counter`` of stream ``seed`` (splitmix64 + Box–Muller)."""
    kh, kl = splitmix64(seed >> 32, seed & 0xFFFFFFFF)
    c = 2 * counter
    h1, l1 = splitmix64(kh ^ (c >> 32), kl ^ (c & 0xFFFFFFFF))
    h2, l2 = splitmix64(kh ^ ((c + 1) >> 32), kl ^ ((c + 1) & 0xFFFFFFFF))
    u1 = ((h1 << 21) + (l1 >> 11) + 1) * 1.1102230246251565e-16     # (0, 1], step 2**-53
    u2 = ((h2 << 21) + (l2 >> 11)) * 1.1102230246251565e-16         # [0, 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
