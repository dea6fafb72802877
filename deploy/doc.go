// Package deploy holds the Kubernetes manifests (base/) and, in its tests,
// the checks that they and docker-compose.yml match the programs: every
// flag and LEADS_ variable exists, probes hit the served paths and ports,
// topics and Redis are configured as the guarantees need.
//
// It is a module of its own (go.mod here, joined to the programs' module
// by go.work at the root), so that the parsers these checks use
// (compose-go, k8s.io/api, Prometheus's rulefmt and PromQL) are no
// dependency of the programs.
package deploy
