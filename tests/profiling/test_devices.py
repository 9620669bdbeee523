"""Device names, profiles and fingerprints."""

from __future__ import annotations

import pytest

from nas.errors import ConfigError
from nas.profiling.devices import DeviceProfile, fingerprint, fingerprint_id, known_devices, parse_device


@pytest.mark.parametrize(("name", "backend"), [("cpu", "torch"), ("cpu-torch", "torch"), ("cpu-ts", "torchscript"),
                                               ("cpu-ort", "onnxruntime")])
def test_named_devices_resolve_to_their_backend_here(name, backend):
    p = parse_device(name)
    assert (p.backend, p.threads, p.batch_size, p.placement) == (backend, 1, 1, "here")
    assert name in known_devices()


def test_suffixes_set_threads_and_batch():
    p = parse_device("cpu-ort@t2@b8")
    assert (p.backend, p.threads, p.batch_size) == ("onnxruntime", 2, 8)


def test_min_suffix_sets_the_statistic_and_keeps_it_apart():
    p = parse_device("cpu-ort@t2@min")
    assert (p.backend, p.threads, p.statistic) == ("onnxruntime", 2, "min")
    assert parse_device("cpu-ort").statistic == "median"
    assert DeviceProfile.from_dict(p.to_dict()) == p
    assert parse_device("ray:pi4:cpu-ort@min").local.statistic == "min"
    fp = fingerprint()
    assert fingerprint_id(fp, parse_device("cpu-ort")) != fingerprint_id(fp, parse_device("cpu-ort@min"))
    with pytest.raises(ConfigError, match="`device.statistic` must"):
        DeviceProfile(name="x", statistic="mean")


def test_ray_placement_with_and_without_base_device():
    p = parse_device("ray:testdevice")
    assert (p.resource, p.backend, p.placement, p.is_remote) == ("testdevice", "torch", "ray:testdevice", True)
    q = parse_device("ray:pi4:cpu-ort")
    assert (q.resource, q.backend) == ("pi4", "onnxruntime")
    assert q.local.resource is None and q.local.backend == "onnxruntime"


def test_table_device():
    p = parse_device("table:raspi4")
    assert p.is_table and p.column == "raspi4"


@pytest.mark.parametrize("bad", ["gpu9", "", "ray:", "ray:bad name", "ray:x:ray:y", "cpu@t0", "table:"])
def test_bad_device_names_say_what_is_allowed(bad):
    with pytest.raises(ConfigError, match="`device` must"):
        parse_device(bad)


def test_cuda_refused_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        assert parse_device("cuda").backend == "cuda"
    else:
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            parse_device("cuda")


def test_profile_round_trips_and_validates():
    p = parse_device("ray:r1:cpu-ts@t3")
    assert DeviceProfile.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="backend"):
        DeviceProfile("x", backend="tpu")


def test_fingerprint_names_machine_and_libraries_and_id_depends_on_settings():
    fp = fingerprint()
    assert {"cpu", "torch", "onnxruntime", "python", "numpy"} <= set(fp)
    a, b = fingerprint_id(fp, parse_device("cpu-ort")), fingerprint_id(fp, parse_device("cpu-ort@b4"))
    assert a != b and len(a) == 10
    assert fingerprint_id(fp | {"torch": "other"}, parse_device("cpu-ort")) != a
