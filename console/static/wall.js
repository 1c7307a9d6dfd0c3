// emufleet console: the live wall of the Instances page. Asks GET /api/wall once a second while the page is
// visible (each request is a "look": bots publish their own captures and idle instances are captured only while
// someone looks; the previous answer's frames token brings the changed frames inline) and not at all while it is
// hidden (Page Visibility API). A click opens the full-size view: the
// pointer's coordinates in device px and in the template set's space, and the overlay of the bot's last image step.
(function () {
  "use strict";
  const grid = document.getElementById("wall-grid");
  if (!grid) return;
  const status = document.querySelector("[data-wall-status]");
  const dialog = document.getElementById("wall-full");
  const fullImg = document.getElementById("wall-full-img");
  const canvas = document.getElementById("wall-full-overlay");
  const coords = dialog.querySelector("[data-coords]");
  let timer = null, busy = false, space = null, full = null, shown = null, since = "";
  window.__wallRequests = 0;

  const key = (s) => `${s.host}/${s.serial}`;
  const frameUrl = (s) => `/api/wall/frame?host=${encodeURIComponent(s.host)}&serial=${encodeURIComponent(s.serial)}&at=${s.at}`;

  function tile(s) {
    let fig = grid.querySelector(`[data-screen="${CSS.escape(key(s))}"]`);
    if (!fig) {
      fig = document.createElement("figure");
      fig.className = "wall-tile";
      fig.dataset.screen = key(s);
      fig.innerHTML = "<img alt=\"\"><figcaption></figcaption>";
      fig.addEventListener("click", () => openFull(fig.dataset.screen));
      grid.appendChild(fig);
    }
    return fig;
  }

  function render(screens) {
    const seen = new Set();
    screens.forEach((s) => {
      seen.add(key(s));
      const fig = tile(s);
      const img = fig.querySelector("img");
      img.alt = `screen of ${s.serial}`;
      // a changed frame comes inline (one request a second however many screens move); else it is fetched
      if (s.jpeg) { img.src = `data:image/jpeg;base64,${s.jpeg}`; fig.dataset.at = String(s.at); }
      else if (fig.dataset.at !== String(s.at)) { img.src = frameUrl(s); fig.dataset.at = String(s.at); }
      fig.dataset.source = s.source;
      const who = s.source === "bot" ? `${s.group} bot ${s.bot}` : "idle";
      fig.querySelector("figcaption").textContent = `${s.serial} · ${s.host} · ${who}`;
      fig.title = s.step ? `step ${s.step}` : who;
      if (full === key(s)) showFull(s);
    });
    grid.querySelectorAll("[data-screen]").forEach((fig) => { if (!seen.has(fig.dataset.screen)) fig.remove(); });
    if (status) status.textContent = screens.length ? `${screens.length} screen(s), live` : "no screen yet";
  }

  async function poll() {
    if (busy) return;
    busy = true;
    try {
      window.__wallRequests += 1;
      const query = new URLSearchParams({ since });
      if (full) query.set("full", full);
      const reply = await fetch(`/api/wall?${query}`, { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      space = data.space;
      since = data.frames;
      render(data.screens);
    } catch (err) {
      if (status) status.textContent = `wall unavailable: ${err}`;
    } finally {
      busy = false;
    }
  }

  function tick() {
    timer = null;
    if (document.visibilityState !== "visible") return;  // hidden: no request until visible again
    poll().finally(() => { if (document.visibilityState === "visible" && !timer) timer = setTimeout(tick, 1000); });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { if (!timer) tick(); }
    else if (timer) { clearTimeout(timer); timer = null; }
  });

  // -- full-size view -------------------------------------------------------------------------------------------
  function openFull(id) {
    full = id;
    shown = null;
    dialog.querySelector("[data-full-title]").textContent = id;
    if (!dialog.open) dialog.showModal();
    poll();
  }
  dialog.querySelector("[data-close]").addEventListener("click", () => { full = null; dialog.close(); });
  dialog.addEventListener("close", () => { full = null; });

  function showFull(s) {
    shown = s;
    if (fullImg.dataset.at !== String(s.at)) { fullImg.src = frameUrl(s); fullImg.dataset.at = String(s.at); }
    dialog.querySelector("[data-full-step]").textContent = s.step ? `step ${s.step}` : (s.source === "bot" ? "" : "idle");
    const list = dialog.querySelector("[data-checks]");
    list.innerHTML = "";
    (s.overlay || []).forEach((c) => {
      const li = document.createElement("li");
      const score = c.score === null ? "–" : c.score.toFixed(3);
      li.textContent = `${c.template} ${score} ${c.found ? "≥" : "<"} ${c.threshold} ${c.found ? "found" : "not found"}`;
      li.dataset.check = c.template;
      list.appendChild(li);
    });
    drawOverlay();
  }

  function drawOverlay() {
    const s = shown;
    canvas.width = fullImg.clientWidth;
    canvas.height = fullImg.clientHeight;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!s || !s.width) return;
    const k = canvas.width / s.width;
    ctx.font = "12px sans-serif";
    (s.overlay || []).forEach((c) => {
      if (c.region) { ctx.strokeStyle = "#28a0c8"; ctx.strokeRect(c.region[0] * k, c.region[1] * k, (c.region[2] - c.region[0]) * k, (c.region[3] - c.region[1]) * k); }
      if (c.location) {
        ctx.strokeStyle = c.found ? "#3cc83c" : "#e62828";
        const [x1, y1, x2, y2] = c.location;
        ctx.strokeRect(x1 * k, y1 * k, (x2 - x1) * k, (y2 - y1) * k);
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillText(`${c.template} ${c.score === null ? "–" : c.score.toFixed(2)}${c.found ? "" : " < " + c.threshold}`, x1 * k, Math.max(10, y1 * k - 3));
      }
    });
  }
  fullImg.addEventListener("load", drawOverlay);

  fullImg.addEventListener("mousemove", (event) => {
    const s = shown;
    if (!s || !s.width) return;
    const x = Math.round(event.offsetX * s.width / fullImg.clientWidth);
    const y = Math.round(event.offsetY * s.height / fullImg.clientHeight);
    let text = `device (${x}, ${y}) px`;
    if (space) {  // emufleet.vision.CoordinateSpace.from_device, for this frame's size
      const tx = x * space.width / s.width;
      const ty = y * (space.height - space.title_bar) / s.height + space.title_bar;
      text += ` · template (${tx.toFixed(1)}, ${ty.toFixed(1)})`;
    }
    coords.textContent = text;
    coords.dataset.device = `${x},${y}`;
  });

  tick();
})();
