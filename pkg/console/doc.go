// Package console is the web console the ingestor serves under /ui/: pages
// of the read API's numbers for people, drawn on the server (html/template,
// SVG charts) from embedded assets, so it works offline and runs no script
// but its own. Every number it shows comes from the read API's handler,
// called in-process, so the console and the API cannot disagree; the store
// is read only for what the API does not say (which AQL gate misses what,
// every member of an account).
package console
