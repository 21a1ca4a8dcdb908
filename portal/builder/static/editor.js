// The definition editor: line numbers that follow the text, a jump to a finding's line, and an
// autosave that re-checks the text and redraws the findings. The page works without it.
(function () {
  "use strict";
  var area = document.getElementById("text");
  var gutter = document.getElementById("gutter");
  var form = document.getElementById("text-form");
  if (!area || !gutter || !form) { return; }
  var status = document.getElementById("autosave-status");
  var revision = document.getElementById("revision");
  var list = document.getElementById("finding-list");
  var count = document.getElementById("findings-count");
  var marked = {};
  document.querySelectorAll("#finding-list .finding").forEach(function (item) {
    marked[item.getAttribute("data-line")] = true;
  });

  function drawGutter() {
    var lines = area.value.split("\n").length;
    var parts = [];
    for (var n = 1; n <= lines; n += 1) {
      parts.push(n);
    }
    gutter.textContent = "";
    parts.forEach(function (n) {
      var span = document.createElement("span");
      span.id = "L" + n;
      span.textContent = String(n);
      if (marked[String(n)]) { span.className = "marked"; }
      gutter.appendChild(span);
      gutter.appendChild(document.createTextNode("\n"));
    });
    gutter.scrollTop = area.scrollTop;
  }

  function goToLine(line) {
    var lines = area.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i += 1) { offset += lines[i].length + 1; }
    area.focus();
    area.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
    var height = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 5) * height);
    gutter.scrollTop = area.scrollTop;
  }

  function bindLinks() {
    list.querySelectorAll(".finding a").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        goToLine(parseInt(link.closest(".finding").getAttribute("data-line"), 10));
      });
    });
  }

  function drawFindings(findings) {
    marked = {};
    list.textContent = "";
    findings.forEach(function (f) {
      marked[String(f.line)] = true;
      var item = document.createElement("li");
      item.className = "finding" + (f.warning ? " warning" : "");
      item.setAttribute("data-line", String(f.line));
      var link = document.createElement("a");
      link.href = "#L" + f.line;
      link.textContent = (list.getAttribute("data-line-word") || "Line") + " " + f.line + ", " + f.column;
      item.appendChild(link);
      item.appendChild(document.createTextNode(" · " + f.rule + (f.field ? " · " + f.field : "")));
      item.appendChild(document.createElement("br"));
      item.appendChild(document.createTextNode(f.message));
      if (f.fix) {
        item.appendChild(document.createElement("br"));
        var strong = document.createElement("strong");
        strong.textContent = (list.getAttribute("data-fix-word") || "Fix:") + " ";
        item.appendChild(strong);
        item.appendChild(document.createTextNode(f.fix));
      }
      list.appendChild(item);
    });
    count.textContent = findings.length === 0 ? (count.getAttribute("data-none") || "0")
      : (count.getAttribute("data-some") || "%(num)d").replace("%(num)d", String(findings.length));
    bindLinks();
    drawGutter();
  }

  var timer = null;
  var saving = false;
  var stopped = false;

  function autosave() {
    if (saving || stopped) { return; }
    saving = true;
    var body = new FormData(form);
    fetch(area.getAttribute("data-autosave"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      saving = false;
      if (!result.ok) {
        stopped = Boolean(result.data.conflict);
        status.textContent = result.data.error || "";
        return;
      }
      revision.value = String(result.data.revision);
      var submitRevision = document.getElementById("submit-revision");
      if (submitRevision) { submitRevision.value = String(result.data.revision); }
      status.textContent = (status.getAttribute("data-saved") || "Saved") + " " + result.data.saved_at;
      drawFindings(result.data.findings);
    }).catch(function () {
      saving = false;
      status.textContent = status.getAttribute("data-failed") || "";
    });
  }

  area.addEventListener("input", function () {
    drawGutter();
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(autosave, 1500);
  });
  area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
  bindLinks();
  drawGutter();
}());
