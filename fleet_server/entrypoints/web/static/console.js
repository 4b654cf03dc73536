// Small behaviours of the console, without inline scripts (the pages' CSP forbids them).
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      var nav = document.getElementById("nav");
      var open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    // Show or hide a password while typing it (login, activation, reset).
    var eye = event.target.closest(".show-password");
    if (eye) {
      var input = eye.parentElement.querySelector("input");
      var shown = input.type === "password";
      input.type = shown ? "text" : "password";
      eye.textContent = shown ? "Masquer" : "Afficher";
      eye.setAttribute("aria-pressed", shown ? "true" : "false");
      eye.setAttribute("aria-label", eye.getAttribute("aria-label").replace(
        shown ? "Afficher" : "Masquer", shown ? "Masquer" : "Afficher"));
      input.focus();
    }
    // "Select all" checkbox of a table of operations.
    var all = event.target.closest("input[data-select-all]");
    if (all) {
      document.querySelectorAll("input[name='" + all.dataset.selectAll + "']").forEach(
        function (box) { box.checked = all.checked; });
      countSelected();
    }
  });

  // Buttons and forms that ask before doing something that cannot be undone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  function countSelected() {
    var out = document.getElementById("selected-count");
    if (!out) { return; }
    var boxes = document.querySelectorAll("input[name='operation_ids']:checked");
    var cents = 0;
    boxes.forEach(function (box) { cents += parseInt(box.dataset.cents || "0", 10); });
    out.textContent = boxes.length ? boxes.length + " opération(s) sélectionnée(s) pour " +
      (cents / 100).toFixed(2).replace(".", ",") + " €" : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "operation_ids") { countSelected(); }
    // The help form posts to the chosen terminal's address.
    if (event.target.id === "help-device") {
      event.target.form.action = event.target.dataset.helpAction.replace(
        "{id}", encodeURIComponent(event.target.value));
    }
  });

  // Online till: scan a QR code with the camera where the browser has BarcodeDetector.
  function setupScanner() {
    var button = document.getElementById("scan-button");
    if (!button) { return; }
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) {
      button.classList.add("hidden");
      return;
    }
    var video = document.getElementById("scan-video");
    var field = document.getElementById("code");
    var stream = null;
    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.classList.add("hidden");
      button.textContent = "Scanner avec la caméra";
    }
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          video.classList.remove("hidden");
          button.textContent = "Arrêter la caméra";
          return video.play().then(function tick() {
            if (!stream) { return; }
            detector.detect(video).then(function (codes) {
              if (codes.length) {
                field.value = codes[0].rawValue;
                stop();
                var amount = document.getElementById("amount");
                if (amount) { amount.focus(); }
              } else {
                window.requestAnimationFrame(tick);
              }
            }).catch(function () { window.requestAnimationFrame(tick); });
          });
        })
        .catch(function () { stop(); button.classList.add("hidden"); });
    });
  }

  // After a till sale, clear the form for the next customer and put the cursor back.
  document.addEventListener("fragment:done", function (event) {
    var form = event.target;
    if (form.id === "till-form" && event.detail.headers.get("X-Sale") === "approved") {
      ["code", "amount"].forEach(function (id) {
        var input = document.getElementById(id);
        if (input) { input.value = ""; }
      });
      var field = document.getElementById("code");
      if (field) { field.focus(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupScanner();
    countSelected();
  });
}());
