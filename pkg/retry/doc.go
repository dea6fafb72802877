// Package retry is the one backoff the programs' retry loops wait with, so
// that every loop grows, caps and jitters its waits alike and none gives up
// unless its call site says when.
package retry
