

# --------------------------- 5. the softmax family is exact below eps·1 at the maximum
#
# Exact values from the mathematics, in float64 (not from the code under test): with a
# row [t, 0] and the label on the maximum t, p = 1/(1 + e^-t), so
#   loss     = -log p      = log1p(exp(-t))
#   gradient = p - onehot  = [-r/(1+r), r/(1+r)],  r = exp(-t)
# Both are below eps·1 at t = 30 (float32: 9.36e-14) and t = 37.43 (float64: 5.55e-17):
# a log(Σ exp) that adds the maximum's 1 to r rounds them to 0.

TINY = [("float32", 30.0), ("float64", 37.43), ("float64", 30.0)]


def _tiny_calls(backend):
    """(name, fn(x) for the row [t, 0] with its label on class 0) for every softmax loss."""
    y_int = ints(backend, [0])
    y_soft = floats(backend, [[1.0, 0.0]])
    return {
        "sparse": lambda x, **kw: xb.sparse_softmax_cross_entropy(x, y_int, **kw),
        "soft": lambda x, **kw: xb.softmax_cross_entropy(x, backend_cast(backend, y_soft, x), **kw),
        "focal_gamma0": lambda x, **kw: xb.softmax_focal_loss(x, y_int, gamma=0.0),
    }


def backend_cast(backend, y, like):
    xp = xb.array_namespace(like)
    return xp.astype(y, like.dtype)


@pytest.mark.parametrize("dtype,t", TINY, ids=[f"{d}-{t}" for d, t in TINY])
@pytest.mark.parametrize("loss", ["sparse", "soft", "focal_gamma0"])
@pytest.mark.parametrize("chunk_size", [None, 1], ids=["plain", "chunked"])
def test_softmax_losses_keep_losses_below_eps_at_the_maximum(backend, loss, dtype, t, chunk_size):
    if backend.framework == "dask" or dtype not in backend.dtypes:
        pytest.skip(f"{backend.name}: {dtype} not in this backend's matrix" if dtype not in backend.dtypes
                    else "dask: covered by the numpy cell (same kernels, lazily)")
    x = backend.asarray(np.array([[t, 0.0]]), dtype)
    kw = {} if loss == "focal_gamma0" else {"chunk_size": chunk_size}
    got = np.asarray(backend.to_numpy(_tiny_calls(backend)[loss](x, **kw)), dtype=np.float64)
    exact = math.log1p(math.exp(-t))
    assert exact < np.finfo(dtype).eps  # the edge: below eps·1
    np.testing.assert_allclose(got, [exact], rtol=tolerance(dtype, 4))


@pytest.mark.parametrize("dtype,t", TINY, ids=[f"{d}-{t}" for d, t in TINY])
@pytest.mark.parametrize("loss", ["sparse", "soft", "focal_gamma0"])
@pytest.mark.parametrize("chunk_size", [None, 1], ids=["plain", "chunked"])
def test_softmax_gradients_keep_values_below_eps_at_the_maximum(ad_backend, loss, dtype, t, chunk_size):
    """Before: the gradient at the maximum was ``p - 1 = 0`` (float64 [37.43, 0] gave
    ``[0, 5.55e-17]``, exact ``[-5.55e-17, 5.55e-17]``)."""
    b = ad_backend
    kw = {} if loss == "focal_gamma0" else {"chunk_size": chunk_size}
    fn = _tiny_calls(b)[loss]
    x = b.asarray(np.array([[t, 0.0]]), dtype)
    g = _grad_sum(b, lambda v: fn(v, **kw), x)
    r = math.exp(-t)
    exact = [-r / (1 + r), r / (1 + r)]
    np.testing.assert_allclose(g.ravel(), exact, rtol=tolerance(dtype, 4))


def _grad_sum(b, fn, x):
    """d sum(fn(x)) / dx by the backend's autodiff, as float64 NumPy."""
    fw = b.framework
    if fw == "torch":
        import torch

        v = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(v).sum(), v)
    elif fw == "jax":
        import jax
        import jax.numpy as jnp

        g = jax.grad(lambda v: jnp.sum(fn(v)))(x)
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            s = tf.reduce_sum(fn(x))
        g = tape.gradient(s, x)
    return np.asarray(b.to_numpy(g), dtype=np.float64)


@pytest.mark.parametrize("loss", ["sparse", "soft"])
def test_tied_maxima_count_in_the_exact_edge(backend, loss):
    """Row [t, t, 0] with the label on class 0: p = 1/(2 + r), loss log 2 + log1p(r/2),
    and the two tied classes share the mass (the first maximum is not special)."""
    t = 37.43
    x = floats(backend, [[t, t, 0.0]])
    y = ints(backend, [0]) if loss == "sparse" else floats(backend, [[1.0, 0.0, 0.0]])
    fn = xb.sparse_softmax_cross_entropy if loss == "sparse" else xb.softmax_cross_entropy
    r = math.exp(-t)
    got = backend.to_numpy(fn(x, y))
    np.testing.assert_allclose(got, [math.log(2.0) + math.log1p(r / 2)], rtol=tolerance("float64", 4))


def test_second_order_derivative_at_the_edge_is_the_softmax_hessian():
    """Double backward recomputes the kernel from the logits (functional path): the
    Hessian of the loss is diag(p) - p pᵀ, also next to the dominant class."""
    torch = require("torch")
    x = torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    (g,) = torch.autograd.grad(xb.sparse_softmax_cross_entropy(x, y).sum(), x, create_graph=True)
    H = torch.stack([torch.autograd.grad(g[0, i], x, retain_graph=True)[0][0] for i in range(3)])
    p = np.exp([2.0, 0.5, -1.0])
    p /= p.sum()
    np.testing.assert_allclose(H.numpy(), np.diag(p) - np.outer(p, p), rtol=tolerance("float64", 8), atol=1e-15)
