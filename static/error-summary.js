/* The error summary (templates/_macros/forms.html) takes the focus when the page opens, so
 * that a screen reader reads it first; its links move the focus to the field they name (a
 * fragment link alone scrolls without focusing in some browsers, and would hide the label
 * under the top of the window). No inline code: the Content-Security-Policy forbids it.
 */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
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
