"""Matrix products and torch.linalg against torch: matmul broadcasting, dtypes, the addmm
family, einsum, tensordot, kron, trace, and the LAPACK-backed decompositions."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import check, make_pair, assert_same

MM_DTYPES = ["float32", "float64", "int64", "int32", "float16", "bfloat16"]
TOLS = {"float32": (2e-4, 2e-4), "float64": (1e-10, 1e-10), "float16": (2e-2, 5e-2), "bfloat16": (3e-2, 2e-1)}


def tol(dt):
    r, a = TOLS.get(dt, (0, 0))
    return dict(rtol=r, atol=a)


MATMUL_SHAPES = [
    ((3,), (3,)),            # dot
    ((2, 3), (3,)),          # mv
    ((3,), (3, 4)),          # vector @ matrix
    ((2, 3), (3, 4)),        # mm
    ((5, 2, 3), (5, 3, 4)),  # bmm
    ((5, 2, 3), (3, 4)),     # batched @ matrix
    ((3,), (5, 3, 4)),       # vector @ batched
    ((5, 2, 3), (3,)),       # batched @ vector
    ((2, 1, 2, 3), (4, 3, 5)),  # broadcast batch dims
    ((1, 2, 3), (6, 3, 2)),
    ((0, 3), (3, 4)),        # empty M
    ((2, 0), (0, 4)),        # empty K -> zeros
    ((2, 3), (3, 0)),        # empty N
    ((0, 2, 3), (3, 4)),     # empty batch
    ((40, 70), (70, 50)),    # blocked kernel
    ((3, 65, 33), (3, 33, 47)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
@pytest.mark.parametrize("dt", MM_DTYPES)
def test_matmul_broadcasting(shapes, dt):
    a = make_pair(shapes[0], dt, seed=1)
    b = make_pair(shapes[1], dt, seed=2)
    check(lambda lib, x, y: lib.matmul(x, y), a, b, **tol(dt))
    check(lambda lib, x, y: x @ y, a, b, **tol(dt))


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_matmul_large_blocked(dt):
    # bigger than one cache block in every dimension, odd sizes for the edge tiles
    a = make_pair((333, 421), dt, seed=3)
    b = make_pair((421, 397), dt, seed=4)
    check(lambda lib, x, y: lib.mm(x, y), a, b, rtol=1e-4 if dt == "float32" else 1e-10, atol=1e-3 if dt == "float32" else 1e-9)


def test_matmul_noncontiguous():
    # transposed operands made by einsum (a permuted view): the packing reads any strides
    a = make_pair((37, 29), "float32", seed=5)
    b = make_pair((41, 37), "float32", seed=6)
    at = (ctorch.einsum("ij->ji", a[0]), a[1].t())
    bt = (ctorch.einsum("ij->ji", b[0]), b[1].t())
    assert not at[0].is_contiguous()
    check(lambda lib, x, y: lib.matmul(x, y), at, bt, **tol("float32"))
    check(lambda lib, x, y: lib.matmul(y, x), at, bt, **tol("float32"))
    c = make_pair((4, 5, 6), "float64", seed=7)
    ct_ = (ctorch.einsum("bij->bji", c[0]), c[1].transpose(1, 2))
    check(lambda lib, x, y: lib.matmul(x, y), ct_, make_pair((5, 3), "float64", seed=8), **tol("float64"))
    check(lambda lib, x, y: lib.bmm(x, y), ct_, (ctorch.einsum("bij->bji", ct_[0]), ct_[1].transpose(1, 2)), **tol("float64"))


def test_matmul_errors():
    check(lambda lib, x, y: lib.matmul(x, y), make_pair((2, 3), seed=1), make_pair((4, 5), seed=2))
    check(lambda lib, x, y: lib.matmul(x, y), make_pair((3,), seed=1), make_pair((4,), seed=2))
    check(lambda lib, x, y: lib.matmul(x, y), make_pair((), seed=1), make_pair((4,), seed=2))
    check(lambda lib, x, y: lib.matmul(x, y), make_pair((2, 2), "float32", seed=1), make_pair((2, 2), "float64", seed=2))
    check(lambda lib, x, y: lib.matmul(x, y), make_pair((3, 2, 3), seed=1), make_pair((4, 3, 2), seed=2))
    check(lambda lib, x, y: lib.mm(x, y), make_pair((2, 2), "bool", seed=1), make_pair((2, 2), "bool", seed=2))
    check(lambda lib, x, y: lib.mm(x, y), make_pair((2, 2, 2), seed=1), make_pair((2, 2), seed=2))
    check(lambda lib, x, y: lib.bmm(x, y), make_pair((2, 2, 3), seed=1), make_pair((3, 3, 2), seed=2))
    check(lambda lib, x, y: lib.mv(x, y), make_pair((2, 3), seed=1), make_pair((4,), seed=2))
    check(lambda lib, x, y: lib.dot(x, y), make_pair((3,), "float32", seed=1), make_pair((3,), "float64", seed=2))
    check(lambda lib, x, y: lib.dot(x, y), make_pair((2, 3), seed=1), make_pair((3,), seed=2))
    with pytest.raises(TypeError):
        make_pair((2, 2), seed=1)[0] @ 2


@pytest.mark.parametrize("dt", MM_DTYPES)
def test_products(dt):
    m = make_pair((4, 3), dt, seed=1)
    n = make_pair((3, 5), dt, seed=2)
    v = make_pair((3,), dt, seed=3)
    w = make_pair((3,), dt, seed=4)
    b1 = make_pair((2, 4, 3), dt, seed=5)
    b2 = make_pair((2, 3, 5), dt, seed=6)
    check(lambda lib, x, y: lib.mm(x, y), m, n, **tol(dt))
    check(lambda lib, x, y: x.mm(y), m, n, **tol(dt))
    check(lambda lib, x, y: lib.bmm(x, y), b1, b2, **tol(dt))
    check(lambda lib, x, y: lib.mv(x, y), m, v, **tol(dt))
    check(lambda lib, x, y: lib.dot(x, y), v, w, **tol(dt))
    check(lambda lib, x, y: lib.vdot(x, y), v, w, **tol(dt))
    check(lambda lib, x, y: lib.inner(x, y), m, v, **tol(dt))
    check(lambda lib, x, y: lib.inner(x, y), b1, m, **tol(dt))
    check(lambda lib, x, y: lib.outer(x, y), v, make_pair((4,), dt, seed=7), **tol(dt))
    check(lambda lib, x, y: lib.ger(x, y), v, w, **tol(dt))
    check(lambda lib, x, y: lib.kron(x, y), m, make_pair((2, 2), dt, seed=8), **tol(dt))
    check(lambda lib, x, y: lib.kron(x, y), v, b1, **tol(dt))
    check(lambda lib, x: lib.trace(x), m, **tol(dt))


def test_products_mixed_and_scalars():
    check(lambda lib, x, y: lib.outer(x, y), make_pair((3,), "int64", seed=1), make_pair((2,), "float32", seed=2))
    check(lambda lib, x, y: lib.kron(x, y), make_pair((2,), "int64", seed=1), make_pair((2, 2), "float32", seed=2))
    check(lambda lib, x, y: lib.inner(x, y), make_pair((), "float32", seed=1), make_pair((2, 3), "float32", seed=2))
    check(lambda lib, x: lib.trace(x), make_pair((3, 3), "bool", seed=1))
    check(lambda lib, x: lib.trace(x), make_pair((3,), "float32", seed=1))
    check(lambda lib, x: lib.trace(x), make_pair((3, 5), "int32", seed=1))


def test_out_and_kwargs():
    a, b = make_pair((3, 4), seed=1), make_pair((4, 2), seed=2)
    o = ctorch.empty(0)
    r = ctorch.matmul(a[0], b[0], out=o)
    assert r is o
    assert_same(o, torch.matmul(a[1], b[1]), **tol("float32"))
    check(lambda lib, x, y: lib.mm(input=x, mat2=y), a, b, **tol("float32"))


@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "bfloat16"])
def test_addmm_family(dt):
    kw = dict(beta=2, alpha=3)
    s = make_pair((4, 5), dt, seed=1)
    s_b = make_pair((5,), dt, seed=11)
    m1, m2 = make_pair((4, 3), dt, seed=2), make_pair((3, 5), dt, seed=3)
    v = make_pair((3,), dt, seed=4)
    b1, b2 = make_pair((2, 4, 3), dt, seed=5), make_pair((2, 3, 5), dt, seed=6)
    t = tol(dt)
    if dt == "bfloat16":
        t = dict(rtol=5e-2, atol=5e-1)
    check(lambda lib, x, y, z: lib.addmm(x, y, z), s, m1, m2, **t)
    check(lambda lib, x, y, z: lib.addmm(x, y, z, **kw), s, m1, m2, **t)
    check(lambda lib, x, y, z: lib.addmm(x, y, z, beta=0), s, m1, m2, **t)
    check(lambda lib, x, y, z: lib.addmm(x, y, z, **kw), s_b, m1, m2, **t)
    check(lambda lib, x, y, z: x.addmm(y, z, **kw), s, m1, m2, **t)
    check(lambda lib, x, y, z: lib.addmv(x, y, z, **kw), make_pair((4,), dt, seed=7), m1, v, **t)
    check(lambda lib, x, y, z: lib.baddbmm(x, y, z, **kw), make_pair((2, 4, 5), dt, seed=8), b1, b2, **t)
    check(lambda lib, x, y, z: lib.baddbmm(x, y, z, **kw), s, b1, b2, **t)
    check(lambda lib, x, y, z: lib.addbmm(x, y, z, **kw), s, b1, b2, **t)
    check(lambda lib, x, y, z: lib.addbmm(x, y, z), s_b, b1, b2, **t)
    # in-place
    check(lambda lib, x, y, z: x.clone().addmm_(y, z, **kw), s, m1, m2, **t)
    check(lambda lib, x, y, z: x.clone().addmv_(y, z, **kw), make_pair((4,), dt, seed=7), m1, v, **t)
    check(lambda lib, x, y, z: x.clone().baddbmm_(y, z, **kw), make_pair((2, 4, 5), dt, seed=8), b1, b2, **t)
    check(lambda lib, x, y, z: x.clone().addbmm_(y, z, **kw), s, b1, b2, **t)


def test_addmm_inplace_identity_and_errors():
    s = make_pair((2, 2), seed=1)
    x = s[0].clone()
    r = x.addmm_(s[0], s[0])
    assert r is x
    y = s[0].clone()
    y @= s[0]
    assert_same(y, s[1] @ s[1], **tol("float32"))
    check(lambda lib, a, b, c: lib.addmm(a, b, c), make_pair((3, 3), seed=1), make_pair((2, 3), seed=2),
          make_pair((3, 2), seed=3))
    check(lambda lib, a, b, c: lib.addmm(a, b, c, alpha=1.5), make_pair((2, 2), "int64", seed=1),
          make_pair((2, 2), "int64", seed=2), make_pair((2, 2), "int64", seed=3))
    check(lambda lib, a, b, c: lib.addmm(a, b, c), make_pair((2, 2), "int64", seed=1), make_pair((2, 2), seed=2),
          make_pair((2, 2), seed=3))


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (6, 4, 5)]),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]),
    ("i...->...", [(3, 4, 2)]),
    ("iij->j", [(3, 3, 4)]),
    ("ijk,ikl,ilm->ijm", [(2, 3, 4), (2, 4, 5), (2, 5, 2)]),
    ("ab,bc,cd->ad", [(3, 4), (4, 5), (5, 2)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
    ("abcd->dcba", [(2, 3, 4, 5)]),
    ("ij,j->i", [(3, 4), (1,)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ijk->kj", [(2, 3, 4)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    ("ij,jk->ik", [(0, 4), (4, 5)]),
    ("ii->i", [(0, 0)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
@pytest.mark.parametrize("dt", ["float32", "float64", "int64"])
def test_einsum(eq, shapes, dt):
    ops = [make_pair(s, dt, seed=i + 1) for i, s in enumerate(shapes)]
    check(lambda lib, *xs: lib.einsum(eq, *xs), *ops, **tol(dt))
    check(lambda lib, *xs: lib.einsum(eq, list(xs)), *ops, **tol(dt))


def test_einsum_sublist():
    a, b = make_pair((2, 3), "float64", seed=1), make_pair((3, 4), "float64", seed=2)
    check(lambda lib, x, y: lib.einsum(x, [0, 1], y, [1, 2], [0, 2]), a, b, **tol("float64"))
    check(lambda lib, x, y: lib.einsum(x, [0, 1], y, [1, 2]), a, b, **tol("float64"))
    check(lambda lib, x: lib.einsum(x, [Ellipsis, 1], [1]), make_pair((2, 3, 4), "float64", seed=3), **tol("float64"))


def test_einsum_errors_and_views():
    a = make_pair((2, 3), seed=1)
    check(lambda lib, x: lib.einsum("ii", x), a)
    check(lambda lib, x: lib.einsum("ijk", x), a)
    check(lambda lib, x: lib.einsum("ij->k", x), a)
    check(lambda lib, x: lib.einsum("ij,jk", x), a)
    check(lambda lib, x, y: lib.einsum("ij,jk", x, y), a, make_pair((4, 2), seed=2))
    check(lambda lib, x, y: lib.einsum("ij,jk", x, y), a, make_pair((3, 2), "float64", seed=2))
    v = ctorch.einsum("ij->ji", a[0])
    assert v.data_ptr() == a[0].data_ptr() and tuple(v.stride()) == (1, 3)


def test_tensordot():
    a = make_pair((3, 4, 5), "float64", seed=1)
    b = make_pair((4, 5, 6), "float64", seed=2)
    c = make_pair((5, 3, 2), "float64", seed=3)
    check(lambda lib, x, y: lib.tensordot(x, y), a, b, **tol("float64"))
    check(lambda lib, x, y: lib.tensordot(x, y, dims=1), make_pair((3, 4), "float64", seed=4), make_pair((4, 2), "float64", seed=5), **tol("float64"))
    check(lambda lib, x, y: lib.tensordot(x, y, dims=0), make_pair((3,), "float64", seed=4), make_pair((2,), "float64", seed=5), **tol("float64"))
    check(lambda lib, x, y: lib.tensordot(x, y, dims=([0, 2], [1, 0])), a, c, **tol("float64"))
    check(lambda lib, x, y: lib.tensordot(x, y, dims=([2], [0])), a, c, **tol("float64"))
    check(lambda lib, x, y: lib.tensordot(x, y, dims=([0], [0])), a, c)


# ------------------------------------------------------------------ torch.linalg


def rand_mats(shape, dt="float64", seed=0, spd=False):
    """Well-conditioned random matrices as a (ctorch, torch) pair."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if spd:
        a = a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
    elif len(shape) >= 2 and shape[-1] == shape[-2]:
        a = a + shape[-1] * np.eye(shape[-1])
    t = torch.tensor(a).to(getattr(torch, dt))
    return ctorch.tensor(t.numpy()), t


def npa(x):
    return np.array(x.tolist(), dtype=np.float64).reshape(tuple(x.shape))


LTOL = {"float32": dict(rtol=1e-4, atol=1e-4), "float64": dict(rtol=1e-9, atol=1e-9)}
SQ_SHAPES = [(4, 4), (3, 5, 5), (2, 2, 3, 3), (0, 3, 3)]


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", SQ_SHAPES)
def test_inv_det_slogdet_solve(dt, shape):
    a = rand_mats(shape, dt, seed=1)
    t = LTOL[dt]
    check(lambda lib, x: lib.linalg.inv(x), a, **t)
    check(lambda lib, x: lib.inverse(x), a, **t)
    check(lambda lib, x: lib.linalg.det(x), a, rtol=t["rtol"] * 10, atol=t["atol"])
    check(lambda lib, x: lib.det(x), a, rtol=t["rtol"] * 10, atol=t["atol"])
    check(lambda lib, x: tuple(lib.linalg.slogdet(x)), a, **t)
    b = rand_mats(shape[:-1] + (2,), dt, seed=2)
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, b, **t)
    bv = rand_mats(shape[:-1], dt, seed=3)
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, bv, **t)
    bl = rand_mats(shape[:-2] + (2, shape[-1]), dt, seed=4)
    check(lambda lib, x, y: lib.linalg.solve(x, y, left=False), a, bl, **t)


def test_linalg_named_tuples_and_broadcast():
    a = rand_mats((3, 3), seed=1)
    r = ctorch.linalg.slogdet(a[0])
    assert type(r).__name__ == "linalg_slogdet" and hasattr(r, "sign") and hasattr(r, "logabsdet")
    b = rand_mats((2, 3, 1), seed=2)
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, b, **LTOL["float64"])
    neg = (-a[0], -a[1])
    check(lambda lib, x: tuple(lib.linalg.slogdet(x)), neg, **LTOL["float64"])


def test_linalg_errors():
    z = make_pair((3, 3), "float64", low=0, high=0, seed=1)
    with pytest.raises(torch.linalg.LinAlgError):
        torch.linalg.inv(z[1])
    for fn in (lambda lib, x: lib.linalg.inv(x), lambda lib, x: lib.linalg.solve(x, x),
               lambda lib, x: lib.linalg.cholesky(x)):
        with pytest.raises(ctorch.linalg.LinAlgError):
            fn(ctorch, z[0])
        with pytest.raises(torch.linalg.LinAlgError):
            fn(torch, z[1])
    assert issubclass(ctorch.linalg.LinAlgError, RuntimeError)
    check(lambda lib, x: lib.linalg.det(x), z)
    check(lambda lib, x: tuple(lib.linalg.slogdet(x)), z)
    check(lambda lib, x: lib.linalg.inv(x), make_pair((2, 3), "float64", seed=1))
    check(lambda lib, x: lib.linalg.inv(x), make_pair((3, 3), "int64", seed=1))
    check(lambda lib, x: lib.linalg.inv(x), make_pair((3,), "float64", seed=1))
    check(lambda lib, x: lib.linalg.det(x), make_pair((2, 3), "float32", seed=1))
    check(lambda lib, x: lib.linalg.eigh(x), make_pair((2, 3), "float32", seed=1))
    check(lambda lib, x: lib.linalg.qr(x, mode="bad"), make_pair((2, 3), "float32", seed=1))
    check(lambda lib, x, y: lib.linalg.solve(x, y), rand_mats((3, 3), seed=1), rand_mats((4, 2), seed=2))


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5)])
def test_cholesky(dt, shape):
    a = rand_mats(shape, dt, seed=5, spd=True)
    check(lambda lib, x: lib.linalg.cholesky(x), a, **LTOL[dt])
    check(lambda lib, x: lib.linalg.cholesky(x, upper=True), a, **LTOL[dt])
    L = (ctorch.linalg.cholesky(a[0]), torch.linalg.cholesky(a[1]))
    b = rand_mats(shape[:-1] + (2,), dt, seed=6)
    check(lambda lib, x, y: lib.cholesky_solve(x, y), b, L, **LTOL[dt])
    U = (ctorch.linalg.cholesky(a[0], upper=True), torch.linalg.cholesky(a[1], upper=True))
    check(lambda lib, x, y: lib.cholesky_solve(x, y, upper=True), b, U, **LTOL[dt])


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(dt, shape, mode):
    a = rand_mats(shape, dt, seed=7)
    Q, R = ctorch.linalg.qr(a[0], mode=mode)
    tQ, tR = torch.linalg.qr(a[1], mode=mode)
    assert tuple(Q.shape) == tuple(tQ.shape) and tuple(R.shape) == tuple(tR.shape)
    r = npa(R)
    # R matches torch up to the sign of each row; Q R reconstructs A; Q is orthonormal
    sign = np.sign(np.diagonal(r, axis1=-2, axis2=-1) * np.diagonal(tR.double().numpy(), axis1=-2, axis2=-1))
    k = min(shape[-2:])
    np.testing.assert_allclose(r[..., :k, :] * sign[..., :, None], tR.double().numpy()[..., :k, :], **LTOL[dt])
    assert np.allclose(np.tril(r, -1), 0)
    if mode != "r":
        q = npa(Q)
        np.testing.assert_allclose(q @ r, a[1].double().numpy(), **LTOL[dt])
        np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] + (q.shape[-1],) * 2), **LTOL[dt])


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 4)])
@pytest.mark.parametrize("full", [True, False])
def test_svd(dt, shape, full):
    a = rand_mats(shape, dt, seed=8)
    U, S, Vh = ctorch.linalg.svd(a[0], full_matrices=full)
    tU, tS, tVh = torch.linalg.svd(a[1], full_matrices=full)
    for x, y in ((U, tU), (S, tS), (Vh, tVh)):
        assert tuple(x.shape) == tuple(y.shape) and str(x.dtype) == str(y.dtype)
    assert_same(S, tS, **LTOL[dt])
    k = min(shape[-2:])
    u, s, vh = npa(U), npa(S), npa(Vh)
    np.testing.assert_allclose((u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :], a[1].double().numpy(), **LTOL[dt])
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2), **LTOL[dt])
    check(lambda lib, x: lib.linalg.svdvals(x), a, **LTOL[dt])


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(dt, shape, uplo):
    rng = np.random.default_rng(9)
    m = rng.standard_normal(shape)
    lower = np.tril(m)  # only one triangle is read: the other holds garbage for UPLO='U'
    data = lower + np.swapaxes(np.tril(m, -1), -1, -2) if uplo == "L" else np.swapaxes(lower, -1, -2) + np.tril(m, -1)
    t = torch.tensor(data).to(getattr(torch, dt))
    a = (ctorch.tensor(t.numpy()), t)
    W, V = ctorch.linalg.eigh(a[0], UPLO=uplo)
    tW, tV = torch.linalg.eigh(a[1], UPLO=uplo)
    assert_same(W, tW, **LTOL[dt])
    w, v = npa(W), npa(V)
    assert np.all(np.diff(w, axis=-1) >= 0)
    sym = np.tril(data) + np.swapaxes(np.tril(data, -1), -1, -2) if uplo == "L" else np.triu(data) + np.swapaxes(np.triu(data, 1), -1, -2)
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), sym, rtol=LTOL[dt]["rtol"] * 10, atol=LTOL[dt]["atol"] * 10)
    check(lambda lib, x: lib.linalg.eigvalsh(x, UPLO=uplo), a, **LTOL[dt])


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
def test_lstsq(dt, driver):
    a = rand_mats((6, 3), dt, seed=10)
    b = rand_mats((6, 2), dt, seed=11)
    kw = {} if driver is None else {"driver": driver}
    check(lambda lib, x, y: tuple(lib.linalg.lstsq(x, y, **kw)), a, b, **LTOL[dt])
    bv = rand_mats((6,), dt, seed=12)
    check(lambda lib, x, y: tuple(lib.linalg.lstsq(x, y, **kw)), a, bv, **LTOL[dt])
    ab = rand_mats((2, 6, 3), dt, seed=13)
    check(lambda lib, x, y: tuple(lib.linalg.lstsq(x, y, **kw)), ab, b, **LTOL[dt])
    check(lambda lib, x, y: lib.linalg.lstsq(x, y, driver="nope"), a, b)


def test_lstsq_rank_deficient():
    a = make_pair((5, 3), "float64", seed=1)
    a = (ctorch.matmul(a[0], ctorch.tensor([[1.0, 0, 1], [0, 1, 1], [0, 0, 0]], dtype=ctorch.float64)),
         a[1] @ torch.tensor([[1.0, 0, 1], [0, 1, 1], [0, 0, 0]], dtype=torch.float64))
    b = rand_mats((5, 2), seed=2)
    r = ctorch.linalg.lstsq(a[0], b[0])
    assert r.rank.item() == 2 == torch.linalg.lstsq(a[1], b[1]).rank.item()
    check(lambda lib, x: lib.linalg.matrix_rank(x), a)


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_pinv_matrix_rank(dt, shape):
    a = rand_mats(shape, dt, seed=14)
    check(lambda lib, x: lib.linalg.pinv(x), a, **LTOL[dt])
    check(lambda lib, x: lib.linalg.pinv(x, rtol=0.3), a, **LTOL[dt])
    check(lambda lib, x: lib.linalg.pinv(x, atol=2.0), a, **LTOL[dt])
    check(lambda lib, x: lib.linalg.matrix_rank(x), a)
    check(lambda lib, x: lib.linalg.matrix_rank(x, atol=2.0), a)
    check(lambda lib, x: lib.linalg.matrix_rank(x, rtol=0.5), a)
    if shape[-1] == shape[-2]:
        s = rand_mats(shape, dt, seed=15, spd=True)
        check(lambda lib, x: lib.linalg.pinv(x, hermitian=True), s, **LTOL[dt])
        check(lambda lib, x: lib.linalg.matrix_rank(x, hermitian=True), s)


def test_linalg_matmul_and_namespace():
    check(lambda lib, x, y: lib.linalg.matmul(x, y), make_pair((2, 3), seed=1), make_pair((3, 2), seed=2), **tol("float32"))
    for name in ("inv", "solve", "det", "slogdet", "cholesky", "qr", "svd", "svdvals", "eigh", "eigvalsh", "lstsq",
                 "pinv", "matrix_rank", "LinAlgError"):
        assert hasattr(ctorch.linalg, name), name


def test_lapack_missing_is_a_clear_error(tmp_path):
    import os
    import subprocess
    import sys
    code = ("import ctorch\n"
            "try:\n    ctorch.linalg.inv(ctorch.ones(2, 2))\n"
            "except RuntimeError as e:\n    print('ERR', e)\n"
            "print(ctorch.matmul(ctorch.ones(2, 2), ctorch.ones(2, 2)).sum().item() if hasattr(ctorch, 'sum') else 'ok')\n")
    env = dict(os.environ, CTORCH_LAPACK=str(tmp_path / "missing.so"))
    # hide the package's own path too: run with a bogus library path set before any linalg call
    code = "import ctorch\nctorch._C._set_lapack_path('/nonexistent')\n" + code.split("\n", 1)[1]
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "ERR" in out.stdout and "scipy-openblas32" in out.stdout, out.stdout + out.stderr


def test_linalg_noncontiguous_and_empty():
    a = rand_mats((2, 4, 4), seed=21)
    at = (ctorch.einsum("bij->bji", a[0]), a[1].transpose(1, 2))
    assert not at[0].is_contiguous()
    check(lambda lib, x: lib.linalg.inv(x), at, **LTOL["float64"])
    check(lambda lib, x: lib.linalg.det(x), at, **LTOL["float64"])
    check(lambda lib, x: lib.linalg.svdvals(x), at, **LTOL["float64"])
    check(lambda lib, x, y: lib.linalg.solve(x, y), at, at, **LTOL["float64"])
    e = make_pair((0, 0), "float64", seed=1)
    check(lambda lib, x: lib.linalg.det(x), e)
    check(lambda lib, x: lib.linalg.inv(x), e)
    check(lambda lib, x: lib.linalg.matrix_rank(x), make_pair((3, 0), "float64", seed=1))
    check(lambda lib, x: lib.linalg.pinv(x), make_pair((3, 0), "float64", seed=1))


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
@pytest.mark.parametrize("shape,dim,keepdim", [((3, 4), (-2, -1), False), ((2, 3, 4), (0, 2), True), ((5, 2), (1, 0), False)])
def test_matrix_norm_spectral_and_nuclear(ord, shape, dim, keepdim):
    from helpers import check_grad
    check_grad(lambda lib, a: lib.linalg.matrix_norm(a, ord, dim=dim, keepdim=keepdim), shape)
