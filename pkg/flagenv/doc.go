// Package flagenv lets every flag also come from an environment variable
// LEADS_<FLAG_IN_UPPER_SNAKE>, as the contract promises; the command line
// wins over the environment.
package flagenv
