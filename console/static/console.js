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
  // Number the rows 0, 1, 2… in page order, so the names posted are the paths the errors name.
  function renumber(form) {
    form.querySelectorAll("[data-row=query]").forEach((query, qi) => {
      rename(query, "queries", qi);
      query.querySelectorAll("[data-row=filter]").forEach((row, fi) => rename(row, "filters", fi));
      query.querySelectorAll("[data-row=sort]").forEach((row, si) => rename(row, "sort", si));
    });
  }
  function rename(root, key, index) {
    const pattern = new RegExp(`\\b${key}\\[\\d+\\]`);
    root.querySelectorAll("[name]").forEach((el) => { el.name = el.name.replace(pattern, `${key}[${index}]`); });
  }
  async function testPool(form) {
    const target = document.getElementById(form.dataset.testTarget);
    if (!target) return;
    renumber(form);
    const body = new URLSearchParams(new FormData(form));
    target.setAttribute("aria-busy", "true");
    try {
      const reply = await fetch(form.dataset.testUrl, { method: "POST", body, headers: { "Accept": "text/html" } });
      target.innerHTML = await reply.text();
      markInvalid(form, target);
    } catch (err) {
      target.textContent = "test failed: " + err;
    } finally {
      target.removeAttribute("aria-busy");
    }
  }
  // Outline the inputs the test's errors name (li[data-field] → inputs named p.<field> or below it).
  function markInvalid(form, target) {
    form.querySelectorAll(".invalid-live").forEach((el) => el.classList.remove("invalid", "invalid-live"));
    target.querySelectorAll("li[data-field]").forEach((item) => {
      const field = item.dataset.field;
      if (!field) return;
      form.querySelectorAll(`[name="p.${field}"], [name^="p.${field}."]`).forEach((el) => {
        if (el.type !== "hidden") el.classList.add("invalid", "invalid-live");
      });
    });
  }
  document.addEventListener("input", (event) => changed(event.target));
  document.addEventListener("change", (event) => changed(event.target));
  document.addEventListener("click", (event) => {
    const test = event.target.closest("[data-test-now]");
    if (test) { event.preventDefault(); testPool(test.closest("form")); }
  });

  // Confirm destructive buttons; number the editor's rows before posting.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) { event.preventDefault(); return; }
    if (event.target.matches("form[data-test-url]")) renumber(event.target);
  });

  document.addEventListener("DOMContentLoaded", () => {
    startLive();
    document.querySelectorAll("form[data-test-url]").forEach((form) => testPool(form));
  });
})();
