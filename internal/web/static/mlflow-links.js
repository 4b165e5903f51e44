// MLflow clients print links into MLflow's single-page UI, such as
// http://host/#/experiments/1/runs/<run id>. The part after # never
// reaches the server, so the home page, which those links open, sends the
// browser on to the matching page here.
(function () {
  var h = window.location.hash, m, to = null;
  if ((m = /^#\/experiments\/[^/]+\/runs\/([0-9a-f]{32})(?:[/?]|$)/.exec(h))) {
    to = "/runs/" + m[1];
  } else if ((m = /^#\/experiments\/([0-9]+)(?:[/?]|$)/.exec(h))) {
    to = "/experiments/" + m[1];
  } else if ((m = /^#\/models\/([^/?]+)(?:[/?]|$)/.exec(h))) {
    to = "/models/" + m[1];
  }
  if (to !== null) {
    window.location.replace(to);
  }
})();
