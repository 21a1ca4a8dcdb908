/* The error summary takes the focus when the page opens, so that a screen reader reads it
 * first; its links move the focus to the field they name (a fragment link alone scrolls
 * without focusing in some browsers, and would hide the label under the top of the window).
 *
 * WTForms pages get their summary from the server (templates/_macros/forms.html). The protocol
 * form page (templates/records/fill.html) renders its fields from cached markup that carries
 * each field's errors but no summary: there, this script builds the summary from those errors,
 * with the words the page gives in `#error-summary-words`, and ties each error list to its
 * input (aria-describedby). No inline code: the Content-Security-Policy forbids it.
 */
(function () {
  "use strict";

  function fieldOf(list) {
    var wrapper = list.closest(".pf-field, .pf-section, .field");
    if (!wrapper) {
      return null;
    }
    var input = wrapper.querySelector("input:not([type=hidden]), select, textarea, output");
    var caption = wrapper.querySelector("legend, label");
    var label = "";
    if (caption) {
      var copy = caption.cloneNode(true);
      copy.querySelectorAll("abbr, .required, input").forEach(function (n) { n.remove(); });
      label = copy.textContent.trim();
    }
    return { input: input, label: label };
  }

  function build() {
    var words = document.getElementById("error-summary-words");
    if (!words) {
      return null;
    }
    var lists = Array.prototype.filter.call(
      document.querySelectorAll(".pf-errors"),
      function (list) { return !list.closest("[hidden]"); });
    if (!lists.length) {
      return null;
    }
    var items = [];
    lists.forEach(function (list) {
      var field = fieldOf(list);
      var input = field && field.input;
      if (input && input.id) {
        list.id = list.id || (input.name || input.id) + "-errors";
        var described = (input.getAttribute("aria-describedby") || "").split(" ");
        if (described.indexOf(list.id) < 0) {
          described.push(list.id);
          // Every option of a group names the error, as the group's first one is linked.
          var group = input.name ? document.getElementsByName(input.name) : [input];
          Array.prototype.forEach.call(group, function (one) {
            var own = (one.getAttribute("aria-describedby") || "").split(" ");
            own.push(list.id);
            one.setAttribute("aria-describedby", own.join(" ").trim());
          });
        }
      }
      if (!input || !input.id) {  // errors of the whole form: the link leads to them
        list.id = list.id || "pf-form-errors";
        list.tabIndex = -1;
      }
      list.querySelectorAll("li").forEach(function (item) {
        items.push({ target: input && input.id ? input.id : list.id || "",
                     text: (field && field.label ? words.dataset.labelled
                            .replace("%(label)s", field.label)
                            .replace("%(message)s", item.textContent.trim())
                            : item.textContent.trim()) });
      });
    });
    var summary = document.createElement("section");
    summary.className = "error-summary";
    summary.id = "error-summary";
    summary.tabIndex = -1;
    summary.setAttribute("aria-labelledby", "error-summary-title");
    var title = document.createElement("h2");
    title.id = "error-summary-title";
    title.textContent = (items.length === 1 ? words.dataset.one : words.dataset.many)
      .replace("%(num)d", String(items.length));
    summary.appendChild(title);
    var ul = document.createElement("ul");
    items.forEach(function (entry) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + entry.target;
      link.textContent = entry.text;
      li.appendChild(link);
      ul.appendChild(li);
    });
    summary.appendChild(ul);
    words.parentNode.insertBefore(summary, words);
    return summary;
  }

  var summary = document.getElementById("error-summary") || build();
  if (!summary) {
    return;
  }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    var target = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
    if (!target) {
      return;
    }
    event.preventDefault();
    var around = target.closest("fieldset, .field, .pf-field") || target;
    around.scrollIntoView();
    target.focus({ preventScroll: true });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", link.getAttribute("href"));
    }
  });
})();
