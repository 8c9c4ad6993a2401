// vigil's page: plain JavaScript, no build step, no CDN. Every request goes to this server.
"use strict";

const POLL_SNAPSHOT_MS = 1000; // each visible tile's image (a browser has 6 connections a host)
const POLL_STATUS_MS = 2000; // the cameras' figures
const POLL_SYSTEM_MS = 5000;

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (response.status === 401) {
    location.href = "/login"; // no session, or it expired: never a page of broken tiles
    throw new ApiError(401, null);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof body === "object" ? body : null);
  return body;
}

const state = { view: "live", cameras: [], tiles: new Map(), timers: [], large: null, me: null };
const ADMIN_VIEWS = ["cameras", "system", "users"];

// ---- views and visibility ------------------------------------------------------------------

function pageVisible() {
  return document.visibilityState !== "hidden";
}

function showView(view) {
  state.view = view;
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.id !== `view-${view}`;
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.setAttribute("aria-current", link.dataset.view === view ? "page" : "false");
  }
  restart();
}

function stopAll() {
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
  closeLarge();
}

// (Re)start the work the current view needs, only while the page is visible.
function restart() {
  stopAll();
  if (!pageVisible()) return;
  if (state.view === "live") {
    refreshCameras();
    state.timers.push(setInterval(refreshCameras, POLL_STATUS_MS));
    state.timers.push(setInterval(pollSnapshots, POLL_SNAPSHOT_MS));
    pollSnapshots();
  } else if (state.view === "large") {
    openLarge(state.largeName, $("#large-mode").value);
  } else if (state.view === "cameras") {
    refreshCameras();
    state.timers.push(setInterval(refreshCameras, POLL_STATUS_MS));
  } else if (state.view === "recordings") {
    initRecordings();
  } else if (state.view === "events") {
    loadEvents();
  } else if (state.view === "system") {
    loadSystem();
    state.timers.push(setInterval(loadSystem, POLL_SYSTEM_MS));
  } else if (state.view === "users") {
    loadUsers();
  }
}

document.addEventListener("visibilitychange", restart);
window.addEventListener("hashchange", () => routeFromHash());

function routeFromHash() {
  const [view, name] = (location.hash.slice(1) || "live").split("/");
  if (view === "recordings" && name) {
    // #recordings/CAMERA/ISO-TIME: that camera's timeline, playing from that moment
    const [, camera, at] = location.hash.slice(1).split("/");
    rec.goto = { camera: decodeURIComponent(camera), at: Date.parse(decodeURIComponent(at || "")) / 1000 };
    showView("recordings");
  } else if (view === "camera" && name) {
    state.largeName = decodeURIComponent(name);
    $("#large-title").textContent = state.largeName;
    showView("large");
  } else {
    const views = ["live", "recordings", "events", ...(isAdmin() ? ADMIN_VIEWS : [])];
    showView(views.includes(view) ? view : "live");
  }
}

// ---- the live grid -------------------------------------------------------------------------

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const tile = state.tiles.get(entry.target.dataset.name);
    if (tile) tile.inView = entry.isIntersecting;
  }
});

async function refreshCameras() {
  try {
    state.cameras = (await api("/api/cameras")).cameras;
  } catch (err) {
    return; // the next poll tries again
  }
  renderGrid();
  renderTable();
  fillCameraFilter();
}

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function renderGrid() {
  const grid = $("#grid");
  $("#live-empty").hidden = state.cameras.length > 0;
  const names = new Set(state.cameras.map((c) => c.name));
  for (const [name, tile] of state.tiles) {
    if (!names.has(name)) {
      observer.unobserve(tile.node);
      tile.node.remove();
      state.tiles.delete(name);
    }
  }
  for (const cam of state.cameras) {
    let tile = state.tiles.get(cam.name);
    if (!tile) {
      const img = el("img", { alt: `${cam.name}, live`, width: 320, height: 180 });
      const link = el("a", { href: `#camera/${encodeURIComponent(cam.name)}`, className: "tile-link" }, img);
      const info = el("div", { className: "tile-info" });
      const node = el("li", { className: "tile" }, link, info);
      node.dataset.name = cam.name;
      node.dataset.loads = "0";
      tile = { node, img, info, inView: true, loading: false };
      img.addEventListener("load", () => snapshotDone(tile, true));
      img.addEventListener("error", () => snapshotDone(tile, false));
      state.tiles.set(cam.name, tile);
      grid.append(node);
      observer.observe(node);
    }
    const error = cam.last_error ? `${cam.last_error.code}: ${cam.last_error.message}` : "";
    const level = cam.governor ? cam.governor.level : "–";
    tile.node.dataset.state = cam.state;
    tile.info.replaceChildren(
      el("strong", { textContent: cam.name }),
      el("span", { className: `state state-${cam.state}`, textContent: cam.state }),
      el("span", { textContent: `${fmt(cam.fps_in)} fps` }),
      el("span", { textContent: `CPU ${fmt(cam.cpu_pct)} %` }),
      el("span", { textContent: `governor ${level}` }),
      el("span", { className: "error", textContent: error })
    );
  }
}

function snapshotDone(tile, ok) {
  tile.loading = false;
  if (ok) tile.node.dataset.loads = String(Number(tile.node.dataset.loads) + 1);
}

function pollSnapshots() {
  if (!pageVisible() || state.view !== "live") return;
  for (const [name, tile] of state.tiles) {
    if (!tile.inView || tile.loading || tile.node.dataset.state === "stopped") continue;
    tile.loading = true;
    tile.img.src = `/api/cameras/${encodeURIComponent(name)}/snapshot.jpg?t=${Date.now()}`;
  }
}

// ---- one camera, large: MJPEG, or WebRTC falling back to MJPEG ------------------------------

async function openLarge(name, mode) {
  closeLarge();
  const session = { name, pc: null, location: null };
  state.large = session;
  const img = $("#large-img");
  const video = $("#large-video");
  img.alt = `${name}, live`;
  $("#large-note").textContent = "";
  if (mode === "webrtc") {
    try {
      await startWebRtc(session, video);
      img.hidden = true;
      video.hidden = false;
      $("#large-note").textContent = "WebRTC";
      return;
    } catch (err) {
      if (state.large !== session) return;
      $("#large-note").textContent = `WebRTC failed (${err.message}); showing MJPEG`;
    }
  }
  video.hidden = true;
  img.hidden = false;
  img.src = `/api/cameras/${encodeURIComponent(name)}/mjpeg`;
}

async function startWebRtc(session, video) {
  const pc = new RTCPeerConnection();
  session.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (event) => {
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    // the server doesn't trickle: send the offer with every candidate in it
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 2000);
  });
  const response = await fetch(`/api/cameras/${encodeURIComponent(session.name)}/webrtc`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.code ? `${body.code}: ${body.message}` : `HTTP ${response.status}`);
  }
  session.location = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

function closeLarge() {
  const session = state.large;
  state.large = null;
  const img = $("#large-img");
  img.removeAttribute("src"); // closes the MJPEG connection
  const video = $("#large-video");
  video.srcObject = null;
  if (session && session.pc) {
    session.pc.close();
    if (session.location) fetch(session.location, { method: "DELETE" }).catch(() => {});
  }
}

$("#large-close").addEventListener("click", () => (location.hash = "#live"));
$("#large-mode").addEventListener("change", () => restart());

// ---- camera management -----------------------------------------------------------------------

let editing = null; // the name of the camera being edited, or null when adding
let editingConfig = null; // its config as the API showed it (what the form doesn't show stays)

function renderTable() {
  const body = $("#camera-table tbody");
  body.replaceChildren(
    ...state.cameras.map((cam) => {
      const actions = el("td", { className: "actions" });
      const button = (text, handler) => {
        const b = el("button", { type: "button", textContent: text });
        b.setAttribute("aria-label", `${text} ${cam.name}`);
        b.addEventListener("click", handler);
        actions.append(b);
      };
      button("Edit", () => editCamera(cam));
      if (cam.state === "stopped") button("Start", () => act(cam.name, "start"));
      else button("Stop", () => act(cam.name, "stop"));
      button("Remove", () => removeCamera(cam.name));
      const error = cam.last_error ? ` (${cam.last_error.code})` : "";
      return el(
        "tr",
        {},
        el("td", { textContent: cam.name }),
        el("td", { textContent: cam.state + error }),
        actions
      );
    })
  );
}

async function act(name, action) {
  await api(`/api/cameras/${encodeURIComponent(name)}/${action}`, { method: "POST" });
  refreshCameras();
}

async function removeCamera(name) {
  if (!confirm(`Remove ${name}? Its recordings stay until retention removes them.`)) return;
  await api(`/api/cameras/${encodeURIComponent(name)}`, { method: "DELETE" });
  refreshCameras();
}

function editCamera(cam) {
  editing = cam.name;
  const config = cam.config || { inputs: [] };
  editingConfig = JSON.parse(JSON.stringify(config));
  const form = $("#camera-form");
  form.reset();
  clearErrors();
  $("#form-title").textContent = `Edit ${cam.name}`;
  $("#f-name").value = cam.name;
  $("#f-name").readOnly = true;
  $("#f-url0").value = (config.inputs[0] || {}).url || "";
  $("#f-url1").value = (config.inputs[1] || {}).url || "";
  $("#f-user").value = (config.inputs[0] || {}).username || "";
  $("#f-record").value = (config.record || {}).mode || "continuous";
  $("#f-detect").checked = (config.detect || {}).enabled !== false;
  $("#f-submit").textContent = "Save";
  $("#f-cancel").hidden = false;
  $("#f-name").focus();
}

function resetForm() {
  editing = null;
  editingConfig = null;
  $("#camera-form").reset();
  clearErrors();
  $("#form-title").textContent = "Add a camera";
  $("#f-name").readOnly = false;
  $("#f-submit").textContent = "Add";
  $("#f-cancel").hidden = true;
}

function cameraBody() {
  const url0 = $("#f-url0").value.trim();
  const url1 = $("#f-url1").value.trim();
  const username = $("#f-user").value.trim();
  const password = $("#f-pass").value; // empty when editing: the stored one is kept
  const credentials = (input) => {
    if (username) input.username = username;
    else delete input.username;
    if (password) input.password = password;
    return input;
  };
  const base = editingConfig || {};
  const old = base.inputs || [];
  let inputs;
  if (url1) {
    const main = { ...(old[0] || {}), url: url0 };
    const sub = { ...(old[1] || { roles: ["detect", "live"] }), url: url1 };
    if (!old[1]) main.roles = ["record"]; // a sub-stream added: it takes detect and live
    inputs = [main, sub];
  } else {
    const main = { ...(old[0] || {}), url: url0 };
    if (old[1]) delete main.roles; // the sub-stream removed: the main one does everything
    inputs = [main];
  }
  inputs = inputs.map(credentials);
  const record = { ...(base.record || {}), mode: $("#f-record").value };
  const detect = { ...(base.detect || {}), enabled: $("#f-detect").checked };
  return { ...base, inputs, record, detect };
}

function clearErrors() {
  for (const node of document.querySelectorAll("#camera-form .error")) node.textContent = "";
  for (const node of document.querySelectorAll("#camera-form [aria-invalid]")) {
    node.removeAttribute("aria-invalid");
  }
}

// `cameras.NAME.inputs[0].url` -> the span `e-inputs-0-url` next to that field
function errorSlot(path) {
  const parts = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  const keys = parts[0] === "cameras" ? parts.slice(2) : parts;
  for (let n = keys.length; n > 0; n--) {
    const slot = document.getElementById(`e-${keys.slice(0, n).join("-")}`);
    if (slot) return slot;
  }
  return null;
}

function showErrors(err) {
  const body = err.body || {};
  const errors = body.errors || [];
  $("#form-error").textContent = `${body.code || "error"}: ${body.message || err.message}`;
  for (const item of errors) {
    const slot = errorSlot(item.path);
    const text = `${item.code}: ${item.message}`;
    if (slot) {
      slot.textContent = slot.textContent ? `${slot.textContent}; ${text}` : text;
      const field = slot.parentElement.querySelector("input, select");
      if (field) field.setAttribute("aria-invalid", "true");
    } else {
      $("#form-error").textContent += ` — ${item.path}: ${text}`;
    }
  }
}

$("#camera-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const body = cameraBody();
  try {
    if (editing) {
      await api(`/api/cameras/${encodeURIComponent(editing)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } else {
      await api("/api/cameras", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: $("#f-name").value.trim(), ...body }),
      });
    }
    resetForm();
    refreshCameras();
  } catch (err) {
    if (err instanceof ApiError) showErrors(err);
    else $("#form-error").textContent = String(err);
  }
});
$("#f-cancel").addEventListener("click", resetForm);

// ---- events ------------------------------------------------------------------------------------

function fillCameraFilter() {
  fillSelect($("#ev-camera"), true);
  fillSelect($("#rec-camera"), false);
}

function fillSelect(select, withAll) {
  const current = select.value;
  const names = state.cameras.map((c) => c.name);
  const have = [...select.options].map((o) => o.value).filter(Boolean);
  if (have.join() === names.join()) return;
  select.replaceChildren();
  if (withAll) select.append(el("option", { value: "", textContent: "all" }));
  for (const name of names) select.append(el("option", { value: name, textContent: name }));
  select.value = names.includes(current) ? current : withAll ? "" : names[0] || "";
}

// ---- recordings: a day's timeline (local time), playback across segments, export ------------

const rec = { segments: [], events: [], from: 0, to: 0, playing: null };
const H265 = new Set(["hevc", "h265"]);

function pad(n) {
  return String(n).padStart(2, "0");
}

function localDay(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// A local day runs from its midnight to the next one: 23, 24 or 25 hours, by DST.
function dayBounds(day) {
  const [y, m, d] = day.split("-").map(Number);
  return [new Date(y, m - 1, d).getTime() / 1000, new Date(y, m - 1, d + 1).getTime() / 1000];
}

// Label times between `from` and `to`, `step` seconds apart on the local clock: hours are
// counted on the clock (so across a DST change 03:00 stays 03:00), shorter steps fall on
// round local minutes whatever the zone's offset.
function ticks(from, to, step) {
  const out = [];
  if (step >= 3600) {
    const first = new Date(from * 1000);
    for (let h = 0; h <= 48; h += step / 3600) {
      const t = new Date(first.getFullYear(), first.getMonth(), first.getDate(), h).getTime() / 1000;
      if (t > to) break;
      if (t >= from && !out.includes(t)) out.push(t);
    }
    return out;
  }
  const offset = -new Date(from * 1000).getTimezoneOffset() * 60;
  for (let t = Math.ceil((from + offset) / step) * step - offset; t <= to; t += step) out.push(t);
  return out;
}

async function initRecordings() {
  if (!$("#rec-day").value) $("#rec-day").value = localDay(new Date());
  if (!state.cameras.length) await refreshCameras();
  fillCameraFilter();
  const goto = rec.goto;
  rec.goto = null;
  if (goto && !Number.isNaN(goto.at)) {
    $("#rec-camera").value = goto.camera;
    $("#rec-day").value = localDay(new Date(goto.at * 1000));
    $("#rec-zoom").value = "600";
    await loadTimeline(goto.at);
    playFrom(goto.at);
    return;
  }
  await loadTimeline();
}

async function loadTimeline(center = null) {
  const camera = $("#rec-camera").value;
  if (!camera) return;
  const [dayStart, dayEnd] = dayBounds($("#rec-day").value);
  const range = new URLSearchParams({
    camera,
    start: new Date(dayStart * 1000).toISOString(),
    end: new Date(dayEnd * 1000).toISOString(),
  });
  try {
    rec.segments = (await api(`/api/recordings?${range}`)).recordings.map((r) => ({
      ...r,
      t0: Date.parse(r.start) / 1000,
      t1: Date.parse(r.end) / 1000,
    }));
    rec.events = (await api(`/api/events?${range}`)).events.map((e) => ({
      t0: Date.parse(e.start) / 1000,
      t1: Date.parse(e.end) / 1000,
    }));
  } catch (err) {
    $("#rec-window").textContent = `${err.body && err.body.code ? err.body.code + ": " : ""}${err.message}`;
    rec.segments = [];
    rec.events = [];
  }
  const zoom = Number($("#rec-zoom").value);
  const span = zoom >= 86400 ? dayEnd - dayStart : zoom; // the whole day, however long
  const last = rec.segments.length ? rec.segments[rec.segments.length - 1].t1 : dayEnd;
  const middle = center !== null ? center : zoom >= 86400 ? dayStart + span / 2 : last - span / 2;
  rec.from = Math.max(dayStart, Math.min(middle - span / 2, dayEnd - span));
  rec.to = rec.from + span;
  drawTimeline();
}

function drawTimeline() {
  const bar = $("#timeline");
  const hours = $("#timeline-hours");
  const span = rec.to - rec.from;
  const x = (t) => `${(100 * (t - rec.from)) / span}%`;
  const width = (a, b) => `${(100 * (Math.min(b, rec.to) - Math.max(a, rec.from))) / span}%`;
  const inside = (item) => item.t1 > rec.from && item.t0 < rec.to;
  bar.replaceChildren(
    ...rec.segments.filter(inside).map((s) => {
      const node = el("div", { className: "seg", title: `${new Date(s.t0 * 1000).toLocaleTimeString()} – ${new Date(s.t1 * 1000).toLocaleTimeString()}` });
      node.style.left = x(Math.max(s.t0, rec.from));
      node.style.width = width(s.t0, s.t1);
      node.dataset.id = s.id;
      return node;
    }),
    ...rec.events.filter(inside).map((e) => {
      const node = el("div", { className: "ev" });
      node.style.left = x(Math.max(e.t0, rec.from));
      node.style.width = width(e.t0, e.t1);
      return node;
    })
  );
  const step = span >= 82800 ? 3 * 3600 : span >= 3600 ? 600 : span >= 600 ? 60 : 10;
  const labels = [];
  for (const t of ticks(rec.from, rec.to, step)) {
    const label = el("span", { textContent: new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: step < 60 ? "2-digit" : undefined }) });
    label.style.left = x(t);
    labels.push(label);
  }
  hours.replaceChildren(...labels);
  const from = new Date(rec.from * 1000).toLocaleString();
  const to = new Date(rec.to * 1000).toLocaleTimeString();
  $("#rec-window").textContent = `${from} – ${to}: ${rec.segments.length} segment(s) this day`;
}

function segmentAt(t) {
  return rec.segments.find((s) => s.t1 > t) || null; // the one holding t, or the next one
}

function playFrom(t) {
  const segment = segmentAt(t);
  const note = $("#player-note");
  const player = $("#player");
  if (!segment) {
    note.textContent = "Nothing recorded from there on.";
    return;
  }
  const file = `/api/recordings/${segment.id}/file`;
  if (H265.has(segment.codec)) {
    rec.playing = null;
    player.removeAttribute("src");
    note.replaceChildren("H.265: this browser can't play it. ", el("a", { href: file, download: "", textContent: "Download the segment" }));
    return;
  }
  rec.playing = segment;
  const offset = Math.max(0, t - segment.t0);
  note.textContent = `Playing from ${new Date(Math.max(t, segment.t0) * 1000).toLocaleTimeString()}`;
  player.src = file;
  player.addEventListener(
    "loadedmetadata",
    () => {
      player.currentTime = Math.min(offset, Math.max(0, player.duration - 0.1));
      player.play().catch(() => {});
    },
    { once: true }
  );
  drawCursor(Math.max(t, segment.t0));
}

function drawCursor(t) {
  let cursor = $("#timeline .cursor");
  if (!cursor) {
    cursor = el("div", { className: "cursor" });
    $("#timeline").append(cursor);
  }
  cursor.style.left = `${(100 * (t - rec.from)) / (rec.to - rec.from)}%`;
  $("#timeline").setAttribute("aria-valuenow", String(Math.round((100 * (t - rec.from)) / (rec.to - rec.from))));
}

// playback carries on across segment boundaries
$("#player").addEventListener("ended", () => {
  const current = rec.playing;
  if (!current) return;
  const next = rec.segments.find((s) => s.t0 >= current.t1 - 0.5 && s.id !== current.id);
  if (next) playFrom(next.t0);
});
$("#player").addEventListener("timeupdate", () => {
  if (rec.playing) drawCursor(rec.playing.t0 + $("#player").currentTime);
});

function timeAtX(clientX) {
  const box = $("#timeline").getBoundingClientRect();
  const fraction = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
  return rec.from + fraction * (rec.to - rec.from);
}

function timeOfDay(t) {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// a click plays from that moment; a drag selects the range to export
let dragFrom = null;
$("#timeline").addEventListener("pointerdown", (event) => {
  dragFrom = { x: event.clientX, t: timeAtX(event.clientX) };
});
$("#timeline").addEventListener("pointerup", (event) => {
  const from = dragFrom;
  dragFrom = null;
  if (!from) return;
  const t = timeAtX(event.clientX);
  if (Math.abs(event.clientX - from.x) < 5) {
    playFrom(t);
    return;
  }
  const [a, b] = from.t < t ? [from.t, t] : [t, from.t];
  $("#ex-from").value = timeOfDay(a);
  $("#ex-to").value = timeOfDay(b);
  let selection = $("#timeline .selection");
  if (!selection) {
    selection = el("div", { className: "selection" });
    $("#timeline").append(selection);
  }
  selection.style.left = `${(100 * (a - rec.from)) / (rec.to - rec.from)}%`;
  selection.style.width = `${(100 * (b - a)) / (rec.to - rec.from)}%`;
  $("#player-note").textContent = `Selected ${timeOfDay(a)} – ${timeOfDay(b)}: "Export as MP4" downloads it`;
});
$("#timeline").addEventListener("keydown", (event) => {
  const current = rec.playing ? rec.playing.t0 + $("#player").currentTime : rec.from;
  const step = (rec.to - rec.from) / 10;
  if (event.key === "ArrowRight") playFrom(current + step);
  else if (event.key === "ArrowLeft") playFrom(current - step);
  else return;
  event.preventDefault();
});
$("#rec-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  loadTimeline();
});
$("#rec-zoom").addEventListener("change", () => {
  const center = rec.playing ? rec.playing.t0 + $("#player").currentTime : null;
  loadTimeline(center);
});
$("#export-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const day = $("#rec-day").value;
  const start = new Date(`${day}T${$("#ex-from").value}`);
  const end = new Date(`${day}T${$("#ex-to").value}`);
  const params = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  location.href = `/api/cameras/${encodeURIComponent($("#rec-camera").value)}/export?${params}`;
});

async function loadEvents() {
  if (!state.cameras.length) refreshCameras();
  const params = new URLSearchParams();
  if ($("#ev-camera").value) params.set("camera", $("#ev-camera").value);
  if ($("#ev-since").value) params.set("start", new Date($("#ev-since").value).toISOString());
  const list = $("#events");
  try {
    const { events } = await api(`/api/events?${params}`);
    list.replaceChildren(
      ...events.reverse().map((ev) => {
        const start = new Date(ev.start);
        const end = new Date(ev.end);
        const footage = el("a", {
          href: `#recordings/${encodeURIComponent(ev.camera)}/${encodeURIComponent(ev.start)}`,
          textContent: "play",
        });
        footage.setAttribute("aria-label", `play ${ev.camera} at ${start.toLocaleString()}`);
        const thumb = ev.thumbnail
          ? el("img", { src: ev.thumbnail, alt: `${ev.camera} at ${start.toLocaleString()}`, loading: "lazy" })
          : el("span", { textContent: "no thumbnail" });
        return el(
          "li",
          {},
          thumb,
          el("strong", { textContent: ev.camera }),
          el("span", { textContent: start.toLocaleString() }),
          el("span", { textContent: `${((end - start) / 1000).toFixed(1)} s` }),
          el("span", { textContent: `${(ev.peak_area * 100).toFixed(1)} % of the frame` }),
          footage
        );
      })
    );
    if (!events.length) list.replaceChildren(el("li", { textContent: "No events." }));
  } catch (err) {
    list.replaceChildren(el("li", { className: "error", textContent: err.message }));
  }
}

$("#events-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  loadEvents();
});

// ---- system ------------------------------------------------------------------------------------

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(1)} ${units[i]}`;
}

async function loadSystem() {
  let s;
  try {
    s = await api("/api/system");
  } catch (err) {
    return;
  }
  const rows = [
    ["Machine CPU", `${fmt(s.cpu_pct)} % of ${s.cores} cores`],
    ["Machine memory", `${fmt(s.memory_pct)} %`],
    ["vigil CPU", `${fmt(s.process_cpu_pct)} % of one core`],
    ["vigil memory", bytes(s.process_rss_bytes)],
    ["Cameras streaming", `${s.cameras_streaming} of ${s.cameras}`],
  ];
  if (s.disk) {
    rows.push(["Disk", `${bytes(s.disk.used_bytes)} used of ${bytes(s.disk.total_bytes)}, ${bytes(s.disk.free_bytes)} free`]);
    rows.push(["Recordings", bytes(s.disk.recordings_bytes)]);
  }
  rows.push([
    "Retention forecast",
    s.days_fit === null
      ? "no footage in the last day"
      : `at today's rate (${bytes(s.recorded_bytes_per_day)} a day), ${fmt(s.days_fit)} days fit`,
  ]);
  $("#system").replaceChildren(
    ...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })])
  );
}

// ---- who is logged in; users and tokens (admins) ------------------------------------------

function isAdmin() {
  return state.me !== null && state.me.role === "admin";
}

async function loadUsers() {
  const [{ users }, { tokens }] = await Promise.all([api("/api/auth/users"), api("/api/auth/tokens")]);
  $("#user-table tbody").replaceChildren(
    ...users.map((u) => {
      const reset = el("button", { type: "button", textContent: "Reset password" });
      reset.addEventListener("click", () => resetPassword(u.name));
      const remove = el("button", { type: "button", textContent: "Remove" });
      remove.addEventListener("click", () => removeUser(u.name));
      return el("tr", {}, el("td", { textContent: u.name }), el("td", { textContent: u.role }),
        el("td", { textContent: u.cameras.join(", ") }), el("td", {}, reset, " ", remove));
    })
  );
  $("#token-table tbody").replaceChildren(
    ...tokens.map((t) => {
      const revoke = el("button", { type: "button", textContent: "Revoke" });
      revoke.addEventListener("click", async () => {
        await api(`/api/auth/tokens/${t.id}`, { method: "DELETE" });
        loadUsers();
      });
      return el("tr", {}, el("td", { textContent: String(t.id) }), el("td", { textContent: t.name }),
        el("td", { textContent: t.user }), el("td", {}, revoke));
    })
  );
}

const jsonPost = (method, body) => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function resetPassword(name) {
  const password = prompt(`New password for ${name} (at least 8 characters)`);
  if (!password) return;
  try {
    await api(`/api/auth/users/${encodeURIComponent(name)}`, jsonPost("PUT", { password }));
  } catch (err) {
    $("#user-error").textContent = err.message;
  }
}

async function removeUser(name) {
  if (!confirm(`Remove user ${name}?`)) return;
  try {
    await api(`/api/auth/users/${encodeURIComponent(name)}`, { method: "DELETE" });
  } catch (err) {
    $("#user-error").textContent = err.message;
  }
  loadUsers();
}

$("#user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#user-error").textContent = "";
  const cameras = $("#u-cameras").value.split(",").map((c) => c.trim()).filter(Boolean);
  const body = { name: $("#u-name").value, role: $("#u-role").value, cameras, password: $("#u-pass").value };
  try {
    await api("/api/auth/users", jsonPost("POST", body));
    event.target.reset();
  } catch (err) {
    const fields = (err.body.errors || []).map((e) => `${e.path}: ${e.message}`).join("; ");
    $("#user-error").textContent = fields ? `${err.message}: ${fields}` : err.message;
  }
  loadUsers();
});

$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const made = await api("/api/auth/tokens", jsonPost("POST", { name: $("#t-name").value }));
  $("#token-new").textContent = `Token ${made.name} (shown once): ${made.token}`;
  loadUsers();
});

$("#logout").addEventListener("click", async () => {
  await fetch("/api/auth/logout", { method: "POST" });
  location.href = "/login";
});

async function start() {
  try {
    state.me = await api("/api/auth/me");
  } catch (err) {
    return; // 401: on the way to the login page
  }
  $("#who").textContent = `${state.me.name} (${state.me.role})`;
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = !isAdmin();
  routeFromHash();
}

start();
