/* The prompt pages: the edit page's "start from" version select; the chat messages editor: add, remove and move messages, and switch between
   one row per message and the list as raw JSON. Rows post as
   <name>-<i>-role / <name>-<i>-content, numbered here in page order; the
   hidden <name>-editor says which of the two the server reads; and the add
   page's body, which shows the template or the chat editor as the kind select
   says. No libraries. */
(function () {
  "use strict";
  if (window.plPromptEditor) { return; }  // loaded by the page and by the widget's media
  window.plPromptEditor = true;

  function init(editor) {
    var name = editor.dataset.name;
    var roles = (editor.dataset.roles || "system user assistant").split(" ");
    var list = editor.querySelector(".pl-chat-rows");
    var wrap = editor.querySelector(".pl-chat-rows-wrap");
    var json = editor.querySelector(".pl-chat-json");
    var mode = editor.querySelector(".pl-chat-mode");
    var toggle = editor.querySelector(".pl-chat-toggle");

    function rows() { return Array.prototype.slice.call(list.querySelectorAll(":scope > .pl-chat-row")); }

    function renumber() {
      rows().forEach(function (row, i) {
        row.querySelector(".pl-chat-number").textContent = "#" + (i + 1);
        row.querySelector(".pl-chat-role").name = name + "-" + i + "-role";
        row.querySelector(".pl-chat-content").name = name + "-" + i + "-content";
      });
    }

    function button(cls, text, title) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "button " + cls;
      b.textContent = text;
      b.title = title;
      return b;
    }

    function makeRow(role, content) {
      var row = document.createElement("li");
      row.className = "pl-chat-row";
      var head = document.createElement("div");
      head.className = "pl-chat-head";
      var number = document.createElement("span");
      number.className = "pl-chat-number";
      var select = document.createElement("select");
      select.className = "pl-chat-role";
      select.setAttribute("aria-label", "Role");
      var options = roles.indexOf(role) >= 0 || !role ? roles : roles.concat([role]);
      options.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r;
        o.textContent = r;
        if (r === role) { o.selected = true; }
        select.appendChild(o);
      });
      var buttons = document.createElement("span");
      buttons.className = "pl-chat-buttons";
      buttons.appendChild(button("pl-chat-up", "↑ up", "Move up"));
      buttons.appendChild(button("pl-chat-down", "↓ down", "Move down"));
      buttons.appendChild(button("pl-chat-remove", "✕ remove", "Remove this message"));
      head.appendChild(number);
      head.appendChild(select);
      head.appendChild(buttons);
      var text = document.createElement("textarea");
      text.className = "pl-code vLargeTextField pl-chat-content";
      text.rows = Math.max(3, Math.min(20, (content.match(/\n/g) || []).length + 2));
      text.spellcheck = false;
      text.setAttribute("aria-label", "Content");
      text.value = content;
      row.appendChild(head);
      row.appendChild(text);
      return row;
    }

    function messages() {
      return rows().map(function (row) {
        return { role: row.querySelector(".pl-chat-role").value,
                 content: row.querySelector(".pl-chat-content").value.replace(/\r\n?/g, "\n") };
      });
    }

    list.addEventListener("click", function (event) {
      var target = event.target.closest("button");
      if (!target) { return; }
      var row = target.closest(".pl-chat-row");
      if (target.classList.contains("pl-chat-up") && row.previousElementSibling) {
        list.insertBefore(row, row.previousElementSibling);
      } else if (target.classList.contains("pl-chat-down") && row.nextElementSibling) {
        list.insertBefore(row.nextElementSibling, row);
      } else if (target.classList.contains("pl-chat-remove")) {
        row.remove();
      } else {
        return;
      }
      renumber();
    });

    editor.querySelector(".pl-chat-add").addEventListener("click", function () {
      var last = rows().pop();
      var role = last && last.querySelector(".pl-chat-role").value === "user" ? "assistant" : "user";
      var row = makeRow(role, "");
      list.appendChild(row);
      renumber();
      row.querySelector(".pl-chat-content").focus();
    });

    toggle.addEventListener("click", function () {
      if (mode.value === "json") {
        var parsed;
        try {
          parsed = JSON.parse(json.value || "[]");
        } catch (e) {
          window.alert("The JSON is not valid, so it cannot be shown message by message: " + e.message);
          return;
        }
        if (!Array.isArray(parsed)) {
          window.alert("The JSON must be a list of messages to be shown message by message.");
          return;
        }
        list.textContent = "";
        parsed.forEach(function (m) {
          m = m || {};
          var content = typeof m.content === "string" ? m.content : JSON.stringify(m.content);
          list.appendChild(makeRow(typeof m.role === "string" ? m.role : "", content || ""));
        });
        renumber();
        mode.value = "rows";
        wrap.hidden = false;
        json.hidden = true;
        toggle.textContent = "JSON";
        toggle.setAttribute("aria-pressed", "false");
      } else {
        json.value = JSON.stringify(messages(), null, 2);
        mode.value = "json";
        wrap.hidden = true;
        json.hidden = false;
        toggle.textContent = "Edit message by message";
        toggle.setAttribute("aria-pressed", "true");
      }
    });

    var form = editor.closest("form");
    if (form) { form.addEventListener("submit", renumber); }
  }

  function initStartFrom() {
    var select = document.getElementById("pl-start-from-select");
    if (select && select.form) {
      select.addEventListener("change", function () { select.form.submit(); });
    }
  }

  /* The add page's body (prompt/_body_editor.html): the part of the kind chosen
     is shown, the other hidden and disabled, so the form posts only the one shown. */
  function initKindSwitch(body) {
    var form = body.closest("form");
    var kind = form && form.elements[body.dataset.kindField];
    if (!kind) { return; }
    function show() {
      Array.prototype.forEach.call(body.querySelectorAll(":scope > .pl-body-part"), function (part) {
        var off = part.dataset.kind !== kind.value;
        part.hidden = off;
        part.disabled = off;
      });
    }
    kind.addEventListener("change", show);
    show();
  }

  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll(".pl-chat-editor"), init);
    Array.prototype.forEach.call(document.querySelectorAll(".pl-body-editor"), initKindSwitch);
    initStartFrom();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
