// Listwarden: live progress on a run's page. Polls GET /runs/:id/live and updates the numbers,
// the progress bar and the status chart in place; reloads the page when the status changes,
// so the server renders what the new status needs (the review step, the final charts).
"use strict";

(function () {
  var root = document.getElementById("run");
  if (!root || root.getAttribute("data-live") !== "yes") return;
  var id = root.getAttribute("data-run-id");
  var status = root.getAttribute("data-status");

  var number = new Intl.NumberFormat("en-US");
  var bar = document.getElementById("run-progress");
  var text = document.getElementById("progress-text");
  var announcer = document.getElementById("progress-announcer");
  var lastMilestone = -1;
  var delay = 1500;

  function setText(sel, value) {
    document.querySelectorAll(sel).forEach(function (el) {
      if (el.textContent !== value) el.textContent = value;
    });
  }

  // `view` comes from GET /runs/:id/live: the server words the sentence and formats the numbers.
  function update(view) {
    var pr = view.progress;
    if (bar) {
      if (pr.max === null) {
        bar.removeAttribute("value");
        bar.removeAttribute("max");
      } else {
        bar.max = pr.max;
        bar.value = pr.value;
      }
    }
    if (text && text.textContent !== pr.text) text.textContent = pr.text;
    // Screen readers hear every quarter, not every poll.
    var milestone = pr.max === null ? 0 : Math.floor((pr.value / pr.max) * 4);
    if (announcer && milestone !== lastMilestone) {
      if (lastMilestone !== -1) announcer.textContent = pr.text;
      lastMilestone = milestone;
    }
    Object.keys(view.text).forEach(function (k) {
      setText('[data-bind="' + k + '"]', view.text[k]);
    });

    var byStatus = view.byClass;
    var total = 0;
    Object.keys(byStatus).forEach(function (k) {
      total += byStatus[k];
    });
    document.querySelectorAll("[data-until-results]").forEach(function (el) {
      el.hidden = total > 0;
    });
    Object.keys(byStatus).forEach(function (k) {
      var n = byStatus[k];
      var share = total > 0 ? (n / total) * 100 : 0;
      document.querySelectorAll('[data-bar="' + k + '"]').forEach(function (rect) {
        rect.setAttribute("width", share.toFixed(2) + "%");
      });
      setText('[data-count="' + k + '"]', number.format(n));
      setText('[data-share="' + k + '"]', "(" + (share > 0 && share < 1 ? "<1" : Math.round(share)) + "%)");
    });
  }

  function schedule() {
    setTimeout(poll, delay);
  }

  function poll() {
    if (document.hidden) {
      document.addEventListener("visibilitychange", poll, { once: true });
      return;
    }
    fetch("/runs/" + encodeURIComponent(id) + "/live", { headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        // Signed out (sent to the sign-in page) or the run is gone: let the page say so.
        if (res.redirected || res.status === 404) {
          location.reload();
          return null;
        }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (view) {
        if (!view) return;
        delay = 1500;
        if (view.status !== status || !view.live) {
          location.replace(location.pathname);
          return;
        }
        update(view);
        schedule();
      })
      .catch(function () {
        // The server may be restarting: try again, less often.
        delay = Math.min(delay * 2, 15000);
        schedule();
      });
  }

  schedule();
})();
