// Listwarden: small enhancements on every page. Every page works without this script.
"use strict";

(function () {
  // Dates are rendered in UTC; show them in the reader's own time zone.
  var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d.getTime())) {
      el.title = el.textContent;
      el.textContent = format.format(d);
    }
  });

  // A form with problems: move focus to the summary so they are read out first.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // Choosing a list or a tag chooses that scope.
  document.querySelectorAll("[data-scope]").forEach(function (el) {
    el.addEventListener("change", function () {
      var radio = document.getElementById("scope-" + el.getAttribute("data-scope"));
      if (radio && (el.type !== "checkbox" || el.checked)) radio.checked = true;
    });
  });

  // The delete warning shows while any result is set to Delete.
  var warning = document.getElementById("delete-warning");
  var selects = document.querySelectorAll("[data-action-select]");
  function updateWarning() {
    var any = false;
    selects.forEach(function (s) {
      if (s.value === "delete") any = true;
    });
    if (warning) warning.hidden = !any;
  }
  selects.forEach(function (s) {
    s.addEventListener("change", updateWarning);
  });

  // One submission per click: a slow answer (checking a key with ActiveCampaign) is not sent twice.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button) return;
      setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      }, 0);
      // If the user comes back (history), the button works again.
      window.addEventListener("pageshow", function () {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
    });
  });
})();
