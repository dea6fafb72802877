// The live transitions feed: server-sent events into the table. Every
// value goes in as text (textContent), never as markup.
(function () {
  "use strict";
  var table = document.getElementById("feed-table");
  var body = document.getElementById("feed");
  var status = document.getElementById("live-status");
  if (!table || !body || !window.EventSource) {
    return;
  }
  var maxRows = 500;
  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function link(row, href, text) {
    var td = document.createElement("td");
    if (text) {
      var a = document.createElement("a");
      a.href = href;
      a.className = "id";
      a.textContent = text;
      td.appendChild(a);
    }
    row.appendChild(td);
  }
  var source = new EventSource(table.getAttribute("data-src"));
  source.onopen = function () { status.textContent = "connected"; };
  source.onerror = function () { status.textContent = "reconnecting…"; };
  source.onmessage = function (e) {
    var t;
    try { t = JSON.parse(e.data); } catch (err) { return; }
    var row = document.createElement("tr");
    row.className = "t";
    row.setAttribute("data-type", t.type);
    cell(row, (t.time || "").replace("T", " ").replace("Z", ""));
    cell(row, t.type);
    if (t.contact_id) {
      link(row, "/ui/contacts/" + encodeURIComponent(t.contact_id), t.contact_id);
    } else {
      link(row, "/ui/accounts/" + encodeURIComponent(t.subject), t.subject);
    }
    link(row, "/ui/accounts/" + encodeURIComponent(t.account_id || ""), t.account_id || "");
    cell(row, String(t.score)).className = "n";
    cell(row, t.grade || "");
    cell(row, t.stage || "");
    cell(row, t.model_version || "");
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > maxRows) {
      body.deleteRow(body.rows.length - 1);
    }
  };
})();
