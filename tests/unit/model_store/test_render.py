"""Pictures of inputs and feature maps: shapes, colour scales, and the PNG data URLs the pages send."""

import base64
import io

import numpy as np
from PIL import Image

from model_store import render


def decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_png_data_url_is_lossless():
    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode(render.png_data_url(rgb)), rgb)


def test_png_data_url_takes_grey_images():
    grey = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(decode(render.png_data_url(grey)), grey)


def test_enlarged_channel_keeps_the_layer_scale():
    values = np.array([[0.0, 1.0], [2.0, 4.0]])
    big = render.enlarge_channel(values, low=0.0, high=4.0, size=20)
    assert big.shape == (20, 20, 3)
    cmap = render.colormap()
    np.testing.assert_array_equal(big[13, 13], cmap[255])  # the layer's largest value is the brightest colour
    np.testing.assert_array_equal(big[3, 3], cmap[0])
    # On a wider scale (another channel of the layer is brighter) the same value is darker.
    wider = render.enlarge_channel(values, low=0.0, high=8.0, size=20)
    assert wider[13, 13].tolist() != big[13, 13].tolist()


def test_enlarged_channel_draws_lines_between_big_pixels_only():
    values = np.ones((4, 4))
    assert (render.enlarge_channel(values, 0, 1, size=40)[::10, :, :] == 40).all()  # 10 px per pixel: lines
    assert not (render.enlarge_channel(values, 0, 1, size=8)[::2, :, :] == 40).all()  # 2 px per pixel: none


def test_tiles_hold_every_channel_on_one_scale():
    maps = np.zeros((3, 3, 5))
    maps[..., 4] = 1.0
    tiles = render.tile_channels(maps, scale=2, gap=1, columns=5)
    assert tiles.shape == (6, 5 * 6 + 4, 3)
    cmap = render.colormap()
    np.testing.assert_array_equal(tiles[0, 0], cmap[0])
    np.testing.assert_array_equal(tiles[0, -1], cmap[255])


def test_legend_runs_from_low_to_high():
    bar = render.legend_bar(-1.0, 1.0, width=64, height=4)
    cmap = render.colormap()
    assert bar.shape == (4, 64, 3)
    np.testing.assert_array_equal(bar[0, 0], cmap[0])
    np.testing.assert_array_equal(bar[0, -1], cmap[255])
