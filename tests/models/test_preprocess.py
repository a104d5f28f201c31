import numpy as np
import pytest

from models.preprocess import letterbox, resize_plain, to_tensor


def test_letterbox_pads_evenly_and_maps_back():
    img = np.zeros((100, 200, 3), np.uint8)
    out, t = letterbox(img, width=320, height=320)
    assert out.shape == (320, 320, 3)
    assert (t.scale_x, t.scale_y, t.pad_x, t.pad_y) == (1.6, 1.6, 0, 80)
    assert out[0, 0, 0] == 114 and out[160, 160, 0] == 0
    box_model = np.array([[16, 96, 176, 256]], np.float32)  # 1.6 * (10, 10, 110, 110) + pad
    np.testing.assert_allclose(t.boxes_to_original(box_model), [[10, 10, 110, 100]])  # clipped


def test_plain_resize_maps_back_per_axis():
    img = np.zeros((300, 400, 3), np.uint8)
    out, t = resize_plain(img, width=200, height=200)
    assert out.shape == (200, 200, 3)
    np.testing.assert_allclose(
        t.boxes_to_original(np.array([[50, 50, 100, 100]], np.float32)), [[100, 75, 200, 150]]
    )


@pytest.mark.parametrize(("color", "first"), [("rgb", 30.0), ("bgr", 10.0)])
def test_to_tensor_colour_and_normalisation(color, first):
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30  # B, G, R
    x = to_tensor(img, color=color, mean=(0, 0, 0), std=(1, 1, 1))
    assert x.shape == (1, 3, 2, 3) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == first
    y = to_tensor(img, color="rgb", mean=(127, 127, 127), std=(128, 128, 128))
    assert y[0, 0, 0, 0] == pytest.approx((30 - 127) / 128)


@pytest.mark.parametrize("std", [(255, 255, 255), (58.4, 57.1, 57.4)])
@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_fast_and_general_tensor_paths_agree(color, std):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    mean = (123.7, 116.3, 103.5)
    got = to_tensor(img, color=color, mean=mean, std=std)
    src = img[:, :, ::-1] if color == "rgb" else img
    want = ((src.astype(np.float64) - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["plain", "letterbox"])
def test_fused_resize_matches_two_step(mode):
    from models.preprocess import fit, image_to_tensor

    img = np.random.default_rng(2).integers(0, 256, (72, 128, 3), dtype=np.uint8)
    m, s = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    fused, t1 = image_to_tensor(img, width=64, height=48, mode=mode, color="rgb", mean=m, std=s)
    resized, t2 = fit(img, width=64, height=48, mode=mode)
    np.testing.assert_allclose(fused, to_tensor(resized, color="rgb", mean=m, std=s), atol=1e-5)
    assert t1 == t2


@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_tensor_equals_opencv_blob_exactly(color):
    """The per-plane path gives the very values cv2.dnn.blobFromImage gave before it (the
    reference models' counts stay as they were), resize included."""
    import cv2

    from models.preprocess import image_to_tensor

    img = np.random.default_rng(3).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    m, s = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    want = cv2.dnn.blobFromImage(img, 1 / 128, (64, 48), m, swapRB=color == "rgb", crop=False)
    got, _ = image_to_tensor(img, width=64, height=48, mode="plain", color=color, mean=m, std=s)
    np.testing.assert_array_equal(got, want)


def test_tensor_fills_the_buffer_given_and_skips_a_resize_to_the_same_size():
    from models.preprocess import image_to_tensor

    img = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buf = np.full((1, 3, 48, 64), np.nan, np.float32)
    m, s = (10.0, 20.0, 30.0), (2.0, 4.0, 8.0)
    got, t = image_to_tensor(img, width=64, height=48, mode="plain", color="rgb", mean=m, std=s,
                             out=buf)  # fmt: skip
    assert got is buf and not np.isnan(buf).any()
    assert (t.scale_x, t.scale_y) == (1.0, 1.0)
    np.testing.assert_allclose(buf, to_tensor(img, color="rgb", mean=m, std=s), rtol=1e-6)
    assert buf[0, 0, 5, 7] == pytest.approx((img[5, 7, 2] - 10.0) / 2.0)  # R first
