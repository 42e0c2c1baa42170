package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the HTTP API (openapi.json in
// this folder), served at GET /v1/openapi.json. Tests hold it to the
// router, to the types of this package and to README's examples: a route,
// field or error code added without it fails them.
//
//go:embed openapi.json
var OpenAPI []byte
