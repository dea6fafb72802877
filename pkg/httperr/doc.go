// Package httperr is the one shape of every HTTP error the programs
// answer, {"errors":[{"index"?,"field"?,"message"}]} as application/json,
// for refused events, read API errors, and the routes and methods a
// ServeMux does not serve (Handler), so a client parses one shape whatever
// went wrong.
package httperr
