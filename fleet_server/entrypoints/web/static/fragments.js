// Partial page updates for the console: the small part of the htmx attribute vocabulary the
// templates use, so pages keep working as plain forms and links when scripts are off.
//   hx-post / hx-get       on a form (submit) or any element with hx-trigger="every Ns" (poll)
//   hx-target              "#id", "closest SELECTOR" or absent (the element itself)
//   hx-swap                innerHTML (default) or outerHTML
//   hx-select              keep only this part of the answer
//   hx-disabled-elt        "find SELECTOR": disabled while the request runs
//   hx-swap-oob="true"     an element of the answer that replaces the page's one with its id
//   hx-headers             JSON headers on <body> (the CSRF token), sent with every request
// Requests carry "HX-Request: true" (the server then answers a fragment) and follow an
// "HX-Redirect" answer header (session expired: back to the login page); a redirected answer
// (a refusal with its message) loads that page; other errors leave the page as it is. After a
// swap the element that asked gets a "fragment:done" event (detail.headers: the answer's).
(function () {
  "use strict";

  function headers() {
    var out = { "HX-Request": "true" };
    var extra = document.body.getAttribute("hx-headers");
    if (extra) {
      try { Object.assign(out, JSON.parse(extra)); } catch (err) { /* malformed: ignore */ }
    }
    return out;
  }

  function resolve(element, spec) {
    if (!spec) { return element; }
    if (spec.indexOf("closest ") === 0) { return element.closest(spec.slice(8)); }
    if (spec.indexOf("find ") === 0) { return element.querySelector(spec.slice(5)); }
    return document.querySelector(spec);
  }

  function swap(element, html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var answer = template.content;
    answer.querySelectorAll("[hx-swap-oob]").forEach(function (part) {
      part.removeAttribute("hx-swap-oob");
      var old = part.id && document.getElementById(part.id);
      if (old) { old.replaceWith(part); }
    });
    var select = element.getAttribute("hx-select");
    if (select) {
      var picked = answer.querySelector(select);
      if (!picked) { return; }
      answer = picked;
    }
    var target = resolve(element, element.getAttribute("hx-target"));
    if (!target) { return; }
    if (element.getAttribute("hx-swap") === "outerHTML") {
      target.replaceWith(answer);
    } else {
      target.replaceChildren(answer);
    }
  }

  function send(element, method, url, body) {
    var spec = element.getAttribute("hx-disabled-elt");
    var busy = spec ? resolve(element, spec) : null;
    if (busy) { busy.disabled = true; }
    var init = { method: method, headers: headers(), credentials: "same-origin" };
    if (body) { init.body = body; }
    return fetch(url, init).then(function (response) {
      var redirect = response.headers.get("HX-Redirect");
      if (redirect) { window.location.assign(redirect); return null; }
      // A refusal answers with a redirect to the page and its message: show that page.
      if (response.redirected) { window.location.assign(response.url); return null; }
      if (!response.ok) { return null; }
      return response.text().then(function (html) {
        swap(element, html);
        // For the page's own scripts: which element asked, and the answer's headers.
        element.dispatchEvent(new CustomEvent("fragment:done", {
          bubbles: true, detail: { headers: response.headers } }));
      });
    }).catch(function () { /* network error: the next poll or submit tries again */ })
      .finally(function () { if (busy) { busy.disabled = false; } });
  }

  // On window, so that the page's own submit handlers (confirmations) run first.
  window.addEventListener("submit", function (event) {
    var form = event.target;
    var url = form.getAttribute("hx-post");
    if (!url || event.defaultPrevented) { return; }
    event.preventDefault();
    send(form, "POST", url, new URLSearchParams(new FormData(form, event.submitter)));
  });

  function startPolling(root) {
    root.querySelectorAll("[hx-get][hx-trigger^='every ']").forEach(function (element) {
      if (element.dataset.polling) { return; }
      var seconds = parseFloat(element.getAttribute("hx-trigger").slice(6));
      if (!(seconds > 0)) { return; }
      element.dataset.polling = "1";
      var timer = window.setInterval(function () {
        if (!element.isConnected) { window.clearInterval(timer); return; }
        if (document.hidden) { return; }  // no polling from a tab nobody looks at
        send(element, "GET", element.getAttribute("hx-get")).then(function () {
          startPolling(document);  // an outerHTML swap brings a new element to poll
        });
      }, seconds * 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { startPolling(document); });
})();
