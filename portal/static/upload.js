/* Evidence uploads, made nicer when JavaScript runs (the plain multipart form works without):
   - large screenshots are scaled down in the browser before they are sent;
   - files over the limits are refused before a single byte is sent;
   - an upload progress bar (htmx's xhr progress events; a busy bar for a plain submit);
   - after a refusal that was not about the files, the chosen files are kept.
   Forms opt in with data-upload; messages come translated in data-msg-* attributes. */
(function () {
  "use strict";
  if (window.portalUpload) { return; }
  window.portalUpload = true;

  var RESIZE_ABOVE = 1024 * 1024; // images smaller than this and within max side are sent as they are
  var IMAGE = /^image\/(jpeg|png|webp)$/;
  var kept = null; // files to put back after a swap

  function uploadForm(el) { return el && el.closest ? el.closest("form[data-upload]") : null; }
  function fileInput(form) { return form.querySelector("input[type=file]"); }
  function say(form, key, fill) {
    var p = form.querySelector(".upload-status");
    if (!p) { return; }
    var msg = key ? (form.getAttribute("data-msg-" + key) || "") : "";
    Object.keys(fill || {}).forEach(function (k) { msg = msg.replace("%(" + k + ")s", fill[k]); });
    p.textContent = msg;
    p.hidden = !msg;
  }
  function mb(n) { return (n / 1048576).toFixed(1); }
  function num(input, name, dflt) { return parseInt(input.getAttribute(name), 10) || dflt; }

  function shrink(file, maxSide, maxPixels) {
    if (!IMAGE.test(file.type) || !window.createImageBitmap) { return Promise.resolve(file); }
    return createImageBitmap(file).then(function (bmp) {
      var side = Math.max(bmp.width, bmp.height), pixels = bmp.width * bmp.height;
      if (side <= maxSide && pixels <= maxPixels && file.size <= RESIZE_ABOVE) { bmp.close(); return file; }
      // within the longest side kept, and within this file's share of the request's pixels
      var scale = Math.min(1, maxSide / side, Math.sqrt(maxPixels / pixels));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bmp.width * scale);
      canvas.height = Math.round(bmp.height * scale);
      canvas.getContext("2d").drawImage(bmp, 0, 0, canvas.width, canvas.height);
      bmp.close();
      var type = file.type === "image/jpeg" ? "image/jpeg" : "image/webp";
      return new Promise(function (done) {
        canvas.toBlob(function (blob) {
          if (!blob || !IMAGE.test(blob.type) || (blob.size >= file.size && scale === 1)) { done(file); return; }
          var ext = { "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp" }[blob.type];
          var name = file.name.replace(/\.[A-Za-z0-9]+$/, "") + ext;
          done(new File([blob], name, { type: blob.type, lastModified: file.lastModified }));
        }, type, 0.88);
      });
    }).catch(function () { return file; }); // not decodable here: let the server decide
  }

  document.addEventListener("change", function (evt) {
    var input = evt.target, form = uploadForm(input);
    if (!form || input.type !== "file" || !input.files.length || !window.DataTransfer) { return; }
    var before = Array.prototype.reduce.call(input.files, function (s, f) { return s + f.size; }, 0);
    form.setAttribute("data-busy", "");
    say(form, "resizing");
    var images = Array.prototype.filter.call(input.files, function (f) { return IMAGE.test(f.type); });
    var share = Math.floor(num(input, "data-max-pixels", 16000000) / Math.max(1, images.length));
    Promise.all(Array.prototype.map.call(input.files, function (f) {
      return shrink(f, num(input, "data-max-side", 2560), share);
    })).then(function (files) {
      var dt = new DataTransfer(), after = 0;
      files.forEach(function (f) { dt.items.add(f); after += f.size; });
      input.files = dt.files;
      form.removeAttribute("data-busy");
      say(form, after < before ? "resized" : "", { before: mb(before), after: mb(after) });
    });
  });

  // capture phase: runs before htmx's own submit handler, and can stop it
  document.addEventListener("submit", function (evt) {
    var form = uploadForm(evt.target);
    if (!form) { return; }
    var input = fileInput(form), stop = function (key, fill) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
      say(form, key, fill);
    };
    if (form.hasAttribute("data-busy")) { stop("resizing"); return; }
    if (input && input.files.length) {
      var maxFile = num(input, "data-max-bytes", 8388608), maxTotal = num(input, "data-max-total", 12582912);
      var total = 0, big = null;
      Array.prototype.forEach.call(input.files, function (f) { total += f.size; if (f.size > maxFile) { big = f; } });
      if (big) { stop("file-too-large", { name: big.name, mb: mb(maxFile) }); return; }
      if (total > maxTotal - 65536) { stop("too-large", { mb: mb(maxTotal) }); return; }
    }
    var bar = form.querySelector(".upload-progress");
    if (bar) {
      bar.hidden = false;
      if (!window.htmx) { bar.removeAttribute("value"); } // a plain submit: a busy bar
    }
    say(form, "sending");
  }, true);

  document.addEventListener("htmx:xhr:progress", function (evt) {
    var form = uploadForm(evt.target), bar = form && form.querySelector(".upload-progress");
    if (!bar || !evt.detail.lengthComputable) { return; }
    bar.hidden = false;
    bar.value = Math.round(100 * evt.detail.loaded / evt.detail.total);
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr, form = uploadForm(evt.detail.requestConfig && evt.detail.requestConfig.elt);
    if (!form) { return; }
    if (xhr.status === 413) { evt.detail.shouldSwap = true; evt.detail.isError = false; }
    var input = fileInput(form);
    kept = xhr.status >= 400 && input && input.files.length ? input.files : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!kept) { return; }
    var form = document.querySelector("form[data-upload][data-keep-files]"), input = form && fileInput(form);
    if (input) {
      input.files = kept;
      say(form, "kept");
    }
    kept = null;
  });
}());
