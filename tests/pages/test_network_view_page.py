"""The whole-network view (app_pages/network_view.py) under AppTest, on the shipped digit model and an MNIST test
image: every layer in the strip, then one value opened up: after a change of layer, channel and position, the
numbers on the page are those of ``model_store.network_view.explain_value`` and of the layer's own output.

The view is not on a page yet, so the test runs it from a tiny app of its own whose navigation also has the
Convolution page (the view links to it): the app sits in the test's folder beside a link to ``app_pages``, as
``app.py`` sits beside it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages import network_value  # noqa: F401  (imported here first: the app then uses these very modules)
from model_store import network_view as nv
from model_store.model_input import to_float
from model_store.store import DEFAULTS_DIR

ROOT = Path(__file__).resolve().parents[2]
MODEL = "convscope-digits"
SCRIPT = '''
import streamlit as st


def view():
    from app_pages import network_view
    from model_store.model_input import to_float
    from training.samples import test_images

    image = to_float(test_images("mnist").images[0])
    network_view.show("convscope-digits", image, [str(i) for i in range(10)], key="net")


st.navigation([st.Page(view, title="Network", default=True),
               st.Page("app_pages/convolution.py", title="Convolution")]).run()
'''
BOLD = re.compile(r"\*\*(-?\d+\.\d{4})\*\*")


@pytest.fixture
def network_app(monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))  # the shipped models are always there
    st.cache_resource.clear()
    st.cache_data.clear()
    (tmp_path / "app_pages").symlink_to(ROOT / "app_pages", target_is_directory=True)
    (tmp_path / "network_app.py").write_text(SCRIPT, encoding="utf-8")
    at = AppTest.from_file(str(tmp_path / "network_app.py"), default_timeout=180)
    at.session_state["lang"] = "en"
    yield at.run()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def expected():
    """The pure function's reading of the same image with the same model, loaded apart from the app's."""
    import keras

    from training.samples import test_images

    model = keras.saving.load_model(DEFAULTS_DIR / f"{MODEL}.keras", compile=False)
    reading = nv.read_network(model, to_float(test_images("mnist").images[0]))
    return model, reading


def test_every_layer_is_in_the_strip(network_app, expected):
    at = network_app
    assert not at.exception, at.exception
    strips = [h.proto.body for h in at.get("html") if "data-testid='network-strip'" in h.proto.body]
    assert len(strips) == 1
    model, reading = expected
    shown = re.findall(r"data-layer='([^']*)' data-kind='(\w+)'", strips[0])
    assert shown == [(layer.name, layer.kind) for layer in reading.layers]
    assert [name for name, _ in shown[1:]] == [layer.name for layer in model.layers]
    assert "data-testid='probabilities'" in strips[0]  # the softmax as the class bars
    assert "×".join(map(str, reading.layer("conv3").shape)) in strips[0]


def check_tables(at, e: nv.ValueExplained, shown: int) -> None:
    """The patch, kernel and products tables of input channel ``shown``, and the sums of every input channel."""
    patch, kernel, products, sums = (df.value for df in at.dataframe)
    np.testing.assert_allclose(patch.to_numpy(float), e.patch[:, :, shown].round(3), atol=1e-3)
    np.testing.assert_allclose(kernel.to_numpy(float), e.kernel[:, :, shown].round(3), atol=1e-3)
    np.testing.assert_allclose(products.to_numpy(float), e.products[:, :, shown].round(3), atol=1e-3)
    np.testing.assert_allclose(sums.iloc[:, 1].to_numpy(float), e.channel_sums.round(4), atol=2e-4)


def test_a_chosen_value_is_explained_with_the_layers_own_numbers(network_app, expected):
    at = network_app
    at.selectbox(key="net_layer").set_value("conv3").run()
    at.number_input(key="net_channel_conv3").set_value(5).run()
    at.slider(key="net_row_conv3").set_value(6)
    at.slider(key="net_col_conv3").set_value(9).run()
    assert not at.exception, at.exception
    model, reading = expected
    e = nv.explain_value(model, reading, "conv3", 5, 6, 9)
    assert e.matches and [step.name for step in e.then] == ["conv3_bn", "conv3_relu"]

    steps = at.markdown[-1].value  # the numbered sum, BatchNorm and ReLU
    sums, bn, relu = (float(x) for x in BOLD.findall(steps))
    assert sums == pytest.approx(e.pre_activation, abs=2e-4)
    assert bn == pytest.approx(e.then[0].value, abs=2e-4)
    assert relu == pytest.approx(float(reading.layer("conv3_relu").values[6, 9, 5]), abs=2e-4)
    [success] = at.success
    value = float(BOLD.search(success.value).group(1))
    assert "conv3\\_relu at row 6, column 9, channel 5" in success.value
    assert value == pytest.approx(float(reading.layer("conv3_relu").values[6, 9, 5]), abs=2e-4)

    picker = at.selectbox(key="net_in_conv3_5")  # which input channel's patch, kernel and products are shown
    assert picker.options[0] == picker.format_func(int(np.argmax(np.abs(e.channel_sums))))  # the one that adds most first
    check_tables(at, e, picker.value)
    assert len(at.dataframe[3].value) == 32  # the sums: conv3 reads the 32 channels of pool1
    picker.set_value(17).run()
    check_tables(at, e, 17)

    [link] = at.get("page_link")
    assert link.proto.page == "convolution"  # the Convolution page's url path in the navigation
    assert link.value == "How one convolution works, step by step"


def test_a_patch_in_the_padding_of_the_first_layer(network_app, expected):
    at = network_app
    at.number_input(key="net_channel_conv1").set_value(3).run()
    at.slider(key="net_row_conv1").set_value(0)
    at.slider(key="net_col_conv1").set_value(27).run()
    assert not at.exception, at.exception
    model, reading = expected
    e = nv.explain_value(model, reading, "conv1", 3, 0, 27)
    assert not at.get("selectbox")[1:], "one input channel: nothing to choose"
    assert any("reaches into the padding" in c.value for c in at.caption)
    patch = at.dataframe[0].value.to_numpy(float)
    np.testing.assert_allclose(patch, e.patch[:, :, 0].round(3), atol=1e-3)
    assert (patch[0] == 0).all() and (patch[:, 2] == 0).all()  # the row above and the column right of the image
    value = float(BOLD.search(at.success[0].value).group(1))
    assert value == pytest.approx(float(reading.layer("conv1_relu").values[0, 27, 3]), abs=2e-4)
