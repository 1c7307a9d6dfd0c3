// emufleet console: live regions over Server-Sent Events, editor rows, the pool editor's live test.
// No framework, no build step; every page also works without this file.
(function () {
  "use strict";

  // Live regions: <div data-live="NAME"> is replaced by the HTML of each "NAME" event of GET /live.
  function startLive() {
    const regions = document.querySelectorAll("[data-live]");
    const badge = document.getElementById("live-status");
    if (!regions.length || !window.EventSource) return;
    const source = new EventSource("/live");
    const names = new Set(Array.from(regions, (el) => el.dataset.live));
    names.forEach((name) => source.addEventListener(name, (event) => {
      document.querySelectorAll(`[data-live="${name}"]`).forEach((el) => { el.innerHTML = event.data; });
      document.dispatchEvent(new CustomEvent("live:update", { detail: { name } }));
    }));
    source.addEventListener("hello", () => badge && badge.classList.add("on"));
    source.onerror = () => badge && badge.classList.remove("on");
  }

  // Editor rows: <button data-add="TEMPLATE_ID" data-into="CONTAINER_ID"> clones <template id=TEMPLATE_ID>,
  // replacing __I__ with a fresh index (after every existing one, so the new row stays last); data-remove-row
  // removes the closest [data-row].
  let fresh = 1000;
  document.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add]");
    if (add) {
      event.preventDefault();
      const template = document.getElementById(add.dataset.add);
      const into = document.getElementById(add.dataset.into);
      fresh += 1;
      const html = template.innerHTML.replaceAll("__I__", String(fresh));
      into.insertAdjacentHTML("beforeend", html);
      changed(into);
      return;
    }
    const remove = event.target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      const row = remove.closest("[data-row]");
      const form = row && row.closest("form");
      if (row) row.remove();
      if (form) changed(form);
    }
  });

  // The pool editor: each change posts the form to its data-test-url and shows the "Matching accounts" box.
  let timer = null;
  function changed(el) {
    const form = el.closest ? el.closest("form[data-test-url]") : null;
    if (!form) return;
    clearTimeout(timer);
    timer = setTimeout(() => testPool(form), 350);
  }
  async function testPool(form) {
    const target = document.getElementById(form.dataset.testTarget);
    if (!target) return;
    const body = new URLSearchParams(new FormData(form));
    target.setAttribute("aria-busy", "true");
    try {
      const reply = await fetch(form.dataset.testUrl, { method: "POST", body, headers: { "Accept": "text/html" } });
      target.innerHTML = await reply.text();
    } catch (err) {
      target.textContent = "test failed: " + err;
    } finally {
      target.removeAttribute("aria-busy");
    }
  }
  document.addEventListener("input", (event) => changed(event.target));
  document.addEventListener("change", (event) => changed(event.target));
  document.addEventListener("click", (event) => {
    const test = event.target.closest("[data-test-now]");
    if (test) { event.preventDefault(); testPool(test.closest("form")); }
  });

  // Confirm destructive buttons.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    startLive();
    document.querySelectorAll("form[data-test-url]").forEach((form) => testPool(form));
  });
})();
