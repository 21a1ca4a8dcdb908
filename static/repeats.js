/* Repeated sections of the protocol form page (templates/records/fill.html).
 *
 * The server renders every entry of a repeated section (`.pf-entries`) and hides, with the
 * `hidden` attribute, those beyond the last one in use (portal/protocols/render.py). This script
 * adds an "Add an entry" button that shows the next hidden entry, and a "Remove this entry"
 * button on every entry but the first, which empties the entry and hides it again. A blank entry
 * is no entry for the server, so a removed one is simply not counted. Without JavaScript a
 * noscript style shows every entry. No dependency, no inline code (the Content-Security-Policy
 * is `default-src 'self'`); the button labels come from the server, translated.
 */
(function () {
  "use strict";

  function clear(entry) {
    entry.querySelectorAll("input, select").forEach(function (input) {
      if (input.type === "checkbox" || input.type === "radio") {
        input.checked = false;
      } else if (input.tagName === "SELECT") {
        input.selectedIndex = 0;
      } else {
        input.value = "";
      }
      // static/conditions.js decides again what this entry's answers show or hide.
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function setUp(container) {
    const entries = Array.from(container.querySelectorAll(":scope > .pf-entry"));
    if (entries.length < 2) return;
    const add = document.createElement("button");
    add.type = "button";
    add.className = "secondary pf-add";
    add.textContent = container.getAttribute("data-add-label") || "+";

    function refresh() {
      add.disabled = entries.every(function (entry) { return !entry.hidden; });
    }

    entries.forEach(function (entry, index) {
      if (index === 0) return;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary pf-remove";
      remove.textContent = container.getAttribute("data-remove-label") || "-";
      remove.addEventListener("click", function () {
        clear(entry);
        entry.hidden = true;
        refresh();
        add.focus();
      });
      entry.appendChild(remove);
    });
    add.addEventListener("click", function () {
      const next = entries.find(function (entry) { return entry.hidden; });
      if (!next) return;
      next.hidden = false;
      refresh();
      const first = next.querySelector("input, select");
      if (first) first.focus();
    });
    container.appendChild(add);
    refresh();
  }

  function start() {
    document.querySelectorAll(".protocol-form .pf-entries").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
