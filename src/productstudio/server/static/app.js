// ProductStudio web page: plain JavaScript over the server's /v1 API (no framework, no CDN).
// One photo: cut-out → colour variant → background + shadow; paint-to-erase on the photo;
// marketplace check and main image; download one or all. Several photos: a batch job with
// progress streamed from /v1/jobs/{id}/events.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#c0392b", "#1f3a93", "#1e8449", "#f1c40f", "#222222", "#ecf0f1"];
const state = { items: [], cur: null, job: null, brushOn: false, cursor: { x: 0, y: 0 } };
let renderTimer = null;
let busyCount = 0;

// -- talking to the server ----------------------------------------------------------------
function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-Api-Key": key } : {};
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body.errors && body.errors.length) return body.errors.map((e) => e.title).join(" ");
  } catch (_) { /* not JSON */ }
  if (response.status === 429) return "The server is busy. Wait a moment and try again.";
  if (response.status === 403) return "The server needs an API key: enter it under “API key”.";
  return `The server answered ${response.status} ${response.statusText}.`;
}

async function call(path, form, method = "POST") {
  let response;
  try {
    response = await fetch(path, { method, body: form, headers: authHeaders() });
  } catch (e) {
    throw new Error("Cannot reach the server. Is it still running?");
  }
  if (!response.ok) {
    const err = new Error(await errorText(response));
    err.status = response.status;
    throw err;
  }
  return response;
}

function setBusy(on) {
  busyCount += on ? 1 : -1;
  document.body.dataset.busy = busyCount > 0 ? "1" : "0";
  for (const el of document.querySelectorAll(".controls button, #batch-run")) {
    el.disabled = busyCount > 0;
  }
}

async function busy(label, fn) {
  $("errors").textContent = "";
  $("status").textContent = label + "…";
  setBusy(true);
  try {
    const out = await fn();
    $("status").textContent = "";
    return out;
  } catch (e) {
    $("status").textContent = "";
    $("errors").textContent = e.message || String(e);
    return undefined;
  } finally {
    setBusy(false);
  }
}

// -- photos -------------------------------------------------------------------------------
function stem(name) {
  return name.replace(/\.[^.]+$/, "") || "image";
}

function addFiles(fileList) {
  const files = Array.from(fileList).filter((f) => f.type.startsWith("image/") || /\.(heic|heif|avif)$/i.test(f.name));
  if (!files.length) {
    $("errors").textContent = "None of those files is an image. Choose JPEG, PNG, WebP, HEIC or AVIF photos.";
    return;
  }
  for (const file of files) {
    state.items.push({
      name: file.name, file, photo: file, photoURL: URL.createObjectURL(file),
      cutout: null, product: null, variants: {}, variant: "original",
      result: null, resultURL: null, mode: "edit", verdict: null,
    });
  }
  $("studio").hidden = false;
  $("batch").hidden = state.items.length < 2;
  drawThumbs();
  drawBatchTable();
  select(state.items[state.items.length - files.length]);
}

function drawThumbs() {
  const nav = $("thumbs");
  nav.textContent = "";
  state.items.forEach((item, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("aria-label", `Edit photo ${i + 1}: ${item.name}`);
    b.setAttribute("aria-current", item === state.cur ? "true" : "false");
    const img = document.createElement("img");
    img.src = item.resultURL || item.photoURL;
    img.alt = "";
    b.append(img);
    b.addEventListener("click", () => select(item));
    nav.append(b);
  });
}

async function select(item) {
  state.cur = item;
  drawThumbs();
  drawSwatches();
  $("verdict").textContent = "";
  $("before").src = item.photoURL;
  if (item.resultURL) $("after").src = item.resultURL;
  await $("before").decode().catch(() => {});
  // small photos are shown at most at twice their size (sharper than stretched to the column)
  $("stage").style.maxWidth = `${Math.max(360, 2 * ($("before").naturalWidth || 360))}px`;
  sizeBrush();
  if (!item.cutout) await cutOut(item);
  else if (!item.result) await render(item);
}

async function cutOut(item) {
  let failed = null;
  await busy(`Cutting out ${item.name}`, async () => {
    const form = new FormData();
    form.append("image", item.photo, item.name);
    let r;
    try {
      r = await call("/v1/cutout", form);
    } catch (e) {
      failed = e;
      throw e;
    }
    item.cutout = await r.blob();
    item.variants = { original: item.cutout };
    item.product = item.variants[item.variant] || item.cutout;
    if (r.headers.get("X-Unsure") === "true") {
      $("errors").textContent = `The cut-out of ${item.name} is unsure (${r.headers.get("X-Notes") || "low confidence"}). Check the edges.`;
    }
  });
  if (failed && failed.status >= 400 && failed.status < 500 && ![403, 429].includes(failed.status)) {
    // an unusable file leaves the list (and the batch); the error stays on screen
    $("errors").textContent = `${item.name}: ${failed.message}`;
    state.items = state.items.filter((it) => it !== item);
    if (state.cur === item) state.cur = null;
    $("batch").hidden = state.items.length < 2;
    $("studio").hidden = state.items.length === 0;
    drawThumbs();
    drawBatchTable();
    if (state.items.length && !state.cur) select(state.items[0]);
    return;
  }
  if (failed) return;
  if (item.cutout) {
    if (item.variant !== "original") await pickVariant(item.variant);
    else await render(item);
  }
}

function setResult(item, blob) {
  if (item.resultURL) URL.revokeObjectURL(item.resultURL);
  item.result = blob;
  item.resultURL = URL.createObjectURL(blob);
  if (item === state.cur) $("after").src = item.resultURL;
  drawThumbs();
}

async function render(item) {
  if (!item.product) return;
  await busy("Composing", async () => {
    const form = new FormData();
    form.append("product", item.product, "product.png");
    form.append("background", $("bg-transparent").checked ? "transparent" : $("bg-color").value);
    const shadow = $("shadow").value;
    if (shadow !== "none") {
      form.append("shadow", shadow);
      form.append("shadow_opacity", String($("shadow-opacity").value / 100));
    }
    form.append("format", "png");
    const r = await call("/v1/compose", form);
    item.mode = "edit";
    setResult(item, await r.blob());
  });
}

function scheduleRender() {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(() => state.cur && render(state.cur), 250);
}

// -- colour variants ----------------------------------------------------------------------
function drawSwatches() {
  const box = $("swatches");
  box.textContent = "";
  const item = state.cur;
  const colours = ["original", ...PALETTE, ...Object.keys(item ? item.variants : {}).filter((c) => c !== "original" && !PALETTE.includes(c))];
  for (const c of colours) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "swatch" + (c === "original" ? " original" : "");
    if (c !== "original") b.style.background = c;
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", item && item.variant === c ? "true" : "false");
    b.setAttribute("aria-label", c === "original" ? "Original colour" : `Recolour to ${c}`);
    b.title = b.getAttribute("aria-label");
    b.dataset.color = c;
    b.addEventListener("click", () => pickVariant(c));
    box.append(b);
  }
}

async function pickVariant(colour) {
  const item = state.cur;
  if (!item || !item.cutout) return;
  if (!item.variants[colour]) {
    await busy(`Recolouring to ${colour}`, async () => {
      const form = new FormData();
      form.append("image", item.cutout, "cutout.png");
      form.append("colors", colour);
      form.append("format", "png");
      const r = await call("/v1/recolour", form);
      item.variants[colour] = await r.blob();
    });
    if (!item.variants[colour]) return;
  }
  item.variant = colour;
  item.product = item.variants[colour];
  drawSwatches();
  await render(item);
}

// -- the erase brush ----------------------------------------------------------------------
function sizeBrush() {
  const img = $("before");
  const c = $("brush");
  if (!img.naturalWidth) return;
  if (c.width !== img.naturalWidth || c.height !== img.naturalHeight) {
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
  }
}

function brushRadius() {
  const c = $("brush");
  // the slider is in screen pixels; paint in image pixels
  return (Number($("brush-size").value) / 2) * (c.width / Math.max(1, c.clientWidth));
}

function paintAt(x, y) {
  const ctx = $("brush").getContext("2d");
  ctx.fillStyle = "rgba(255, 40, 90, 1)";
  ctx.beginPath();
  ctx.arc(x, y, brushRadius(), 0, Math.PI * 2);
  ctx.fill();
}

function toImage(e) {
  const c = $("brush");
  const rect = c.getBoundingClientRect();
  return { x: ((e.clientX - rect.left) / rect.width) * c.width, y: ((e.clientY - rect.top) / rect.height) * c.height };
}

function setBrush(on) {
  state.brushOn = on;
  const c = $("brush");
  c.classList.toggle("on", on);
  c.tabIndex = on ? 0 : -1;
  $("brush-toggle").setAttribute("aria-pressed", String(on));
  $("brush-toggle").textContent = on ? "Stop painting" : "Paint what to erase";
  $("cursor").hidden = !on;
  if (on) {
    sizeBrush();
    $("split").value = 100; // show the photo while painting on it
    updateSplit();
    state.cursor = { x: c.width / 2, y: c.height / 2 };
    moveCursor();
    c.focus();
    $("status").textContent = "Paint over what should disappear, then press “Erase painted area”.";
  }
}

function moveCursor() {
  const c = $("brush");
  const cur = $("cursor");
  const scale = c.clientWidth / Math.max(1, c.width);
  const r = brushRadius() * scale;
  cur.style.left = `${state.cursor.x * scale - r}px`;
  cur.style.top = `${state.cursor.y * scale - r}px`;
  cur.style.width = cur.style.height = `${2 * r}px`;
}

function maskIsEmpty() {
  const c = $("brush");
  if (!c.width) return true;
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i]) return false;
  return true;
}

async function erasePainted() {
  const item = state.cur;
  if (!item) return;
  if (maskIsEmpty()) {
    $("errors").textContent = "Nothing is painted yet: turn on the brush and paint over what should go.";
    return;
  }
  const mask = await new Promise((resolve) => $("brush").toBlob(resolve, "image/png"));
  const ok = await busy("Erasing", async () => {
    const form = new FormData();
    form.append("image", item.photo, item.name);
    form.append("mask", mask, "mask.png");
    form.append("dilate", "2");
    form.append("format", "png");
    const r = await call("/v1/erase", form);
    item.photo = await r.blob();
    URL.revokeObjectURL(item.photoURL);
    item.photoURL = URL.createObjectURL(item.photo);
    $("before").src = item.photoURL;
    item.cutout = null;
    item.variants = {};
    return true;
  });
  if (!ok) return;
  clearMask();
  setBrush(false);
  $("split").value = 50;
  updateSplit();
  await cutOut(item);
}

function clearMask() {
  const c = $("brush");
  c.getContext("2d").clearRect(0, 0, c.width, c.height);
}

// -- marketplace --------------------------------------------------------------------------
function showVerdict(report) {
  const box = $("verdict");
  box.textContent = "";
  const head = document.createElement("p");
  const badge = document.createElement("span");
  badge.className = `badge ${report.verdict}`;
  badge.textContent = report.verdict;
  head.append(`${report.preset}: `, badge);
  box.append(head);
  const list = document.createElement("ul");
  for (const r of report.results) {
    if (r.status === "pass") continue;
    const li = document.createElement("li");
    li.className = r.status;
    li.textContent = `${r.rule} (${r.status}): ${r.measured}${r.limit ? " — limit " + r.limit : ""}${r.message ? ". " + r.message : ""}`;
    list.append(li);
  }
  if (!list.children.length) list.append(Object.assign(document.createElement("li"), { textContent: "Every rule passes.", className: "pass" }));
  box.append(list);
  for (const note of report.notes || []) {
    box.append(Object.assign(document.createElement("p"), { textContent: note, className: "skip" }));
  }
}

async function checkResult(blob, name) {
  const form = new FormData();
  form.append("image", blob, name);
  form.append("preset", $("preset").value);
  const r = await call("/v1/check", form);
  const report = await r.json();
  showVerdict(report);
  return report;
}

// -- downloads ----------------------------------------------------------------------------
function extFor(blob) {
  return { "image/jpeg": "jpg", "image/webp": "webp", "application/zip": "zip" }[blob.type] || "png";
}

function saveBlob(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function downloadAll() {
  const files = [];
  const used = new Set();
  for (const item of state.items) {
    if (!item.result) continue;
    let name = `${stem(item.name)}.${extFor(item.result)}`;
    for (let i = 2; used.has(name); i++) name = `${stem(item.name)}_${i}.${extFor(item.result)}`;
    used.add(name);
    files.push({ name, data: new Uint8Array(await item.result.arrayBuffer()) });
  }
  if (!files.length) {
    $("errors").textContent = "There is no result to download yet.";
    return;
  }
  saveBlob(window.makeZip(files), "productstudio.zip");
}

// -- batch --------------------------------------------------------------------------------
function drawBatchTable(rows) {
  const body = $("batch-table").querySelector("tbody");
  body.textContent = "";
  const list = rows || state.items.map((it) => ({ name: it.name, status: "waiting" }));
  for (const row of list) {
    const tr = document.createElement("tr");
    const cells = [row.name, row.status, row.verdict || "", row.message || ""];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2 && row.verdict) td.className = row.verdict.split(":")[0];
      tr.append(td);
    });
    const td = document.createElement("td");
    if (row.output && state.job) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Download";
      b.setAttribute("aria-label", `Download the result for ${row.name}`);
      b.addEventListener("click", () => fetchDownload(`/v1/jobs/${state.job}/files/${row.output}`, row.output));
      td.append(b);
    }
    tr.append(td);
    body.append(tr);
  }
}

async function fetchDownload(path, filename) {
  await busy("Downloading", async () => {
    const r = await call(path, undefined, "GET");
    saveBlob(await r.blob(), filename);
  });
}

async function followEvents(id) {
  const r = await call(`/v1/jobs/${id}/events`, undefined, "GET");
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
      if (!data) continue;
      last = JSON.parse(data);
      const p = last.progress || {};
      $("batch-progress").max = Math.max(1, p.total || 1);
      $("batch-progress").value = p.done || 0;
      $("batch-status").textContent = `${last.status}: ${p.done || 0} of ${p.total || "?"} — ${last.message}`;
    }
  }
  return last;
}

async function runBatch() {
  if (!state.items.length) return;
  const form = new FormData();
  for (const item of state.items) form.append("images", item.photo, item.name);
  form.append("preset", $("batch-preset").value);
  $("batch-zip").hidden = true;
  $("errors").textContent = "";
  setBusy(true);
  $("batch-cancel").disabled = false;
  try {
    const r = await call("/v1/jobs", form);
    const job = await r.json();
    state.job = job.id;
    drawBatchTable(state.items.map((it) => ({ name: it.name, status: "queued" })));
    const last = await followEvents(job.id);
    const final = await (await call(`/v1/jobs/${job.id}`, undefined, "GET")).json();
    if (final.items) drawBatchTable(final.items.map((it, i) => ({ ...it, name: state.items[i] ? state.items[i].name : it.name })));
    if (final.status === "done") {
      const a = $("batch-zip");
      a.hidden = false;
      a.href = "#";
      a.onclick = (e) => { e.preventDefault(); fetchDownload(`/v1/jobs/${job.id}/result`, `productstudio-batch.zip`); };
    } else if (final.status !== "cancelled") {
      $("errors").textContent = `The batch stopped: ${final.message}`;
    }
    return last;
  } catch (e) {
    $("errors").textContent = e.message || String(e);
    return undefined;
  } finally {
    $("batch-cancel").disabled = true;
    setBusy(false);
  }
}

async function cancelBatch() {
  if (!state.job) return;
  try {
    await call(`/v1/jobs/${state.job}/cancel`, undefined, "POST");
    $("batch-status").textContent = "Cancelled.";
  } catch (e) {
    $("errors").textContent = e.message;
  }
}

// -- wiring -------------------------------------------------------------------------------
function updateSplit() {
  $("after-clip").style.clipPath = `inset(0 0 0 ${$("split").value}%)`;
}

async function loadInfo() {
  $("api-key").value = localStorage.getItem("productstudio-key") || "";
  try {
    const r = await call("/v1/info", undefined, "GET");
    const info = await r.json();
    for (const sel of [$("preset"), $("batch-preset")]) {
      sel.textContent = "";
      for (const p of info.presets) sel.append(new Option(p, p, p === "amazon-main", p === "amazon-main"));
    }
  } catch (e) {
    $("errors").textContent = e.message;
  }
}

function wire() {
  document.body.dataset.busy = "0";
  const drop = $("drop");
  $("files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  $("api-key").addEventListener("change", () => { localStorage.setItem("productstudio-key", $("api-key").value.trim()); loadInfo(); });
  $("split").addEventListener("input", updateSplit);
  for (const id of ["bg-color", "bg-transparent", "shadow", "shadow-opacity"]) $(id).addEventListener("change", scheduleRender);
  $("add-color").addEventListener("click", () => pickVariant($("custom-color").value));
  $("brush-toggle").addEventListener("click", () => setBrush(!state.brushOn));
  $("erase").addEventListener("click", erasePainted);
  $("clear-mask").addEventListener("click", clearMask);
  const c = $("brush");
  let painting = false;
  c.addEventListener("pointerdown", (e) => { if (!state.brushOn) return; painting = true; c.setPointerCapture(e.pointerId); const p = toImage(e); paintAt(p.x, p.y); });
  c.addEventListener("pointermove", (e) => { if (!state.brushOn) return; state.cursor = toImage(e); moveCursor(); if (painting) paintAt(state.cursor.x, state.cursor.y); });
  c.addEventListener("pointerup", () => { painting = false; });
  c.addEventListener("keydown", (e) => {
    if (!state.brushOn) return;
    const step = (e.shiftKey ? 40 : 10) * (c.width / Math.max(1, c.clientWidth));
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      state.cursor.x = Math.min(c.width, Math.max(0, state.cursor.x + moves[e.key][0]));
      state.cursor.y = Math.min(c.height, Math.max(0, state.cursor.y + moves[e.key][1]));
      moveCursor();
    } else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      paintAt(state.cursor.x, state.cursor.y);
    } else if (e.key === "Escape") {
      setBrush(false);
    }
  });
  $("check").addEventListener("click", () => state.cur && state.cur.result && busy("Checking", () => checkResult(state.cur.result, state.cur.name)));
  $("main-image").addEventListener("click", async () => {
    const item = state.cur;
    if (!item) return;
    await busy(`Making the ${$("preset").value} main image`, async () => {
      const form = new FormData();
      form.append("image", item.photo, item.name);
      form.append("preset", $("preset").value);
      const r = await call("/v1/main-image", form);
      item.mode = "main";
      setResult(item, await r.blob());
      await checkResult(item.result, item.name);
    });
  });
  $("download").addEventListener("click", () => {
    const item = state.cur;
    if (!item || !item.result) { $("errors").textContent = "There is no result to download yet."; return; }
    saveBlob(item.result, `${stem(item.name)}_productstudio.${extFor(item.result)}`);
  });
  $("download-zip").addEventListener("click", downloadAll);
  $("batch-run").addEventListener("click", runBatch);
  $("batch-cancel").addEventListener("click", cancelBatch);
  window.addEventListener("resize", () => state.brushOn && moveCursor());
  updateSplit();
  drawSwatches();
  loadInfo();
}

document.addEventListener("DOMContentLoaded", wire);
