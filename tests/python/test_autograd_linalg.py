"""Autograd of the matmul family and torch.linalg against torch. Decompositions are
compared through sign/order-invariant functions of their outputs (singular values, U*U,
reconstructions, det, logabsdet, eigenvalues)."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import check_grad

F32 = dict(rtol=1e-4, atol=1e-5)

PRODUCTS = {
    "mm": (lambda lib, a, b: lib.mm(a, b), [(3, 4), (4, 5)]),
    "matmul_22": (lambda lib, a, b: a @ b, [(3, 4), (4, 5)]),
    "matmul_21": (lambda lib, a, b: lib.matmul(a, b), [(3, 4), (4,)]),
    "matmul_12": (lambda lib, a, b: lib.matmul(a, b), [(4,), (4, 5)]),
    "matmul_11": (lambda lib, a, b: lib.matmul(a, b), [(4,), (4,)]),
    "matmul_32": (lambda lib, a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "matmul_23": (lambda lib, a, b: a @ b, [(3, 4), (2, 4, 5)]),
    "matmul_13": (lambda lib, a, b: a @ b, [(4,), (2, 4, 5)]),
    "matmul_31": (lambda lib, a, b: a @ b, [(2, 3, 4), (4,)]),
    "matmul_bcast": (lambda lib, a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_bcast1": (lambda lib, a, b: a @ b, [(1, 3, 4), (2, 4, 2)]),
    "linalg_matmul": (lambda lib, a, b: lib.linalg.matmul(a, b), [(2, 3, 4), (4, 2)]),
    "bmm": (lambda lib, a, b: lib.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "mv": (lambda lib, a, b: lib.mv(a, b), [(3, 4), (4,)]),
    "dot": (lambda lib, a, b: lib.dot(a, b), [(4,), (4,)]),
    "vdot": (lambda lib, a, b: lib.vdot(a, b), [(4,), (4,)]),
    "inner": (lambda lib, a, b: lib.inner(a, b), [(2, 3, 4), (5, 4)]),
    "inner_1d": (lambda lib, a, b: lib.inner(a, b), [(4,), (4,)]),
    "outer": (lambda lib, a, b: lib.outer(a, b), [(3,), (4,)]),
    "ger": (lambda lib, a, b: lib.ger(a, b), [(3,), (4,)]),
    "kron": (lambda lib, a, b: lib.kron(a, b), [(2, 3), (3, 2)]),
    "kron_nd": (lambda lib, a, b: lib.kron(a, b), [(2,), (2, 3)]),
    "einsum_mm": (lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), [(3, 4), (4, 5)]),
    "einsum_outer_sum": (lambda lib, a, b: lib.einsum("ij,k->jk", a, b), [(3, 4), (5,)]),
    "einsum_batch": (lambda lib, a, b: lib.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum_ellipsis": (lambda lib, a, b: lib.einsum("...ij,...j->...i", a, b), [(2, 3, 4), (2, 4)]),
    "einsum_trace": (lambda lib, a, b: lib.einsum("ii,j->j", a, b), [(3, 3), (2,)]),
    "einsum_diag": (lambda lib, a, b: lib.einsum("ii->i", a) * b, [(3, 3), (3,)]),
    "einsum_diag3": (lambda lib, a, b: lib.einsum("iji,i->ij", a, b), [(3, 2, 3), (3,)]),
    "einsum_triple": (lambda lib, a, b: lib.einsum("iii->i", a.unsqueeze(-1) * a.unsqueeze(0)) * b, [(3, 3), (3,)]),
    "einsum_implicit": (lambda lib, a, b: lib.einsum("ij,jk", a, b), [(3, 4), (4, 2)]),
    "einsum_transpose": (lambda lib, a, b: lib.einsum("ij->ji", a) + b, [(3, 4), (4, 1)]),
    "tensordot": (lambda lib, a, b: lib.tensordot(a, b, dims=2), [(2, 3, 4), (3, 4, 5)]),
    "tensordot_lists": (lambda lib, a, b: lib.tensordot(a, b, dims=([0, 2], [2, 0])), [(2, 3, 4), (4, 5, 2)]),
    "addmm_col": (lambda lib, a, b: lib.addmm(a.narrow(1, 0, 1), a, b, beta=0.5, alpha=2), [(3, 4), (4, 5)]),
    "matmul_chain": (lambda lib, a, b: (a @ b).t() @ a, [(3, 4), (4, 5)]),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_product_grads(name, dtype):
    fn, shapes = PRODUCTS[name]
    check_grad(fn, *shapes, dtype=dtype, **(F32 if dtype == "float32" else {}))


@pytest.mark.parametrize("name", ["mm", "matmul_32", "matmul_bcast", "bmm", "mv", "dot", "einsum_batch",
                                  "einsum_trace", "tensordot_lists", "kron", "outer"])
def test_product_double_backward(name):
    fn, shapes = PRODUCTS[name]
    check_grad(lambda lib, a, b: fn(lib, a, b) * fn(lib, a, b), *shapes, create_graph=True)


def test_noncontiguous_products():
    check_grad(lambda lib, a, b: a.t() @ b.t(), (4, 3), (5, 4))
    check_grad(lambda lib, a, b: lib.bmm(a.transpose(1, 2), b), (2, 4, 3), (2, 4, 5))
    check_grad(lambda lib, a, b: lib.mv(a.t(), b), (4, 3), (4,))


ADDS = {
    "addmm": (lambda lib, s, a, b: lib.addmm(s, a, b), [(3, 5), (3, 4), (4, 5)]),
    "addmm_bcast": (lambda lib, s, a, b: lib.addmm(s, a, b, beta=0.5, alpha=-2), [(5,), (3, 4), (4, 5)]),
    "addmm_beta0": (lambda lib, s, a, b: lib.addmm(s, a, b, beta=0), [(3, 5), (3, 4), (4, 5)]),
    "addmv": (lambda lib, s, a, b: lib.addmv(s, a, b, beta=2, alpha=0.5), [(3,), (3, 4), (4,)]),
    "addbmm": (lambda lib, s, a, b: lib.addbmm(s, a, b, alpha=1.5), [(3, 5), (2, 3, 4), (2, 4, 5)]),
    "baddbmm": (lambda lib, s, a, b: lib.baddbmm(s, a, b, beta=-1, alpha=3), [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    "baddbmm_bcast": (lambda lib, s, a, b: lib.baddbmm(s, a, b), [(1, 5), (2, 3, 4), (2, 4, 5)]),
    "addmm_": (lambda lib, s, a, b: (s * 1).addmm_(a, b, alpha=2), [(3, 5), (3, 4), (4, 5)]),
    "addmv_": (lambda lib, s, a, b: (s * 1).addmv_(a, b), [(3,), (3, 4), (4,)]),
    "addbmm_": (lambda lib, s, a, b: (s * 1).addbmm_(a, b, beta=2), [(3, 5), (2, 3, 4), (2, 4, 5)]),
    "baddbmm_": (lambda lib, s, a, b: (s * 1).baddbmm_(a, b), [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
}


@pytest.mark.parametrize("name", sorted(ADDS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_add_products(name, dtype):
    fn, shapes = ADDS[name]
    check_grad(fn, *shapes, dtype=dtype, **(F32 if dtype == "float32" else {}))


@pytest.mark.parametrize("name", ["addmm", "addmv", "baddbmm"])
def test_add_products_double_backward(name):
    fn, shapes = ADDS[name]
    check_grad(lambda lib, s, a, b: fn(lib, s, a, b) * fn(lib, s, a, b), *shapes, create_graph=True)


def _spd(lib, a):
    return a @ a.mT + lib.diag_embed(lib.ones(a.shape[:-1], dtype=a.dtype) * a.shape[-1])


def _sym(lib, a):
    return a + a.mT


def _wellcond(lib, a):
    """a + n * I: comfortably invertible."""
    return a + lib.diag_embed(lib.ones(a.shape[:-1], dtype=a.dtype) * 4)


LINALG = {
    "trace": (lambda lib, a: lib.trace(a) * a, (3, 4)),
    "trace_method": (lambda lib, a: a.trace(), (4, 4)),
    "inv": (lambda lib, a: lib.linalg.inv(_wellcond(lib, a)), (3, 3)),
    "inv_batch": (lambda lib, a: lib.linalg.inv(_wellcond(lib, a)), (2, 3, 3)),
    "inverse": (lambda lib, a: lib.inverse(_wellcond(lib, a)), (3, 3)),
    "det": (lambda lib, a: lib.linalg.det(_wellcond(lib, a)), (3, 3)),
    "det_batch": (lambda lib, a: lib.linalg.det(a), (2, 3, 3)),
    "det_method": (lambda lib, a: a.det(), (4, 4)),
    "logabsdet": (lambda lib, a: lib.linalg.slogdet(a)[1], (2, 3, 3)),
    "slogdet": (lambda lib, a: lib.slogdet(a)[1] * lib.slogdet(a)[0], (4, 4)),
    "cholesky": (lambda lib, a: lib.linalg.cholesky(_spd(lib, a)), (3, 3)),
    "cholesky_upper": (lambda lib, a: lib.linalg.cholesky(_spd(lib, a), upper=True), (2, 3, 3)),
    "qr_recon": (lambda lib, a: (lambda q, r: q @ r)(*lib.linalg.qr(a)), (4, 3)),
    "qr_R_sq": (lambda lib, a: (lambda q, r: r * r)(*lib.linalg.qr(a)), (4, 3)),
    "qr_Q_sq": (lambda lib, a: (lambda q, r: q * q)(*lib.linalg.qr(a)), (3, 3)),
    "qr_mixed": (lambda lib, a: (lambda q, r: (q * q) @ (r * r))(*lib.linalg.qr(a)), (4, 3)),
    "qr_wide": (lambda lib, a: (lambda q, r: (q * q) @ (r * r))(*lib.linalg.qr(a)), (3, 5)),
    "qr_batch": (lambda lib, a: (lambda q, r: q @ r)(*lib.linalg.qr(a)), (2, 4, 3)),
    "svd_S": (lambda lib, a: lib.linalg.svd(a, full_matrices=False)[1], (4, 3)),
    "svd_UU": (lambda lib, a: (lambda u, s, vh: u * u)(*lib.linalg.svd(a, full_matrices=False)), (4, 3)),
    "svd_VV": (lambda lib, a: (lambda u, s, vh: vh * vh)(*lib.linalg.svd(a, full_matrices=False)), (3, 5)),
    "svd_recon": (lambda lib, a: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(*lib.linalg.svd(a, full_matrices=False)),
                  (2, 4, 3)),
    "svd_all": (lambda lib, a: (lambda u, s, vh: (u * u) @ lib.diag_embed(s) @ (vh * vh))(
        *lib.linalg.svd(a, full_matrices=False)), (3, 3)),
    "svd_wide": (lambda lib, a: (lambda u, s, vh: (u * u) @ lib.diag_embed(s * s) @ (vh * vh))(
        *lib.linalg.svd(a, full_matrices=False)), (3, 5)),
    "svd_full_S": (lambda lib, a: lib.linalg.svd(a)[1], (4, 3)),
    "svdvals": (lambda lib, a: lib.linalg.svdvals(a), (2, 4, 3)),
    "eigh_vals": (lambda lib, a: lib.linalg.eigh(_sym(lib, a))[0], (4, 4)),
    "eigh_VV": (lambda lib, a: (lambda w, v: v * v)(*lib.linalg.eigh(_sym(lib, a))), (4, 4)),
    "eigh_recon": (lambda lib, a: (lambda w, v: (v * w.unsqueeze(-2)) @ v.mT)(*lib.linalg.eigh(_sym(lib, a))),
                   (2, 3, 3)),
    "eigh_upper": (lambda lib, a: (lambda w, v: w.unsqueeze(-1) * v * v)(*lib.linalg.eigh(_sym(lib, a), UPLO="U")),
                   (3, 3)),
    "eigvalsh": (lambda lib, a: lib.linalg.eigvalsh(_sym(lib, a)), (4, 4)),
    "pinv": (lambda lib, a: lib.linalg.pinv(a), (4, 3)),
    "pinv_wide": (lambda lib, a: lib.linalg.pinv(a), (2, 5)),
    "pinv_batch": (lambda lib, a: lib.linalg.pinv(a), (2, 3, 4)),
    "pinv_hermitian": (lambda lib, a: lib.linalg.pinv(a @ a.mT, hermitian=True), (3, 3)),
}


@pytest.mark.parametrize("name", sorted(LINALG))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linalg_grads(name, dtype):
    fn, shape = LINALG[name]
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == "float32" else dict(rtol=1e-6, atol=1e-7)
    check_grad(fn, shape, dtype=dtype, low=-1, high=1, **tol)


@pytest.mark.parametrize("name", ["inv", "det", "logabsdet", "cholesky", "svd_S", "eigh_vals", "qr_recon", "pinv",
                                  "trace"])
def test_linalg_double_backward(name):
    fn, shape = LINALG[name]
    check_grad(fn, shape, low=-1, high=1, rtol=1e-6, atol=1e-7, create_graph=True)


SOLVES = {
    "solve": (lambda lib, a, b: lib.linalg.solve(_wellcond(lib, a), b), [(3, 3), (3, 2)]),
    "solve_vec": (lambda lib, a, b: lib.linalg.solve(_wellcond(lib, a), b), [(3, 3), (3,)]),
    "solve_batch_vec": (lambda lib, a, b: lib.linalg.solve(_wellcond(lib, a), b), [(2, 3, 3), (2, 3)]),
    "solve_bcast": (lambda lib, a, b: lib.linalg.solve(_wellcond(lib, a), b), [(3, 3), (2, 3, 4)]),
    "solve_right": (lambda lib, a, b: lib.linalg.solve(_wellcond(lib, a), b, left=False), [(3, 3), (2, 3)]),
    "lstsq": (lambda lib, a, b: lib.linalg.lstsq(a, b).solution, [(5, 3), (5, 2)]),
    "lstsq_batch": (lambda lib, a, b: lib.linalg.lstsq(a, b).solution, [(2, 4, 3), (2, 4, 2)]),
    "lstsq_square": (lambda lib, a, b: lib.linalg.lstsq(_wellcond(lib, a), b)[0], [(3, 3), (3, 1)]),
    "lstsq_wide": (lambda lib, a, b: lib.linalg.lstsq(a, b).solution, [(2, 4), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(SOLVES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_solve_grads(name, dtype):
    fn, shapes = SOLVES[name]
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == "float32" else dict(rtol=1e-6, atol=1e-7)
    check_grad(fn, *shapes, dtype=dtype, low=-1, high=1, **tol)


@pytest.mark.parametrize("name", ["solve", "solve_vec", "lstsq"])
def test_solve_double_backward(name):
    fn, shapes = SOLVES[name]
    check_grad(fn, *shapes, low=-1, high=1, rtol=1e-6, atol=1e-7, create_graph=True)


def _pair(*shape):
    a = np.random.default_rng(3).uniform(-1, 1, size=shape) + 3 * np.eye(shape[-2], shape[-1])
    return ctorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


NAMES = {
    "mm": lambda lib, a: lib.mm(a, a), "matmul22": lambda lib, a: a @ a,
    "matmul21": lambda lib, a: lib.matmul(a, a.select(0, 0)), "matmul12": lambda lib, a: lib.matmul(a.select(0, 0), a),
    "matmul11": lambda lib, a: lib.matmul(a.select(0, 0), a.select(0, 1)),
    "matmul32": lambda lib, a: a.unsqueeze(0).expand(2, 3, 3) @ a,
    "bmm": lambda lib, a: lib.bmm(a.unsqueeze(0), a.unsqueeze(0)), "mv": lambda lib, a: lib.mv(a, a.select(0, 0)),
    "dot": lambda lib, a: lib.dot(a.select(0, 0), a.select(0, 1)),
    "vdot": lambda lib, a: lib.vdot(a.select(0, 0), a.select(0, 1)),
    "outer": lambda lib, a: lib.outer(a.select(0, 0), a.select(0, 1)),
    "addmm": lambda lib, a: lib.addmm(a, a, a), "addmv": lambda lib, a: lib.addmv(a.select(0, 0), a, a.select(0, 1)),
    "baddbmm": lambda lib, a: lib.baddbmm(a, a.unsqueeze(0), a.unsqueeze(0)),
    "addbmm": lambda lib, a: lib.addbmm(a, a.unsqueeze(0), a.unsqueeze(0)),
    "einsum": lambda lib, a: lib.einsum("ij,jk->ik", a, a), "tensordot": lambda lib, a: lib.tensordot(a, a, 1),
    "inner": lambda lib, a: lib.inner(a, a), "trace": lambda lib, a: lib.trace(a), "kron": lambda lib, a: lib.kron(a, a),
    "matmul13": lambda lib, a: lib.matmul(a.select(0, 0), a.unsqueeze(0).expand(2, 3, 3)),
    "matmul23": lambda lib, a: lib.matmul(a, a.unsqueeze(0).expand(2, 3, 3)),
    "matmul31": lambda lib, a: lib.matmul(a.unsqueeze(0).expand(2, 3, 3), a.select(0, 0)),
    "matmul33": lambda lib, a: lib.matmul(a.unsqueeze(0), a.unsqueeze(0)),
    "inv": lambda lib, a: lib.linalg.inv(a), "inverse": lambda lib, a: a.inverse(),
    "solve": lambda lib, a: lib.linalg.solve(a, a), "det": lambda lib, a: lib.linalg.det(a),
    "slogdet": lambda lib, a: lib.linalg.slogdet(a)[1], "slogdet_sign": lambda lib, a: lib.linalg.slogdet(a)[0],
    "cholesky": lambda lib, a: lib.linalg.cholesky(a @ a.mT), "qr_q": lambda lib, a: lib.linalg.qr(a)[0],
    "qr_r": lambda lib, a: lib.linalg.qr(a)[1], "svd_u": lambda lib, a: lib.linalg.svd(a)[0],
    "svd_s": lambda lib, a: lib.linalg.svd(a)[1], "svdvals": lambda lib, a: lib.linalg.svdvals(a),
    "eigh": lambda lib, a: lib.linalg.eigh(a + a.mT)[1], "eigvalsh": lambda lib, a: lib.linalg.eigvalsh(a + a.mT),
    "lstsq": lambda lib, a: lib.linalg.lstsq(a, a).solution, "pinv": lambda lib, a: lib.linalg.pinv(a),
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_grad_fn_names(name):
    c, t = _pair(3, 3)
    cr, tr = NAMES[name](ctorch, c), NAMES[name](torch, t)
    assert cr.grad_fn.name() == type(tr.grad_fn).__name__


def test_not_differentiable_outputs():
    c, t = _pair(3, 3)
    r = ctorch.linalg.matrix_rank(c)
    assert not r.requires_grad and r.grad_fn is None
    assert not ctorch.linalg.lstsq(c, c).rank.requires_grad
    ci = ctorch.tensor([[1, 2], [3, 4]])
    assert not (ci @ ci).requires_grad


def test_unused_decomposition_outputs():
    """Gradients through one output of a multi-output decomposition (others get none)."""
    c, t = _pair(4, 3)
    cg, = ctorch.autograd.grad(ctorch.linalg.svd(c, full_matrices=False)[1], c,
                               grad_outputs=ctorch.ones(3, dtype=c.dtype))
    tg, = torch.autograd.grad(torch.linalg.svd(t, full_matrices=False)[1], t, grad_outputs=torch.ones(3, dtype=t.dtype))
    np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6, atol=1e-8)
    cr = ctorch.linalg.qr(c)[1]
    tr = torch.linalg.qr(t)[1]
    cg, = ctorch.autograd.grad(cr, c, grad_outputs=ctorch.ones(3, 3, dtype=c.dtype))
    tg, = torch.autograd.grad(tr, t, grad_outputs=torch.ones(3, 3, dtype=t.dtype))
    np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6, atol=1e-8)


def test_gradcheck_linalg():
    a = ctorch.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 3)) + 3 * np.eye(3), requires_grad=True)
    b = ctorch.tensor(np.random.default_rng(1).uniform(-1, 1, (3, 2)), requires_grad=True)
    assert ctorch.autograd.gradcheck(lambda x, y: ctorch.linalg.solve(x, y) @ y.t(), (a, b))
    assert ctorch.autograd.gradcheck(lambda x: ctorch.linalg.det(x) * ctorch.linalg.inv(x), (a,))
    assert ctorch.autograd.gradcheck(lambda x, y: ctorch.einsum("ij,jk->ki", x, y), (a, b))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve(upper):
    def fn(lib, a, b):
        return lib.cholesky_solve(b, lib.linalg.cholesky(_spd(lib, a), upper=upper), upper=upper)
    check_grad(fn, (3, 3), (3, 2), low=-1, high=1, rtol=1e-6, atol=1e-7)
    check_grad(fn, (2, 3, 3), (3, 2), low=-1, high=1, rtol=1e-6, atol=1e-7, create_graph=True)
    c, t = _pair(3, 3)
    assert fn(ctorch, c, c).grad_fn.name() == type(fn(torch, t, t).grad_fn).__name__


def _grads_both(fn, arr, weights=None):
    out = []
    for lib in (ctorch, torch):
        x = lib.tensor(arr, requires_grad=True)
        y = fn(lib, x)
        w = lib.tensor(weights if weights is not None else np.ones(tuple(y.shape)), dtype=y.dtype)
        g, = lib.autograd.grad(y * w, x, grad_outputs=lib.ones(tuple(y.shape), dtype=y.dtype))
        out.append(g.detach().numpy())
    return out


def test_eigh_grad_symmetric_leaf():
    a = np.random.default_rng(0).uniform(-1, 1, (3, 3))
    a = a + a.T
    w = np.arange(9.0).reshape(3, 3)
    c, t = _grads_both(lambda lib, x: (lambda e, v: v * v)(*lib.linalg.eigh(x)), a, w)
    np.testing.assert_allclose(c, t, atol=1e-10)
    c, t = _grads_both(lambda lib, x: (lambda e, v: e.unsqueeze(0) * v * v + e.unsqueeze(1))(*lib.linalg.eigh(x)), a, w)
    np.testing.assert_allclose(c, t, atol=1e-10)


def test_cholesky_grad_symmetric_leaf():
    a = np.random.default_rng(0).uniform(-1, 1, (3, 3))
    a = a @ a.T + 3 * np.eye(3)
    c, t = _grads_both(lambda lib, x: lib.linalg.cholesky(x), a, np.arange(9.0).reshape(3, 3))
    np.testing.assert_allclose(c, t, atol=1e-10)


@pytest.mark.parametrize("arr", [[[1.0, 2.0], [2.0, 4.0]], np.diag([1.0, 2.0, 0.0]), np.zeros((3, 3))])
def test_det_singular(arr):
    c, t = _grads_both(lambda lib, x: lib.linalg.det(x), np.array(arr))
    np.testing.assert_allclose(c, t, atol=1e-10)


@pytest.mark.parametrize("mode,shape", [("r", (4, 3)), ("complete", (4, 3))])
def test_qr_modes_not_differentiable(mode, shape):
    a = np.random.default_rng(0).uniform(-1, 1, shape)
    for lib in (ctorch, torch):
        x = lib.tensor(a, requires_grad=True)
        r = lib.linalg.qr(x, mode=mode)[1]
        assert r.requires_grad
        with pytest.raises(RuntimeError, match="linalg.qr|QR decomposition"):
            lib.autograd.grad(r, x, grad_outputs=lib.ones(tuple(r.shape), dtype=r.dtype))


def test_qr_complete_square_and_wide():
    check_grad(lambda lib, a: (lambda q, r: (q * q) @ (r * r))(*lib.linalg.qr(a, mode="complete")), (3, 5),
               low=-1, high=1)
    check_grad(lambda lib, a: (lambda q, r: q @ (r * r))(*lib.linalg.qr(a, mode="complete")), (3, 3),
               low=-1, high=1)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3)])
def test_svd_full_matrices(shape):
    check_grad(lambda lib, a: (lambda u, s, vh: (u * u) @ (u * u))(
        *lib.linalg.svd(a)), shape, low=-1, high=1)
    check_grad(lambda lib, a: (lambda u, s, vh: (vh * vh) @ (vh * vh))(*lib.linalg.svd(a)), shape, low=-1, high=1)


@pytest.mark.parametrize("name", ["svdvals", "eigvalsh", "svd_UU", "eigh_VV", "cholesky_upper", "qr_wide", "qr_R_sq"])
def test_decomposition_double_backward(name):
    fn, shape = LINALG[name]
    check_grad(fn, shape, low=-1, high=1, rtol=1e-6, atol=1e-7, create_graph=True)


LINALG_EDGE = {
    "mm_empty": (lambda lib, x, y: lib.mm(x, y), [(3, 0), (0, 2)]),
    "matmul_empty_batch": (lambda lib, x, y: x @ y, [(0, 3, 2), (2, 4)]),
    "einsum3": (lambda lib, x, y: lib.einsum("ij,jk,kl->il", x, y, y.t()), [(2, 3), (3, 3)]),
    "einsum_bcast_ell": (lambda lib, x, y: lib.einsum("...ij,...jk->...ik", x, y), [(2, 1, 2, 3), (4, 3, 2)]),
    "einsum_sum_only": (lambda lib, x, y: lib.einsum("ij->", x) * y, [(2, 3), (2,)]),
}


@pytest.mark.parametrize("name", sorted(LINALG_EDGE))
def test_edge_cases(name):
    """empty and 0-dim tensors, 16-bit round trips, negative dims; first and second order"""
    f, shapes = LINALG_EDGE[name]
    check_grad(f, *shapes)
    check_grad(lambda lib, x, y: f(lib, x, y) * f(lib, x, y), *shapes, create_graph=True)


def test_grads_from_two_nodes_accumulate():
    """a node whose gradient is an expanded view, plus a second contribution to the same input"""
    check_grad(lambda lib, x, y: lib.einsum("ij->", x) + lib.einsum("ij->", x) * y, (2, 3), (2,))
    check_grad(lambda lib, x, y: lib.einsum("ij,j->", x, y) * lib.einsum("ij,j->", x, y), (2, 3), (3,))


@pytest.mark.parametrize("case", ["linear", "mm_bt", "mm_at", "addmm_bt", "addmm_at", "both"])
def test_grad_layout_of_transposed_operands(case):
    """A weight used transposed gets a gradient laid out like itself (contiguous), as in torch,
    so AccumulateGrad keeps it without a copy; the hooks see torch's strides, values equal torch's."""
    rng = np.random.default_rng(3)
    a_np, b_np, c_np = rng.standard_normal((4, 5)), rng.standard_normal((6, 5)), rng.standard_normal(6)
    res = {}
    for lib in (torch, ctorch):
        a = lib.tensor(a_np, requires_grad=True)
        b = lib.tensor(b_np, requires_grad=True)
        c = lib.tensor(c_np, requires_grad=True)
        if case == "linear":
            y = lib.nn.functional.linear(a, b, c)
        elif case == "mm_bt":
            y = a @ b.t()
        elif case == "mm_at":
            y = lib.mm(b.t().t().t().t(), a.t())  # (6,5) @ (5,4), a used transposed
        elif case == "addmm_bt":
            y = lib.addmm(c[:4].unsqueeze(1), a, b.t(), beta=0.5, alpha=2.0)
        elif case == "addmm_at":
            y = lib.addmm(c.unsqueeze(1), b, a.t())
        else:
            y = lib.mm(a.t().t(), b.t()) @ b
        seen = {}
        a.register_hook(lambda g: seen.__setitem__("a", g.stride()))
        b.register_hook(lambda g: seen.__setitem__("b", g.stride()))
        (y * y).sum().backward()
        res[lib] = [(seen[k], t.grad.detach().numpy() if lib is torch else np.array(t.grad.tolist()))
                    for k, t in (("a", a), ("b", b))]
    for (ts, tv), (cs, cv) in zip(res[torch], res[ctorch]):
        assert tuple(cs) == tuple(ts)
        np.testing.assert_allclose(cv, tv, rtol=1e-12, atol=1e-12)
