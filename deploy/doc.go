// Package deploy holds the Kubernetes manifests (base/) and, in its tests,
// the checks that they and docker-compose.yml match the programs: every
// flag and LEADS_ variable exists, probes hit the served paths and ports,
// topics and Redis are configured as the guarantees need.
package deploy
