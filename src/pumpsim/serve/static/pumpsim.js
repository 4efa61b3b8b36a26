// pumpsim serve: the only script of the page (no inline script, no eval: the Content-Security-Policy forbids both).
// The table panel checks the text as it changes (debounced); without JavaScript the forms still work.
"use strict";
(function () {
  const DEBOUNCE_MS = 400;
  const form = document.querySelector("form[data-live]");
  for (const input of document.querySelectorAll("input[data-submit-on-change]")) {
    input.addEventListener("change", () => { if (input.files.length) { input.form.requestSubmit(); } });
  }
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
  if (!form) { return; }
  const input = form.querySelector("textarea[name=table]");
  const out = document.getElementById("table-result");
  let timer = null;
  let sequence = 0;
  async function check() {
    const mine = ++sequence;
    const body = new FormData(form);
    body.delete("table_file");
    out.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.dataset.live, { method: "POST", body, headers: { "X-Pumpsim-Fragment": "1" } });
      const html = await response.text();
      if (mine !== sequence) { return; }  // a later edit is being checked
      out.innerHTML = html;  // server-rendered, escaped by Jinja2
    } catch (err) {
      if (mine === sequence) { out.textContent = "The page could not reach pumpsim serve: is it still running?"; }
    } finally {
      if (mine === sequence) { out.removeAttribute("aria-busy"); }
    }
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, DEBOUNCE_MS); });
  form.querySelector("input[name=table_name]").addEventListener("input", () => {
    clearTimeout(timer); timer = setTimeout(check, DEBOUNCE_MS);
  });
  if (!out.querySelector("[data-verdict]")) { check(); }
})();
