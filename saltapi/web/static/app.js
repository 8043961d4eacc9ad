// saltapi's pages work without this file; it adds confirmations, copy buttons, and tidier menus and forms.
"use strict";

// A form with data-confirm asks before it is sent (Reset and Remove of a token, deletes).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// A button with data-copy="#input" copies that input's value.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.querySelector(button.dataset.copy);
  input.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

// An open menu closes when one clicks elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.dropdown[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});

// The new-field form shows only the attributes of the chosen type.
document.querySelectorAll("[data-type-select]").forEach((select) => {
  const form = select.closest("form");
  const show = () => {
    form.querySelectorAll("[data-for-types]").forEach((part) => {
      part.hidden = !part.dataset.forTypes.split(" ").includes(select.value);
    });
  };
  select.addEventListener("change", show);
  show();
});
