// Suggestions for the search box (GET /api/suggest), offered through a <datalist>.
// Progressive: without this script the box is a plain form field, exactly as before.
// Suggestions are written with `value` and `textContent`, never as HTML.
(function () {
  "use strict";
  var input = document.getElementById("q");
  if (!input || !window.fetch) {
    return;
  }
  var list = document.createElement("datalist");
  list.id = "q-suggestions";
  input.parentNode.appendChild(list);
  input.setAttribute("list", list.id);
  input.setAttribute("autocomplete", "off");
  var endpoint = input.getAttribute("data-suggest") || "/api/suggest";
  var timer = null;
  var asked = "";

  function show(items) {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.text;
      option.textContent = item.kind === "phrase" ? "phrase" : "title";
      list.appendChild(option);
    });
  }

  function ask() {
    var prefix = input.value.trim();
    if (prefix === asked) {
      return;
    }
    asked = prefix;
    if (!prefix || prefix.length > 200) {
      show([]);
      return;
    }
    fetch(endpoint + "?k=8&q=" + encodeURIComponent(prefix), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.json() : { suggestions: [] };
      })
      .then(function (body) {
        if (input.value.trim() === prefix) {
          show(body.suggestions || []);
        }
      })
      .catch(function () {
        show([]);
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  });
})();
