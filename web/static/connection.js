// Listwarden: the connection page's cost box. When the Clean form's choice of lists, tag or
// "all" changes, asks GET /connections/:id/estimate for the estimate's words (the server
// holds the rules) and fills in list sizes that were still being counted.
"use strict";

(function () {
  var box = document.getElementById("cost");
  var form = box && box.closest("form");
  if (!box || !form) return;
  var url = box.getAttribute("data-estimate-url");
  var asked = 0;

  function query() {
    var data = new FormData(form);
    var params = new URLSearchParams();
    params.set("scope", String(data.get("scope") || ""));
    data.getAll("listIds").forEach(function (id) {
      params.append("listIds", String(id));
    });
    params.set("tagId", String(data.get("tagId") || ""));
    return params.toString();
  }

  function setText(sel, value) {
    box.querySelectorAll(sel).forEach(function (el) {
      if (el.textContent !== value) el.textContent = value;
    });
  }

  function sizeWords(n) {
    return n === null || n === undefined ? "counting…" : new Intl.NumberFormat("en-US").format(n) + (n === 1 ? " contact" : " contacts");
  }

  function show(answer, latest) {
    var w = answer.words;
    if (!latest) {
      showSizes(answer.sizes);
      return;
    }
    ["contacts", "credits", "time", "balance", "verdict"].forEach(function (k) {
      setText('[data-bind="' + k + '"]', w[k]);
    });
    var verdict = box.querySelector('[data-bind="verdict"]');
    if (verdict) {
      verdict.hidden = !w.verdict;
      verdict.className = w.short ? "notice warn" : "muted";
    }
    showSizes(answer.sizes);
  }

  function showSizes(sizes) {
    if (!sizes) return;
    document.querySelectorAll("[data-size]").forEach(function (el) {
      var key = el.getAttribute("data-size");
      var n = key === "all" ? sizes.all : key.indexOf("list:") === 0 ? sizes.lists[key.slice(5)] : null;
      var words = sizeWords(n);
      if (el.textContent !== words) el.textContent = words;
    });
  }

  function refresh(allSizes) {
    var mine = ++asked;
    fetch(url + "?" + query() + (allSizes ? "&sizes=all" : ""), { headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (answer) {
        // Only the answer to the latest choice says the estimate; any answer may bring sizes.
        show(answer, mine === asked);
      })
      .catch(function () {
        /* the page keeps what it showed */
      });
  }

  form.addEventListener("change", function (e) {
    var name = e.target && e.target.name;
    if (name === "scope" || name === "listIds" || name === "tagId") refresh(false);
  });
  // Sizes still being counted when the page was rendered come in now.
  if (document.querySelector("[data-size]") && document.body.textContent.indexOf("counting…") !== -1) refresh(true);
})();
