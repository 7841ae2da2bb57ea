// Listwarden: live progress on a run's page. Polls GET /api/runs/:id and updates the numbers,
// the progress bar and the status chart in place; reloads the page when the status changes,
// so the server renders what the new status needs (the review step, the final charts).
"use strict";

(function () {
  var root = document.getElementById("run");
  if (!root) return;
  var id = root.getAttribute("data-run-id");
  var status = root.getAttribute("data-status");
  var LIVE = ["queued", "running", "paused_credits", "applying"];
  if (LIVE.indexOf(status) === -1) return;

  var number = new Intl.NumberFormat("en-US");
  var fmt = function (n) {
    return number.format(n);
  };
  var plural = function (n, one, many) {
    return fmt(n) + " " + (n === 1 ? one : many || one + "s");
  };
  var bar = document.getElementById("run-progress");
  var text = document.getElementById("progress-text");
  var announcer = document.getElementById("progress-announcer");
  var lastMilestone = -1;
  var delay = 1500;

  // Mirrors progressOf() in web/pages/run.tsx.
  function progressOf(run) {
    var p = run.progress;
    switch (run.status) {
      case "queued":
        return { value: 0, max: null, text: "Waiting to start…" };
      case "running":
      case "paused_credits": {
        var of = p.total === null ? p.fetched : p.total;
        var prefix = run.status === "paused_credits" ? "Paused. " : "";
        if (of === 0) return { value: 0, max: null, text: prefix + "Fetching contacts from ActiveCampaign…" };
        return {
          value: p.verified,
          max: Math.max(of, 1),
          text: prefix + "Checked " + fmt(p.verified) + " of " + (p.total === null ? fmt(p.fetched) + " fetched so far" : plural(p.total, "contact")) + ".",
        };
      }
      case "applying":
        return { value: p.applied + p.failed, max: Math.max(p.planned, 1), text: "Applied " + fmt(p.applied + p.failed) + " of " + plural(p.planned, "change") + "." };
      default:
        return { value: 1, max: 1, text: "" };
    }
  }

  function setText(sel, value) {
    document.querySelectorAll(sel).forEach(function (el) {
      if (el.textContent !== value) el.textContent = value;
    });
  }

  function update(run) {
    var pr = progressOf(run);
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

    setText('[data-bind="fetched"]', fmt(run.progress.fetched));
    setText('[data-bind="verified"]', fmt(run.progress.verified));
    setText('[data-bind="applied"]', fmt(run.progress.applied));
    setText('[data-bind="planned"]', fmt(run.progress.planned));
    setText('[data-bind="charged"]', fmt(run.credits.charged));
    setText('[data-bind="refunded"]', fmt(run.credits.refunded));

    var byStatus = run.counts.byStatus;
    var total = 0;
    Object.keys(byStatus).forEach(function (k) {
      total += byStatus[k];
    });
    Object.keys(byStatus).forEach(function (k) {
      var n = byStatus[k];
      var share = total > 0 ? (n / total) * 100 : 0;
      document.querySelectorAll('[data-bar="' + k + '"]').forEach(function (rect) {
        rect.setAttribute("width", share.toFixed(2) + "%");
      });
      setText('[data-count="' + k + '"]', fmt(n));
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
    fetch("/api/runs/" + encodeURIComponent(id), { headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (res.status === 401 || res.status === 404) {
          location.reload();
          return null;
        }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (run) {
        if (!run) return;
        delay = 1500;
        if (run.status !== status) {
          location.replace(location.pathname);
          return;
        }
        update(run);
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
