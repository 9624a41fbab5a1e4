// Checks a unified social credit code (GB 32100-2015) as it is typed; the server checks it again.
(function () {
  "use strict";
  var ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

  function problem(code) {
    if (code.length === 0) return "";
    for (var i = 0; i < code.length; i++) {
      var region = i >= 2 && i <= 7;
      var allowed = region ? "0123456789" : ALPHABET;
      if (allowed.indexOf(code[i]) < 0) {
        return "第 " + (i + 1) + " 位字符“" + code[i] + "”无效" + (region ? "（应为数字）" : "（不含 I、O、S、V、Z）");
      }
    }
    if (code.length < 18) return "还需 " + (18 - code.length) + " 位";
    var sum = 0;
    for (var j = 0; j < 17; j++) sum += ALPHABET.indexOf(code[j]) * WEIGHTS[j];
    var expected = ALPHABET[(31 - (sum % 31)) % 31];
    if (code[17] !== expected) return "校验码错误：第 18 位应为 " + expected;
    return "ok";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.querySelector("[data-credit-code]");
    if (!input) return;
    var note = document.getElementById(input.getAttribute("aria-describedby"));
    function check() {
      var code = input.value.trim().toUpperCase();
      var found = problem(code);
      note.textContent = found === "ok" ? "代码格式与校验码正确" : found;
      input.setCustomValidity(found === "ok" || found === "" ? "" : found);
    }
    input.addEventListener("input", check);
    check();
  });
})();
