"""Process-wide settings and the conveniences PyTorch scripts start with:
printing options, the default dtype, finfo/iinfo, compile, backends flags,
deterministic algorithms (PyTorch as the oracle where installed)."""
import numpy as np
import pytest

import lazyfuse as lf

PRINTED = [np.array([[1.23456, -2.5e-3, 100.0], [3.0, 4.5, 6.25]], np.float32), np.array([1.0, 1e5, 3.0], np.float32),
           np.array([0.0, 0.0]), np.array([1e-5, 2.0], np.float32), np.array([np.inf, -np.inf, np.nan, 1.5], np.float32),
           np.array([1e9, 1.0], np.float32), np.arange(2000, dtype=np.float32) / 7, np.ones((40, 40), np.float32) / 3,
           np.arange(1500), np.array([1.5, 2.5, 1000.5], np.float32), np.ones((3, 400), bool)]
OPTIONS = [dict(), dict(precision=2), dict(sci_mode=True), dict(sci_mode=False, precision=6), dict(profile="short"),
           dict(threshold=10, edgeitems=2), dict(linewidth=40), dict(profile="full")]


@pytest.mark.parametrize("options", OPTIONS, ids=[repr(o) for o in OPTIONS])
def test_tensors_print_as_pytorchs_under_set_printoptions(options):
    torch = pytest.importorskip("torch")
    printed = {}
    for m in (torch, lf):
        m.set_printoptions(**options)
        try:
            printed[m.__name__] = [repr(m.tensor(v)).replace(m.__name__ + ".", "torch.") for v in PRINTED]
        finally:
            m.set_printoptions(profile="default")
    assert printed["lazyfuse"] == printed["torch"]


def test_set_default_dtype_makes_python_floats_and_factories_float64():
    lf.set_default_dtype(lf.float64)
    try:
        third = lf.tensor([1.0]) / 3
        assert third.dtype is lf.float64 and lf.zeros(2).dtype is lf.float64 and lf.get_default_dtype() is lf.float64
        assert third.item() == 1.0 / 3  # computed in float64
        assert repr(lf.tensor([0.5])) == repr(lf.tensor([0.5], dtype=lf.float32)).replace(
            ", dtype=lazyfuse.float32", "")
    finally:
        lf.set_default_dtype(lf.float32)
    assert lf.tensor([1.0]).dtype is lf.float32
    with pytest.raises(TypeError, match="only floating-point types"):
        lf.set_default_dtype(lf.int64)


def test_finfo_and_iinfo_are_pytorchs():
    torch = pytest.importorskip("torch")
    for name in ("float16", "float32", "float64"):
        ours, theirs = lf.finfo(getattr(lf, name)), torch.finfo(getattr(torch, name))
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(ours, field) == getattr(theirs, field), (name, field)
    assert lf.finfo().eps == torch.finfo().eps
    for name in ("int32", "int64"):
        ours, theirs = lf.iinfo(getattr(lf, name)), torch.iinfo(getattr(torch, name))
        assert (ours.bits, ours.max, ours.min) == (theirs.bits, theirs.max, theirs.min)
    with pytest.raises(TypeError, match="requires a floating point"):
        lf.finfo(lf.int32)
    with pytest.raises(TypeError, match="requires an integer"):
        lf.iinfo(lf.float32)


def test_compile_returns_the_model_and_backends_flags_can_be_set():
    model = lf.nn.Linear(2, 3)
    assert lf.compile(model) is model and lf.compile(model, mode="reduce-overhead") is model

    @lf.compile(fullgraph=True)
    def double(x):
        return x * 2
    assert double(lf.tensor([1.5])).item() == 3.0
    lf.backends.cudnn.benchmark = True
    lf.backends.cuda.matmul.allow_tf32 = True
    assert not lf.backends.mps.is_available() and not lf.backends.cudnn.is_available()


def test_results_are_deterministic_as_use_deterministic_algorithms_records(rng):
    lf.use_deterministic_algorithms(True)
    try:
        assert lf.are_deterministic_algorithms_enabled()
        x = lf.tensor(rng.standard_normal(1 << 20).astype(np.float32))
        sums = {((x * 1.5).sum() / 3).item() for _ in range(5)}
        assert len(sums) == 1  # the same reduction order every time
    finally:
        lf.use_deterministic_algorithms(False)
    assert not lf.are_deterministic_algorithms_enabled()
