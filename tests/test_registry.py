"""Registry behaviour on a private Registry (the global registries are left untouched)."""
import pytest

from pointlab.registry import Registry, RegistryError, build_from_cfg


@pytest.fixture
def reg():
    r = Registry("test")

    @r.register_module()
    class SparseUNet:
        def __init__(self, channels=32, layers=(2, 2)):
            self.channels, self.layers = channels, layers

    @r.register_module(["Point-Transformer", "PT-alias"])
    class PointTransformer:
        def __init__(self, cfg=None, **kwargs):
            self.cfg, self.kwargs = cfg, kwargs

    @r.register_module("Fails")
    class Fails:
        def __init__(self, x):
            raise ValueError(f"x must be positive, got {x}")

    return r


def test_build_and_aliases(reg):
    obj = reg.build(dict(type="SparseUNet", channels=64))
    assert obj.channels == 64 and obj.layers == (2, 2)
    assert reg.get("Point-Transformer") is reg.get("PT-alias")
    assert "SparseUNet" in reg and "Nope" not in reg and len(reg) == 4
    assert set(reg.module_dict) == {"SparseUNet", "Point-Transformer", "PT-alias", "Fails"}


def test_unknown_type_names_registry_and_suggests(reg):
    with pytest.raises(KeyError) as e:  # RegistryError is a KeyError
        reg.build(dict(type="SparseUnet"))
    msg = str(e.value)
    assert isinstance(e.value, RegistryError)
    assert "'SparseUnet'" in msg and "registry 'test'" in msg and "Did you mean: 'SparseUNet'" in msg


def test_duplicate_registration_raises_and_force_replaces(reg):
    class Other:
        pass

    with pytest.raises(RegistryError, match="already registered"):
        reg.register_module("SparseUNet", module=Other)
    assert reg.get("SparseUNet") is not Other
    reg.register_module("SparseUNet", force=True, module=Other)
    assert reg.get("SparseUNet") is Other


def test_constructor_type_error_names_class_and_argument(reg):
    with pytest.raises(TypeError) as e:
        reg.build(dict(type="SparseUNet", chanels=64))
    msg = str(e.value)
    assert msg.startswith("SparseUNet (test):")
    assert "Unknown argument(s): 'chanels' (did you mean 'channels'?)" in msg


def test_constructor_error_keeps_type_and_names_class(reg):
    with pytest.raises(ValueError, match=r"Fails \(test\): x must be positive, got -1"):
        reg.build(dict(type="Fails", x=-1))


def test_build_from_cfg_deep_copies(reg):
    inner = dict(depth=3)
    cfg = dict(type="Point-Transformer", cfg=inner)
    obj = build_from_cfg(cfg, reg)
    obj.cfg["depth"] = 99
    assert inner["depth"] == 3 and cfg["type"] == "Point-Transformer"  # the config is untouched
    assert obj.cfg is not inner


def test_default_args_and_passthrough_kwargs(reg):
    model = object()
    obj = reg.build(dict(type="Point-Transformer"), default_args=dict(cfg="d"), model=model)
    assert obj.cfg == "d" and obj.kwargs["model"] is model  # kwargs are not copied
    obj = reg.build(dict(type="Point-Transformer", cfg="given"), default_args=dict(cfg="d"))
    assert obj.cfg == "given"


def test_type_may_be_a_class_and_bad_configs_error(reg):
    class Local:
        def __init__(self, a):
            self.a = a

    assert build_from_cfg(dict(type=Local, a=1), reg).a == 1
    with pytest.raises(KeyError, match="no 'type'"):
        reg.build(dict(a=1))
    with pytest.raises(TypeError, match="must be a dict"):
        reg.build(["SparseUNet"])
