// /api/docs: Swagger UI on this server's OpenAPI document for the signed-in caller. Requests it sends
// ("Try it out") carry the session's CSRF token, which the API asks of writes that only the session authenticates.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    validatorUrl: null, // never send the document to swagger.io's validator
    deepLinking: true,
    requestInterceptor: (request) => {
      request.headers["X-CSRF-Token"] = root.dataset.csrf;
      return request;
    },
  });
});
