// emufleet console: template capture on the Instances page (docs/console.md "Template capture"). Freezes a screen
// (the full view's instance, or an uploaded PNG) as a snapshot, lets the person drag a rectangle on it (device px
// of the snapshot), then asks POST /api/capture to judge it (verdicts, warnings) or to save it into the template set.
(function () {
  "use strict";
  const dialog = document.getElementById("capture");
  if (!dialog) return;
  const img = document.getElementById("capture-img");
  const canvas = document.getElementById("capture-box");
  const form = document.getElementById("capture-form");
  const result = document.getElementById("capture-result");
  const boxText = dialog.querySelector("[data-capture-box]");
  let token = null, box = null, start = null;

  function line(text, attrs) {
    const li = document.createElement("li");
    li.textContent = text;
    Object.entries(attrs || {}).forEach(([k, v]) => { li.dataset[k] = v; });
    result.appendChild(li);
  }

  async function freeze(reply) {
    result.innerHTML = "";
    box = null; boxText.textContent = "no rectangle yet";
    const body = await reply.json();
    if (!reply.ok) { line(`error: ${body.detail}`, { error: "1" }); if (!dialog.open) dialog.showModal(); return; }
    token = body.snapshot;
    img.src = `/api/capture/snapshot/${token}`;
    if (!dialog.open) dialog.showModal();
  }

  document.querySelector("[data-capture-open]")?.addEventListener("click", async () => {
    const id = document.querySelector("#wall-full [data-full-title]").textContent;
    const serial = id.slice(id.indexOf("/") + 1);
    await freeze(await fetch(`/api/capture/snapshot?serial=${encodeURIComponent(serial)}`, { method: "POST" }));
  });
  document.getElementById("capture-upload")?.addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await freeze(await fetch("/api/capture/snapshot", { method: "POST", body: file, headers: { "Content-Type": "image/png" } }));
  });
  dialog.querySelector("[data-capture-close]").addEventListener("click", () => dialog.close());

  function devicePoint(event) {
    const rect = img.getBoundingClientRect();
    const k = img.naturalWidth / rect.width;
    return [Math.round((event.clientX - rect.left) * k), Math.round((event.clientY - rect.top) * k)];
  }
  function draw() {
    canvas.width = img.clientWidth; canvas.height = img.clientHeight;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!box) return;
    const k = img.clientWidth / img.naturalWidth;
    ctx.strokeStyle = "#e6a000"; ctx.lineWidth = 2;
    ctx.strokeRect(box[0] * k, box[1] * k, (box[2] - box[0]) * k, (box[3] - box[1]) * k);
  }
  img.addEventListener("load", draw);
  canvas.addEventListener("mousedown", (event) => { start = devicePoint(event); event.preventDefault(); });
  canvas.addEventListener("mousemove", (event) => {
    if (!start) return;
    const [x, y] = devicePoint(event);
    box = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (!start) return;
    start = null;
    if (box && (box[2] - box[0] < 2 || box[3] - box[1] < 2)) box = null;
    boxText.textContent = box ? `box ${box.join(",")} device px` : "no rectangle yet";
    boxText.dataset.box = box ? box.join(",") : "";
    draw();
  });

  async function send(save) {
    result.innerHTML = "";
    if (!token || !box) { line("drag a rectangle first", { error: "1" }); return; }
    const data = new FormData(form);
    const body = { snapshot: token, box, name: data.get("name"), margin: Number(data.get("margin")),
                   threshold: Number(data.get("threshold")), screens: data.get("screens") || null, save };
    const reply = await fetch("/api/capture", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    const out = await reply.json();
    if (!reply.ok) {
      const detail = Array.isArray(out.detail) ? out.detail.map((d) => d.msg || d.message).join("; ") : out.detail;
      line(`error: ${detail}`, { error: "1" });
      return;
    }
    line(`${out.name}: cut at ${out.box.join(",")} (template px), search region ${out.region.join(",")}, threshold ${out.threshold}`);
    out.verdicts.forEach((v) => line(`verdict ${v.text}`, { verdict: v.found ? "found" : "not-found" }));
    out.warnings.forEach((w) => line(`warning ${w.kind}: ${w.message}`, { warning: w.kind }));
    if (out.saved) line(`saved into ${out.registry} (${out.saved})`, { saved: out.saved });
  }
  dialog.querySelector("[data-capture-check]").addEventListener("click", () => send(false));
  dialog.querySelector("[data-capture-save]").addEventListener("click", () => send(true));
})();
