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

  // Parts that only work with this script (buttons that fill in a field) are hidden without it.
  document.querySelectorAll("[data-needs-script]").forEach(function (el) {
    el.hidden = false;
  });

  // A quick choice for one reason's action: sets its select and shows it, open.
  document.querySelectorAll("[data-preset-reason]").forEach(function (button) {
    button.addEventListener("click", function () {
      var select = document.getElementById("f-override-" + button.getAttribute("data-preset-reason"));
      if (!select) return;
      select.value = button.getAttribute("data-preset-action");
      select.dispatchEvent(new Event("change", { bubbles: true }));
      var details = select.closest("details");
      if (details) details.open = true;
      select.focus();
    });
  });

  // The threshold matters only when runs apply by themselves.
  document.querySelectorAll("[data-shown-by]").forEach(function (el) {
    var box = document.getElementById(el.getAttribute("data-shown-by"));
    if (!box) return;
    var sync = function () {
      el.hidden = !box.checked;
    };
    box.addEventListener("change", sync);
    sync();
  });

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return "";
    }
  }

  // A new schedule starts in the reader's time zone (the server cannot know it).
  var zoneSelect = document.querySelector("select[data-browser-zone]");
  var zone = browserZone();
  if (zoneSelect && zone) {
    for (var i = 0; i < zoneSelect.options.length; i++) {
      if (zoneSelect.options[i].value === zone) {
        zoneSelect.value = zone;
        break;
      }
    }
  }

  // A schedule's next run is shown in its own time zone; add the reader's time when it differs.
  document.querySelectorAll("[data-your-time]").forEach(function (el) {
    var at = new Date(el.getAttribute("data-your-time"));
    var theirs = el.getAttribute("data-zone");
    if (isNaN(at.getTime()) || !zone || !theirs) return;
    var parts = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      var there = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: theirs }, parts)).format(at);
      var here = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone }, parts)).format(at);
      if (there === here) return;
      var words = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(at);
      el.textContent = " (your time: " + words + ")";
      el.hidden = false;
    } catch (e) {
      // An unknown zone in this browser: the schedule's own time stands alone.
    }
  });

  // Copy a value shown once (a new API token).
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector(".copy-status");
    if (!input) return;
    button.hidden = false;
    var done = function (ok) {
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the token and copy it yourself.";
    };
    button.addEventListener("click", function () {
      input.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(
          function () {
            done(true);
          },
          function () {
            done(document.execCommand && document.execCommand("copy"));
          },
        );
      } else {
        done(document.execCommand && document.execCommand("copy"));
      }
    });
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
