// rccnav clinician page: collects the form, asks the server to assess it, shows the
// server-rendered result. No clinical logic here: every decision is made by the
// server's assess(); this file only moves text between the form and the server.
(function () {
  "use strict";
  var STORE = "rccnav-web-state-v1";
  var form = document.getElementById("case-form");
  var guidelineView = document.getElementById("guideline-view");
  var results = document.getElementById("results");
  var summary = document.getElementById("print-summary");
  var status = document.getElementById("form-status");
  var fileStatus = document.getElementById("file-status");
  var fileInput = document.getElementById("file-input");
  var state = { form: {}, sources: {}, file: null };
  var sequence = 0;
  var timer = null;

  function domId(path) { return "f-" + path.split(".").join("-"); }

  function collect() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) { return; }
      if (el.type === "checkbox") {
        if (el.checked) { (data[el.name] = data[el.name] || []).push(el.value); }
      } else if (el.value !== "") {
        data[el.name] = el.value;
      }
    });
    return data;
  }

  function save() {
    try { sessionStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* storage full or off */ }
  }

  function addRow(button, index) {
    var template = document.getElementById(button.getAttribute("data-template"));
    var rows = document.getElementById(button.getAttribute("data-rows"));
    if (index === undefined) {
      index = Number(rows.getAttribute("data-next") || "0");
    }
    rows.setAttribute("data-next", String(Math.max(Number(rows.getAttribute("data-next") || "0"), index + 1)));
    var wrapper = document.createElement("div");
    wrapper.innerHTML = template.innerHTML.split("__i__").join(String(index));
    var entry = wrapper.firstElementChild;
    var legend = entry.querySelector("legend");
    if (legend) { legend.textContent = legend.textContent.replace("entry", "entry " + (rows.children.length + 1)); }
    rows.appendChild(entry);
    return entry;
  }

  function ensureRows(path) {
    // "disease.metastases.2.site" needs row 2 of the "disease.metastases" group.
    var parts = path.split(".");
    for (var i = 1; i < parts.length; i++) {
      if (/^\d+$/.test(parts[i])) {
        var group = parts.slice(0, i).join(".");
        if (!document.getElementById(domId(parts.slice(0, i + 1).join(".")).replace(/^f-/, "g-"))) {
          var button = form.querySelector('button[data-add="' + group + '"]');
          if (button) { addRow(button, Number(parts[i])); }
        }
      }
    }
  }

  function clearForm() {
    Array.prototype.forEach.call(form.querySelectorAll(".rows"), function (rows) {
      rows.innerHTML = ""; rows.setAttribute("data-next", "0");
    });
    form.reset();
    Array.prototype.forEach.call(form.querySelectorAll("input[type=hidden]"), function (el) { el.value = ""; });
    Array.prototype.forEach.call(form.querySelectorAll(".provenance"), function (el) { el.textContent = ""; });
  }

  function fill(values, sources) {
    clearForm();
    Object.keys(values).forEach(function (name) {
      ensureRows(name);
      var value = values[name];
      var boxes = form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
      if (boxes.length) {
        Array.prototype.forEach.call(boxes, function (box) { box.checked = value.indexOf(box.value) >= 0; });
        return;
      }
      var el = form.elements.namedItem(name);
      if (el) { el.value = value; }
    });
    Object.keys(sources || {}).forEach(function (name) {
      var note = document.getElementById("src-" + domId(name));
      if (note) { note.textContent = sources[name]; note.title = "from " + sources[name]; }
    });
  }

  function clearProblems() {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (el) { el.removeAttribute("aria-invalid"); });
    Array.prototype.forEach.call(form.querySelectorAll(".error"), function (el) { el.textContent = ""; el.hidden = true; });
    status.classList.remove("problem");
  }

  function showProblems(problems) {
    problems.forEach(function (problem) {
      var id = domId(problem.field);
      var el = document.getElementById(id) || document.getElementById(id.replace(/^f-/, "g-"));
      var message = document.getElementById("err-" + (el ? el.id : id));
      if (el) { el.setAttribute("aria-invalid", "true"); }
      if (message) { message.textContent = problem.message; message.hidden = false; }
    });
    status.textContent = problems.length + " entr" + (problems.length === 1 ? "y needs" : "ies need") +
      " correcting; the assessment shown is for the last valid entries.";
    status.classList.add("problem");
  }

  function post(url, body, headers) {
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      });
  }

  function update() {
    form.setAttribute("data-state", "busy");
    state.form = collect();
    save();
    var mine = ++sequence;
    status.textContent = "Assessing…";
    post("api/assess", JSON.stringify({ form: state.form, file: state.file, guideline: guidelineView.value }),
      { "Content-Type": "application/json" })
      .then(function (reply) {
        if (mine !== sequence) { return; }
        form.setAttribute("data-state", "idle");
        clearProblems();
        if (reply.data.problems && reply.data.problems.length) { showProblems(reply.data.problems); return; }
        if (!reply.ok) { status.textContent = reply.data.error || "The assessment failed."; status.classList.add("problem"); return; }
        results.innerHTML = reply.data.results;
        summary.innerHTML = reply.data.summary;
        status.textContent = "Assessment updated (" + reply.data.on + ").";
      })
      .catch(function () {
        form.setAttribute("data-state", "idle");
        status.textContent = "The rccnav server did not answer; is it still running?";
      });
  }

  // data-state is "busy" from a change until its assessment is shown (tests wait on it).
  function schedule() { form.setAttribute("data-state", "busy"); clearTimeout(timer); timer = setTimeout(update, 120); }

  function load(file) {
    fileStatus.textContent = "Reading " + file.name + "…";
    form.setAttribute("data-state", "busy");
    var on = (form.elements.namedItem("assessment_date") || {}).value || document.body.getAttribute("data-today");
    file.arrayBuffer().then(function (bytes) {
      return post("api/intake?on=" + encodeURIComponent(on), bytes,
        { "Content-Type": "application/octet-stream", "X-File-Name": encodeURIComponent(file.name) });
    }).then(function (reply) {
      if (!reply.ok) {
        form.setAttribute("data-state", "idle");
        fileStatus.textContent = reply.data.error || "The file could not be read.";
        fileStatus.classList.add("error");
        return;
      }
      fileStatus.classList.remove("error");
      state.sources = reply.data.sources;
      state.file = reply.data.file;
      fill(reply.data.form, state.sources);
      fileStatus.textContent = "Filled from " + file.name + " (" + reply.data.file.summary.kind + ", read as of " + reply.data.on + "). Values from the file are marked with their source.";
      update();
    }).catch(function () { fileStatus.textContent = "The file could not be sent to the rccnav server."; });
  }

  form.addEventListener("input", function (event) {
    var note = event.target.id ? document.getElementById("src-" + event.target.id) : null;
    if (note && note.textContent) { note.textContent = ""; delete state.sources[event.target.name]; }
    schedule();
  });
  form.addEventListener("change", schedule);
  guidelineView.addEventListener("change", update);
  form.addEventListener("submit", function (event) { event.preventDefault(); update(); });
  form.addEventListener("click", function (event) {
    var target = event.target;
    if (target.matches("button[data-add]")) {
      var entry = addRow(target);
      var first = entry.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    } else if (target.matches("button[data-remove]")) {
      var row = document.getElementById(target.getAttribute("data-remove"));
      var group = row.closest("fieldset.repeat");
      row.remove();
      group.querySelector("button[data-add]").focus();
      schedule();
    }
  });
  fileInput.addEventListener("change", function () { if (fileInput.files.length) { load(fileInput.files[0]); } });
  var zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault(); zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) { load(event.dataTransfer.files[0]); }
  });
  document.getElementById("print-button").addEventListener("click", function () { window.print(); });
  document.getElementById("clear-button").addEventListener("click", function () {
    clearForm(); state = { form: {}, sources: {}, file: null }; fileStatus.textContent = ""; update();
  });

  try {
    var saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
    if (saved && saved.form) {
      state = { form: saved.form, sources: saved.sources || {}, file: saved.file || null };
      fill(state.form, state.sources);
      update();
    }
  } catch (e) { /* a corrupt saved state is simply not restored */ }
})();
