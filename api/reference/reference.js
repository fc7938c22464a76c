// The API reference: Swagger UI, vendored through the Go module
// github.com/swaggo/files/v2 and served from this origin, renders the document
// this api serves. Nothing is fetched from anywhere else: no CDN, and no
// validator badge (validatorUrl: null would otherwise call validator.swagger.io).
window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#reference',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
});
