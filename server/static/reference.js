// The API reference page (server/reference.ts): Swagger UI over /api/openapi.json, from this
// origin only. A signed-in browser gets its CSRF token filled in, so "Try it out" works with
// the session; scripts' bearer tokens go in "Authorize".
/* global SwaggerUIBundle */
(function () {
  var ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null,
    withCredentials: true,
    defaultModelsExpandDepth: 0,
    onComplete: function () {
      fetch("/api/auth/me", { credentials: "same-origin" })
        .then(function (res) {
          return res.ok ? res.json() : null;
        })
        .then(function (me) {
          if (me && me.csrfToken) ui.preauthorizeApiKey("csrfToken", me.csrfToken);
        })
        .catch(function () {});
    },
  });
})();
