// The Draw page's result panel (app_pages/panel.py): draws one payload of model_store/panel.py with plain DOM and
// canvases. The DOM is built when the panel's shape changes (language, the naive view, the layers) and otherwise only
// updated in place: a stroke changes texts, bar widths and canvas pixels, nothing more.
// This file is the panel's code, installed once per page (panel.install); the panel element itself, which every
// stroke updates, carries a few lines that hand its data to `draw` below (panel.LOADER), so that the code does not
// travel with every stroke. Lines starting with // and indentation are stripped before this file is sent.

// viridis, as model_store/render.py colours maps: 17 stops, interpolated to 256 entries
const STOPS = "44015448186a472d7b4240863b528b33638d2c728e26828e21918c1fa08828ae803fbc735ec96284d44baddc30d8e219fde725";
const LUT = new Uint8Array(768);
for (let i = 0; i < 256; i++) {
  const x = i / 255 * 16, k = Math.min(15, Math.floor(x)), f = x - k;
  for (let j = 0; j < 3; j++) {
    const a = parseInt(STOPS.substr(k * 6 + j * 2, 2), 16), b = parseInt(STOPS.substr(k * 6 + 6 + j * 2, 2), 16);
    LUT[i * 3 + j] = Math.round(a + (b - a) * f);
  }
}
const MEMORY = window.__convscopePanel || (window.__convscopePanel = {channels: {}, waiting: new Set()});

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function text(e, value) {
  if (e.textContent !== value) e.textContent = value;
}

// Markdown's **bold** only, as text nodes: names from uploaded models can never become markup
function rich(e, value) {
  if (e.__text === value) return;
  e.__text = value;
  e.replaceChildren(...value.split("**").map((part, i) => (i % 2 ? el("strong", {}, part) : part)));
}

function attr(e, name, value) {
  if (value === null || value === undefined) e.removeAttribute(name);
  else if (e.getAttribute(name) !== String(value)) e.setAttribute(name, value);
}

function unpack(bytes) {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const body = bytes.subarray(4 + n);
  const json = new TextDecoder().decode(bytes.subarray(4, 4 + n));
  return JSON.parse(json, (k, v) => (v && v.$bytes ? body.subarray(v.$bytes[0], v.$bytes[1]) : v));
}

function same(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// values: h*w bytes, row by row, drawn `scale` times larger (the browser enlarges the small picture, pixels kept
// sharp); `line`: grey of the lines between pixels, or null; `lut`: the colour scale, or null for grey
const SMALL = document.createElement("canvas"), DECODE = document.createElement("canvas");
function paint(canvas, values, h, w, scale, line, lut) {
  SMALL.width = w;
  SMALL.height = h;
  const small = SMALL.getContext("2d"), image = small.createImageData(w, h), d = image.data;
  for (let i = 0, j = 0; i < h * w; i++, j += 4) {
    const v = values[i];
    if (lut) { d[j] = lut[v * 3]; d[j + 1] = lut[v * 3 + 1]; d[j + 2] = lut[v * 3 + 2]; }
    else d[j] = d[j + 1] = d[j + 2] = v;
    d[j + 3] = 255;
  }
  small.putImageData(image, 0, 0);
  const W = w * scale, H = h * scale;
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(SMALL, 0, 0, W, H);
  if (line === null) return;
  ctx.fillStyle = `rgb(${line},${line},${line})`;
  for (let x = 0; x < W; x += scale) ctx.fillRect(x, 0, 1, H);
  for (let y = 0; y < H; y += scale) ctx.fillRect(0, y, W, 1);
}

// every channel of the open layer in its grid, one pixel apart, on the layer's colour scale
function paintGrid(canvas, tiles, L) {
  const W = L.cols * (L.w + 1) - 1, H = L.rows * (L.h + 1) - 1, TW = L.cols * L.w;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(W, H), d = image.data;
  d.fill(40);
  for (let y = 0; y < H; y++) {
    const row = (y / (L.h + 1)) | 0;
    if (y % (L.h + 1) === L.h) continue;
    for (let x = 0; x < W; x++) {
      const col = (x / (L.w + 1)) | 0;
      if (x % (L.w + 1) === L.w || row * L.cols + col >= L.c) continue;
      const i = (y * W + x) * 4;
      const v = tiles[(y - row) * TW + x - col];
      d[i] = LUT[v * 3]; d[i + 1] = LUT[v * 3 + 1]; d[i + 2] = LUT[v * 3 + 2];
    }
  }
  for (let i = 3; i < d.length; i += 4) d[i] = 255;
  ctx.putImageData(image, 0, 0);
  canvas.style.width = W * Math.max(1, Math.floor(84 / L.h)) + "px";
}

function channelOf(tiles, L, k) {
  const out = new Uint8Array(L.h * L.w), TW = L.cols * L.w;
  const top = Math.floor(k / L.cols) * L.h, left = (k % L.cols) * L.w;
  for (let y = 0; y < L.h; y++) out.set(tiles.subarray((top + y) * TW + left, (top + y) * TW + left + L.w), y * L.w);
  return out;
}

function build(root, p, s) {
  const e = s.e = {};
  e.label = el("div", {"data-testid": "prediction", class: "cs-label"});
  e.confidence = el("div", {"data-testid": "confidence"});
  e.verdict = p.verdict === null ? null : el("div", {"data-testid": "verdict", class: "cs-verdict"});
  e.fills = p.bars.names.map(() => el("span", {class: "cs-fill"}));
  e.values = p.bars.names.map(() => el("span", {class: "cs-value"}));
  e.rows = p.bars.names.map((name, i) => el("li", {"data-class": i}, el("span", {class: "cs-name"}, name),
                                             el("span", {class: "cs-track", "aria-hidden": "true"}, e.fills[i]), e.values[i]));
  e.bars = el("ul", {"data-testid": "probabilities", class: "cs-bars", tabindex: "0"}, ...e.rows);
  e.seesTitle = el("h3", {});
  e.views = p.sees.views.map((view) => {
    const canvas = el("canvas", {role: "img"}), caption = el("figcaption", {});
    const reads = "reads" in view ? el("p", {"data-testid": `${view.id}-prediction`}) : null;
    const figure = el("figure", {"data-testid": "model-input", "data-view": view.id}, canvas, caption);
    return {canvas, caption, reads, box: el("div", {class: "cs-view"}, figure, ...(reads ? [reads] : []))};
  });
  e.mapsTitle = el("h3", {});
  e.mapsCaption = el("p", {class: "cs-caption"});
  const answer = el("section", {class: "cs-answer"}, e.label, e.confidence, ...(e.verdict ? [e.verdict] : []), e.bars);
  const sees = el("section", {class: "cs-sees"}, e.seesTitle, el("div", {class: "cs-views"}, ...e.views.map((v) => v.box)));
  const maps = el("section", {class: "cs-maps"}, e.mapsTitle, e.mapsCaption);
  if (p.maps.layers.length) buildMaps(maps, p, s);
  else maps.append(e.none = el("p", {class: "cs-caption"}));
  s.sections = [answer, sees, maps];
  root.replaceChildren(...s.sections);
}

function buildMaps(maps, p, s) {
  const e = s.e, id = "cs-" + Math.random().toString(36).slice(2);
  e.tabs = p.maps.layers.map((label, i) => el("button", {role: "tab", type: "button", id: `${id}-${i}`,
                                                        "aria-controls": `${id}-panel`}, label));
  e.tablist = el("div", {role: "tablist", class: "cs-tabs"}, ...e.tabs);
  e.tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => open(s, i));
    tab.addEventListener("keydown", (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const next = (i + step + e.tabs.length) % e.tabs.length;
      e.tabs[next].focus();
      open(s, next);
    });
  });
  e.layerText = el("p", {});
  e.grid = el("canvas", {role: "img", class: "cs-grid"});
  e.gridCaption = el("figcaption", {});
  e.legend = el("canvas", {class: "cs-legend", width: 256, height: 1, "aria-hidden": "true"});
  e.scale = el("figcaption", {});
  e.slider = el("input", {type: "range", min: 0, step: 1, id: `${id}-channel`});
  e.sliderLabel = el("label", {for: `${id}-channel`});
  e.sliderValue = el("output", {for: `${id}-channel`});
  e.channel = el("canvas", {role: "img", class: "cs-channel"});
  e.channelCaption = el("figcaption", {});
  e.panel = el("div", {role: "tabpanel", id: `${id}-panel`, tabindex: "0"}, e.layerText,
               el("figure", {}, e.grid, e.gridCaption), el("figure", {}, e.legend, e.scale),
               el("div", {class: "cs-slider"}, e.sliderLabel, e.slider, e.sliderValue),
               el("figure", {}, e.channel, e.channelCaption));
  const ctx = e.legend.getContext("2d"), bar = ctx.createImageData(256, 1);
  for (let i = 0; i < 256; i++) bar.data.set([LUT[i * 3], LUT[i * 3 + 1], LUT[i * 3 + 2], 255], i * 4);
  ctx.putImageData(bar, 0, 0);
  e.slider.addEventListener("input", () => pick(s, Number(e.slider.value)));
  e.grid.addEventListener("click", (event) => {
    const L = s.layer, r = e.grid.getBoundingClientRect();
    if (!L) return;
    const x = (event.clientX - r.left) / r.width * e.grid.width, y = (event.clientY - r.top) / r.height * e.grid.height;
    const k = Math.floor(y / (L.h + 1)) * L.cols + Math.floor(x / (L.w + 1));
    if (k < L.c) pick(s, k);
  });
  maps.append(e.tablist, e.panel);
}

function selectTab(s, index) {
  s.e.tabs.forEach((tab, i) => {
    attr(tab, "aria-selected", i === index ? "true" : "false");
    attr(tab, "tabindex", i === index ? "0" : "-1");
  });
  attr(s.e.panel, "aria-labelledby", s.e.tabs[index].id);
}

function open(s, index) {
  if (index === s.open) return;
  selectTab(s, index);
  attr(s.e.panel, "aria-busy", "true");
  s.open = index;
  s.set("layer", index);
}

function pick(s, k) {
  const L = s.layer, e = s.e;
  if (!L) return;
  k = Math.max(0, Math.min(L.c - 1, k));
  MEMORY.channels[L.name] = k;
  if (Number(e.slider.value) !== k) e.slider.value = k;
  text(e.sliderValue, String(k));
  const caption = L.channel.replace("{channel}", k).replace("{low}", L.lows[k].toFixed(2)).replace("{high}", L.highs[k].toFixed(2));
  text(e.channelCaption, caption);
  attr(e.channel, "aria-label", caption);
  if (s.tiles) paint(e.channel, channelOf(s.tiles, L, k), L.h, L.w, Math.max(1, Math.floor(280 / Math.max(L.h, L.w))),
                     Math.floor(280 / Math.max(L.h, L.w)) >= 6 ? 40 : null, LUT);
}

function update(root, p, s) {
  const e = s.e;
  root.classList.toggle("cs-large", p.large);
  text(e.label, p.label);
  text(e.confidence, p.confidence + p.unsure);
  if (e.verdict) text(e.verdict, p.verdict);
  attr(e.bars, "data-predicted", p.predicted);
  attr(e.bars, "data-key", p.bars.key);
  attr(e.bars, "aria-label", p.bars.label);
  p.bars.names.forEach((name, i) => {
    const row = e.rows[i], value = p.bars.p[i];
    attr(row, "data-p", value.toFixed(6));
    attr(row, "data-mark", i === p.predicted ? "predicted" : i === p.true ? "true" : null);
    attr(row, "title", `${name}: ${(value * 100).toFixed(2)}%`);
    attr(row, "aria-label", `${name}: ${p.bars.text[i]}`);
    e.fills[i].style.width = (Math.max(0, Math.min(1, value)) * 100).toFixed(2) + "%";
    text(e.values[i], p.bars.text[i]);
  });
  text(e.seesTitle, p.sees.title);
  p.sees.views.forEach((view, i) => {
    const v = e.views[i];
    paint(v.canvas, view.pixels, 28, 28, 7, 70, null);
    text(v.caption, view.caption);
    attr(v.canvas, "aria-label", view.caption);
    if (v.reads) rich(v.reads, view.reads);
  });
  text(e.mapsTitle, p.maps.title);
  text(e.mapsCaption, p.maps.caption);
  if (e.none) text(e.none, p.maps.none);
  if (p.maps.layer) updateMaps(p, s);
  e.label.setAttribute("data-input", p.input);
}

function updateMaps(p, s) {
  const e = s.e, L = p.maps.layer;
  attr(e.tablist, "aria-label", p.maps.tabs);
  s.open = p.maps.open;
  selectTab(s, s.open);
  attr(e.panel, "aria-busy", null);
  rich(e.layerText, L.text);
  text(e.gridCaption, L.all);
  attr(e.grid, "aria-label", L.all);
  text(e.scale, L.scale);
  text(e.sliderLabel, p.maps.enlarge);
  attr(e.slider, "max", L.c - 1);
  s.layer = L;
  const channel = Math.min(L.c - 1, MEMORY.channels[L.name] || 0), seq = ++s.seq;
  if (s.png && same(s.png, L.png)) {
    pick(s, channel);
    return;
  }
  s.tiles = null;
  pick(s, channel);
  if (!L.png) return;
  const copy = L.png.slice();
  createImageBitmap(new Blob([copy], {type: "image/png"}), {colorSpaceConversion: "none", premultiplyAlpha: "none"})
    .then((bitmap) => {
      if (seq !== s.seq) return bitmap.close();
      DECODE.width = bitmap.width;
      DECODE.height = bitmap.height;
      const ctx = DECODE.getContext("2d", {willReadFrequently: true});
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data, tiles = new Uint8Array(rgba.length / 4);
      bitmap.close();
      for (let i = 0; i < tiles.length; i++) tiles[i] = rgba[i * 4];
      s.tiles = tiles;
      s.png = copy;
      paintGrid(e.grid, tiles, L);
      pick(s, Math.min(L.c - 1, MEMORY.channels[L.name] || 0));
    })
    .catch(() => {});  // a picture that cannot be decoded stays as it was; the texts are right
}

function render(root, s, bytes, p) {
  s.bytes = bytes;
  if (p && "message" in p) {
    // no reading: the hint on an empty canvas, or why a drawing is not read
    s.note = s.note || el("p", {"data-testid": "panel-message", role: "status"});
    s.note.className = `cs-message cs-${p.kind}`;
    text(s.note, p.message);
    root.replaceChildren(s.note);
    s.attached = false;
    s.seq++;
    return;
  }
  if (!p) {
    // an empty canvas: the panel is empty, its DOM kept aside for the next drawing
    root.replaceChildren();
    s.attached = false;
    s.seq++;
    return;
  }
  const shape = JSON.stringify([p.bars.names, p.verdict === null, p.sees.views.map((v) => [v.id, "reads" in v]),
                                p.maps.layers]);
  if (shape !== s.shape) {
    build(root, p, s);
    s.shape = shape;
    s.png = s.tiles = null;
  } else if (!s.attached) {
    root.replaceChildren(...s.sections);
  }
  s.attached = true;
  update(root, p, s);
}

// A reading from the page's run. After strokes answered by the stroke route (`answer`), the runs of those strokes
// follow: the run of an earlier one is not drawn over a later answer. `data-synced` says whether the page's run has
// caught up with what the panel shows (the browser tests wait for it).
function draw(component) {
  const root = component.parentElement.querySelector(".cs-panel");
  if (!root) return;
  const s = root.__panel || (root.__panel = {seq: 0, answers: []});
  s.set = component.setStateValue;
  MEMORY.root = root;
  const bytes = component.data instanceof Uint8Array ? component.data : null;
  if (s.fromRun !== undefined && same(bytes, s.fromRun)) return;
  s.fromRun = bytes;
  const p = bytes && bytes.length ? unpack(bytes) : null, input = p ? p.input : "", at = s.answers.lastIndexOf(input);
  if (input === s.pressed) {
    s.pressed = undefined;
    root.dataset.synced = "1";
  }
  if (at >= 0 && at < s.answers.length - 1) {
    s.answers.splice(0, at + 1);
    return;
  }
  s.answers = [];
  if (!same(bytes, s.bytes)) render(root, s, bytes, p);
}

// A stroke answered as `input` ("" for no digit) is sent to the page: its run is awaited (`data-synced`).
function expectRun(input) {
  const s = MEMORY.root && MEMORY.root.__panel;
  if (!s) return;
  s.pressed = input;
  MEMORY.root.dataset.synced = "0";
}

// The drawing on the canvas a stroke ended on (its upper, interactive layer `upper`), as a PNG at the canvas' size on
// the page: what the canvas component itself would send to the page's run (a dense screen's canvas has more pixels).
const SNAP = document.createElement("canvas");
function snapshot(upper) {
  const lower = upper.parentElement && upper.parentElement.querySelector("canvas.lower-canvas");
  if (!lower) return null;
  SNAP.width = upper.clientWidth || lower.width;
  SNAP.height = upper.clientHeight || lower.height;
  const ctx = SNAP.getContext("2d");
  ctx.clearRect(0, 0, SNAP.width, SNAP.height);
  ctx.drawImage(lower, 0, 0, SNAP.width, SNAP.height);
  return Uint8Array.from(atob(SNAP.toDataURL("image/png").split(",")[1]), (c) => c.charCodeAt(0));
}

// the inputs the route answered since the page's last run, newest last (a few: the runs of older ones are dropped)
function remember(s, input) {
  s.answers.push(input);
  if (s.answers.length > 20) s.answers.shift();
}

// A stroke's answer from the server's stroke route (app_pages/stroke_answer.py), drawn at once. Resolves to the
// reading's input fingerprint, "" for a message (the hint, or why the drawing is not read), or null when there is
// no answer. `live`: the route and the page's settings; the open layer is the panel's own.
async function answer(upper, live) {
  const root = MEMORY.root;
  if (!root || !root.isConnected || !live) return null;
  const s = root.__panel, png = snapshot(upper);
  if (!png) return null;
  const query = new URLSearchParams({model: live.model, lang: live.lang, layer: String(s.open || 0),
                                     compare: live.compare ? "1" : "0", large: live.large ? "1" : "0",
                                     token: live.token});
  const response = await fetch(`${live.route}?${query}`, {method: "POST", body: png,
                                                          headers: {"Content-Type": "image/png"}});
  if (response.status !== 200) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (!root.isConnected) return null;
  const p = unpack(bytes);
  remember(s, p.input);
  if (!same(bytes, s.bytes)) render(root, s, bytes, p);
  return p.input;
}

// One made-up reading drawn off the page while the browser is idle after loading it: the first stroke then runs
// code that is already compiled, on canvases already set up.
function warm() {
  const names = Array.from({length: 10}, (_, i) => String(i)), L = {
    name: "", h: 4, w: 4, c: 2, rows: 1, cols: 2, low: 0, high: 1, png: null, lows: [0, 0], highs: [1, 1], text: "",
    all: "", scale: "", channel: ""};
  const p = {
    input: "", large: false, label: "", predicted: 0, true: null, confidence: "", unsure: "", verdict: null,
    bars: {key: "", label: "", names, p: names.map(() => 0.1), text: names.map(() => "")},
    sees: {title: "", views: [{id: "mnist_style", caption: "", pixels: new Uint8Array(784)}]},
    maps: {title: "", caption: "", none: "", tabs: "", enlarge: "", layers: [""], open: 0, layer: L}};
  const s = {seq: 0, set: () => {}}, root = document.createElement("div");
  build(root, p, s);
  update(root, p, s);
  s.tiles = new Uint8Array(32);
  paintGrid(s.e.grid, s.tiles, L);
  pick(s, 1);
}

// the panel's code is here now: draw the panels that arrived before it
export default function () {
  if (MEMORY.draw === draw) return;
  MEMORY.draw = draw;
  Object.assign(MEMORY, {answer, expectRun});
  for (const component of MEMORY.waiting) draw(component);
  MEMORY.waiting.clear();
  if (window.requestIdleCallback) requestIdleCallback(warm, {timeout: 3000});
  else setTimeout(warm, 1000);
}
